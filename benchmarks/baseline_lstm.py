"""The baseline to beat: a plain ~100-line fp32 PyTorch LSTM script, time-budgeted.

    python benchmarks/baseline_lstm.py CORPUS --time 10m

2×512 nn.LSTM, embedding 64, AdamW (lr 2e-3), global-norm clipping 1.0, batch 32 × 128 with the
state carried across windows, last 10% held out, scored at the end over the whole validation
split with the state carried (one stream), like charnn eval. Deliberately independent of charnn.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


class LSTMModel(nn.Module):
    def __init__(self, vocab: int, embed: int = 64, hidden: int = 512, layers: int = 2):
        super().__init__()
        self.embedding, self.lstm = nn.Embedding(vocab, embed), nn.LSTM(embed, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        out, state = self.lstm(self.embedding(x), state)
        return self.head(out), state


@torch.inference_mode()
def full_val_loss(model, ids: torch.Tensor, seq: int = 512) -> float:
    total, state = 0.0, None
    for start in range(0, len(ids) - 1, seq):
        x, y = ids[start : start + seq], ids[start + 1 : start + seq + 1]
        x = x[: len(y)]
        logits, state = model(x.unsqueeze(0), state)
        total += F.cross_entropy(logits[0], y, reduction="sum").item()
    return total / (len(ids) - 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--time", default="10m")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--seed", type=int, default=1337)
    args = parser.parse_args()
    budget = float(args.time[:-1]) * {"h": 3600, "m": 60, "s": 1}[args.time[-1]]
    started = time.monotonic()
    torch.manual_seed(args.seed)
    text = args.corpus.read_text(encoding="utf-8")
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([index[c] for c in text])
    n_val = len(ids) // 10
    train_ids, val_ids = ids[: len(ids) - n_val], ids[len(ids) - n_val :]
    model = LSTMModel(len(chars))
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    B, T = args.batch_size, args.seq_len
    stream = (len(train_ids) - 1) // B
    streams = torch.stack([train_ids[b * stream : (b + 1) * stream + 1] for b in range(B)])  # (B, stream+1)
    state, step, position, recent = None, 0, 0, []  # recent: the last 100 training losses (tensors)
    # Keep time for the final full-val pass (forward only, about a third of the training cost per char).
    reserve = None
    while True:
        if position + T + 1 > streams.size(1):
            position, state = 0, None
        x, y = streams[:, position : position + T], streams[:, position + 1 : position + T + 1]
        t0 = time.monotonic()
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        state = tuple(s.detach() for s in state)
        recent = (recent + [loss.detach()])[-100:]
        position += T
        step += 1
        step_time = time.monotonic() - t0
        reserve = reserve or 1.5 * len(val_ids) / (3 * B * T / step_time)
        if time.monotonic() - started + reserve >= budget:
            break
    val = full_val_loss(model.eval(), val_ids)
    wall = time.monotonic() - started
    print(f"{'plain nn.LSTM 2×512 fp32':<34}{args.time:>8}{wall:>8.0f}s{val:>10.4f}{val / math.log(2):>9.4f}"
          f"   ({step} steps, {step * B * T:,} chars, seed {args.seed}, "
          f"train loss over the last 100 steps {float(torch.stack(recent).mean()):.4f})")


if __name__ == "__main__":
    main()
