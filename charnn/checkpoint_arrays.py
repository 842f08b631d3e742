"""A checkpoint read into NumPy arrays, without torch: `charnn sample` on a CPU then starts without `import torch`.
On machine D (2 cores, benchmarks/RESULTS.md) that import alone took 2.2–3.5 s, and the whole of
`charnn sample --length 1000` took 3.2–3.7 s with it and 1.0–1.1 s without it.

torch.save writes a zip: `<name>/data.pkl`, a pickle of the payload in which each tensor is a call of
`torch._utils._rebuild_tensor_v2` on a storage named by a persistent id, and `<name>/data/<key>`, each storage's
bytes. This reader unpickles with three globals allowed (OrderedDict, that call, and the storage types, which it
maps to its own stand-ins) and builds each tensor as a NumPy array from its storage's bytes; like
`torch.load(weights_only=True)`, it runs no code from the file. Anything it does not know or will not take makes it
answer None: not a regular file (a pipe, a device), another layout, another global, a value that is not what a
charnn checkpoint holds, a tensor that does not fit its storage, tensors that would take far more memory than the
file (`Reader`). The caller then reads the file with torch (charnn/checkpoint.py), which says what is wrong with it.
So this is a faster way in, not another set of errors.
"""

from __future__ import annotations

import collections
import io
import math
import pickle
import sys
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from charnn import cpu_flags
from charnn.checkpoint_checks import FORMAT, charnn_payload, checked_config, not_finite, plain_pickle, sound_zip
from charnn.config import ModelConfig
from charnn.recurrence import STEPPED_PRIME

STORAGES = {"FloatStorage": "f4", "HalfStorage": "f2", "DoubleStorage": "f8", "BFloat16Storage": "u2",
            "LongStorage": "i8", "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1", "ByteStorage": "u1",
            "BoolStorage": "?"}  # torch's storage types → NumPy's (bf16: its bits, widened to fp32 when built)
VIEWS, SPARE = 4, 2**22  # bytes of arrays built from a file: at most VIEWS × those stored, + SPARE (`Reader`)


class Storage(str):
    """A storage type named in the pickle (torch.FloatStorage, …): its name."""


class Stored(NamedTuple):
    values: np.ndarray  # a storage's elements, read-only, as its bytes hold them
    bf16: bool  # uint16 values that are bf16 bits


class Reader(pickle.Unpickler):
    """torch.save's data.pkl, unpickled with `find_class`'s three names alone. Each storage is read once, however
    many tensors view it, and the arrays built (copies) take at most `VIEWS` times the bytes of the storages read,
    plus `SPARE`: with storages stored uncompressed (`read`), a file cannot make this reader hold much more memory
    than its own size, as a tensor of one value repeated (stride 0) or many views of one storage would. charnn's own
    files have one tensor a storage."""

    def __init__(self, file, archive: zipfile.ZipFile, folder: str, byteorder: str):
        super().__init__(file)
        self.archive, self.folder, self.byteorder = archive, folder, byteorder
        self.storages: dict[str, Stored] = {}
        self.budget = SPARE  # bytes that arrays may still take

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict  # a state dict's, whose `_metadata` is set on it after (BUILD)
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return self.rebuild_tensor
        if module == "torch" and name in STORAGES:
            return Storage(name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not read here")

    def persistent_load(self, saved_id):
        kind, storage, key, _location, count = saved_id
        if (kind != "storage" or not isinstance(storage, Storage) or not isinstance(key, str)
                or type(count) is not int or count < 0):
            raise pickle.UnpicklingError("an unknown persistent id")  # not written out: it may nest itself (a review)
        if key not in self.storages:
            dtype = np.dtype(STORAGES[storage]).newbyteorder("<" if self.byteorder == "little" else ">")
            data = self.archive.read(f"{self.folder}/data/{key}")
            if len(data) < count * dtype.itemsize:
                raise pickle.UnpicklingError(f"storage {key} is short")
            self.storages[key] = Stored(np.frombuffer(data, dtype=dtype, count=count), storage == "BFloat16Storage")
            self.budget += VIEWS * len(data)
        return self.storages[key]

    def rebuild_tensor(self, stored: Stored, offset: int, size: tuple, stride: tuple, *_ignored) -> np.ndarray:
        """The tensor torch's `_rebuild_tensor_v2` would make, as a new array (fp32 for bf16), its bounds checked."""
        if (not isinstance(stored, Stored) or len(size) != len(stride) or offset < 0
                or min((*size, *stride), default=0) < 0):
            raise pickle.UnpicklingError("a tensor that does not fit its storage")
        count, values = math.prod(size), stored.values
        last = offset + sum((extent - 1) * step for extent, step in zip(size, stride, strict=True))
        cost = count * (4 if stored.bf16 else values.itemsize)  # bytes of the array built (bf16: widened to fp32)
        if (count and last >= len(values)) or cost > self.budget:
            raise pickle.UnpicklingError("a tensor that does not fit its storage, or repeats it")
        self.budget -= cost
        array = np.lib.stride_tricks.as_strided(values[offset:], shape=tuple(size),
                                                strides=tuple(step * values.itemsize for step in stride)).copy()
        return (array.astype(np.uint32) << 16).view(np.float32) if stored.bf16 else array


def read(path: Path) -> dict | None:
    """The payload of the charnn checkpoint at `path`, tensors as arrays; None where this reader cannot tell it is
    one it reads whole (charnn/checkpoint.py's `load` then reads it, or says what is wrong)."""
    path = Path(path)
    try:
        if not path.is_file() or path.stat().st_size == 0:  # a folder, a pipe, /dev/zero: `load` names them
            return None
        with zipfile.ZipFile(path) as archive:
            names = [name for name in archive.namelist() if name.endswith("/data.pkl") and name.count("/") == 1]
            if len(names) != 1 or not sound_zip(path, archive):
                return None
            folder = names[0].split("/")[0]
            if min(archive.infolist(), key=lambda item: item.header_offset).filename.split("/")[0] != folder:
                return None  # torch takes the first entry's folder for the archive's (a review: `zzz/junk` first)
            byteorder = archive.read(f"{folder}/byteorder").decode() if f"{folder}/byteorder" in archive.namelist() \
                else sys.byteorder
            data = archive.read(names[0])
            if byteorder not in ("little", "big") or not plain_pickle(data):
                return None
            payload = Reader(io.BytesIO(data), archive, folder, byteorder).load()
        if charnn_payload(payload) and payload["format"] == FORMAT:
            return payload
    except Exception:  # anything at all: torch's reader says what it is
        pass
    return None


class ModelArrays:
    """A model as its config and weights (its state dict, as NumPy arrays): what sampling on a CPU runs, without
    torch (charnn/recurrence.py). `charnn.sample` takes one wherever it takes a CharRNN."""

    def __init__(self, config: ModelConfig, weights: dict[str, np.ndarray]):
        self.config, self.weights = config, weights

    def __repr__(self) -> str:
        return f"ModelArrays({self.config})"


def model_arrays(payload: dict) -> ModelArrays | None:
    """The model of a payload from `read`, where it is whole and sound: its config understood, its vocabulary and
    every weight of the shape the config says, every weight finite. Its weights in fp32, as `build_model` makes
    them. Else None (charnn/checkpoint.py's `build_model` says what is wrong)."""
    try:
        config = checked_config(payload)  # config, vocabulary, each weight's name and shape, as `build_model` checks
        weights = payload["model"]
        if all(isinstance(array, np.ndarray) and array.dtype.kind == "f" for array in weights.values()):
            with np.errstate(over="ignore"):  # float64 beyond fp32's range: infinite, refused below
                weights = {name: array.astype(np.float32) for name, array in weights.items()}
            if not_finite(weights) is None:
                return ModelArrays(config, weights)
    except Exception:  # a config or value this charnn does not understand: `build_model` says which
        pass
    return None


def samples_without_torch(device: str, precision: str, num_samples: int, prime_length: int) -> bool:
    """Whether `charnn sample` can run in NumPy's fp32 with this module's model, not loading torch (2–3.5 s on a
    2-core machine): on the CPU, one stream (a batch is faster through oneDNN), a prime short enough to be read a
    step at a time, and fp32 products, which 'auto' means on a CPU without int8 dot products. Elsewhere than Linux
    the flags are not read, and 'auto' is taken as fp32. Either way a seed gives the same text (charnn/stepper.py)."""
    return (device == "cpu" and num_samples == 1 and prime_length + 4 <= STEPPED_PRIME  # + its lead (CRLF's: 4 ids)
            and (precision == "fp32" or not cpu_flags.INT8_DOT_PRODUCTS & cpu_flags.linux_cpu_flags()))


def load(path: Path) -> tuple[dict, ModelArrays] | tuple[None, None]:
    """(payload, model) of the checkpoint at `path`, read without torch; (None, None) where this module cannot read
    it whole and sound (torch's reader then reads it, or says what is wrong with it)."""
    payload = read(path)
    model = model_arrays(payload) if payload is not None else None
    return (payload, model) if model is not None else (None, None)
