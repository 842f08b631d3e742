"""Default model and batch sizes from the corpus, the budget and the device's measured speed.

The rule, in words: estimate how many characters this device can train on within the budget
(a quick matmul measures its speed; LSTM training runs at 0.6–0.8 of it on a CPU), then take the
largest model on the ladder that gets at least `CHARS_PER_PARAMETER` training characters per
parameter (4.5 for an LSTM, 2 for a GRU or vanilla RNN, whose speed the matmul does not tell: it is measured on a
few training steps of the sizes it considers), without having far more parameters than the corpus has characters.
Corpora that will be seen many times over get dropout, and from 12 passes on also dropout on the recurrent
weights. Every explicit flag wins over the preset.

Batches: 16 streams on a CPU (as fast per character as 32 there, with twice the updates), 32 on
an accelerator; fewer, and shorter windows, for corpora too short for them.

On tiny shakespeare (benchmarks/RESULTS.md): the 2-core AVX2 machine A got 2×256 for 10 minutes
and 2×512 for an hour; the 2-core AVX-512 machine C gets 2×384 and 2×512 (3×512 from about 70 minutes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from charnn.config import ACCELERATOR_BATCH_SIZE, TrainConfig
from charnn.speed import matmul_flops, measured_chars_per_second  # looked up here at each call: tests replace them

# (num_layers, hidden_size), smallest first. Two layers up to 512: in short budgets a third layer
# learns much more slowly at first (150 s on tiny shakespeare: 3×256 2.05 nats vs 2×256 1.83).
LADDER = [(1, 128), (2, 128), (2, 192), (2, 256), (2, 384), (2, 512), (3, 512), (3, 768), (3, 1024)]
# Training characters per parameter the budget must afford, by cell. The LSTM's: on tiny shakespeare an hour of
# machine C trained 3×512 on 3.5 characters per parameter, 1.4479 nats. On a GPU, on the CPU hour's characters and
# steps, 3×512 read 1.4526, and 2×512, on about the 1.6× as many characters its speed affords (8.7 per parameter, at
# 32 streams), 1.4175; then the CPU's hour with 2×512, 1.4210 (benchmarks/RESULTS.md, twenty-first session). 4.5
# leaves ten minutes there at 2×384 (5.4 planned; a speed test reading 15% low gives 2×256). 4.0 would keep that
# margin wider, but the hour's 3×512 plans 3.9–4.1 (machines C, B): it would come back where the speed reads high.
# A GRU's and a vanilla RNN's stay at 2: not measured (at ten minutes a GRU 2×384 read 1.4333, on 3.6 planned).
CHARS_PER_PARAMETER = {"lstm": 4.5, "gru": 2.0, "rnn": 2.0}
MAX_PARAMETERS_PER_CHAR = 20.0  # cap on model size relative to the corpus (small texts, small models)
EVAL_SHARE = 0.05  # at most this fraction of a time budget goes to periodic evals
# Validation characters an eval scores: a split too long for EVAL_SHARE is sampled (charnn/evaluation.py), at one
# of EVAL_SIZES (so that runs on one corpus score the same spans, whatever a machine's speed), never below the
# first, and only where that halves the split at least; else the whole split, with fewer evals. A run by steps,
# unplanned in time, scores at most EVAL_MAX_CHARS. A 50 MB corpus had 2 evals of its 5M val chars in a 1-minute
# budget, 42 s each, and trained 10 steps (a new-user trial).
EVAL_SIZES = (100_000, 200_000, 500_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000)
EVAL_MIN_CHARS, EVAL_MAX_CHARS = EVAL_SIZES[0], 500_000
# What an eval costs besides scoring: the preview's sample and the saves. It was 0.5 s, and a 1-minute run planned
# 3–5 evals (a TA's trial); on machine C a 2×128 run's evals took 0.2 s each, ~0.17 s of it scoring 30,000 chars.
# Train's own guard (evals ≥ 20 evals' measured time apart) keeps them within EVAL_SHARE if this is low.
EVAL_FIXED_SECONDS = 0.1
# LSTM training speed / matmul speed, by device (and precision where it differs): measured on CPUs
# (fp32 on machine A 0.8; bf16 on machine B 0.6: oneDNN's bf16 LSTM gains less than its matmul).
# CUDA: on one H100, 2 minutes on tiny shakespeare trained 7% and 9% fewer characters than 0.25 planned,
# at 32 and 64 streams (benchmarks/RESULTS.md). MPS: a guess, not measured.
EFFICIENCY = {"cpu": 0.8, "cpu-bf16": 0.6, "cuda": 0.25, "mps": 0.25}
# Cells whose training speed is measured instead: on machine B a GRU trained 0.27× (2×192) to 0.55× (2×384) as
# fast as the LSTM of its size and a vanilla RNN 0.79× to 1.38× (benchmarks/RESULTS.md), since PyTorch has a
# oneDNN kernel for the LSTM only, and a GRU or RNN time step pays fixed costs that a ratio cannot capture.
MEASURED_CELLS = ("gru", "rnn")


@dataclass(frozen=True)
class Preset:
    num_layers: int
    hidden_size: int
    dropout: float
    weight_dropout: float
    batch_size: int
    seq_len: int
    eval_every: int
    eval_seconds: float | None  # a time run's evals by the clock instead: the speed estimate can be far off
    eval_chars: int | None  # validation chars each eval scores (None: the whole split)
    estimated_chars_per_second: float
    reason: str  # one line for the user: why this size
    passes: str  # the passes over the corpus the budget affords, as the reason says them (e.g. "34.8")


GATES = {"lstm": 4, "gru": 3, "rnn": 1}  # weight blocks per layer, by cell


def model_parameters(layers: int, hidden: int, embed: int = 64, vocab: int = 96, cell: str = "lstm") -> int:
    """Parameters of a CharRNN of that size and `cell`."""
    recurrent = sum(GATES[cell] * hidden * ((embed if i == 0 else hidden) + hidden + 2) for i in range(layers))
    return vocab * embed + recurrent + hidden * vocab + vocab


def train_flops_per_char(layers: int, hidden: int, embed: int = 64, vocab: int = 96) -> float:
    """Forward FLOPs × 3 (the backward pass costs about two forwards)."""
    forward = sum(2 * 4 * hidden * ((embed if i == 0 else hidden) + hidden) for i in range(layers))
    return 3 * (forward + 2 * hidden * vocab)


def dropout_for(passes: float, cell: str = "lstm") -> float:
    """Dropout grows with the passes over the corpus: none up to 2, 0.1 at 4, 0.25 from 10 to 100, 0.4 from 250
    on, linear in between. (It was a step at 4 and 10: runs whose speed measurements differed by 5% got 0.1 or 0.25.)
    Small corpora read hundreds of times overfit at 0.25 even with weight dropout 0.5: on the bundled screenplay (275
    passes in 3 minutes, machine C) 0.4 gave best val 1.3137 and 1.2960 (seeds 1337, 7) against 1.3287 and 1.3355,
    and stayed there (last evals 1.3146, 1.2986 against 1.3519, 1.3679). At 35.6 passes (tiny shakespeare's first
    200 KB) 0.4 was worse, 1.5809 against 1.5242; at 99.5 (a trial's 70 KB of lyrics) about even, 0.3137 against
    0.3097 (benchmarks/RESULTS.md, twenty-second session). A GRU shares the rule, not measured there.

    A vanilla RNN gets none up to 6 passes: on tiny shakespeare it did better without, at 3.3 passes (3 minutes,
    1.5163 nats against 1.5403–1.5479 with 0.07–0.08) and at 5.8 (10 minutes, 1.5272 against 1.5554 with 0.127),
    and it trains ~7% faster without the masks (benchmarks/RESULTS.md). Above 6 passes it is a guess, not
    measured: it joins the LSTM's 0.25 by 20 passes. (A GRU also did better without, once, at 10 minutes:
    1.4333 nats against 1.4406 with 0.146; one pair, so its rule stays the LSTM's.)"""
    if cell == "rnn":
        return round(float(np.interp(passes, [6, 20], [0.0, 0.25])), 3)
    return round(float(np.interp(passes, [2, 4, 10, 100, 250], [0.0, 0.1, 0.25, 0.25, 0.4])), 3)


def weight_dropout_for(passes: float) -> float:
    """DropConnect on the recurrent weights for corpora read many times: none up to 12 passes, 0.25 at 25,
    0.5 from 100 on, linear in between. Measured with 0.25 (benchmarks/RESULTS.md): 0.04 nats worse at 10
    passes (tiny shakespeare, 10 minutes: the model still underfits), 0.01 better at 22 (the same, an
    hour); on the bundled screenplay (~300 passes in 3 minutes) 0.5 took the best validation loss from
    1.40 to 1.31 and stopped the overfitting that 0.25 only slowed."""
    return round(float(np.interp(passes, [12, 25, 100], [0.0, 0.25, 0.5])), 3)


def choose(train_chars: int, val_chars: int, budget_seconds: float | None, steps: int | None,
           device: torch.device, precision: str, vocab_size: int, batch_size: int | None = None,
           seq_len: int = 64, num_layers: int | None = None, hidden_size: int | None = None, cell: str = "lstm",
           embed_dim: int = 64) -> Preset:
    """The preset for this corpus, budget (or step count) and device; given sizes are kept as they are.

    The speed of an LSTM is the matmul's times `EFFICIENCY`; a time budget for another cell measures the speed
    of each size it comes to choose (`MEASURED_CELLS`; 0.1–0.7 s in all on machine B for 90 s to an hour).
    With one of `num_layers` and `hidden_size` given, the other is the one the ladder would choose."""
    efficiency = EFFICIENCY.get(f"{device.type}-{precision}", EFFICIENCY.get(device.type, 0.5))
    flops = matmul_flops(device, precision) * efficiency
    batch_size = batch_size or (TrainConfig.batch_size if device.type == "cpu" else ACCELERATOR_BATCH_SIZE)
    # A corpus too short for the batch shape gets fewer, shorter streams (never fewer than 1 × 8).
    while batch_size > 1 and (train_chars - 1) // batch_size < seq_len:
        batch_size //= 2
    while seq_len > 8 and (train_chars - 1) // batch_size < seq_len:
        seq_len //= 2
    measured: dict[tuple[int, int], float] = {}  # chars/s by (layers, hidden), for MEASURED_CELLS

    def plan(layers: int, hidden: int) -> tuple[int, int, int, float, float]:
        rate = measured.get((layers, hidden)) or flops / train_flops_per_char(layers, hidden, vocab=vocab_size)
        # Start-up, evals and the final save take roughly 15% of a budget.
        budget_chars = rate * 0.85 * budget_seconds if budget_seconds else (steps or 0) * batch_size * seq_len
        return layers, hidden, model_parameters(layers, hidden, embed_dim, vocab_size, cell), rate, budget_chars

    def choice() -> tuple[int, int, int, float, float]:
        planned = [plan(*rung) for rung in LADDER]  # smallest first
        fitting = [(layers, hidden, params, rate, budget_chars)
                   for layers, hidden, params, rate, budget_chars in planned
                   if params <= max(budget_chars / CHARS_PER_PARAMETER[cell], 1)
                   and params <= MAX_PARAMETERS_PER_CHAR * train_chars]
        return fitting[-1] if fitting else planned[0]

    def measure(layers: int, hidden: int) -> None:
        try:
            measured[layers, hidden] = measured_chars_per_second(cell, layers, hidden, embed_dim, vocab_size,
                                                                 batch_size, seq_len, device, precision)
        except RuntimeError:  # e.g. out of memory: no budget for this size, so the next one down is tried
            measured[layers, hidden] = 1e-9

    timed = cell in MEASURED_CELLS and budget_seconds
    both = num_layers is not None and hidden_size is not None
    layers, hidden = (num_layers, hidden_size) if both else choice()[:2]
    # Measure what would be chosen, and choose again with what was measured, until the choice has been measured:
    # a GRU, slower than the estimate, comes down the ladder; each size is measured once.
    while timed and not both and (layers, hidden) not in measured:
        measure(layers, hidden)
        layers, hidden = choice()[:2]
    size = (num_layers or layers, hidden_size or hidden)  # a dimension the user gave wins over the preset's
    if timed and size not in measured:
        measure(*size)
    layers, hidden, params, rate, budget_chars = plan(*size)
    epochs = budget_chars / max(train_chars, 1)
    dropout, weight_dropout = dropout_for(epochs, cell), weight_dropout_for(epochs)
    steps_expected = max(1.0, budget_chars / (batch_size * seq_len))
    # Evals score the validation split (forward only: ~3× training speed per char). Aim for 8 per run, fewer when
    # that would take more than EVAL_SHARE of a time budget. A split too long for even 2 is sampled, for 8.
    evals, scored = 8, min(val_chars, EVAL_MAX_CHARS)
    if budget_seconds:
        scored = val_chars
        if 2 * (val_chars / (3 * rate) + EVAL_FIXED_SECONDS) > EVAL_SHARE * budget_seconds:
            affordable = (EVAL_SHARE * budget_seconds / 8 - EVAL_FIXED_SECONDS) * 3 * rate
            size = max([EVAL_MIN_CHARS, *(size for size in EVAL_SIZES if size <= affordable)])
            scored = size if size <= val_chars // 2 else val_chars
        eval_seconds = scored / (3 * rate) + EVAL_FIXED_SECONDS
        evals = max(2, min(8, int(EVAL_SHARE * budget_seconds / eval_seconds)))
    eval_chars = scored if scored < val_chars else None
    # Rounded up: 300 steps by 37 evaluated at 296 and again, finally, at 300 (a student read the two as one).
    eval_every = max(10, math.ceil(steps_expected / evals))
    # The speed estimate is a matmul's times an efficiency measured on LSTMs of a few sizes: a small model or a
    # short budget can train several times slower than planned (before GRUs were measured, a GRU 2×192 trained
    # 3.8× slower on machine B), and then evals by steps come late or only at the end. So a time run evals by
    # the clock instead (by both, out of phase, the 10-minute default evaluated at steps 1,202 and 1,350, twice
    # as often as planned).
    eval_seconds = budget_seconds / evals if budget_seconds else None
    chars = f"{budget_chars / 1e6:.1f}M" if budget_chars >= 1e5 else f"{budget_chars:,.0f}"
    passes = f"{epochs:,.0f}" if epochs >= 100 else f"{epochs:.1f}" if epochs >= 1 else f"{epochs:.2g}"
    speed = f" at a measured {rate:,.0f} chars/s" if (layers, hidden) in measured else ""
    reason = (f"{layers}×{hidden} ({params / 1e6:.2f}M params): about {chars} training chars fit the budget{speed} "
              f"({passes} passes over the corpus)")
    if (num_layers or hidden_size) and budget_seconds and params > max(budget_chars / CHARS_PER_PARAMETER[cell], 1):
        reason += f"; that is more parameters than it trains well ({CHARS_PER_PARAMETER[cell]:g} chars each)"
    return Preset(layers, hidden, dropout, weight_dropout, batch_size, seq_len, eval_every, eval_seconds, eval_chars,
                  rate, reason, passes)
