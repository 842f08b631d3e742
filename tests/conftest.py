"""Shared fixtures: isolated corpus cache, tiny corpora, tiny configs and one tiny trained run.

Everything is small on purpose (hidden 16, embedding 8, tens of steps of 4 × 16 characters) so that
the whole suite runs in well under two minutes on two CPU cores.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # also for the subprocesses some tests start

import contextlib
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from charnn import cpu_flags, precision, products
from charnn.config import ModelConfig, TrainConfig
from charnn.data import load_corpus

# Tiny models are fastest on one thread, and OpenMP threads that spin-wait for a busy second core
# can make a 16-unit LSTM step 100× slower.
torch.set_num_threads(1)

# A repetitive text: a tiny model learns it quickly, so "loss goes down" is a reliable signal.
REPETITIVE = "the quick brown fox jumps over the lazy dog.\nTHE END, said the fox!\n" * 30

# A few thousand characters of varied text with multi-byte characters in it.
MIXED = ("Señor Müller ate crème brûlée in 日本 — naïve café talk 🙂.\n"
         "ROMEO: But soft, what light through yonder window breaks?\n"
         "JULIET: O Romeo, Romeo! wherefore art thou Romeo?\n") * 12


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    """Session-wide CHARNN_CACHE, so that session/module fixtures never touch ~/.cache either."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHARNN_CACHE", str(tmp_path_factory.mktemp("session-cache")))
        yield


@pytest.fixture(autouse=True)
def _test_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own empty encoded-corpus cache."""
    monkeypatch.setenv("CHARNN_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def write_corpus(tmp_path):
    """write_corpus(text_or_bytes, name='corpus.txt') → the path of a new file under tmp_path."""

    def write(content: str | bytes, name: str = "corpus.txt") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return path

    return write


def tiny_model_config(vocab_size: int, **overrides) -> ModelConfig:
    values = dict(cell="lstm", num_layers=2, hidden_size=16, embed_dim=8, dropout=0.0)
    values.update(overrides)
    return ModelConfig(vocab_size, **values)


def tiny_train_config(**overrides) -> TrainConfig:
    values = dict(steps=20, batch_size=4, seq_len=16, lr=1e-2, warmup_steps=2, eval_every=10,
                  keep_checkpoints=2, seed=7, preview_chars=20, log_every=5)
    values.update(overrides)
    return TrainConfig(**values)


@dataclass
class Run:
    run_dir: Path
    corpus_path: Path
    corpus: object  # EncodedCorpus
    model: torch.nn.Module
    model_config: ModelConfig
    config: TrainConfig
    events: list = field(default_factory=list)


def train_run(run_dir: Path, corpus_path: Path, model_config: ModelConfig | None = None,
              config: TrainConfig | None = None, device: torch.device = torch.device("cpu"), **kwargs) -> Run:
    """Train with the library (never prints), recording the events."""
    from charnn.train import train

    corpus = load_corpus(corpus_path)
    model_config = model_config or tiny_model_config(len(corpus.vocab))
    config = config or tiny_train_config()
    events: list = []
    model = train(corpus, run_dir, model_config, config, device, on_event=events.append, **kwargs)
    return Run(run_dir, corpus_path, corpus, model, model_config, config, events)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Run:
    """One tiny 2-layer LSTM run (60 steps, evals every 20, keep 2), shared read-only by many tests."""
    root = tmp_path_factory.mktemp("trained")
    corpus_path = root / "corpus.txt"
    corpus_path.write_text(REPETITIVE, encoding="utf-8")
    config = tiny_train_config(steps=60, lr=2e-2, eval_every=20, log_every=10)
    return train_run(root / "run", corpus_path, config=config)


@contextlib.contextmanager
def locked_by_another_process(run_dir: Path):
    """`run_dir`'s run lock held by another process, as a run training there holds it, until the block ends."""
    code = ("import fcntl, sys; f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX); "
            "print('locked', flush=True); sys.stdin.read()")
    child = subprocess.Popen([sys.executable, "-c", code, str(Path(run_dir) / ".lock")], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        yield
    finally:
        child.stdin.close()
        child.wait(timeout=30)


# --- sampling in fp32 or int8, whatever this CPU has ----------------------------------------------------


@pytest.fixture
def fp32_sampling(monkeypatch):
    """Sampling in fp32 whatever this CPU has, so that it can be held to fp32 tolerances."""
    monkeypatch.setattr(products, "native_int8", lambda: False)


def exact_int_mm(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """What `torch._int_mm` computes, (M, K) int8 @ (K, N) int8 → (M, N) int32, exactly, in NumPy."""
    product = torch.from_numpy((a.numpy().astype(np.int64) @ b.numpy().astype(np.int64)).astype(np.int32))
    return product if out is None else out.copy_(product)


@pytest.fixture
def int8_sampling(monkeypatch):
    sample_in_int8(monkeypatch)


def sample_in_int8(monkeypatch) -> None:
    """Sampling in int8. On a CPU without int8 dot products torch's own op is wrong (oneDNN held to AVX2
    gave 19% errors): there the exact product stands in for it, so the arithmetic around it is tested
    everywhere, and the real op where it is used."""
    monkeypatch.setattr(products, "native_int8", lambda: True)
    monkeypatch.setattr(cpu_flags, "linux_cpu_flags", lambda: {"avx512_vnni"})  # what `charnn sample` reads first
    if not precision.native_int8() or not products.onednn_enabled():
        monkeypatch.setattr(products, "onednn_enabled", lambda: True)
        monkeypatch.setattr(torch, "_int_mm", exact_int_mm)
