"""What to say of a file that is not in the encoding it was read with: the encoding it looks like instead."""

from __future__ import annotations

import codecs
from pathlib import Path


def wide_unicode_kind(raw: bytes) -> str | None:
    """The --encoding for a file whose first bytes read as UTF-32 or UTF-16 (Windows' "Unicode" text),
    else None: from a byte-order mark; without one, UTF-16 of mostly ASCII text has zero bytes in nearly
    every other place and almost nowhere else, which also says its byte order. Only where the zeros begin at once:
    a UTF-8 file with a UTF-16 one joined after it is not UTF-16 (`wide_part` finds where that begins)."""
    if raw[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        return "utf-32"
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    return zero_pattern(raw) if 0 <= raw.find(b"\x00") < 4 else None


def zero_pattern(raw: bytes) -> str | None:
    """utf-16-le or utf-16-be where the first 4 KiB of `raw` have zero bytes in nearly every other place and almost
    nowhere else (UTF-16 of text that is mostly ASCII), else None."""
    sample = raw[:4096]
    half = len(sample) // 2
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if half < 8 or max(even, odd) < 0.3 * half or min(even, odd) > 0.05 * half:
        return None
    return "utf-16-le" if odd > even else "utf-16-be"


def wide_part(raw: bytes) -> int | None:
    """Where in `raw` UTF-16 text begins after text of another encoding, by its first zero byte, or None where its
    zero bytes are not UTF-16's (a binary). A trial's songs, joined with `cat`, held one saved as Windows "Unicode":
    the file was called binary, with no word of where or why."""
    zero, tries = raw.find(b"\x00"), 0
    while zero >= 0 and tries < 64:  # not only the first zero: a stray NUL before a UTF-16 part hid it (a review)
        # Three zero bytes in a row before it: U+0000 in UTF-16, which text never holds, so a binary's (a student's
        # 5,000 bytes of /bin/ls, whose string table ended in `a\x00b\x00`, were told to convert a UTF-16 part).
        # Not a count of zeros: a part's own, in windows that were not yet its pattern (a title in CJK), count too.
        if raw.find(b"\x00\x00\x00", 0, zero) >= 0:
            return None
        # From its byte-order mark, where it has one: its first characters may have no zero byte (`“Hi”`, a title in
        # Cyrillic), and a mark is no UTF-8. The zeros after it must be UTF-16's: a binary may hold those two bytes.
        # Judged on 256 bytes: a part of four short lines is UTF-16 too (a review: under ~1.2 KB it trained as text).
        mark = max(raw.rfind(mark, max(0, zero - 64), zero + 1) for mark in (b"\xff\xfe", b"\xfe\xff"))
        if mark >= 0 and zero_pattern(raw[mark + 2:mark + 258]):
            return mark
        start = max(0, zero - 1)  # UTF-16-LE's first character is the byte before its zero
        if raw.find(b"\x00", start, start + 4) >= 0 and zero_pattern(raw[start:start + 256]):
            return start
        zero, tries = raw.find(b"\x00", zero + 256), tries + 1
    return None


def zero_bytes(path: Path, raw: bytes, offset: int, encoding: str, bad: str = "", part: bool = False) -> str:
    """What to say of a file whose bytes `raw`, from byte `offset`, hold zero bytes, which text has few of: UTF-16
    text (`wide_part`), the whole file's or a part's, or a binary. `bad`: the bad byte found first; `part`: only the
    UTF-16 part's clause, after another message."""
    wide = wide_part(raw)
    # Nothing before it but a mark or a few characters of its own (`——` has no zero byte): the file is UTF-16. A line
    # of UTF-8 before it (`Songs — 2024\n`) makes it a part (a review: told `--encoding utf-16` for such a file).
    if wide is not None and not part and offset + wide < 64 and b"\n" not in raw[:wide]:
        kind = wide_unicode_kind(raw[wide:]) or "utf-16"
        return f"{path} looks like {kind[:6].upper()} text, not {encoding} — use --encoding {kind}"
    if wide is not None:
        said = (f"it holds UTF-16 text from byte offset {offset + wide} (a file saved as Windows \"Unicode\" and "
                "joined to others?): convert that file to UTF-8 (e.g. iconv -f utf-16 -t utf-8) and join them again")
        return said if part else f"{path} is not all {encoding} text — {said}"
    zero = offset + raw.find(b"\x00")
    where = f"zero bytes from byte offset {zero}"
    return f"{path} looks like a binary file, not text ({bad + ', and ' if bad else ''}{where}) — give a text file"


# Names for the encodings a detector may give, as a user knows them (any other is named by its codec alone).
KNOWN_AS = {"cp1250": "Windows-1250 (Central European)", "cp1251": "Windows-1251 (Cyrillic)",
            "cp1253": "Windows-1253 (Greek)", "iso8859_7": "ISO-8859-7 (Greek)", "cp1254": "Windows-1254 (Turkish)",
            "cp1255": "Windows-1255 (Hebrew)", "cp1256": "Windows-1256 (Arabic)", "cp1257": "Windows-1257 (Baltic)",
            "koi8_r": "KOI8-R (Russian)", "koi8_u": "KOI8-U (Ukrainian)", "cp866": "DOS Cyrillic (cp866)",
            "mac_cyrillic": "Mac Cyrillic", "cp932": "Shift JIS (Japanese)", "shift_jis": "Shift JIS (Japanese)",
            "euc_jp": "EUC-JP (Japanese)", "euc_jis_2004": "EUC-JP (Japanese)", "gb18030": "GB18030 (Chinese)",
            "gb2312": "GB2312 (Chinese)", "gbk": "GBK (Chinese)", "big5": "Big5 (Traditional Chinese)",
            "big5hkscs": "Big5-HKSCS (Traditional Chinese)", "cp949": "Korean (cp949)", "euc_kr": "EUC-KR (Korean)",
            "iso2022_jp": "ISO-2022-JP (Japanese)", "cp1125": "DOS Cyrillic (cp1125)"}


# Encodings the detector may prefer that text files are almost never in: a trial's Spanish lyrics in Windows-1252
# (46 KB) read best as HP Roman-8, a printer's, which made `ñ` `þ`; and EBCDIC, a mainframe's.
SELDOM_SEEN = frozenset({"hp_roman8", "cp037", "cp273", "cp424", "cp500", "cp875", "cp1026", "cp1140"})


def scored(raw: bytes) -> list:
    """charset-normalizer's readings of the first MiB of `raw`, best first: each decoding scored by how its
    characters mix and how often each letter comes, language by language. None (an empty list) where the bytes
    beyond ASCII are too few and alike to tell (one accent, a stray byte)."""
    sample = raw[:1 << 20]
    cut = sample.rfind(b"\n")
    if 0 < len(sample) // 2 < cut:  # at a line's end: a character split at the cut, two bytes of Shift JIS or Big5,
        sample = sample[:cut + 1]  # made it find nothing, or a Korean file Cyrillic (a review)
    beyond = [byte for byte in sample if byte >= 0x80]
    if len(beyond) < 32 or len(set(beyond)) < 8:
        return []
    from charset_normalizer import from_bytes  # only here: it costs ~40 ms to import, and only a refusal needs it

    return [reading for reading in from_bytes(sample) if reading.encoding not in SELDOM_SEEN]


def reads_as_well(readings: list, encoding: str) -> bool:
    """Whether `encoding` reads the text about as well as the best of `readings` (a tie, or as good as one)."""
    name, best = codecs.lookup(encoding).name.replace("-", "_"), readings[0]
    return any((name == reading.encoding or name in reading.could_be_from_charset)
               and reading.chaos <= best.chaos + 0.05 and reading.coherence >= best.coherence - 0.05
               for reading in readings)


def detected_encoding(raw: bytes, readings: list | None = None) -> str | None:
    """The legacy encoding that `raw` (not UTF-8) reads as text in some language, by charset-normalizer (`scored`);
    None where it finds none. For text in the Latin script (its reading mostly ASCII letters), only where Windows-1252
    does not read it about as well: among the Latin code pages the detector's pick between ties is a guess (a review:
    Spanish in latin-1 came out as cp1250, ñ read as ń; French as cp1257), and the Windows-1252 rules of
    `other_encoding` answer better; Polish in cp1250, which Windows-1252 reads badly, is named."""
    readings = scored(raw) if readings is None else readings
    if not readings or readings[0].language == "Unknown" or (
            codecs.lookup(readings[0].encoding).name in ("utf-8", "ascii")):
        return None
    letters = [char for char in str(readings[0]) if char.isalpha()]
    if sum(char > "\x7f" for char in letters) < 0.3 * len(letters) and reads_as_well(readings, "cp1252"):
        return None
    return readings[0].encoding


def next_character(raw: bytes) -> int:
    """Where the first UTF-8 character of `raw` begins: past up to 3 continuation bytes of one cut at its start."""
    return next((index for index in range(min(3, len(raw))) if not 0x80 <= raw[index] <= 0xBF), min(3, len(raw)))


def other_encoding(raw: bytes, encoding: str, start: int = 0, text_before: bool = False) -> str:
    """What to do with bytes that are not `encoding`. Windows' "ANSI" text (Windows-1252) reads as latin-1 without an
    error, but its € ’ “ ” — become invisible control characters (a new-user trial followed the advice `--encoding
    latin-1` and trained on them), so it is named where it reads these bytes; but not for UTF-8 text with a stray byte
    or two, which cp1252 would garble in turn (a review). A file in another language's encoding is named by what it
    reads as: a trial's Russian file in Windows-1251 was called Windows-1252 (its — is 0x97 in both), and read so it
    trained on `Ýëåãèÿ` for `Элегия`. `start`: where in `raw` the first bad byte is; `text_before`: the file had
    characters beyond ASCII before `raw` (in `encoding`)."""
    if codecs.lookup(encoding).name != "utf-8":
        try:  # UTF-8 read as something else: a trial's novel read with --encoding gb18030 was told latin-1. The
            # bytes may begin inside a character (a 4 MiB piece of the file) and end inside one: no error either.
            codecs.getincrementaldecoder("utf-8")().decode(raw[next_character(raw):])
            return "it reads as UTF-8: leave out --encoding"
        except UnicodeDecodeError:
            pass
    else:
        # A chapter from an older editor appended to a UTF-8 file (a trial): UTF-8 up to the bad byte (all of it is,
        # by then), another encoding from there; --errors replace made 5,816 of its 7,649 characters U+FFFD.
        tail = detected_encoding(raw[start:]) if text_before or not raw[:start].isascii() else None
        if tail is not None:
            return (f"it reads as UTF-8 up to there, and from there as {KNOWN_AS.get(tail, tail)} text: convert "
                    f"that part to UTF-8 (e.g. iconv -f {tail} -t utf-8) and join the two again")
        text = raw.decode("utf-8", errors="replace")
        bad = text.count("\ufffd")
        if sum(char > "\x7f" for char in text) - bad > bad:  # more valid UTF-8 beyond ASCII than bad bytes
            return "the rest reads as UTF-8, so --errors replace puts U+FFFD (�) in place of the bad bytes"
        if text_before or not raw[:start].isascii():  # too little of the other part for the detector to name it
            # A trial's code base, joined with one latin-1 file: told `--encoding latin-1`, which read the UTF-8
            # around it wrong (a byte-order mark became `ï»¿`).
            return ("it reads as UTF-8 up to there: a part in another encoding (a file joined in?) — convert that part "
                    "to UTF-8, or --errors replace puts U+FFFD (�) for its bad bytes (another --encoding would misread "
                    "the UTF-8 before it)")
    try:
        western = raw.decode("cp1252")
    except UnicodeDecodeError:
        western = None
    found = detected_encoding(raw)
    if found is not None and raw.decode(found, errors="replace") != western:
        return f"it reads as {KNOWN_AS.get(found, found)} text: use --encoding {found}"
    if western is None:
        return "convert it to UTF-8, or use --encoding latin-1 or --errors replace"
    if any(0x80 <= byte <= 0x9F for byte in raw):  # where the two differ: cp1252's punctuation, latin-1's C1
        return "it reads as Windows-1252 text (what Windows editors call ANSI): use --encoding cp1252"
    return "convert it to UTF-8, or use --encoding cp1252 (Windows) or latin-1, or --errors replace"


def misread_note(path: Path, encoding: str, chars: str) -> str | None:
    """What to say of a corpus at `path` that read without an error in an `encoding` other than UTF (its vocabulary
    `chars`) where another reads it better: a trial followed the advice `--encoding cp1252` for a Russian
    Windows-1251 file, and trained without a word on `Ýëåãèÿ`. Not where `encoding` reads it about as well (Greek
    read as cp1253 where iso8859_7 is found: a review). None where nothing is to be said."""
    given = codecs.lookup(encoding).name
    if given.startswith(("utf-", "utf_")):
        return None
    with open(path, "rb") as file:
        head = file.read(1 << 20)
    name = str(path)
    readings = scored(head)
    found = detected_encoding(head, readings)
    if found is not None and not reads_as_well(readings, encoding) and (
            head.decode(found, errors="replace") != head.decode(encoding, errors="replace")):
        return (f"{name} reads more like {KNOWN_AS.get(found, found)} text than {encoding}: if its samples look "
                f"garbled, use --encoding {found}")
    if given == "iso8859-1" and any("\x80" <= char <= "\x9f" for char in chars):
        return (f"{name} read as latin-1 holds control characters U+0080–U+009F, which is what a Windows-1252 "
                "file's € ’ “ ” and dashes become: if it is one, --encoding cp1252 reads them as those")
    return None
