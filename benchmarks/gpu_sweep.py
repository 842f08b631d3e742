"""Settings for a CPU budget, tried on a GPU: each run trains the characters and steps the CPU would, all at once.

    python benchmarks/gpu_sweep.py ../shared/corpora/tinyshakespeare.txt --set hour [--deadline 385]

An hour of issue 3 on the 2-core CPU is one try; a GPU trains the same characters in the same steps in about three
minutes, and several such runs side by side when CUDA's multi-process service shares it out (as root, before:
`nvidia-cuda-mps-control -d`; without it, runs take turns). Each run is `charnn train --steps N --precision fp32`
with every size and regularisation flag given, so nothing depends on the GPU's speed. Its steps are the characters
machine C trains in the ~3,420 s an hour leaves for training (3×512 ~5,200 chars/s, measured; 2×512 ~8,500 and
2×384 ~15,000, from their FLOPs and the ten-minute runs), over batch × 64. A control repeats the CPU run's own
settings: the GPU's score of it (1.4526) was within 0.005 of the CPU's (1.4479).

Runs are listed highest priority first; if the device cannot finish them all by --deadline, the lowest is stopped
(SIGTERM: it keeps its best.pt), one every 30 s. Prints each run's evals and a table; writes OUT/sweep.json.
`--scale 0.01 --hidden 16 --device cpu` tries the script itself on a CPU in a minute.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

# name: (layers, hidden, batch, steps, dropout, weight dropout, eval every, extra flags)
SETS = {
    "hour": {  # the twenty-first session's first call
        "a-3x512-b16-d40-w30": (3, 512, 16, 18278, 0.40, 0.30, 1000, []),
        "b-3x512-b32-d40-w30": (3, 512, 32, 9139, 0.40, 0.30, 500, []),
        "c-2x512-b32-d35-w30": (2, 512, 32, 14200, 0.35, 0.30, 800, []),
        "d-3x512-b32-d50-w40": (3, 512, 32, 9139, 0.50, 0.40, 500, []),
        "e-3x512-b16-d25-w17": (3, 512, 16, 18278, 0.25, 0.172, 1000, []),  # the CPU hour's settings: a control
        "f-2x384-b64-d35-w45": (2, 384, 64, 12500, 0.35, 0.45, 700, []),
    },
    "hour-2x512": {  # its second: around the best of the first
        "g-2x512-b32-d25-w26": (2, 512, 32, 14200, 0.25, 0.263, 800, []),  # the preset's dropout for 2×512
        "h-2x512-b32-d35-w30-s7": (2, 512, 32, 14200, 0.35, 0.30, 800, ["--seed", "7"]),  # c, another seed
        "i-2x512-b32-d35-w45": (2, 512, 32, 14200, 0.35, 0.45, 800, []),
        "j-2x512-b32-d45-w30": (2, 512, 32, 14200, 0.45, 0.30, 800, []),
        "k-2x512-b32-d35-w30-lr2": (2, 512, 32, 14200, 0.35, 0.30, 800, ["--lr", "2e-3"]),
        "l-2x512-b32-d30-w15": (2, 512, 32, 14200, 0.30, 0.15, 800, []),
    },
}
EVAL_LINE = re.compile(r"step\s+([\d,]+)\s+val ([\d.]+) nats[^\n]*?([\d,]+) chars/s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--set", choices=sorted(SETS), default="hour")
    parser.add_argument("--deadline", type=float, default=385, help="seconds until every run is stopped")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "gpu-sweep")
    parser.add_argument("--scale", type=float, default=1.0, help="steps × this (a dry run)")
    parser.add_argument("--hidden", type=int, help="every run this wide (a dry run)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    runs = {}  # name: [process, target steps, evals as (step, val, seconds, steps/s), status]
    for name, (layers, hidden, batch, steps, dropout, weight_dropout, every, extra) in SETS[args.set].items():
        steps, every = max(20, int(steps * args.scale)), max(10, int(every * args.scale))
        command = [sys.executable, "-m", "charnn", "train", args.corpus, "--device", args.device, "--precision",
                   "fp32", "--threads", "2", "--seed", "1337", "--out", str(args.out / name), "--steps", str(steps),
                   "--eval-every", str(every), "--layers", str(layers), "--hidden-size", str(args.hidden or hidden),
                   "--batch-size", str(batch), "--seq-len", "64", "--dropout", str(dropout), "--weight-dropout",
                   str(weight_dropout), *extra]  # a later --seed wins
        with open(args.out / f"{name}.log", "w") as log:
            runs[name] = [subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), steps, [], "running"]
        runs[name].append(batch * 64)  # characters a step

    def read(name):
        text = (args.out / f"{name}.log").read_text(errors="replace")
        evals = runs[name][2]
        for match in list(EVAL_LINE.finditer(text))[len(evals):]:  # the speed each line prints: steps/s
            evals.append((int(match[1].replace(",", "")), float(match[2]), time.monotonic() - start,
                          int(match[3].replace(",", "")) / runs[name][4]))

    def stop(name, why):
        if runs[name][0].poll() is None:
            runs[name][0].send_signal(signal.SIGTERM)
            runs[name][3] = why
            print(f"[{time.monotonic() - start:5.0f}s] stop {name}: {why}", flush=True)

    def done(name):
        return runs[name][2][-1][0] if runs[name][2] else 0

    def interrupted(number, frame):  # a kill of this script stops the runs too, as Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    quiet = max(args.scale, 0.05)  # a dry run decides sooner
    last_stop = 0.0
    try:
        watch(args, runs, start, read, stop, done, quiet, last_stop)
    except KeyboardInterrupt:
        print("interrupted: stopping the runs", flush=True)
    finally:  # Ctrl-C or a kill of this script: each run stops and saves, and the table is still printed
        for name, run in runs.items():
            if run[0].poll() is None:
                stop(name, "the sweep was stopped")
        report(args, runs, read)


def watch(args, runs, start, read, stop, done, quiet, last_stop):
    """Until every run ends: stop all at the deadline, and the lowest in priority where they cannot all finish."""
    while any(run[0].poll() is None for run in runs.values()):
        time.sleep(2)
        elapsed = time.monotonic() - start
        for name in runs:
            read(name)
        running = [name for name, run in runs.items() if run[0].poll() is None and run[3] == "running"]
        if elapsed > args.deadline:
            for name in running:
                stop(name, f"deadline, at step {done(name)}")
            break
        if int(elapsed) % 30 < 2:
            print(f"[{elapsed:5.0f}s] " + ", ".join(f"{name[:1]} {done(name)}" for name in running), flush=True)
        if elapsed < 120 * quiet or elapsed < last_stop + 30 * quiet or len(running) < 2:
            continue
        # Steps/s as each run's last eval line says (what it trained at lately, evals and start-up left out); one
        # with no eval yet is taken at the others' mean.
        rates = [evals[-1][3] for evals in (runs[name][2] for name in running) if evals]
        if 2 * len(rates) < len(running):
            continue
        total = sum(rates) * len(running) / len(rates)  # steps/s for them all, shared out again if one stops
        need = sum(runs[name][1] - done(name) for name in running) / total
        if need > args.deadline - elapsed - 10:
            stop(running[-1], f"would not finish (at step {done(running[-1])}, {total:.0f} steps/s in all, "
                              f"{need:.0f} s needed)")
            last_stop = elapsed


def report(args, runs, read):
    """Wait for the runs to end (killing any that will not), print each one's evals and the table, write JSON."""
    for name, run in runs.items():
        try:
            run[0].wait(timeout=30)
        except subprocess.TimeoutExpired:
            run[0].kill()
        read(name)
        if run[3] == "running":
            run[3] = "finished" if run[0].returncode == 0 else f"exit {run[0].returncode}"
    for name, run in runs.items():
        print(name, " ".join(f"{step}:{val:.4f}" for step, val, *_ in run[2]))
    print(f"\n{'run':<26}{'target':>7}{'done':>7}{'best':>9}{'last':>9}{'s':>6}  status")
    for name, run in runs.items():
        best = min((val for _, val, *_ in run[2]), default=float("nan"))
        step, last, seconds, _ = run[2][-1] if run[2] else (0, float("nan"), 0.0, 0.0)
        print(f"{name:<26}{run[1]:>7}{step:>7}{best:>9.4f}{last:>9.4f}{seconds:>6.0f}  {run[3]}")
    (args.out / "sweep.json").write_text(json.dumps(
        {name: {"target": run[1], "evals": run[2], "status": run[3]} for name, run in runs.items()}, indent=1))


if __name__ == "__main__":
    main()
