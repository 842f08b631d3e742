"""Crash test: SIGKILL a training run at random moments, resume it each time, check every file.

    python benchmarks/crash_test.py [--kills 20] [--steps 3000] [--eval-every 20] [--seed 0]

A small LSTM trains on a generated corpus in a child process (the same `train()` the CLI runs,
reporting each step on stdout). The child is killed with SIGKILL at a random moment, then every
checkpoint in the run folder is loaded with charnn's own loader and metrics.jsonl is parsed; the
run is resumed, and so on N times. Finally the run is finished and its weights are compared with
an uninterrupted run of the same config: with exact resume they are bit-identical.
Reports: kills, successful resumes, corrupt files, steps lost per kill (steps done before the
kill that the resume had to redo), and whether the final weights match.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from charnn import checkpoint
from charnn.errors import CharnnError

CHILD = """
import sys, torch
from pathlib import Path
from charnn.config import ModelConfig, TrainConfig
from charnn.data import load_corpus
from charnn.train import Step, Saved, train
corpus, run_dir, steps, eval_every, resume = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), \
    sys.argv[5] == "1"
torch.set_num_threads(1)
data = load_corpus(corpus)
def report(event):
    if isinstance(event, Step):
        print("step", event.step, flush=True)
train(data, run_dir, ModelConfig(len(data.vocab), "lstm", 2, 64, 16, dropout=0.1),
      TrainConfig(steps=steps, batch_size=8, seq_len=32, eval_every=eval_every, log_every=1, preview_chars=20),
      torch.device("cpu"), report, resume=resume)
print("done", flush=True)
"""


def saved_step(run_dir: Path) -> int | None:
    """The step of the run's latest.pt, or None without one. A run killed before its first full save
    leaves files that charnn will neither resume nor write over (charnn/runs.py): as a user would,
    delete them and start again."""
    if (run_dir / "latest.pt").exists():
        return checkpoint.load(run_dir / "latest.pt")["step"]
    if run_dir.exists():
        shutil.rmtree(run_dir)
    return None


def run_child(corpus: Path, run_dir: Path, steps: int, eval_every: int, resume: bool, kill_after: float | None):
    """Run the trainer; kill it after `kill_after` seconds. Returns (last step reported, finished)."""
    process = subprocess.Popen([sys.executable, "-c", CHILD, str(corpus), str(run_dir), str(steps), str(eval_every),
                                "1" if resume else "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        process.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        process.kill()  # SIGKILL: no handler runs, no file is closed cleanly
        process.wait()
    out = process.stdout.read()
    steps_seen = [int(line.split()[1]) for line in out.splitlines() if line.startswith("step ")]
    if process.returncode not in (0, -9):
        raise SystemExit(f"trainer failed ({process.returncode}):\n{process.stderr.read()}")
    return (steps_seen[-1] if steps_seen else None), "done" in out


def check_files(run_dir: Path) -> int:
    """Load every checkpoint and parse every metrics line; return how many are corrupt."""
    corrupt = 0
    for path in sorted(run_dir.glob("*.pt")):
        try:
            checkpoint.build_model(checkpoint.load(path), path)
        except CharnnError as problem:
            print(f"  corrupt: {problem}")
            corrupt += 1
    metrics = run_dir / "metrics.jsonl"
    if metrics.exists():
        for number, line in enumerate(metrics.read_text().splitlines(), 1):
            try:
                json.loads(line)
            except json.JSONDecodeError:
                print(f"  corrupt: metrics.jsonl line {number}: {line[:60]!r}")
                corrupt += 1
    leftovers = list(run_dir.glob(".*.tmp-*"))
    if leftovers:
        print(f"  (temp files left by killed writes, ignored by loaders: {len(leftovers)})")
    return corrupt


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--eval-every", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    chooser = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        corpus = folder / "corpus.txt"
        words = ["the", "night", "harbour", "light", "keeper", "MARGARET", "said", "and", "sea", "é", "—"]
        corpus.write_text(" ".join(chooser.choice(words) for _ in range(60_000)), encoding="utf-8")
        run_dir = folder / "killed"
        kills = resumes = corrupt = 0
        lost: list[int] = []
        finished = False
        fresh = 0  # folders started after a run finished on its own (their names must never repeat)
        while kills < args.kills:
            saved = saved_step(run_dir)
            has_latest, start_step = saved is not None, saved or 0
            if start_step >= args.steps:  # killed after its last save, before it said so: it had finished
                print("run finished before all kills; starting over in a fresh folder")
                fresh += 1
                run_dir = folder / f"fresh-{fresh}"
                continue
            if has_latest:
                resumes += 1
            last_seen, finished = run_child(corpus, run_dir, args.steps, args.eval_every, has_latest,
                                            chooser.uniform(2.5, 8.0))
            if finished:
                print("run finished before all kills; starting over in a fresh folder")
                fresh += 1
                run_dir = folder / f"fresh-{fresh}"
                continue
            kills += 1
            corrupt += check_files(run_dir) if run_dir.exists() else 0
            saved = checkpoint.load(run_dir / "latest.pt")["step"] if (run_dir / "latest.pt").exists() else 0
            if last_seen is not None:
                lost.append(max(0, last_seen - saved))
            print(f"kill {kills:2d}: started at step {start_step}, reached {last_seen}, latest.pt at {saved}")
        while not finished and (saved_step(run_dir) or 0) < args.steps:
            resumes += saved_step(run_dir) is not None
            _, finished = run_child(corpus, run_dir, args.steps, args.eval_every, saved_step(run_dir) is not None,
                                    None)
        corrupt += check_files(run_dir)
        reference = folder / "reference"
        run_child(corpus, reference, args.steps, args.eval_every, False, None)
        a = checkpoint.load(run_dir / "latest.pt")["model"]
        b = checkpoint.load(reference / "latest.pt")["model"]
        identical = all(torch.equal(a[name], b[name]) for name in b)
    print()
    print(f"{'kills':>6}{'resumes ok':>12}{'corrupt files':>15}{'steps lost (max/mean)':>24}{'eval interval':>15}"
          f"{'final = uninterrupted':>23}")
    mean = sum(lost) / len(lost) if lost else 0
    print(f"{kills:>6}{resumes:>12}{corrupt:>15}{max(lost, default=0):>16} / {mean:<5.1f}{args.eval_every:>15}"
          f"{'bit-identical' if identical else 'DIFFERENT':>23}")
    if corrupt or not identical or max(lost, default=0) > args.eval_every:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
