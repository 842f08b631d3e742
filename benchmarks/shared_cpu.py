"""charnn beside other work on the same CPU: threads tuned by speed (the default) against a fixed count.

    python benchmarks/shared_cpu.py [--corpus PATH] [--time 30s] [--threads 2]

On a CPU that another busy program shares, torch's threads on every core wait for each other (charnn/threads.py).
This runs the real CLI twice in each mode, with the count fixed by OMP_NUM_THREADS (what charnn did before it tuned
it) and tuned:
- two `charnn train CORPUS --time T` started together: steps, best val loss and wall time of each;
- `charnn sample` (bundled model, one stream and `--num-samples 8`) beside a charnn training that keeps `--threads`
  fixed (a program that does not give way), and alone.
The corpus defaults to the first 200,000 characters of ../shared/corpora/tinyshakespeare.txt (else the bundled
screenplay). Runs go to a temporary folder; the corpus cache to its own. Prints one table.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "checkpoints" / "bundled" / "best.pt"
FINISHED = re.compile(r"finished \(time\) (?:at step ([\d,]+)[^\n]*?best val ([\d.]+)|before the first step)")


def charnn(*args: str, threads: str | None, **kwargs) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    if threads:
        env["OMP_NUM_THREADS"] = threads
    return subprocess.Popen([sys.executable, "-m", "charnn", *args], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def train_pair(corpus: Path, out: Path, budget: str, threads: str | None) -> list[str]:
    started = time.monotonic()
    children = [charnn("train", str(corpus), "--time", budget, "--out", str(out / f"run-{i}"), threads=threads)
                for i in range(2)]
    results = []
    for child in children:
        _, stderr = child.communicate()
        wall = time.monotonic() - started
        match = FINISHED.search(stderr)
        if match is None:
            results.append(f"rc {child.returncode}: {stderr.strip().splitlines()[-1] if stderr.strip() else '?'}")
        else:
            results.append(f"{match.group(1) or 0} steps, best {match.group(2) or '–'}, {wall:.0f} s")
    return results


def sample_speed(threads: str | None, *flags: str) -> str:
    child = charnn("sample", "--checkpoint", str(BUNDLED), "--length", "3000", "--seed", "1", *flags, threads=threads)
    _, stderr = child.communicate()
    found = re.search(r"chars in [\d.]+s \(([\d,]+) chars/s\)", stderr)
    return f"{found.group(1)} chars/s" if found else f"rc {child.returncode}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--time", default="30s", help="each training's budget")
    parser.add_argument("--threads", default=str(os.cpu_count() or 2), help="the fixed count to compare with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        os.environ["CHARNN_CACHE"] = str(folder / "cache")
        corpus = args.corpus
        if corpus is None:
            shared = ROOT.parent / "shared" / "corpora" / "tinyshakespeare.txt"
            source = shared if shared.exists() else ROOT / "corpora" / "screenplay.txt"
            corpus = folder / "corpus.txt"
            corpus.write_text(source.read_text(encoding="utf-8")[:200_000], encoding="utf-8")
        rows = []
        for mode, threads in ((f"fixed, {args.threads} threads", args.threads), ("tuned (default)", None)):
            pair = train_pair(corpus, folder / mode.split(",")[0].split(" ")[0], args.time, threads)
            rows += [(f"two trainings at once, {mode}: run {i + 1}", result) for i, result in enumerate(pair)]
        for mode, threads in ((f"fixed, {args.threads} threads", args.threads), ("tuned (default)", None)):
            rows.append((f"sample alone, one stream, {mode}", sample_speed(threads)))
        contender = charnn("train", str(corpus), "--steps", "1000000", "--threads", args.threads,
                           "--out", str(folder / "contender"), threads=None)
        try:
            time.sleep(8)  # past its start-up, training
            for mode, threads in ((f"fixed, {args.threads} threads", args.threads), ("tuned (default)", None)):
                rows.append((f"sample beside a training, one stream, {mode}", sample_speed(threads)))
                rows.append((f"sample beside a training, --num-samples 8, {mode}",
                             sample_speed(threads, "--num-samples", "8")))
        finally:
            contender.kill()
            contender.communicate()
    print(f"corpus: {corpus if args.corpus else 'first 200,000 chars of ' + source.name}, --time {args.time}, "
          f"{os.cpu_count()} CPUs")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
