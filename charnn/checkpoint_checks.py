"""What a file must be before a checkpoint is read from it, by torch (charnn/checkpoint.py) or without it
(charnn/checkpoint_arrays.py): checked the same way on both paths, and without torch, so that a file that is
plainly no checkpoint is told at once, and a crafted one cannot make either reader take far more memory or time
than its size (a review's hostile files, twenty-sixth session: benchmarks/RESULTS.md).
"""

from __future__ import annotations

import pickletools
import struct
import zipfile
from pathlib import Path

from charnn.errors import CharnnError

FORMAT = 1  # of a checkpoint's dict: bump when its layout changes; older files are refused with a clear line
REQUIRED_KEYS = {"format": int, "model": dict, "model_config": dict, "vocab": str, "step": int}  # and their types
# What torch.save's data.pkl is written with (pickle protocol 2, torch's default): `plain_pickle`. Not protocol 4's
# (FRAME, STACK_GLOBAL, MEMOIZE, …): torch's weights-only reader refuses them, and both readers must agree (a review).
OPCODES = frozenset({"PROTO", "STOP", "MARK", "EMPTY_DICT", "EMPTY_LIST", "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2",
                     "TUPLE3", "SETITEM", "SETITEMS", "APPEND", "APPENDS", "BUILD", "REDUCE", "GLOBAL", "BINPERSID",
                     "BINPUT", "LONG_BINPUT", "BINGET", "LONG_BINGET", "NONE", "NEWTRUE", "NEWFALSE", "BININT",
                     "BININT1", "BININT2", "LONG1", "BINFLOAT", "BINUNICODE"})


def check_file(path: Path) -> None:
    """Raise CharnnError where `path` is plainly no checkpoint: missing, a folder, a pipe or device, empty, text.
    Without torch, so `charnn sample` says so at once; what only torch's reader can tell comes from
    charnn/checkpoint.py's `load`."""
    if not path.exists():
        raise CharnnError(f"checkpoint {path} does not exist — pass a .pt file or a run folder")
    if path.is_dir():
        raise CharnnError(f"{path} is a folder — pass a .pt file inside it")
    if not path.is_file():  # a pipe or a device (/dev/zero) was said to be empty (a review)
        raise CharnnError(f"{path} is not a file (a pipe or a device) — pass a .pt file or a run folder")
    if path.stat().st_size == 0:
        raise CharnnError(f"checkpoint {path} is empty (0 bytes) — use another checkpoint from its run folder")
    if looks_like_text(path):
        raise CharnnError(f"{path} is a text file, not a checkpoint — pass a .pt file or a run folder (a corpus "
                          "goes to `charnn train`)")


def looks_like_text(path: Path) -> bool:
    """Whether the file starts as UTF-8 text does: a checkpoint is a zip (or a pickle), full of NUL bytes."""
    try:
        with open(path, "rb") as file:
            head = file.read(4096)
    except OSError:
        return False  # torch.load says what is wrong with it
    if b"\0" in head or head.startswith((b"PK\x03\x04", b"\x80")):  # NULs, or a zip's or a pickle's start
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start >= len(head) - 3  # only a character cut at the end of the sample
    return True


def sound_zip(path: Path, archive: zipfile.ZipFile) -> bool:
    """Whether the zip is laid out as torch.save writes one: entries stored (not compressed: they could inflate far
    beyond the file), each name once (torch reads the first of two, zipfile the last), the first at the file's start,
    and each entry's bytes apart from the next one's. Python before 3.11.8 reads entries that overlap (CVE-2024-0450):
    a review's 100 entries over one 8 MB block read as 800 MB from a 12 MB file."""
    items = sorted(archive.infolist(), key=lambda item: item.header_offset)
    if not items or len({item.filename for item in items}) != len(items) or items[0].header_offset != 0:
        return False
    end = 0
    with open(path, "rb") as file:
        for item in items:
            if item.compress_type != zipfile.ZIP_STORED or item.header_offset < end:
                return False
            file.seek(item.header_offset)
            header = file.read(30)  # the local header: its name's and extra field's lengths are at 26 and 28
            if len(header) != 30 or header[:4] != b"PK\x03\x04":
                return False
            name_length, extra_length = struct.unpack("<HH", header[26:30])
            end = item.header_offset + 30 + name_length + extra_length + item.compress_size
    return end <= archive.start_dir


def plain_pickle(data: bytes) -> bool:
    """Whether data.pkl holds only the opcodes torch.save writes (`OPCODES`), memo indices below its count of
    opcodes (a writer numbers them from 0), and whole numbers within 64 bits. Checked before it is unpickled:
    CPython's unpickler grows its memo to whatever index a file names (5 bytes asking for index 2**28 took 4 GB: a
    review), and reads a whole number of any length."""
    try:
        for count, (opcode, argument, _position) in enumerate(pickletools.genops(data)):
            if (opcode.name not in OPCODES or opcode.name.endswith(("PUT", "GET")) and argument > count
                    or opcode.name == "LONG1" and not -(2**63) <= argument < 2**64):
                return False
    except Exception:  # not a pickle at all
        return False
    return True


def charnn_payload(payload) -> bool:
    """Whether `payload` has a charnn checkpoint's keys, each of its type (a `step` that is text made `charnn sample`
    end in a traceback where it printed the step), and nothing in them that only a crafted file holds: a config of
    plain short values (a review's nested lists, or a 7,000-digit number, took minutes to write in an error), a step
    within 64 bits, a vocabulary that UTF-8 can write, a weight that is not a tensor, metrics or settings that are not
    a dict."""
    return (isinstance(payload, dict) and all(
        isinstance(payload.get(key), kind) and not isinstance(payload.get(key), bool)
        for key, kind in REQUIRED_KEYS.items())
        and abs(payload["step"]) < 2**63 and all(plain_value(key) and plain_value(value)
                                                  for key, value in payload["model_config"].items())
        and all(isinstance(name, str) and hasattr(weight, "shape") for name, weight in payload["model"].items())
        and encodable(payload["vocab"]) and all(isinstance(payload.get(key, {}), dict)
                                                for key in ("metrics", "train_config")))


def plain_value(value) -> bool:
    """A value that a model config holds: None, True/False, a number within 64 bits, or a short text."""
    if isinstance(value, int):
        return abs(value) < 2**63
    return value is None or isinstance(value, float) or isinstance(value, str) and len(value) <= 100


def encodable(text: str) -> bool:
    """Whether UTF-8 can write `text` (a lone surrogate in a crafted vocabulary ended a sample in a traceback)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
