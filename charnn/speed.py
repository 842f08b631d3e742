"""How fast this device trains, measured at start-up for the preset (charnn/presets.py): a matmul burst of an LSTM
step's size, or, for a GRU or vanilla RNN, whose speed a matmul does not tell, a few training steps of a size."""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from charnn.config import ModelConfig
from charnn.model import CharRNN
from charnn.precision import autocast

MEASURED_STEPS = 2  # timed training steps per measured size, after one untimed (allocations, kernel choice)


def matmul_flops(device: torch.device, precision: str, seconds: float = 0.25) -> float:
    """Measured matmul FLOP/s at a size typical of an LSTM step (about a quarter of a second).

    The fastest of five bursts: a burst slowed by another program must not shrink the model.
    """
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a = torch.randn(256, 1024, device=device, dtype=dtype)
    b = torch.randn(1024, 2048, device=device, dtype=dtype)
    a @ b
    best = 0.0
    for _ in range(5):
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds / 5:
            for _ in range(4):
                a @ b
            if device.type == "cuda":
                torch.cuda.synchronize()
            elif device.type == "mps":
                torch.mps.synchronize()
            done += 4
        best = max(best, 2 * 256 * 1024 * 2048 * done / (time.perf_counter() - started))
    return best


def measured_chars_per_second(cell: str, layers: int, hidden: int, embed_dim: int, vocab: int, batch_size: int,
                              seq_len: int, device: torch.device, precision: str) -> float:
    """Training speed of this model, chars/s: forward and backward of `MEASURED_STEPS` random windows of
    (batch_size, seq_len), as training runs them (precision; dropout 0.1, whose kernel path most preset runs
    take, or none for a vanilla RNN, which the preset gives none up to 6 passes: see `dropout_for`), without
    the optimizer step (a few % of a step). The random state is left as it was (as train.py leaves it: the
    CPU's, and the GPU's on CUDA)."""
    dropout = 0.0 if cell == "rnn" else 0.1
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        model = CharRNN(ModelConfig(vocab, cell, layers, hidden, embed_dim, dropout=dropout)).to(device).train()
        ids = torch.randint(vocab, (batch_size, seq_len + 1)).to(device)  # (B, T + 1)

        def step() -> None:
            with autocast(device, precision):
                logits, _ = model(ids[:, :-1])  # (B, T, V)
            F.cross_entropy(logits.float().flatten(0, 1), ids[:, 1:].flatten()).backward()
            if device.type == "cuda":
                torch.cuda.synchronize()
            elif device.type == "mps":
                torch.mps.synchronize()

        step()
        started = time.perf_counter()
        for _ in range(MEASURED_STEPS):
            step()
        return MEASURED_STEPS * batch_size * seq_len / (time.perf_counter() - started)
