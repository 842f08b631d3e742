"""Default model and batch sizes from the corpus, the budget and the device's measured speed.

The rule, in words: estimate how many characters this device can train on within the budget
(a quick matmul measures its speed; an LSTM runs near matmul speed on a CPU), then take the
largest model on the ladder that gets at least `CHARS_PER_PARAMETER` training characters per
parameter, without having far more parameters than the corpus has characters. Corpora that
will be seen many times over get dropout. Every explicit flag wins over the preset.

On tiny shakespeare (benchmarks/RESULTS.md): the 2-core AVX2 machine A gets 2×256 for 10 minutes
and 2×512 for an hour; the 2-core AVX-512/bf16 machine B gets 2×512 and 3×512. There the estimate
is ~25% optimistic (bf16 LSTM training reaches ~0.6 of the bf16 matmul speed, not 0.8).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

# (num_layers, hidden_size), smallest first. Two layers up to 512: in short budgets a third layer
# learns much more slowly at first (150 s on tiny shakespeare: 3×256 2.05 nats vs 2×256 1.83).
LADDER = [(1, 128), (2, 128), (2, 192), (2, 256), (2, 384), (2, 512), (3, 512), (3, 768), (3, 1024)]
CHARS_PER_PARAMETER = 2.0  # training characters per parameter the budget must afford
MAX_PARAMETERS_PER_CHAR = 20.0  # cap on model size relative to the corpus (small texts, small models)
EVAL_SHARE = 0.05  # at most this fraction of a time budget goes to periodic evals
# LSTM training speed / matmul speed. CPU 0.8 was measured in fp32 on machine A; bf16 on machine B
# reaches ~0.6, left as is: presets chosen with 0.8 are the ones measured in RESULTS.md.
EFFICIENCY = {"cpu": 0.8, "cuda": 0.25, "mps": 0.25}


@dataclass(frozen=True)
class Preset:
    num_layers: int
    hidden_size: int
    dropout: float
    batch_size: int
    seq_len: int
    eval_every: int
    estimated_chars_per_second: float
    reason: str  # one line for the user: why this size


def lstm_parameters(layers: int, hidden: int, embed: int = 64, vocab: int = 96) -> int:
    recurrent = sum(4 * hidden * ((embed if i == 0 else hidden) + hidden + 2) for i in range(layers))
    return vocab * embed + recurrent + hidden * vocab + vocab


def train_flops_per_char(layers: int, hidden: int, embed: int = 64, vocab: int = 96) -> float:
    """Forward FLOPs × 3 (the backward pass costs about two forwards)."""
    forward = sum(2 * 4 * hidden * ((embed if i == 0 else hidden) + hidden) for i in range(layers))
    return 3 * (forward + 2 * hidden * vocab)


def matmul_flops(device: torch.device, precision: str, seconds: float = 0.25) -> float:
    """Measured matmul FLOP/s at a size typical of an LSTM step (about a quarter of a second)."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a = torch.randn(256, 1024, device=device, dtype=dtype)
    b = torch.randn(1024, 2048, device=device, dtype=dtype)
    a @ b
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(4):
            a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        elif device.type == "mps":
            torch.mps.synchronize()
        done += 4
    return 2 * 256 * 1024 * 2048 * done / (time.perf_counter() - started)


def choose(train_chars: int, val_chars: int, budget_seconds: float | None, steps: int | None,
           device: torch.device, precision: str, vocab_size: int, batch_size: int = 32, seq_len: int = 128,
           num_layers: int | None = None, hidden_size: int | None = None) -> Preset:
    """The preset for this corpus, budget (or step count) and device; given sizes are kept as they are."""
    flops = matmul_flops(device, precision) * EFFICIENCY.get(device.type, 0.5)
    candidates = []
    for layers, hidden in LADDER:
        params = lstm_parameters(layers, hidden, vocab=vocab_size)
        rate = flops / train_flops_per_char(layers, hidden, vocab=vocab_size)
        # Start-up, evals and the final save take roughly 15% of a budget.
        budget_chars = rate * 0.85 * budget_seconds if budget_seconds else (steps or 0) * batch_size * seq_len
        if params <= max(budget_chars / CHARS_PER_PARAMETER, 1) and params <= MAX_PARAMETERS_PER_CHAR * train_chars:
            candidates.append((layers, hidden, params, rate, budget_chars))
    if num_layers is not None or hidden_size is not None:  # the user's size: plan evals and dropout for it
        base = candidates[-1] if candidates else LADDER[0]
        layers, hidden = num_layers or base[0], hidden_size or base[1]
        rate = flops / train_flops_per_char(layers, hidden, vocab=vocab_size)
        budget_chars = rate * 0.85 * budget_seconds if budget_seconds else (steps or 0) * batch_size * seq_len
        candidates = [(layers, hidden, lstm_parameters(layers, hidden, vocab=vocab_size), rate, budget_chars)]
    layers, hidden, params, rate, budget_chars = candidates[-1] if candidates else (
        *LADDER[0], lstm_parameters(*LADDER[0], vocab=vocab_size),
        flops / train_flops_per_char(*LADDER[0], vocab=vocab_size), 0.0)
    epochs = budget_chars / max(train_chars, 1)
    dropout = 0.0 if epochs < 4 else 0.1 if epochs < 10 else 0.25
    # A corpus too short for the batch shape gets fewer, shorter streams (never fewer than 1 × 8).
    while batch_size > 1 and (train_chars - 1) // batch_size < seq_len:
        batch_size //= 2
    while seq_len > 8 and (train_chars - 1) // batch_size < seq_len:
        seq_len //= 2
    steps_expected = max(1.0, budget_chars / (batch_size * seq_len))
    # Evals score the whole validation split (forward only: ~3× training speed per char). Aim for
    # 8 per run, fewer when that would take more than EVAL_SHARE of a time budget.
    evals = 8
    if budget_seconds:
        eval_seconds = val_chars / (3 * rate) + 0.5
        evals = max(2, min(8, int(EVAL_SHARE * budget_seconds / eval_seconds)))
    eval_every = int(max(10, steps_expected // evals))
    reason = (f"{layers}×{hidden} ({params / 1e6:.2f}M params): about {budget_chars / 1e6:.1f}M training chars "
              f"fit the budget ({epochs:.1f} passes over the corpus)")
    return Preset(layers, hidden, dropout, batch_size, seq_len, eval_every, rate, reason)
