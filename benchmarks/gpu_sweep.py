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
from dataclasses import dataclass, field
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
START = time.monotonic()


@dataclass
class Run:
    name: str
    process: subprocess.Popen
    target: int  # steps
    chars_per_step: int
    log: Path
    evals: list = field(default_factory=list)  # (step, val nats, seconds into the sweep, steps/s its line says)
    status: str = "running"

    def read(self) -> None:
        text = self.log.read_text(errors="replace")
        for match in list(EVAL_LINE.finditer(text))[len(self.evals):]:
            self.evals.append((int(match[1].replace(",", "")), float(match[2]), time.monotonic() - START,
                               int(match[3].replace(",", "")) / self.chars_per_step))

    @property
    def done(self) -> int:  # steps, as its last eval says
        return self.evals[-1][0] if self.evals else 0

    def stop(self, why: str) -> None:  # SIGTERM, once: it stops after its step and saves (a second quits at once)
        if self.process.poll() is None and self.status == "running":
            self.process.send_signal(signal.SIGTERM)
            self.status = why
            print(f"[{time.monotonic() - START:5.0f}s] stop {self.name}: {why}", flush=True)


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
    runs = []  # highest priority first
    for name, (layers, hidden, batch, steps, dropout, weight_dropout, every, extra) in SETS[args.set].items():
        steps, every = max(20, int(steps * args.scale)), max(10, int(every * args.scale))
        command = [sys.executable, "-m", "charnn", "train", args.corpus, "--device", args.device, "--precision",
                   "fp32", "--threads", "2", "--seed", "1337", "--out", str(args.out / name), "--steps", str(steps),
                   "--eval-every", str(every), "--layers", str(layers), "--hidden-size", str(args.hidden or hidden),
                   "--batch-size", str(batch), "--seq-len", "64", "--dropout", str(dropout), "--weight-dropout",
                   str(weight_dropout), *extra]  # a later --seed wins
        log = args.out / f"{name}.log"
        with open(log, "w") as file:
            process = subprocess.Popen(command, stdout=file, stderr=subprocess.STDOUT)
        runs.append(Run(name, process, steps, batch * 64, log))

    def interrupted(number, frame):  # a kill of this script stops the runs too, as Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        watch(runs, args.deadline, quiet=max(args.scale, 0.05))  # a dry run decides sooner
    except KeyboardInterrupt:
        print("interrupted: stopping the runs", flush=True)
    finally:  # each run stops and saves, and the table is still printed
        for run in runs:
            run.stop("the sweep was stopped")
        report(runs, args.out)


def watch(runs: list[Run], deadline: float, quiet: float) -> None:
    """Until every run ends: stop all at the deadline, and the lowest in priority where they cannot all finish."""
    last_stop = 0.0
    while any(run.process.poll() is None for run in runs):
        time.sleep(2)
        elapsed = time.monotonic() - START
        for run in runs:
            run.read()
        running = [run for run in runs if run.process.poll() is None and run.status == "running"]
        if elapsed > deadline:
            for run in running:
                run.stop(f"deadline, at step {run.done}")
            return
        if int(elapsed) % 30 < 2:
            print(f"[{elapsed:5.0f}s] " + ", ".join(f"{run.name[:1]} {run.done}" for run in running), flush=True)
        if elapsed < 120 * quiet or elapsed < last_stop + 30 * quiet or len(running) < 2:
            continue
        # Steps/s as each run's last eval line says (what it trained at lately, evals and start-up left out); one
        # with no eval yet is taken at the others' mean.
        rates = [run.evals[-1][3] for run in running if run.evals]
        if 2 * len(rates) < len(running):
            continue
        total = sum(rates) * len(running) / len(rates)  # steps/s for them all, shared out again if one stops
        need = sum(run.target - run.done for run in running) / total
        if need > deadline - elapsed - 10:
            running[-1].stop(f"would not finish (at step {running[-1].done}, {total:.0f} steps/s in all, "
                             f"{need:.0f} s needed)")
            last_stop = elapsed


def report(runs: list[Run], out: Path) -> None:
    """Wait for the runs to end (killing any that will not), print each one's evals and the table, write JSON."""
    for run in runs:
        try:
            run.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            run.process.kill()
        run.read()
        if run.status == "running":
            run.status = "finished" if run.process.returncode == 0 else f"exit {run.process.returncode}"
    for run in runs:
        print(run.name, " ".join(f"{step}:{val:.4f}" for step, val, *_ in run.evals))
    print(f"\n{'run':<26}{'target':>7}{'done':>7}{'best':>9}{'last':>9}{'s':>6}  status")
    for run in runs:
        best = min((val for _, val, *_ in run.evals), default=float("nan"))
        step, last, seconds, _ = run.evals[-1] if run.evals else (0, float("nan"), 0.0, 0.0)
        print(f"{run.name:<26}{run.target:>7}{step:>7}{best:>9.4f}{last:>9.4f}{seconds:>6.0f}  {run.status}")
    (out / "sweep.json").write_text(json.dumps(
        {run.name: {"target": run.target, "evals": run.evals, "status": run.status} for run in runs}, indent=1))


if __name__ == "__main__":
    main()
