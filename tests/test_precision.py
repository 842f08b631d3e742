"""Which precision a run gets: bf16 only where the hardware multiplies it, fp32 elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import REPETITIVE
from typer.testing import CliRunner

from charnn import checkpoint, precision
from charnn.cli import app
from charnn.errors import CharnnError

CPU = torch.device("cpu")
TINY = ["--layers", "1", "--hidden-size", "16", "--embed-dim", "8", "--seq-len", "16", "--batch-size", "4",
        "--device", "cpu", "--steps", "10", "--eval-every", "10", "--out", "run"]


@pytest.fixture
def cpu_bf16(monkeypatch):
    """Pretend this CPU can run bf16 (`runs`) with or without the instructions for it (`native`), and trains
    `faster` in it than in fp32 or not."""

    def set_cpu(native: bool, runs: bool = True, faster: bool = True):
        monkeypatch.setattr(precision, "native_bf16", lambda: native)
        monkeypatch.setattr(precision, "bf16_runs", lambda device: runs)
        monkeypatch.setattr(precision, "bf16_speedup", lambda device: 1.5 if faster else 0.62)

    return set_cpu


def test_emulated_bf16_cpu_trains_in_fp32_by_default(cpu_bf16):
    cpu_bf16(native=False, runs=True)  # AVX-512 without BF16: oneDNN emulates it, 2.3× slower than fp32
    assert precision.auto_precision(CPU) == "fp32"


def test_native_bf16_cpu_trains_in_bf16_by_default(cpu_bf16):
    cpu_bf16(native=True, runs=True)
    assert precision.auto_precision(CPU) == "bf16"


def test_native_bf16_cpu_that_trains_slower_in_it_trains_in_fp32(cpu_bf16):
    """Machine C (an Intel Xeon with AVX-512 BF16): an LSTM trained 0.6–0.7× as fast in bf16 as in fp32."""
    cpu_bf16(native=True, runs=True, faster=False)
    assert precision.auto_precision(CPU) == "fp32"


def test_a_timed_choice_says_why(cpu_bf16, tmp_path, monkeypatch):
    """A new-user trial: on a CPU with AVX-512 BF16 training went fp32 without a word on why."""
    cpu_bf16(native=True, runs=True, faster=False)
    chosen, reason = precision.chosen_precision(CPU)
    assert chosen == "fp32" and "0.62× as fast in it" in reason and "--precision bf16" in reason
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus.txt").write_text(REPETITIVE, encoding="utf-8")
    result = CliRunner().invoke(app, ["train", "corpus.txt", *TINY])
    assert result.exit_code == 0, result.output
    assert "precision fp32: this CPU has bf16, but a training step ran 0.62× as fast in it" in result.stderr
    cpu_bf16(native=True, runs=True, faster=True)
    assert precision.chosen_precision(CPU) == ("bf16", "bf16: a training step ran 1.50× as fast in it as in fp32 here")
    cpu_bf16(native=False, runs=True)
    assert precision.chosen_precision(CPU) == ("fp32", None)  # nothing was timed: nothing to say


def test_the_bf16_timing_runs_here_and_leaves_the_random_state_alone():
    if not precision.bf16_runs(CPU):  # e.g. an AVX2 CPU: oneDNN has no bf16 LSTM, and auto never times it
        pytest.skip("this CPU cannot train an LSTM in bf16")
    state = torch.get_rng_state()
    assert precision.bf16_speedup(CPU) > 0
    assert torch.equal(torch.get_rng_state(), state)  # a run's seeded initialisation comes after it


def test_native_instructions_but_no_bf16_lstm_falls_back_to_fp32(cpu_bf16):
    cpu_bf16(native=True, runs=False)
    assert precision.auto_precision(CPU) == "fp32"


def test_explicit_bf16_is_allowed_where_it_runs_emulated(cpu_bf16):
    cpu_bf16(native=False, runs=True)
    assert precision.check_precision(CPU, "bf16") == "bf16"
    assert precision.check_precision(CPU, "fp32") == "fp32"


def test_explicit_bf16_is_refused_where_it_cannot_run(cpu_bf16):
    cpu_bf16(native=False, runs=False)
    with pytest.raises(CharnnError, match="--precision fp32"):
        precision.check_precision(CPU, "bf16")


@pytest.mark.parametrize("native", [False, True])
def test_gpus_follow_their_own_bf16_units_not_the_cpus(cpu_bf16, monkeypatch, native):
    cpu_bf16(native=False, runs=True)  # the host CPU has no bf16: irrelevant to a GPU
    monkeypatch.setattr(precision, "native_cuda_bf16", lambda: native)  # Ampere on, or an emulating T4/V100
    assert precision.auto_precision(torch.device("cuda")) == ("bf16" if native else "fp32")


def test_native_cuda_bf16_on_torch_without_the_emulation_argument(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)  # torch < 2.4: takes no argument
    assert precision.native_cuda_bf16()
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert not precision.native_cuda_bf16()  # emulation is not native


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="reads Linux's CPU flags")
def test_native_bf16_agrees_with_the_cpu_flags():
    if not torch.backends.mkldnn.is_available():
        pytest.skip("no oneDNN in this torch")
    flags = precision.linux_cpu_flags()
    assert flags, "no flags line in /proc/cpuinfo"
    assert precision.native_bf16() == bool({"avx512_bf16", "amx_bf16", "amx_tile"} & flags)


@pytest.mark.parametrize(("flags", "expected"), [({"avx512f", "avx512_bf16"}, True), ({"amx_bf16"}, True),
                                                 ({"avx512f", "avx512bw"}, False), (set(), False)])
@pytest.mark.parametrize("torch_checks", ["missing", "only AMX, saying no"])
def test_native_bf16_reads_the_cpu_flags_where_torch_cannot_tell(monkeypatch, flags, expected, torch_checks):
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.delattr(torch.cpu, name, raising=False)
    if torch_checks != "missing":  # a torch with an AMX check but no AVX-512 BF16 one, on a CPU without AMX
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(precision, "linux_cpu_flags", lambda: flags)
    assert precision.native_bf16() is expected


@pytest.mark.parametrize(("flags", "expected"), [({"avx512f", "avx512_vnni"}, True), ({"avx2", "avx_vnni"}, True),
                                                 ({"amx_int8"}, True), ({"avx512f", "avx2"}, False), (set(), False)])
def test_native_int8_reads_the_cpu_flags_where_torch_cannot_tell(monkeypatch, flags, expected):
    monkeypatch.delattr(torch.cpu, "_is_vnni_supported", raising=False)  # private, and AVX-512 VNNI only
    monkeypatch.setattr(precision, "linux_cpu_flags", lambda: flags)
    assert precision.native_int8() is expected


def test_bf16_probe_is_false_where_the_bf16_lstm_fails(monkeypatch):
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)

    class NoBf16LSTM(torch.nn.LSTM):
        def forward(self, *args, **kwargs):
            raise RuntimeError("could not create a primitive descriptor for an LSTM forward propagation primitive")

    monkeypatch.setattr(torch.nn, "LSTM", NoBf16LSTM)
    assert not precision.bf16_runs(CPU)


def test_bf16_probe_is_false_without_onednn_bf16(monkeypatch):
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False, raising=False)
    assert not precision.bf16_runs(CPU)
    assert not precision.bf16_runs(torch.device("meta"))  # neither CPU nor CUDA: no bf16 training here


def test_native_bf16_is_false_without_onednn(monkeypatch):
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert not precision.native_bf16()


def test_autocast_runs_matmuls_in_bf16_only_when_asked():
    a = torch.randn(4, 4)
    with precision.autocast(CPU, "fp32"):
        assert (a @ a).dtype == torch.float32
    with precision.autocast(CPU, "bf16"):
        assert (a @ a).dtype == torch.bfloat16


@pytest.mark.parametrize(("native", "expected"), [(False, "fp32"), (True, "bf16")])
def test_cli_auto_precision_follows_the_instructions(tmp_path, write_corpus, monkeypatch, cpu_bf16, native, expected):
    if not precision.bf16_runs(CPU):
        pytest.skip("this CPU cannot run bf16 at all")
    cpu_bf16(native=native, runs=True)
    corpus = write_corpus(REPETITIVE)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["train", str(corpus), *TINY])
    assert result.exit_code == 0, result.output
    assert checkpoint.load(tmp_path / "run" / "latest.pt")["train_config"]["precision"] == expected
