"""Crafted checkpoints (a review's, twenty-sixth session): each is refused with one line, on the torch-free path and
torch's alike, before it can take much memory or time, and no two readers read it as two models."""

from __future__ import annotations

import os
import pickletools
import re
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_model_config
from typer.testing import CliRunner

from charnn import checkpoint, checkpoint_arrays
from charnn.checkpoint_checks import charnn_payload, plain_pickle, sound_zip
from charnn.cli import app
from charnn.config import ModelConfig, shown
from charnn.errors import CharnnError
from charnn.model import CharRNN

VOCAB = "\n !,.abcdefghijklmnopqrstuvwxyz"


def payload(**extra) -> dict:
    torch.manual_seed(0)
    model = CharRNN(tiny_model_config(len(VOCAB)))
    return {"format": checkpoint.FORMAT, "model": model.state_dict(), "model_config": model.config.to_dict(),
            "vocab": VOCAB, "step": 12, "metrics": {"val_loss": 1.5, "best_val_loss": 1.5}} | extra


def saved(path: Path, **extra) -> Path:
    checkpoint.save(payload(**extra), path)
    return path


def sample(path: Path):
    result = CliRunner().invoke(app, ["sample", "--checkpoint", str(path), "--length", "5", "--seed", "1"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def rewritten(good: Path, path: Path, change) -> Path:
    """`good`'s entries written again, stored as torch.save stores them, `change(name, data)` giving each one's
    bytes (or None to leave it out)."""
    with zipfile.ZipFile(good) as original, zipfile.ZipFile(path, "w") as changed:
        for item in original.infolist():
            data = change(item.filename, original.read(item))
            if data is not None:
                changed.writestr(item.filename, data)
    return path


def test_a_memo_index_far_beyond_the_pickle_is_refused_before_unpickling(tmp_path):
    """5 bytes asking for memo index 2**28 made CPython's unpickler take 4 GB, and the file then sampled (exit 0)."""
    good = saved(tmp_path / "good.pt")

    def memo_bomb(name: str, data: bytes) -> bytes:
        if not name.endswith("data.pkl"):
            return data
        assert plain_pickle(data)
        position = next(at for op, _, at in pickletools.genops(data) if op.name == "BINPUT")  # BINPUT 0: 2 bytes
        return data[:position] + b"r" + struct.pack("<I", 2**28) + data[position + 2:]

    bomb = rewritten(good, tmp_path / "memo.pt", memo_bomb)
    with zipfile.ZipFile(bomb) as archive:
        assert not plain_pickle(archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl"))))
    assert checkpoint_arrays.read(bomb) is None
    assert checkpoint.load(bomb)["step"] == 12  # torch's reader, whose memo is a dict, reads it as it is
    assert not plain_pickle(b"not a pickle")
    assert plain_pickle(b"\x80\x02cos\nsystem\n.")  # GLOBAL is torch's opcode: the reader's find_class refuses names
    assert not plain_pickle(b"\x80\x02\x8b\x00\x01\x00\x00" + b"\x01" * 256 + b".")  # LONG4: 2**2048, say


def overlapping(good: Path, path: Path) -> Path:
    """`good` with its last entry's central-directory record pointing at the entry before it: two entries over
    one stretch of bytes."""
    data = bytearray(good.read_bytes())
    records = [at for at in range(len(data) - 4) if data[at:at + 4] == b"PK\x01\x02"]
    earlier = data[records[-2] + 42:records[-2] + 46]
    data[records[-1] + 42:records[-1] + 46] = earlier  # its local header's offset
    path.write_bytes(bytes(data))
    return path


def test_zips_that_torch_save_never_writes_are_refused_by_both_readers(tmp_path):
    """A review: 100 entries overlapping one 8 MB block read as 800 MB from a 12 MB file (Python before 3.11.8
    does not check), a repeated entry was the first copy to torch and the last to zipfile (two models from one
    file), and a deflated entry is inflated by torch's reader to whatever it says."""
    good = saved(tmp_path / "good.pt")
    with zipfile.ZipFile(good) as archive:
        assert sound_zip(good, archive)
    bias = next(n for n in zipfile.ZipFile(good).namelist() if n.endswith("/data/10"))  # some storage
    repeated = rewritten(good, tmp_path / "repeated.pt", lambda name, data: data)
    with zipfile.ZipFile(repeated, "a") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr(bias, b"\x01" * len(zipfile.ZipFile(good).read(bias)))
    prefixed = tmp_path / "prefixed.pt"
    prefixed.write_bytes(b"\0" * 4096 + good.read_bytes())
    deflated = tmp_path / "deflated.pt"
    with zipfile.ZipFile(good) as original, zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as packed:
        for item in original.infolist():
            packed.writestr(item.filename, original.read(item))
    for path in (overlapping(good, tmp_path / "overlap.pt"), repeated, deflated):
        assert checkpoint_arrays.read(path) is None, path.name
        with pytest.raises(CharnnError, match="not a checkpoint that torch.save wrote"):
            checkpoint.load(path)
        result = sample(path)
        assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    with zipfile.ZipFile(prefixed) as archive:  # zipfile reads it (its offsets shifted); torch.save writes none such
        assert archive.read(bias) and not sound_zip(prefixed, archive)
    assert checkpoint_arrays.read(prefixed) is None
    with pytest.raises(CharnnError, match="not a checkpoint that torch.save wrote .*other data comes first"):
        checkpoint.load(prefixed)


def test_a_pickle_protocol_that_torchs_reader_refuses_is_refused_on_both_paths(tmp_path):
    """A review: `torch.save(..., pickle_protocol=4)` sampled without torch, and was 'not a readable checkpoint' to
    every command that reads through torch (a batch, eval, resume): both readers now refuse it."""
    path = tmp_path / "protocol4.pt"
    torch.save(payload(), path, pickle_protocol=4)
    assert checkpoint_arrays.read(path) is None
    with pytest.raises(CharnnError, match="not a readable checkpoint"):
        checkpoint.load(path)


def test_a_config_that_no_weights_fit_is_refused_before_a_model_is_built(tmp_path):
    """A review: `num_layers` 10**9 listed 4·10**9 weight shapes before comparing one (a minute, 5 GB); hidden_size
    8000 built a 3 GB model before its weights were found not to fit, and 10**9 ended in a traceback."""
    for config, said in [({"num_layers": 10**9}, "weights, where 1000000000 layers have"),
                         ({"hidden_size": 10**9}, "rnn.weight_ih_l0 is (64, 8), not (4000000000, 8)"),
                         ({"embed_dim": 10**12}, "embedding.weight is (31, 8), not (31, 1000000000000)")]:
        crafted = payload()
        crafted["model_config"] = crafted["model_config"] | config
        assert checkpoint_arrays.model_arrays(crafted) is None
        with pytest.raises(CharnnError, match="weights do not fit its model config .*" + re.escape(said)):
            checkpoint.build_model(crafted)
    missing = payload()
    del missing["model"]["head.bias"]
    extra = payload()
    extra["model"]["rnn.weight_xx_l0"] = torch.zeros(1)
    not_a_tensor = payload()
    not_a_tensor["model"]["head.bias"] = None
    for crafted, said in [(missing, "10 weights, where 2 layers have 11"),
                          (extra, "12 weights, where 2 layers have 11"), (not_a_tensor, "head.bias is not a tensor")]:
        with pytest.raises(CharnnError, match=said):
            checkpoint.build_model(crafted)
    assert not charnn_payload(not_a_tensor)  # a value that is no tensor: not a charnn checkpoint


def test_values_only_a_crafted_file_holds_make_it_no_charnn_checkpoint(tmp_path):
    """A config value that nests itself (its error took a 50 MB line to write), a 7,000-digit step, a vocabulary
    with a lone surrogate (a traceback as it wrote the text), metrics that are a list (`charnn info`'s traceback)."""
    nested: list = []
    for _ in range(40):
        nested = [nested, nested]  # 2**40 items written out; a few hundred bytes pickled
    for extra in [{"model_config": payload()["model_config"] | {"cell": nested}}, {"step": 10**7000},
                  {"vocab": VOCAB[:-1] + "\ud800"}, {"metrics": [1.5]}, {"train_config": "steps"},
                  {"model_config": payload()["model_config"] | {"cell": "x" * 10**6}}]:
        assert not charnn_payload(payload(**extra)), list(extra)
    path = tmp_path / "nested.pt"
    torch.save(payload(model_config=payload()["model_config"] | {"cell": nested}), path)
    assert checkpoint_arrays.read(path) is None
    with pytest.raises(CharnnError, match="a PyTorch file, but not a charnn checkpoint"):
        checkpoint.load(path)
    with pytest.raises(CharnnError, match="cell must be one of lstm, gru, rnn, not a value of type list"):
        ModelConfig(40, cell=nested)
    assert shown(10**7000) == "a value of type int" and shown("lstm") == "'lstm'" and shown(0.5) == "0.5"


def test_weights_beyond_fp32_are_refused_on_both_paths(tmp_path):
    """float64 weights of 1e300 became inf in fp32 after the torch-free reader had found them finite: it wrote one
    character for ever, where torch's path refused the file."""
    crafted = payload()
    crafted["model"]["head.bias"] = torch.full_like(crafted["model"]["head.bias"], 1e300, dtype=torch.float64)
    path = tmp_path / "huge.pt"
    checkpoint.save(crafted, path)
    assert checkpoint_arrays.read(path) is not None and checkpoint_arrays.load(path) == (None, None)
    result = sample(path)
    assert result.exit_code == 1 and "head.bias holds NaN or infinite values" in result.stderr, result.stderr
    assert "Warning" not in result.stderr


def test_what_torchs_reader_raises_on_a_crafted_file_is_one_line(tmp_path, monkeypatch):
    """torch's weights-only unpickler raised TypeError and AttributeError on a review's crafted pickles: tracebacks."""
    path = saved(tmp_path / "m.pt")
    for error in (TypeError("object.__new__(X): X is not a type object"), AttributeError("no attribute"),
                  MemoryError()):
        def broken(*args, error=error, **kwargs):
            raise error

        monkeypatch.setattr(torch, "load", broken)
        with pytest.raises(CharnnError, match="is not a readable checkpoint"):
            checkpoint.load(path)


def test_the_cli_takes_what_a_config_leaves_out_from_its_defaults_and_names_a_pipe(tmp_path):
    """A config without `num_layers` ended `charnn sample` in a KeyError where it wrote the model's label (the
    torch-free path); `charnn info` did the same without `dropout`. A pipe was said to be empty."""
    config = payload()["model_config"]
    del config["num_layers"], config["dropout"]  # 2 layers and no dropout: the defaults, as these weights are
    path = saved(tmp_path / "partial.pt", model_config=config)
    result = sample(path)
    assert result.exit_code == 0 and "2×16 LSTM" in result.stderr, result.stderr
    result = CliRunner().invoke(app, ["info", str(path)])
    assert result.exit_code == 0 and "dropout 0.0" in result.stdout, result.output
    fifo = tmp_path / "fifo.pt"
    os.mkfifo(fifo)
    result = sample(fifo)
    assert result.exit_code == 1 and "is not a file (a pipe or a device)" in result.stderr
    metrics = saved(tmp_path / "metrics.pt", metrics={"best_val_loss": "low", "val_loss": 1.5})
    result = CliRunner().invoke(app, ["info", str(metrics)])
    assert result.exit_code == 1 and "holds metrics or settings that charnn does not write" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_good_checkpoint_still_reads_the_same_on_both_paths(tmp_path):
    path = saved(tmp_path / "good.pt")
    arrays = checkpoint_arrays.read(path)
    loaded = torch.load(path, weights_only=True)
    assert arrays is not None and arrays.keys() == loaded.keys()
    assert all(np.array_equal(arrays["model"][name], tensor.numpy()) for name, tensor in loaded["model"].items())
    assert checkpoint.build_model(checkpoint.load(path)) is not None
