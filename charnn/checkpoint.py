"""Checkpoints: plain data on disk, written atomically, loaded without unpickling code.

A checkpoint is a dict of tensors and plain Python values (its keys: README, "Python API"). It is written to
a temporary file in the same folder, fsynced, then renamed over the real name, so a crash at any
moment leaves either the old file or the new one, never half of one. It is read with
`torch.load(weights_only=True)`, which refuses anything that would run code when unpickled, and
mapped to the CPU first so a checkpoint trained on CUDA or MPS loads anywhere. (Sampling on a CPU reads it
without torch where it can: charnn/checkpoint_arrays.py, which leaves anything unusual to `load` here.)

Run folder layout (the folders themselves: runs.py):
    latest.pt           everything needed to resume exactly (optimizer, RNG, data position, state)
    best.pt             weights with the lowest validation loss so far (enough to sample)
    step-NNNNNNNN.pt    weights at recent evals; the last `keep` are kept
    metrics.jsonl       one JSON object per eval
    .lock               held by the training process that owns the folder
"""

from __future__ import annotations

import contextlib
import os
import pickle
import warnings
import zipfile
from pathlib import Path

import torch

from charnn.checkpoint_checks import (  # as sampling's reader checks; not_finite: importable from here too
    FORMAT,
    another_one,
    charnn_payload,
    check_file,
    checked_config,
    not_finite,
    sound_zip,
)
from charnn.errors import CharnnError
from charnn.model import CharRNN


def save(payload: dict, path: Path) -> None:
    """Write `payload` to `path` atomically (temp file + fsync + rename + fsync of the folder)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as file:
            torch.save(payload, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except KeyboardInterrupt:  # a second Ctrl-C mid-write: the old file stands; drop the partial one
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    except (OSError, RuntimeError) as error:  # torch.save reports a failed write as RuntimeError
        reason = write_error(error)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise CharnnError(
            f"cannot write checkpoint {path}: {reason} — free disk space or choose "
            "another --out; earlier checkpoints there are intact"
        ) from None


def write_error(error: BaseException) -> str:
    """Why a write failed, in the system's words. torch.save turns a full disk into `unexpected pos 1113472 vs
    1113360` (a new-user trial, a 3 MB latest.pt), with the system's error as its context."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        cause = cause.__cause__ or cause.__context__
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load(path: str | Path) -> dict:
    """Read a checkpoint as plain data, refusing code and explaining every way it can be broken."""
    path = Path(path)
    check_file(path)
    if zipfile.is_zipfile(path) and not unpacks_soundly(path):  # before torch's reader would unpack it
        raise CharnnError(f"{path} is not a checkpoint that torch.save wrote (its zip's entries are compressed, "
                          "repeated or overlapping, or other data comes first); refused without reading it — use "
                          "another one")
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols; our error line says it
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # The weights-only unpickler names a function or class it will not call ("Unsupported
        # global"); anything else (text, random bytes, an unknown pickle opcode) is unreadable data,
        # which must not be reported as code.
        if "global" in str(error).lower() or "reduce" in str(error).lower():
            raise CharnnError(
                f"{path} holds code or objects that are not plain data; refused without running it — "
                "only load checkpoints written by charnn"
            ) from None
        raise CharnnError(
            f"{path} is not a readable checkpoint (corrupt, or not plain tensor data); refused without "
            f"running anything — {another_one(path)}"
        ) from None
    except Exception:  # RuntimeError, EOFError, …, and what torch's unpickler raises on a crafted file (TypeError)
        raise CharnnError(f"{path} is not a readable checkpoint (truncated or corrupt) — {another_one(path)}") from None
    if not charnn_payload(payload):
        raise CharnnError(f"{path} is a PyTorch file, but not a charnn checkpoint — give a best.pt or latest.pt "
                          "that `charnn train` wrote, or its run folder")
    if payload["format"] != FORMAT:
        raise CharnnError(
            f"{path} has checkpoint format {payload['format']}; this charnn reads format {FORMAT} — "
            "use the charnn version that wrote it"
        )
    return payload


def unpacks_soundly(path: Path) -> bool:
    """Whether the zip at `path` is laid out as torch.save writes one (checkpoint_checks.sound_zip)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return sound_zip(path, archive)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):  # torch's reader says what is wrong
        return True


def build_model(payload: dict, path: str | Path = "checkpoint", finite: bool = True) -> CharRNN:
    """The model a checkpoint describes, with its weights, on the CPU, in eval mode; with `finite`, only if every
    weight is a finite number. Its config, vocabulary and weights are checked first (checkpoint_checks)."""
    config = checked_config(payload, path)
    model = CharRNN(config)
    weights = {name: tensor.float() for name, tensor in payload["model"].items()}
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        detail = next((line.strip() for line in first[1:] if line.strip()), first[0] if first else "")
        raise CharnnError(f"{path}: weights do not fit its model config ({detail})") from None
    broken = not_finite(weights)
    if finite and broken:  # it would write one character for ever (a new-user trial: 80 line breaks, exit 0)
        raise CharnnError(f"{path}: weight {broken} holds NaN or infinite values — use another checkpoint")
    return model.eval()
