"""Quality at equal time: `charnn train CORPUS --time T` (plus any flags given), then `charnn eval`.

    python benchmarks/quality.py ../shared/corpora/tinyshakespeare.txt --time 10m [--baseline] [charnn train flags]

The run goes to benchmarks/out/CORPUS-TIME[-FLAGS]/, replacing an earlier run of the same name
(copy a run folder elsewhere first if it is to be kept, e.g. as the source of the bundled model).

Runs the real CLI (start-up, corpus encoding, evals and checkpoints all count against the
budget), checks the whole run stayed within budget + 5%, scores the best checkpoint on the full
validation split with the recurrent state carried, and prints one table row. `--baseline` also
runs benchmarks/baseline_lstm.py (plain fp32 2×512 nn.LSTM) for the same time.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def seconds(text: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1}
    return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--time", default="10m")
    parser.add_argument("--baseline", action="store_true", help="also run the plain nn.LSTM baseline")
    args, extra = parser.parse_known_args()  # any other flags go to charnn train as they are
    # A fresh run folder per corpus, budget and flags (a rerun replaces the earlier run of the same name).
    flags = re.sub(r"[^A-Za-z0-9.]+", "-", " ".join(extra)).strip("-")
    out = HERE / "out" / "-".join(filter(None, [args.corpus.stem, args.time, flags]))
    shutil.rmtree(out, ignore_errors=True)
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "charnn", "train", str(args.corpus), "--time", args.time, "--out",
                    str(out), *extra], check=True)
    wall = time.monotonic() - started
    result = subprocess.run([sys.executable, "-m", "charnn", "eval", str(args.corpus), "--checkpoint", str(out),
                             "--split", "val", "--json"], check=True, capture_output=True, text=True)
    scored = json.loads(result.stdout)
    info = subprocess.run([sys.executable, "-m", "charnn", "info", str(out)], capture_output=True, text=True).stdout
    print(info)
    budget = seconds(args.time)
    print(f"{'run':<34}{'budget':>8}{'wall':>9}{'val nats':>10}{'val bpc':>9}")
    print(f"{'charnn ' + args.corpus.name:<34}{args.time:>8}{wall:>8.0f}s{scored['nats']:>10.4f}{scored['bpc']:>9.4f}"
          f"   ({wall / budget:.1%} of budget)")
    if args.baseline:
        subprocess.run([sys.executable, str(HERE / "baseline_lstm.py"), str(args.corpus), "--time", args.time],
                       check=True)


if __name__ == "__main__":
    main()
