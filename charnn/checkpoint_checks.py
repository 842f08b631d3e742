"""What a file must be before a checkpoint is read from it, by torch (charnn/checkpoint.py) or without it
(charnn/checkpoint_arrays.py), and what its payload must be before a model is built from it: checked the same way
on both paths, and without torch, so that a file that is plainly no checkpoint is told at once, and a crafted one
cannot make either reader take far more memory or time than its size (a review's hostile files, twenty-sixth
session: benchmarks/RESULTS.md).
"""

from __future__ import annotations

import contextlib
import pickletools
import re
import shlex
import struct
import zipfile
from pathlib import Path

import numpy as np

from charnn.config import ModelConfig
from charnn.errors import CharnnError

FORMAT = 1  # of a checkpoint's dict: bump when its layout changes; older files are refused with a clear line
REQUIRED_KEYS = {"format": int, "model": dict, "model_config": dict, "vocab": str, "step": int}  # and their types
GATES = {"lstm": 4, "gru": 3, "rnn": 1}  # gate blocks in a layer's weights, by cell
PACKED = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}  # by magic
PACKED_TOOLS = {"gzip": "gzip", "bzip2": "bzip2", "xz": "xz", "zstd": "zstd"}  # each takes -dc: FILE → stdout
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
    try:
        with open(path, "rb") as file:
            head = file.read(4096)
    except OSError:
        return  # torch.load says what is wrong with it
    if looks_like_text(head):
        raise CharnnError(f"{path} is a text file, not a checkpoint — pass a .pt file or a run folder (a corpus "
                          "goes to `charnn train`)")
    packed = next((name for magic, name in PACKED.items() if head.startswith(magic)), None)
    if packed:  # a trial's gzipped best.pt was "not plain tensor data; refused without running anything", after torch
        raise CharnnError(f"{path} is {packed}-compressed, not a checkpoint as it stands — decompress it first "
                          f"({PACKED_TOOLS[packed]} -dc {shlex.quote(str(path))} > unpacked.pt), then pass that")
    if head.startswith(b"PK\x03\x04"):  # a zip: cut short (a broken download) or some other archive, told at once
        if not zipfile.is_zipfile(path):
            raise CharnnError(f"{path} is not a readable checkpoint (truncated or corrupt: its zip has no end) — "
                              f"{another_one(path)}")
        with contextlib.suppress(zipfile.BadZipFile, OSError), zipfile.ZipFile(path) as archive:
            if not any(name.endswith("/data.pkl") for name in archive.namelist()):
                raise CharnnError(f"{path} is a zip archive, not a checkpoint (no data.pkl in it) — pass a .pt file "
                                  "that `charnn train` wrote, or its run folder")


def another_one(path: Path) -> str:
    """'use another one', naming the checkpoints of a run beside `path`: a trial's run folder whose best.pt had been
    cut short held a good latest.pt and step files, and the error named none of them. Only a run's own files (any
    .pt in /tmp is no help). Quoted, to be pasted."""
    try:
        beside = [other for other in path.parent.glob("*.pt") if other.is_file() and other.name != path.name
                  and (other.name in ("latest.pt", "best.pt") or re.fullmatch(r"step-\d+\.pt", other.name))]
    except OSError:
        beside = []
    first = {"latest.pt": 0, "best.pt": 1}
    beside.sort(key=lambda other: (first.get(other.name, 2), [-ord(char) for char in other.name]))  # newest step
    if not beside:
        return "use another one"
    more = f" ({len(beside) - 2} more beside it)" if len(beside) > 2 else ""
    return "use another one, such as " + " or ".join(shlex.quote(str(other)) for other in beside[:2]) + more


def looks_like_text(head: bytes) -> bool:
    """Whether a file's first bytes read as UTF-8 text does: a checkpoint is a zip (or a pickle), full of NUL bytes."""
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


def expected_shapes(config: ModelConfig, count: int | None = None) -> dict[str, tuple[int, ...]] | None:
    """The state dict of a CharRNN of `config`: each weight's name and shape. None where a state dict of `count`
    weights cannot be one (a crafted config's 10**9 layers were listed before anything was compared: a review)."""
    if count is not None and count != 3 + 4 * config.num_layers:
        return None
    vocab, hidden, gates = config.vocab_size, config.hidden_size, GATES[config.cell] * config.hidden_size
    shapes = {"embedding.weight": (vocab, config.embed_dim), "head.weight": (vocab, hidden), "head.bias": (vocab,)}
    for i in range(config.num_layers):
        shapes |= {f"rnn.weight_ih_l{i}": (gates, config.embed_dim if i == 0 else hidden),
                   f"rnn.weight_hh_l{i}": (gates, hidden), f"rnn.bias_ih_l{i}": (gates,), f"rnn.bias_hh_l{i}": (gates,)}
    return shapes


def checked_config(payload: dict, path: str | Path = "checkpoint") -> ModelConfig:
    """The model config of a payload from either reader (tensors or arrays), its vocabulary and weights checked
    against it, before any model is built: a crafted config's hidden_size 8000 took 3 GB to build (a review).
    Raises CharnnError naming `path`."""
    try:
        config = ModelConfig(**payload["model_config"])
    except (TypeError, CharnnError) as error:
        raise CharnnError(f"{path} has a model config this charnn does not understand ({error}) — use another "
                          "checkpoint") from None
    if config.vocab_size != len(payload["vocab"]):
        raise CharnnError(f"{path} is inconsistent: vocab has {len(payload['vocab'])} chars, model expects "
                          f"{config.vocab_size}")
    misfit = weights_misfit(payload["model"], config)
    if misfit:
        raise CharnnError(f"{path}: weights do not fit its model config ({misfit})")
    return config


def weights_misfit(weights: dict, config: ModelConfig) -> str | None:
    """What in a state dict (tensors or arrays) does not fit a CharRNN of `config`: a name, a shape, a value that
    is no array; or None."""
    shapes = expected_shapes(config, len(weights))
    if shapes is None:
        return f"{len(weights)} weights, where {config.num_layers} layers have {3 + 4 * config.num_layers}"
    for name in sorted(shapes.keys() - weights.keys()):
        return f"{name} is missing"
    for name in sorted(weights.keys() - shapes.keys()):
        return f"{name} is not one of its weights"
    for name, weight in weights.items():
        if not hasattr(weight, "shape") or not hasattr(weight, "dtype"):
            return f"{name} is not a tensor"
        if tuple(weight.shape) != shapes[name]:
            return f"{name} is {tuple(weight.shape)}, not {shapes[name]}"
    return None


def not_finite(weights: dict) -> str | None:
    """The name of the first weight (a tensor or an array) that holds NaN or an infinity, if any."""
    for name, weight in weights.items():
        values = weight.float() if hasattr(weight, "float") else weight  # a tensor, bf16 too, as fp32
        with np.errstate(over="ignore"):  # float64 beyond fp32's range is infinite in fp32, as the model holds it
            if not np.isfinite(np.asarray(values, dtype=np.float32)).all():
                return name
    return None
