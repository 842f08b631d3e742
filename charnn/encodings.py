"""What to say of a file that is not in the encoding it was read with: the encoding it looks like instead."""

from __future__ import annotations

import codecs


def wide_unicode_kind(raw: bytes) -> str | None:
    """The --encoding for a file whose first bytes read as UTF-32 or UTF-16 (Windows' "Unicode" text),
    else None: from a byte-order mark; without one, UTF-16 of mostly ASCII text has zero bytes in nearly
    every other place and almost nowhere else, which also says its byte order."""
    if raw[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        return "utf-32"
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    sample = raw[:4096]
    half = len(sample) // 2
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if half < 8 or max(even, odd) < 0.3 * half or min(even, odd) > 0.05 * half:
        return None
    return "utf-16-le" if odd > even else "utf-16-be"


def other_encoding(raw: bytes, encoding: str) -> str:
    """What to do with bytes that are not `encoding`. Windows' "ANSI" text (Windows-1252) reads as latin-1 without an
    error, but its € ’ “ ” — become invisible control characters (a new-user trial followed the advice `--encoding
    latin-1` and trained on them), so it is named where it reads these bytes; but not for UTF-8 text with a stray byte
    or two, which cp1252 would garble in turn (a review)."""
    if codecs.lookup(encoding).name == "utf-8":
        text = raw.decode("utf-8", errors="replace")
        bad = text.count("\ufffd")
        if sum(char > "\x7f" for char in text) - bad > bad:  # more valid UTF-8 beyond ASCII than bad bytes
            return "the rest reads as UTF-8, so --errors replace puts U+FFFD (�) in place of the bad bytes"
    try:
        raw.decode("cp1252")
    except UnicodeDecodeError:
        return "convert it to UTF-8, or use --encoding latin-1 or --errors replace"
    if any(0x80 <= byte <= 0x9F for byte in raw):  # where the two differ: cp1252's punctuation, latin-1's C1
        return "it reads as Windows-1252 text (what Windows editors call ANSI): use --encoding cp1252"
    return "convert it to UTF-8, or use --encoding cp1252 (Windows) or latin-1, or --errors replace"
