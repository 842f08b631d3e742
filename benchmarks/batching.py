"""Batching at equal time: contiguous streams with carried state (charnn's choice) vs random windows.

    python benchmarks/batching.py ../shared/corpora/tinyshakespeare.txt --time 150s [--layers 2 --hidden-size 256]

Both arms train the same model from the same initialisation with charnn's own optimizer,
learning-rate schedule (laid over the time budget), clipping and batch shape (TrainConfig
defaults); the only difference is where the windows come from:
- streams: charnn's StreamBatcher, B contiguous streams read side by side, the recurrent state
  carried (detached) from one window to the next, as char-rnn does;
- windows: B windows at random offsets each step, every one starting from a zero state, as
  nanoGPT and most PyTorch char-rnn ports do.
Each arm is then scored by charnn.evaluation.evaluate over the whole validation split (state
carried, 256-char burn-in), the same scorer as `charnn eval`. Prints one table.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from charnn.batches import StreamBatcher
from charnn.config import ModelConfig, TrainConfig
from charnn.data import load_corpus
from charnn.evaluation import evaluate, lead_before
from charnn.model import CharRNN, detach_state
from charnn.optimization import learning_rate, make_optimizer


def random_windows(ids: np.ndarray, batch_size: int, seq_len: int, generator: np.random.Generator):
    """(inputs (B, T), targets (B, T)) from B random offsets."""
    starts = generator.integers(0, len(ids) - seq_len, size=batch_size)
    rows = ids[starts[:, None] + np.arange(seq_len + 1)[None, :]].astype(np.int64)  # (B, T+1)
    return rows[:, :-1], rows[:, 1:]


def train_arm(arm: str, train_ids, model_config: ModelConfig, config: TrainConfig, budget: float):
    """Train for `budget` seconds; returns (model, steps)."""
    torch.manual_seed(config.seed)  # the same initialisation for both arms (a benchmark may seed globally)
    model = CharRNN(model_config).train()
    optimizer = make_optimizer(model, config)
    batcher = StreamBatcher(train_ids, config.batch_size, config.seq_len, config.seed)
    offsets = np.random.default_rng(config.seed)
    state, step, started = None, 0, time.monotonic()
    while (elapsed := time.monotonic() - started) < budget:
        if arm == "streams":
            inputs, targets, new_epoch = batcher.batch(step)
            state = None if new_epoch else state
        else:
            inputs, targets = random_windows(train_ids, config.batch_size, config.seq_len, offsets)
            state = None
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, step, elapsed / budget)
        logits, state = model(torch.from_numpy(inputs), state)  # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), torch.from_numpy(targets).flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        state = detach_state(state)
        step += 1
    return model, step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--time", default="150s", help="training time per arm (s or m suffix)")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden-size", type=int, default=256)
    args = parser.parse_args()
    budget = float(args.time[:-1]) * {"m": 60, "s": 1}[args.time[-1]]
    corpus = load_corpus(args.corpus)
    train_ids, val_ids = corpus.split(0.1)
    model_config = ModelConfig(len(corpus.vocab), num_layers=args.layers, hidden_size=args.hidden_size)
    config = TrainConfig(time_budget=budget)  # charnn's defaults; train_arm lays the schedule over the budget
    print(f"{args.corpus.name}: {args.layers}×{args.hidden_size} LSTM, batch {config.batch_size}×{config.seq_len}, "
          f"lr {config.lr}, {args.time} per arm, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'batching':<34}{'steps':>8}{'chars seen':>14}{'val nats':>10}{'val bpc':>9}")
    for arm, label in [("streams", "contiguous streams, state carried"), ("windows", "random windows, zero state")]:
        model, steps = train_arm(arm, train_ids, model_config, config, budget)
        loss, _ = evaluate(model, val_ids, lead=lead_before(corpus.ids, len(train_ids), []))  # as `charnn eval`
        chars = steps * config.batch_size * config.seq_len
        print(f"{label:<34}{steps:>8,}{chars:>14,}{loss:>10.4f}{loss / math.log(2):>9.4f}")


if __name__ == "__main__":
    main()
