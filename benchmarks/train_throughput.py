"""Training throughput: charnn's training loop vs a plain fp32 `nn.LSTM` loop, same shapes, same run.

    python benchmarks/train_throughput.py [--layers 2 --hidden-size 512 --batch-size 32 --seq-len 128] [--rounds 3]
                                          [--dropout 0.25] [--weight-dropout 0.25] [--device cuda]

Prints chars/s for each, the ratio, and the fraction of this machine's measured matmul peak that
each reaches (FLOPs per char ≈ 3 × forward: one forward, two matmuls per weight in backward).
A shared VM's speed drifts by 20% or more from minute to minute, so the two loops run in
alternating rounds and each keeps its best round; every round is printed too. With --dropout both
loops train with it (the plain one through nn.LSTM's own dropout and F.dropout before the head);
--weight-dropout is charnn's only. --device cuda runs both loops (and the peak) on the GPU; the
plain loop keeps PyTorch's defaults there too (fp32, which lets cuDNN's LSTM use TF32, while the peak
is a true fp32 matmul), charnn takes its auto precision (bf16 on Ampere and later).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from charnn.config import ModelConfig, TrainConfig
from charnn.data import load_corpus
from charnn.precision import auto_precision
from charnn.train import Step, train


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so a wall-clock reading covers it (a no-op on a CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(dtype: torch.dtype, device: torch.device, size: int = 2048, repeats: int = 3,
                bursts: int = 4) -> float:
    """GFLOP/s of a 2048³ matmul: the fastest of a few bursts (a slow burst is the VM, not the CPU)."""
    if device.type == "cuda":  # a GPU needs more work per burst than one 2048³ product to be timed
        size, repeats = 8192, 20
    a = torch.randn(size, size, dtype=dtype, device=device)
    b = torch.randn(size, size, dtype=dtype, device=device)
    a @ b
    best = 0.0
    for _ in range(bursts):
        synchronize(device)
        started = time.perf_counter()
        for _ in range(repeats):
            a @ b
        synchronize(device)
        best = max(best, 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9)
    return best


def flops_per_char(layers: int, hidden: int, embed: int, vocab: int) -> float:
    forward = sum(2 * 4 * hidden * ((embed if i == 0 else hidden) + hidden) for i in range(layers)) + 2 * hidden * vocab
    return 3 * forward


def plain_lstm(layers, hidden, embed, vocab, batch, seq, steps, dropout=0.0, weight_dropout=0.0,
               device=torch.device("cpu")) -> float:
    """The baseline everyone writes: Embedding → nn.LSTM → Linear, fp32, AdamW, clipping, carried state."""
    torch.manual_seed(0)
    embedding, head = nn.Embedding(vocab, embed).to(device), nn.Linear(hidden, vocab).to(device)
    lstm = nn.LSTM(embed, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0).to(device)
    params = [*embedding.parameters(), *lstm.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(params, lr=2e-3)
    data = torch.randint(0, vocab, (batch, (steps + 2) * seq + 1), device=device)
    state = None
    for step in range(steps + 2):
        if step == 2:  # the first steps warm up allocators and kernels
            synchronize(device)
            started = time.perf_counter()
        x, y = data[:, step * seq : (step + 1) * seq], data[:, step * seq + 1 : (step + 1) * seq + 1]
        out, state = lstm(embedding(x), state)
        loss = F.cross_entropy(head(F.dropout(out, dropout)).flatten(0, 1), y.flatten())
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        state = tuple(s.detach() for s in state)
    synchronize(device)
    return steps * batch * seq / (time.perf_counter() - started)


def charnn_loop(layers, hidden, embed, vocab, batch, seq, steps, dropout=0.0, weight_dropout=0.0,
                device=torch.device("cpu")) -> tuple[float, str]:
    """charnn's own `train()` on random text (no evals inside the timed window), chars/s from its events."""
    rates = []
    with tempfile.TemporaryDirectory() as folder:
        corpus = Path(folder) / "random.txt"
        rng = np.random.default_rng(0)
        alphabet = np.array([chr(33 + i) for i in range(vocab)])
        corpus.write_text("".join(rng.choice(alphabet, size=batch * seq * (steps + 12) * 10 // 9 + 10)))
        data = load_corpus(corpus)
        precision = auto_precision(device)
        config = TrainConfig(steps=steps + 10, batch_size=batch, seq_len=seq, eval_every=10_000, log_every=5,
                             preview_chars=0, precision=precision)
        model = ModelConfig(len(data.vocab), "lstm", layers, hidden, embed, dropout, weight_dropout)
        train(data, Path(folder) / "run", model, config, device,
              lambda event: rates.append(event.chars_per_second) if isinstance(event, Step) else 0)
    return float(np.median(rates[2:])), precision  # skip the warm-up windows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--embed-dim", type=int, default=64)
    parser.add_argument("--vocab", type=int, default=65)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--weight-dropout", type=float, default=0.0)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA GPU is available here")
    device = torch.device(args.device)
    shape = (args.layers, args.hidden_size, args.embed_dim, args.vocab, args.batch_size, args.seq_len, args.steps,
             args.dropout, args.weight_dropout)
    peak32 = matmul_peak(torch.float32, device)
    baseline, ours = 0.0, 0.0
    for round_number in range(1, args.rounds + 1):
        plain_rate = plain_lstm(*shape, device=device)
        our_rate, precision = charnn_loop(*shape, device=device)
        print(f"round {round_number}: plain {plain_rate:,.0f}, charnn {our_rate:,.0f} chars/s "
              f"({our_rate / plain_rate:.2f}×)")
        baseline, ours = max(baseline, plain_rate), max(ours, our_rate)
    flops = flops_per_char(args.layers, args.hidden_size, args.embed_dim, args.vocab)
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, cpu capability {torch.backends.cpu.get_cpu_capability()}"
          + (f", GPU {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""))
    print(f"model {args.layers}×{args.hidden_size} LSTM, batch {args.batch_size}×{args.seq_len}, "
          f"{flops / 1e6:.1f} MFLOP per char (train), dropout {args.dropout}, weight dropout {args.weight_dropout} "
          "(charnn only)")
    print(f"fp32 matmul peak ({args.device}): {peak32:.1f} GFLOP/s")
    print(f"{'loop':<28}{'chars/s':>10}{'GFLOP/s':>10}{'of peak':>9}")
    for name, rate in [("plain nn.LSTM fp32", baseline), (f"charnn train ({precision})", ours)]:
        print(f"{name:<28}{rate:>10,.0f}{rate * flops / 1e9:>10.1f}{rate * flops / 1e9 / peak32:>9.0%}")
    print(f"ratio charnn / plain (best rounds): {ours / baseline:.2f}×")


if __name__ == "__main__":
    main()
