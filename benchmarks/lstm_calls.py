"""One recurrent call for the whole stack vs one call per layer (charnn's training path on CUDA in bf16).

    python benchmarks/lstm_calls.py [--device cuda] [--rounds 3] [--steps 60]

Trains charnn's CharRNN (no dropout) for a few steps each way, in alternating rounds, and prints
chars/s: through `model.rnn` (nn.LSTM's one call for all layers, as PyTorch users write it) and
through `model._layer_by_layer` (one call per layer, the path charnn trains with on CUDA in bf16).
bf16 autocast where the device runs it, AdamW and clipping as in charnn. Sizes: 2×384, 3×512, 3×768
at 32 and 128 streams × 64 characters. The H100 numbers in benchmarks/RESULTS.md came from an ad-hoc
script with this loop; this script itself has run on a CPU only so far.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from charnn.config import ModelConfig
from charnn.model import CharRNN
from charnn.precision import auto_precision, autocast


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def chars_per_second(model: CharRNN, per_layer: bool, batch: int, steps: int, device: torch.device,
                     precision: str, seq_len: int = 64, warmup: int = 5) -> float:
    try:  # fused, as charnn trains (torch < 2.4 has no fused kernel on a CPU)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    except RuntimeError:
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    data = torch.randint(0, model.config.vocab_size, (batch, seq_len + 1), device=device)  # (B, T + 1)
    state = None
    for step in range(warmup + steps):
        if step == warmup:
            synchronize(device)
            started = time.perf_counter()
        with autocast(device, precision):
            x = model.embedding(data[:, :-1])  # (B, T, E)
            out, state = model._layer_by_layer(x, state) if per_layer else model.rnn(x, state)  # (B, T, H)
            logits = model.head(out)  # (B, T, V)
        loss = F.cross_entropy(logits.float().flatten(0, 1), data[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        state = tuple(s.detach() for s in state)
    synchronize(device)
    return steps * batch * seq_len / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA GPU is available here")
    if args.rounds < 1 or args.steps < 1:
        parser.error("--rounds and --steps must be at least 1")
    device = torch.device(args.device)
    precision = auto_precision(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{name}, torch {torch.__version__}, {precision}; best of {args.rounds} alternating rounds")
    print(f"{'model':<8}{'batch':>7}{'one call':>12}{'per layer':>12}{'ratio':>8}")
    for layers, hidden in [(2, 384), (3, 512), (3, 768)]:
        for batch in [32, 128]:
            torch.manual_seed(0)
            model = CharRNN(ModelConfig(65, "lstm", layers, hidden, 64, 0.0, 0.0)).to(device).train()
            best = {False: 0.0, True: 0.0}
            for _ in range(args.rounds):
                for per_layer in (False, True):
                    rate = chars_per_second(model, per_layer, batch, args.steps, device, precision)
                    best[per_layer] = max(best[per_layer], rate)
            print(f"{layers}×{hidden:<6}{batch:>7}{best[False]:>12,.0f}{best[True]:>12,.0f}"
                  f"{best[True] / best[False]:>7.2f}×")


if __name__ == "__main__":
    main()
