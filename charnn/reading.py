"""Reading a text file in chunks: its encoding, byte-order marks, line endings, and what to say of bytes that are not
text (bad bytes by their offset, a UTF-16 part, a binary's zero bytes; encodings.py names the encodings).

data.py encodes what this reads; this never holds more than a chunk of the file.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from charnn.encodings import other_encoding, wide_part, wide_unicode_kind, zero_bytes
from charnn.errors import CharnnError

CHUNK_BYTES = 1 << 22  # 4 MiB of input per read: bounded memory, few Python round trips


@dataclass(frozen=True)
class ReadOptions:
    """How a corpus file's bytes become text: `charnn train`'s --encoding, --errors and --keep-crlf."""

    encoding: str = "utf-8"  # text encoding of the corpus file
    errors: str = "strict"  # 'strict' stops at the first bad byte; 'replace' puts U+FFFD there
    keep_crlf: bool = False  # keep Windows line endings instead of turning CRLF into LF


def iter_text(path: Path, options: ReadOptions = ReadOptions(), limit: int | None = None,
              on_read: Callable[[int], None] | None = None) -> Iterator[str]:
    """Decoded text of `path` in chunks: BOMs dropped, CRLF → LF, bad bytes and zero bytes reported by offset (a
    UTF-16 part named as such); its first `limit` bytes only, where given. `on_read(bytes read so far)` after each
    chunk."""
    try:
        decoder = codecs.getincrementaldecoder(options.encoding)(options.errors)
    except LookupError:
        raise CharnnError(f"unknown encoding {options.encoding!r} — try --encoding utf-8, cp1252 (Windows) or "
                          "latin-1") from None
    offset = 0  # bytes handed to the decoder so far
    first = True
    held_cr = ""  # a trailing '\r' waits for the next chunk in case a '\n' follows
    beyond_ascii = False  # characters beyond ASCII read so far
    name = codecs.lookup(options.encoding).name
    utf8 = name.startswith("utf-8")  # UTF-16 files pass as UTF-8 of zeros
    wide_read = name.startswith(("utf-16", "utf-32"))  # zero bytes are its own

    def around(start: int, length: int) -> tuple[bytes, int]:
        """The file's bytes from `start`, `length` of them, with 64 before and 64 KiB after, and where they begin: a
        UTF-16 part at a piece's edge is found whole. Read only to say what is wrong."""
        here, begin = file.tell(), max(0, start - 64)
        file.seek(begin)
        window = file.read(start - begin + length + (1 << 16))
        file.seek(here)
        return window, begin

    with open(path, "rb") as file:
        while True:
            raw = file.read(CHUNK_BYTES if limit is None else min(CHUNK_BYTES, limit - offset))
            kind = wide_unicode_kind(raw) if first and utf8 else None
            if kind:  # without a byte-order mark, UTF-16 of ASCII text is valid UTF-8: every other character a zero
                raise CharnnError(f"{path} looks like {kind[:6].upper()} text, not UTF-8 — use --encoding {kind}")
            pending = len(decoder.getstate()[0])
            try:
                text = decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as error:
                given, base = error.object, offset - pending  # the bytes decoded, from byte `base` of the file
                where = base + error.start
                bad = f"bad byte 0x{given[error.start]:02x} at byte offset {where}"
                window, begin = around(base, len(given))
                wide = None if wide_read else wide_part(window)
                if wide is not None and begin + wide <= where:  # the byte-order mark of a UTF-16 part, or in it
                    raise CharnnError(zero_bytes(path, window, begin, options.encoding)) from None
                if wide is None and not wide_read and given.count(b"\x00") > max(1, len(given) // 1000):  # a binary
                    raise CharnnError(zero_bytes(path, window, begin, options.encoding, bad)) from None
                # The bad byte's own part, a UTF-16 part after it aside (a trial's songs: one in Windows-1252 first).
                ahead = given if wide is None else given[:begin + wide - base]
                also = "" if wide is None else f"; {zero_bytes(path, window, begin, options.encoding, part=True)}"
                raise CharnnError(f"{path} is not valid {options.encoding}: {bad} — "
                                  f"{other_encoding(ahead, options.encoding, error.start, beyond_ascii)}{also}"
                                  ) from None
            except UnicodeError as error:  # not about one byte, e.g. utf-16 without a byte-order mark
                raise CharnnError(f"{path} cannot be read as {options.encoding} ({error}) — give its byte order, "
                                  f"e.g. --encoding {options.encoding}-le") from None
            # Zero bytes that decode (UTF-16 of ASCII text after its mark, a .DS_Store; anything, with --errors replace
            # or latin-1): a UTF-16 part, or more than a stray one in a thousand bytes, is refused. A stray one stays
            # text, as it always was (a scraped corpus may hold one; runs trained on it resume).
            if not wide_read and b"\x00" in raw:  # the piece, then its edge with the next (a part across it)
                if (raw.count(b"\x00") > max(1, len(raw) // 1000) or wide_part(raw) is not None
                        or wide_part(around(offset + len(raw) - 256, 256)[0]) is not None):
                    window, begin = around(offset, len(raw))
                    raise CharnnError(zero_bytes(path, window, begin, options.encoding))
            offset += len(raw)
            beyond_ascii = beyond_ascii or not text.isascii()  # for what a bad byte later is said to be
            if on_read is not None:
                on_read(offset)
            if first and text:
                first = False
            # A byte-order mark is no text: at the start, and inside a file joined from files that had one (a trial's
            # `cat songs/*.txt` left U+FEFF in the vocabulary, for the model to write).
            text = text.replace("\ufeff", "")
            text = held_cr + text
            held_cr = ""
            if not options.keep_crlf:
                if raw and text.endswith("\r"):
                    text, held_cr = text[:-1], "\r"
                text = text.replace("\r\n", "\n")
            if text:
                yield text
            if not raw:
                return


# How documents that are not plain text begin (their first bytes), as a user knows them.
DOCUMENTS = {b"{\\rtf": "an RTF document", b"PK\x03\x04": "a zip archive (a .docx, .odt or .epub is one)",
             b"%PDF-": "a PDF", b"\xd0\xcf\x11\xe0": "an old Word or Excel file (.doc, .xls)"}


def document_kind(path: Path) -> str | None:
    """What `path` is, by its first bytes, where it is a document that is not plain text (`DOCUMENTS`); else None."""
    try:
        with open(path, "rb") as file:
            head = file.read(8)
    except OSError:
        return None  # reading it says why
    return next((kind for magic, kind in DOCUMENTS.items() if head.startswith(magic)), None)

