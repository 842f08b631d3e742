"""A checkpoint read into NumPy arrays, without torch: `charnn sample` on a CPU then starts without `import torch`.
On machine D (2 cores, benchmarks/RESULTS.md) that import alone took 2.2–3.5 s, and the whole of
`charnn sample --length 1000` took 3.2–3.7 s with it and 1.0–1.1 s without it.

torch.save writes a zip: `<name>/data.pkl`, a pickle of the payload in which each tensor is a call of
`torch._utils._rebuild_tensor_v2` on a storage named by a persistent id, and `<name>/data/<key>`, each storage's
bytes. This reader unpickles with three globals allowed (OrderedDict, that call, and the storage types, which it
maps to its own stand-ins) and builds each tensor as a NumPy array from its storage's bytes; like
`torch.load(weights_only=True)`, it runs no code from the file. Anything it does not know (another layout, another
global, a size that does not fit its storage) makes it answer None, and the caller reads the file with torch
(charnn/checkpoint.py), which says what is wrong with it. So this is a faster way in, never another set of errors.
"""

from __future__ import annotations

import collections
import io
import math
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np

from charnn.config import ModelConfig
from charnn.errors import CharnnError

FORMAT = 1  # of a checkpoint's dict: bump when its layout changes; older files are refused with a clear line
REQUIRED_KEYS = ("format", "model", "model_config", "vocab", "step")
STORAGES = {"FloatStorage": "f4", "HalfStorage": "f2", "DoubleStorage": "f8", "BFloat16Storage": "u2",
            "LongStorage": "i8", "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1", "ByteStorage": "u1",
            "BoolStorage": "?"}  # torch's storage types → NumPy's (bf16: its bits, widened in `as_float32`)
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


class Storage(str):
    """A storage type named in the pickle (torch.FloatStorage, …): its name."""


class Reader(pickle.Unpickler):
    def __init__(self, file, archive: zipfile.ZipFile, folder: str, byteorder: str):
        super().__init__(file)
        self.archive, self.folder, self.byteorder = archive, folder, byteorder

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict  # a state dict's, whose `_metadata` is set on it after (BUILD)
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return rebuild_tensor
        if module == "torch" and name in STORAGES:
            return Storage(name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not read here")

    def persistent_load(self, saved_id):
        kind, storage, key, _location, count = saved_id
        if kind != "storage" or not isinstance(storage, Storage):
            raise pickle.UnpicklingError(f"unknown persistent id {saved_id!r}")
        dtype = np.dtype(STORAGES[storage]).newbyteorder("<" if self.byteorder == "little" else ">")
        data = self.archive.read(f"{self.folder}/data/{key}")
        if len(data) < count * dtype.itemsize:
            raise pickle.UnpicklingError(f"storage {key} is short")
        return Tensor(np.frombuffer(data, dtype=dtype, count=count), storage == "BFloat16Storage")


class Tensor(np.ndarray):
    """An array read from a storage, marked bf16 where its uint16 values are bf16 bits."""

    def __new__(cls, array: np.ndarray, bf16: bool):
        made = array.view(cls)
        made.bf16 = bf16
        return made


def rebuild_tensor(storage: Tensor, offset: int, size: tuple, stride: tuple, *_ignored) -> np.ndarray:
    """The tensor torch's `_rebuild_tensor_v2` would make, as a new array (fp32 for bf16), its bounds checked."""
    if (not isinstance(storage, Tensor) or len(size) != len(stride) or offset < 0
            or min((*size, *stride), default=0) < 0):
        raise pickle.UnpicklingError("a tensor that does not fit its storage")
    last = offset + sum((extent - 1) * step for extent, step in zip(size, stride, strict=True))
    if math.prod(size) and last >= len(storage):
        raise pickle.UnpicklingError("a tensor that does not fit its storage")
    item = storage.itemsize
    array = np.lib.stride_tricks.as_strided(np.asarray(storage)[offset:], shape=tuple(size),
                                            strides=tuple(step * item for step in stride)).copy()
    if storage.bf16:
        return (array.astype(np.uint32) << 16).view(np.float32)
    return array


def read(path: Path) -> dict | None:
    """The payload of the charnn checkpoint at `path`, tensors as arrays; None where this reader cannot tell it is
    one it reads whole (charnn/checkpoint.py's `load` then reads it, or says what is wrong)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [name for name in archive.namelist() if name.endswith("/data.pkl") and name.count("/") == 1]
            if len(names) != 1:
                return None
            folder = names[0].split("/")[0]
            byteorder = archive.read(f"{folder}/byteorder").decode() if f"{folder}/byteorder" in archive.namelist() \
                else sys.byteorder
            payload = Reader(io.BytesIO(archive.read(names[0])), archive, folder, byteorder).load()
    except Exception:  # anything at all: torch's reader says what it is
        return None
    if not isinstance(payload, dict) or not all(key in payload for key in REQUIRED_KEYS) or payload["format"] != FORMAT:
        return None
    return payload


class ModelArrays:
    """A model as its config and weights (its state dict, as NumPy arrays): what sampling on a CPU runs, without
    torch (charnn/recurrence.py). `charnn.sample` takes one wherever it takes a CharRNN."""

    def __init__(self, config: ModelConfig, weights: dict[str, np.ndarray]):
        self.config, self.weights = config, weights

    def __repr__(self) -> str:
        return f"ModelArrays({self.config})"


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The state dict of a CharRNN of `config`: each weight's name and shape."""
    vocab, hidden, gates = config.vocab_size, config.hidden_size, GATES[config.cell] * config.hidden_size
    shapes = {"embedding.weight": (vocab, config.embed_dim), "head.weight": (vocab, hidden), "head.bias": (vocab,)}
    for i in range(config.num_layers):
        shapes |= {f"rnn.weight_ih_l{i}": (gates, config.embed_dim if i == 0 else hidden),
                   f"rnn.weight_hh_l{i}": (gates, hidden), f"rnn.bias_ih_l{i}": (gates,), f"rnn.bias_hh_l{i}": (gates,)}
    return shapes


def model_arrays(payload: dict) -> ModelArrays | None:
    """The model of a payload from `read`, where it is whole and sound: its config understood, its vocabulary and
    every weight of the shape the config says, every weight finite. Else None (charnn/checkpoint.py's
    `build_model` says what is wrong)."""
    try:
        config = ModelConfig(**payload["model_config"])
    except (CharnnError, TypeError):
        return None
    weights = payload["model"]
    shapes = expected_shapes(config)
    if (not isinstance(weights, dict) or weights.keys() != shapes.keys() or len(payload["vocab"]) != config.vocab_size
            or any(not isinstance(array, np.ndarray) or array.shape != shapes[name] or array.dtype.kind != "f"
                   or not np.isfinite(array).all() for name, array in weights.items())):
        return None
    return ModelArrays(config, weights)
