"""Sampling speed: charnn vs a naive `nn.LSTM` (or GRU, RNN) step loop, same model, same run.

    python benchmarks/sample_speed.py [--checkpoint PATH | --cell gru] [--length 2000] [--text PATH]

Model: the given checkpoint, else the bundled model (else, or with `--cell`, a random 2×256 model of
that cell, where the first-character time is not measured). Measures
single-stream chars/s (charnn's `generate` vs feeding `nn.LSTM` one character at a time with
PyTorch defaults), aggregate chars/s with 8 samples in one batch, the time from starting
`charnn sample` to its first character on stdout (a pipe, and a pseudo-terminal; and for `--num-samples 8`,
which streams as the batch is made), from its last line to its exit, and the time of `charnn --help`.
Timings on a shared VM drift by ±20% from minute to minute, so the three throughput loops run in
interleaved rounds (`--rounds`) and each keeps its best round. `import torch` alone is timed too: it is the
floor under the first-character time wherever `charnn sample` needs torch (a batch, int8 products on a CPU with
int8 dot products); one stream in fp32 on a CPU runs without it (charnn/checkpoint_arrays.py).

Sampling multiplies in int8 on CPUs with int8 dot-product instructions (charnn/products.py). To show what
that costs in quality, the sampler's own stepper is fed the last 10% of `--text` (for the bundled model, by
default tiny shakespeare from ../shared when present: its validation split), in 8 streams and in one, once
in fp32 and once with the products sampling uses, and the mean next-character loss of each is printed; and
both speeds are also measured with fp32 products (what a CPU without those instructions gets).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from charnn import checkpoint, runs, stepper
from charnn.config import ModelConfig
from charnn.drawing import sample_seeds
from charnn.lstm_int8 import Int8LSTMStepper
from charnn.model import CharRNN
from charnn.products import sampling_precision
from charnn.sample import generate, generate_batch
from charnn.vocab import Vocab

SETTLE_SECONDS = 0.5
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "tinyshakespeare.txt"


@torch.inference_mode()
def naive(model: CharRNN, length: int) -> float:
    """What most char-rnn ports do: model(x, state) on a (1, 1) input per character."""
    generator = torch.Generator().manual_seed(0)
    x, state = torch.zeros(1, 1, dtype=torch.long), None
    started = time.perf_counter()
    for _ in range(length):
        logits, state = model(x, state)
        x = torch.multinomial(torch.softmax(logits[:, -1] / 0.8, -1), 1, generator=generator)
    return length / (time.perf_counter() - started)


@torch.inference_mode()
def teacher_forced_nats(model: CharRNN, vocab: Vocab, text: str, precision: str, streams: int = 8,
                        length: int = 2000) -> float:
    """Mean next-character loss (nats) of the sampler's stepper with `precision` products ('fp32' or 'int8'),
    fed `streams` slices of `text`."""
    ids = vocab.encode(text, unknown="skip")
    starts = np.linspace(0, len(ids) - length - 1, streams).astype(int)
    rows = np.stack([ids[start:start + length + 1] for start in starts])  # (B, length + 1)
    logits, state = model.eval()(torch.from_numpy(rows[:, :1]).long())  # (B, 1, V), having read rows[:, 0]
    cell_stepper = stepper.make_stepper(model, streams, precision)
    logits, state, total = logits[:, -1].float().numpy(), cell_stepper.start(state), 0.0
    for t in range(1, length + 1):  # logits (B, V) predict rows[:, t]
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        total -= log_probs[np.arange(streams), rows[:, t]].sum()
        if t < length:
            logits, state = cell_stepper.step(rows[:, t], state)
    return total / (streams * length)


def uses_int8(cell_stepper) -> bool:
    return isinstance(cell_stepper, Int8LSTMStepper) or cell_stepper.recurrent[0].precision == "int8"


def timed(function, *args) -> tuple[float, object]:
    """(seconds, result), after a pause: NumPy's BLAS threads spin for ~0.1 s after its last product and
    torch's for a while after theirs, and the loop measured before would otherwise share the two cores
    with them, as no `charnn sample` process does (benchmarks/RESULTS.md, eighth session)."""
    time.sleep(SETTLE_SECONDS)
    started = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - started, result


def first_char_seconds(args: list[str], terminal: bool = False) -> float:
    """Seconds from starting `charnn sample` to its first character on stdout: a pipe, or with `terminal` a
    pseudo-terminal, where `--style auto` first has the model write a few unseen trial samples to decide
    whether to style the text as a script (charnn/sample.py, `writes_script`)."""
    if terminal:
        import pty

        reader, writer = pty.openpty()
    started = time.perf_counter()
    colour = {**{name: value for name, value in os.environ.items() if name != "NO_COLOR"}, "TERM": "xterm-256color"}
    process = subprocess.Popen([sys.executable, "-m", "charnn", "sample", *args],
                               stdout=writer if terminal else subprocess.PIPE, stderr=subprocess.DEVNULL,
                               env=colour if terminal else None)
    if not terminal:
        process.stdout.read(1)
    else:
        os.close(writer)
        pending = b""
        while not ANSI.sub(b"", pending):  # styles come before the text they style: wait for a character
            try:
                pending += os.read(reader, 64)
            except OSError:  # the process ended without writing any (EIO on Linux)
                process.wait()
                os.close(reader)
                return float("nan")
    elapsed = time.perf_counter() - started
    process.kill()
    process.wait()
    if terminal:
        os.close(reader)
    return elapsed


def exit_seconds(args: list[str]) -> float:
    """Seconds from `charnn sample`'s footer (its last line, on stderr) to the end of the process: how long after the
    text the shell's prompt comes back."""
    process = subprocess.Popen([sys.executable, "-m", "charnn", "sample", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    while (line := process.stderr.readline()) and " chars in " not in line:
        pass
    started = time.perf_counter()
    process.wait()
    return time.perf_counter() - started if line else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--length", type=int, default=2000)
    parser.add_argument("--cell", choices=["lstm", "gru", "rnn"], help="a random 2×256 model of this cell")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each is kept")
    parser.add_argument("--text", type=Path, help="text whose last 10%% scores the batch products' precision")
    args = parser.parse_args()
    path = args.checkpoint or (runs.BUNDLED if runs.BUNDLED.exists() and not args.cell else None)
    if path is not None:
        payload = checkpoint.load(runs.resolve(path))
        model, vocab = checkpoint.build_model(payload), Vocab(payload["vocab"])
        label = str(path)
    else:
        vocab = Vocab("".join(chr(32 + i) for i in range(65)))
        cell = args.cell or "lstm"
        model = CharRNN(ModelConfig(len(vocab), cell=cell, num_layers=2, hidden_size=256)).eval()
        label = f"random weights, vocab {len(vocab)}"
    config = model.config
    print(f"model: {config.num_layers}×{config.hidden_size} {config.cell.upper()} ({label}), "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    naive_rate = single = single_fp32 = batched = batched_fp32 = 0.0
    # What sampling really multiplies in: int8 only where asked for and its probe passed (charnn/products.py).
    int8 = all(uses_int8(stepper.make_stepper(model, streams, sampling_precision())) for streams in (1, 8))
    sampled_products = "int8" if int8 else "fp32"

    def single_rate(precision: str = "auto") -> float:
        seconds, text = timed(lambda: "".join(generate(model, vocab, "", args.length, 0.8,
                                                       generator=torch.Generator().manual_seed(0),
                                                       precision=precision)))
        return len(text) / seconds

    def batch_rate(precision: str = "auto") -> float:  # a generator per sample, as `charnn sample --num-samples 8`
        seconds, texts = timed(lambda: generate_batch(model, vocab, "", args.length, 8, 0.8, precision=precision,
                                                      generator=[torch.Generator().manual_seed(seed)
                                                                 for seed in sample_seeds(0, 8)]))
        return sum(map(len, texts)) / seconds

    for _ in range(args.rounds):  # interleaved, so a slow minute hurts all of them alike
        naive_rate = max(naive_rate, timed(naive, model, max(200, args.length // 10))[1])
        single = max(single, single_rate())
        batched = max(batched, batch_rate())
        if int8:  # what a CPU without int8 dot products gets (`charnn sample --precision fp32`)
            single_fp32 = max(single_fp32, single_rate("fp32"))
            batched_fp32 = max(batched_fp32, batch_rate("fp32"))
    sample_args = ["--length", "5", "--seed", "1"] + (["--checkpoint", str(path)] if path else [])
    first = min(first_char_seconds(sample_args) for _ in range(3)) if path else float("nan")
    first_terminal = min(first_char_seconds(sample_args, terminal=True) for _ in range(3)) \
        if path and os.name == "posix" else float("nan")
    batch_args = ["--num-samples", "8", "--length", str(args.length), "--seed", "1"] + sample_args[4:]
    first_batch = min(first_char_seconds(batch_args) for _ in range(3)) if path else float("nan")
    exit_after = min(exit_seconds(sample_args) for _ in range(3)) if path else float("nan")
    import_seconds = min(timed(lambda: subprocess.run([sys.executable, "-c", "import torch"]))[0] for _ in range(3))
    help_seconds = min(timed(lambda: subprocess.run(["charnn", "--help"], stdout=subprocess.DEVNULL))[0]
                       for _ in range(3))
    print(f"{'measure':<44}{'value':>14}")
    naive_label = f"naive nn.{config.cell.upper()} step loop, chars/s"
    print(f"{naive_label:<44}{naive_rate:>14,.0f}")
    print(f"{'charnn single stream, chars/s':<44}{single:>14,.0f}   ({single / naive_rate:.1f}× naive, "
          f"{sampled_products} products)")
    if int8:
        print(f"{'  the same with fp32 products (no int8 CPU)':<44}{single_fp32:>14,.0f}   "
              f"({single_fp32 / naive_rate:.1f}× naive)")
    print(f"{'charnn --num-samples 8, aggregate chars/s':<44}{batched:>14,.0f}   ({batched / single:.2f}× single, "
          f"{sampled_products} products)")
    if int8:
        print(f"{'  the same with fp32 products (no int8 CPU)':<44}{batched_fp32:>14,.0f}   "
              f"({batched_fp32 / single_fp32:.2f}× single in fp32)")
    print(f"{'charnn sample: start → first char on stdout':<44}{first:>13.2f}s   (a pipe)")
    print(f"{'  the same on a terminal':<44}{first_terminal:>13.2f}s   (styled: trial samples first)")
    print(f"{'  --num-samples 8, a pipe':<44}{first_batch:>13.2f}s   (--length {args.length}: its header)")
    print(f"{'charnn sample: its footer → its exit':<44}{exit_after:>13.2f}s   (then the prompt is back)")
    floor = 'python -c "import torch" (where torch is used)'
    print(f"{floor:<44}{import_seconds:>13.2f}s")
    print(f"{'charnn --help':<44}{help_seconds:>13.2f}s")
    bundled = path is not None and runs.resolve(path) == runs.resolve(runs.BUNDLED)
    text_path = args.text or (SHAKESPEARE if SHAKESPEARE.exists() and bundled else None)
    if text_path is not None:
        text = text_path.read_text(encoding="utf-8")
        text = text[int(len(text) * 0.9):]
        for streams, length in ((8, 2000), (1, 16000)):
            fp32 = teacher_forced_nats(model, vocab, text, "fp32", streams, length)
            sampled = teacher_forced_nats(model, vocab, text, sampled_products, streams, length)
            kind = f"batch-{streams}" if streams > 1 else "one-stream"
            print(f"{kind + ' stepper, nats/char: fp32':<44}{fp32:>14.4f}   ({text_path.name}, last 10%)")
            print(f"{kind + ' stepper, nats/char: as sampled':<44}{sampled:>14.4f}   "
                  f"({sampled_products}: {sampled - fp32:+.4f})")


if __name__ == "__main__":
    main()
