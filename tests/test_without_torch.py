"""Sampling without torch: torch's random numbers made by NumPy (charnn/mersenne.py), checkpoints read into NumPy
arrays (charnn/checkpoint_arrays.py), and the same text from those arrays as from the torch model."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_model_config

from charnn import checkpoint, checkpoint_arrays
from charnn.drawing import batch_noise
from charnn.errors import CharnnError
from charnn.mersenne import MersenneTwister
from charnn.model import CharRNN
from charnn.recurrence import STEPPED_PRIME
from charnn.runs import BUNDLED
from charnn.sample import generate, generate_batch, prime_ids_for, started
from charnn.vocab import Vocab

VOCAB = Vocab("\n !,.abcdefghijklmnopqrstuvwxyzé日本🙂")


@pytest.mark.parametrize("seed", [0, 5, 2**32 - 1, 2**40 + 7, -3])
def test_mersenne_twister_draws_torchs_numbers(seed):
    generator, twister = torch.Generator().manual_seed(seed), MersenneTwister(seed)
    for shape in [(1,), (3, 7, 65), (1000,), (2, 1)]:  # one call after another, as sampling draws blocks
        expected = torch.rand(shape, generator=generator, dtype=torch.float64).numpy()
        assert np.array_equal(twister.uniform(shape), expected)


def test_noise_for_a_batch_is_the_same_from_either_generator():
    for vocab_size in (40, 2000):  # Gumbel noise; one uniform number a draw
        seeds = [3, 8, 11]
        from_torch = batch_noise(5, 3, vocab_size, [torch.Generator().manual_seed(seed) for seed in seeds])
        from_numpy = batch_noise(5, 3, vocab_size, [MersenneTwister(seed) for seed in seeds])
        assert np.array_equal(from_torch, from_numpy)


def make_model(cell: str, layers: int, seed: int = 0) -> CharRNN:
    torch.manual_seed(seed)
    model = CharRNN(tiny_model_config(len(VOCAB), cell=cell, num_layers=layers))
    with torch.no_grad():  # sharper logits than a fresh init, so sampling is far from uniform
        model.head.weight.mul_(8)
    return model.eval()


def saved(model: CharRNN, path: Path, **extra) -> Path:
    """`model` in a checkpoint as training writes one (weights fp32, plain data beside them)."""
    payload = {"format": checkpoint.FORMAT, "model": model.state_dict(), "model_config": model.config.to_dict(),
               "vocab": VOCAB.chars, "step": 12, "metrics": {"val_loss": 1.5}} | extra
    checkpoint.save(payload, path)
    return path


def assert_same_data(got, expected) -> None:
    """A payload read by checkpoint_arrays against torch.load's: the same values, tensors as arrays."""
    if isinstance(expected, torch.Tensor):
        assert isinstance(got, np.ndarray) and got.shape == tuple(expected.shape)
        assert np.array_equal(got, expected.float().numpy() if expected.dtype == torch.bfloat16 else expected.numpy())
    elif isinstance(expected, dict):
        assert isinstance(got, dict) and got.keys() == expected.keys()
        for key in expected:
            assert_same_data(got[key], expected[key])
    elif isinstance(expected, list | tuple):
        assert type(got) is type(expected) and len(got) == len(expected)
        for one, other in zip(got, expected, strict=True):
            assert_same_data(one, other)
    else:
        assert got == expected and type(got) is type(expected)


def test_a_training_runs_checkpoints_read_as_torch_reads_them(trained_run):
    for name in ("best.pt", "latest.pt"):  # latest.pt: optimizer state, RNG state (bytes), nested dicts and lists
        path = trained_run.run_dir / name
        assert_same_data(checkpoint_arrays.read(path), torch.load(path, weights_only=True))
        assert checkpoint_arrays.model_arrays(checkpoint_arrays.read(path)) is not None


@pytest.mark.skipif(not BUNDLED.exists(), reason="no bundled model in this checkout")
def test_the_bundled_model_reads_as_torch_reads_it():
    assert_same_data(checkpoint_arrays.read(BUNDLED), torch.load(BUNDLED, weights_only=True))  # fp16 weights


def test_tensors_of_every_kind_read_as_torch_reads_them(tmp_path):
    whole = torch.arange(60, dtype=torch.float32).reshape(6, 10)
    tensors = {"transposed": whole.t(), "slice": whole[2:5, 3:7], "every_other": whole[:, ::2],
               "bf16": torch.randn(4, 5).bfloat16(), "fp16": torch.randn(3).half(),
               "double": torch.randn(2, 2).double(),
               "long": torch.tensor([1, -2**40]), "bool": torch.tensor([True, False]), "empty": torch.zeros(0, 3),
               "scalar": torch.tensor(2.5), "bytes": torch.tensor([0, 255], dtype=torch.uint8)}
    path = saved(make_model("lstm", 1), tmp_path / "kinds.pt", tensors=tensors)
    assert_same_data(checkpoint_arrays.read(path), torch.load(path, weights_only=True))


def zipped(path: Path, pickled: bytes, storages: dict[str, bytes] | None = None) -> Path:
    """A zip laid out as torch.save lays one out, holding `pickled` as its data.pkl."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickled)
        archive.writestr("archive/byteorder", "little")
        for key, data in (storages or {}).items():
            archive.writestr(f"archive/data/{key}", data)
    return path


class RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_what_torch_would_refuse_or_fail_on_is_not_read_here(tmp_path):
    """Each is left to torch's reader (None), which says what is wrong; code in the file never runs."""
    marker = tmp_path / "ran"
    good = saved(make_model("gru", 2), tmp_path / "good.pt")
    data = good.read_bytes()
    payload = torch.load(good, weights_only=True)
    cases = {
        "code": zipped(tmp_path / "code.pt", pickle.dumps({"format": 1, "model": RunsCode(marker)})),
        "truncated": tmp_path / "truncated.pt",
        "random": tmp_path / "random.pt",
        "text": tmp_path / "text.pt",
        "missing": tmp_path / "missing.pt",
        "not charnn": tmp_path / "other.pt",
        "format 2": tmp_path / "format2.pt",
        "short storage": zipped(tmp_path / "short.pt", torch_pickle_of_one_tensor(numel=100), {"0": b"\0" * 16}),
    }
    cases |= {"a pipe": tmp_path / "fifo.pt", "a device": Path("/dev/zero"), "a folder": tmp_path,
              "a value repeated": saved(make_model("gru", 2), tmp_path / "expanded.pt",
                                        junk=torch.zeros(1).expand(10**7)),  # one float stored, 10⁷ built
              "one storage many times": saved(make_model("gru", 2), tmp_path / "views.pt",
                                              junk=[whole[i:] for whole in [torch.zeros(10**5)] for i in range(50)]),
              "byte order": zipped(tmp_path / "order.pt", b"", {}),
              "compressed": tmp_path / "deflated.pt",
              "a step as text": tmp_path / "step-text.pt",
              "a tensor as format": tmp_path / "format-tensor.pt"}
    os.mkfifo(cases["a pipe"])
    with zipfile.ZipFile(good) as original, zipfile.ZipFile(cases["byte order"], "w") as changed:
        for item in original.infolist():
            changed.writestr(item, b"middle" if item.filename.endswith("/byteorder") else original.read(item))
    with zipfile.ZipFile(good) as original, zipfile.ZipFile(cases["compressed"], "w", zipfile.ZIP_DEFLATED) as packed:
        for item in original.infolist():  # the same entries, deflated: torch.save never writes one
            packed.writestr(item.filename, original.read(item))
    torch.save(payload | {"format": torch.tensor([1, 1])}, cases["a tensor as format"])
    torch.save(payload | {"step": "12"}, cases["a step as text"])
    with pytest.raises(CharnnError, match="a PyTorch file, but not a charnn checkpoint"):  # it ended in a traceback
        checkpoint.load(cases["a step as text"])
    cases["truncated"].write_bytes(data[: len(data) // 2])
    cases["random"].write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    cases["text"].write_text("ROMEO:\nBut soft!\n")
    torch.save({"weights": torch.zeros(3)}, cases["not charnn"])
    torch.save(payload | {"format": 2}, cases["format 2"])
    for name, path in cases.items():
        assert checkpoint_arrays.read(path) is None, name
    assert not marker.exists()


def torch_pickle_of_one_tensor(numel: int) -> bytes:
    """data.pkl of a charnn-like payload whose one tensor says it has `numel` floats in storage "0"."""
    buffer = io.BytesIO()
    torch.save({"format": 1, "model": {"w": torch.zeros(numel)}, "model_config": {}, "vocab": "ab", "step": 1},
               buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        name = next(name for name in archive.namelist() if name.endswith("/data.pkl"))
        return archive.read(name)


def test_a_model_that_is_not_whole_and_sound_is_left_to_torch(tmp_path):
    payload = checkpoint_arrays.read(saved(make_model("lstm", 2), tmp_path / "m.pt"))
    assert checkpoint_arrays.model_arrays(payload) is not None
    weights = payload["model"]
    broken = {
        "NaN": {**weights, "head.bias": np.full_like(weights["head.bias"], np.nan)},
        "wrong shape": {**weights, "head.bias": weights["head.bias"][:-1]},
        "missing": {name: array for name, array in weights.items() if name != "rnn.bias_hh_l1"},
        "extra": {**weights, "rnn.weight_ih_l2": weights["rnn.weight_ih_l1"]},
        "integers": {**weights, "head.bias": weights["head.bias"].astype(np.int64)},
    }
    for name, model in broken.items():
        assert checkpoint_arrays.model_arrays(payload | {"model": model}) is None, name
    assert checkpoint_arrays.model_arrays(payload | {"vocab": "abc"}) is None
    assert checkpoint_arrays.model_arrays(payload | {"model_config": {"vocab_size": 40, "colour": 1}}) is None
    assert checkpoint_arrays.model_arrays(payload | {"model_config": {**payload["model_config"], "cell": "x"}}) is None
    config_with_an_array = {**payload["model_config"], "cell": np.array([1, 2])}  # a ValueError in ModelConfig
    assert checkpoint_arrays.model_arrays(payload | {"model_config": config_with_an_array}) is None
    doubles = checkpoint_arrays.model_arrays(payload | {"model": {name: array.astype(np.float64)
                                                                  for name, array in weights.items()}})
    assert all(array.dtype == np.float32 for array in doubles.weights.values())  # as build_model's .float()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers", [1, 3])
def test_the_arrays_write_what_the_torch_model_writes(cell, layers, tmp_path):
    """Same seed, same text, whichever samples: every control, and a prime as long as is read step by step. (Rounding
    alone seldom changes a text: `test_one_stream_computes_the_same_numbers_either_way` checks the numbers.)"""
    model = make_model(cell, layers)
    arrays = checkpoint_arrays.model_arrays(checkpoint_arrays.read(saved(model, tmp_path / "m.pt")))
    long_prime = ("the fox, é 日本 🙂. " * 80)[: STEPPED_PRIME - 2]
    assert len(prime_ids_for(VOCAB, long_prime)) == STEPPED_PRIME
    for prime, controls in [("", {}), ("the ", {"temperature": 1.3}), ("é", {"top_k": 3}),
                            ("\nab", {"top_p": 0.8, "temperature": 0.9}), ("x", {"temperature": 0}),
                            (long_prime, {"temperature": 1.0})]:
        texts = ["".join(generate(one, VOCAB, prime, 1500, generator=MersenneTwister(7), precision="fp32",
                                  **controls)) for one in (model, arrays)]
        assert texts[0] == texts[1], (prime[:10], controls)
        assert len(set(texts[0])) > 3 or controls.get("temperature") == 0
    # A batch: its products round as oneDNN's or NumPy's batch products do, not as one stream's, so its texts are
    # the same from torch's generators and from MersenneTwisters, and from the arrays again, but not to the last
    # character those of the other path.
    def batch(one, generators) -> list[str]:
        return generate_batch(one, VOCAB, "th", 300, 3, 1.1, generator=generators, precision="fp32")

    seeds = (1, 2, 3)
    from_torch = batch(model, [torch.Generator().manual_seed(seed) for seed in seeds])
    assert batch(model, [MersenneTwister(seed) for seed in seeds]) == from_torch
    from_arrays = batch(arrays, [MersenneTwister(seed) for seed in seeds])
    assert batch(arrays, [MersenneTwister(seed) for seed in seeds]) == from_arrays
    assert [len(text) for text in from_arrays] == [300] * 3 and len(set(from_arrays)) == 3


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_one_stream_computes_the_same_numbers_either_way(cell, tmp_path):
    """The logits after the prime and after each step, to the last bit: the torch model's one stream on a CPU reads
    its prime, and steps, with the NumPy code that samples its arrays."""
    model = make_model(cell, 2)
    arrays = checkpoint_arrays.model_arrays(checkpoint_arrays.read(saved(model, tmp_path / "m.pt")))
    ids = prime_ids_for(VOCAB, "the fox, é 日本 🙂. " * 20)
    with started(model, ids, 1, "fp32", None) as (logits, step, state, _), \
            started(arrays, ids, 1, "fp32", None) as (array_logits, array_step, array_state, _):
        for index in [3, 0, 17, 5]:
            assert np.array_equal(logits, array_logits)
            logits, state = step(np.array([index]), state)
            array_logits, array_state = array_step(np.array([index]), array_state)


def run_charnn(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`charnn ARGS` in a fresh process, with whether it loaded torch on stderr's last line."""
    code = ("import sys, charnn.cli\nfrom typer.testing import CliRunner\n"
            f"r = CliRunner().invoke(charnn.cli.app, {list(args)!r})\n"
            "sys.stdout.write(r.stdout); sys.stderr.write(r.stderr + f'\\ntorch {\"torch\" in sys.modules}')\n"
            "sys.exit(r.exit_code)")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_charnn_sample_on_a_cpu_runs_without_torch_and_writes_its_text(trained_run, tmp_path):
    from charnn import cpu_flags

    if cpu_flags.INT8_DOT_PRODUCTS & cpu_flags.linux_cpu_flags():
        pytest.skip("this CPU has int8 dot products: `--precision auto` samples in int8, through torch")
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("--device auto would sample on the GPU here, not through torch on the CPU")
    run = str(trained_run.run_dir)
    common = ["sample", "--checkpoint", run, "--seed", "4", "--length", "300", "--temperature", "1.2"]
    light = run_charnn(*common, cwd=tmp_path)
    assert light.returncode == 0 and light.stderr.endswith("torch False"), light.stderr
    with_torch = run_charnn(*common, "--device", "auto", cwd=tmp_path)  # the same sample, through torch
    assert with_torch.returncode == 0 and with_torch.stderr.endswith("torch True"), with_torch.stderr
    assert light.stdout == with_torch.stdout and len(light.stdout) == 300
    long_prime = (trained_run.corpus_path.read_text() * 100)[:STEPPED_PRIME]
    for more in (["--num-samples", "2"], ["--prime", long_prime]):  # faster through torch
        assert run_charnn(*common, *more, cwd=tmp_path).stderr.endswith("torch True")
    broken = tmp_path / "broken.pt"
    broken.write_bytes((trained_run.run_dir / "best.pt").read_bytes()[:3000])
    refused = run_charnn("sample", "--checkpoint", str(broken), cwd=tmp_path)  # torch's reader says what is wrong
    assert refused.returncode == 1 and "broken.pt is not a readable checkpoint" in refused.stderr


def test_an_empty_or_text_checkpoint_is_told_before_torch_loads(tmp_path):
    """A trial: every bad checkpoint took ~2.5 s to be refused, the time torch takes to load. Those plainly no
    checkpoint are told without it."""
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "notes.pt").write_text("ROMEO:\nBut soft!\n")
    for name, said in [("empty.pt", "is empty (0 bytes)"), ("notes.pt", "is a text file, not a checkpoint")]:
        refused = run_charnn("sample", "--checkpoint", name, cwd=tmp_path)
        assert refused.returncode == 1 and said in refused.stderr and refused.stderr.endswith("torch False")


def test_charnn_info_reads_runs_without_torch(trained_run, tmp_path):
    """A trial: `charnn info` took 2.9–3.2 s where `charnn sample` started in 0.7 s: it loaded torch to read the
    checkpoint and build the model for its parameter count."""
    from charnn import checkpoint as checkpoints

    one = run_charnn("info", str(trained_run.run_dir), cwd=tmp_path)
    assert one.returncode == 0 and one.stderr.endswith("torch False"), one.stderr
    model = checkpoints.build_model(checkpoints.load(trained_run.run_dir / "best.pt"))
    assert f"parameters     {model.num_parameters():,}" in one.stdout
    assert "resumable      yes, from" in one.stdout and "best val loss" in one.stdout
    listed = run_charnn("info", str(trained_run.run_dir.parent), cwd=tmp_path)
    assert listed.returncode == 0 and listed.stderr.endswith("torch False"), listed.stderr
    assert trained_run.run_dir.name in listed.stdout and f"{model.num_parameters() / 1e6:.2f}M" in listed.stdout


def test_packed_foreign_and_cut_short_files_are_told_before_torch_loads(trained_run, tmp_path):
    """A trial: a gzipped best.pt was 'not plain tensor data; refused without running anything', a zip of photos
    'truncated or corrupt', a download cut short took ~3 s to refuse and named no other checkpoint, though its run
    folder held a good latest.pt; `charnn info` of a lone best.pt loaded torch to find no latest.pt beside it."""
    import gzip
    import shutil

    good = (trained_run.run_dir / "best.pt").read_bytes()
    (tmp_path / "best.pt.gz").write_bytes(gzip.compress(good))
    with zipfile.ZipFile(tmp_path / "photos.pt", "w") as archive:
        archive.writestr("a.txt", "a photo")
    run = tmp_path / "my run"
    shutil.copytree(trained_run.run_dir, run)
    (run / "best.pt").write_bytes(good[:3000])
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "hamlet.pt").write_bytes(good)
    for args, said in [(["sample", "--checkpoint", "best.pt.gz"], "is gzip-compressed, not a checkpoint as it stands "
                                                                   "— decompress it first (gzip -dc best.pt.gz > "
                                                                   "unpacked.pt)"),
                       (["info", "photos.pt"], "is a zip archive, not a checkpoint (no data.pkl in it)"),
                       (["sample", "--checkpoint", str(run)], f"best.pt is not a readable checkpoint (truncated or "
                                                              f"corrupt: its zip has no end) — use another one, such "
                                                              f"as '{run}/latest.pt' or '{run}/step-")]:
        refused = run_charnn(*args, cwd=tmp_path)
        assert refused.returncode == 1 and said in " ".join(refused.stderr.split()), refused.stderr
        assert refused.stderr.endswith("torch False")
    shown = run_charnn("info", str(lone / "hamlet.pt"), cwd=tmp_path)
    assert shown.returncode == 0 and shown.stderr.endswith("torch False") and "resumable      no" in shown.stdout
    steps = run_charnn("info", str(run / "latest.pt"), cwd=tmp_path)
    assert f"--checkpoint '{run}/step-" in " ".join(steps.stdout.split())  # quoted, to be pasted
