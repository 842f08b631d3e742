"""Build a few-MB code corpus from the Python standard library that every Python install has.

    python benchmarks/make_code_corpus.py [OUT] [--mb 4]

Concatenates the standard library's top-level .py files (sorted by name, each headed by a
`# file: NAME` line) until OUT holds about `--mb` megabytes. The same Python version gives the
same file, so results can be compared across machines. Output defaults to benchmarks/out/.
"""

from __future__ import annotations

import argparse
import sysconfig
from pathlib import Path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?",
                        default=Path(__file__).resolve().parent / "out" / "python-stdlib.txt")
    parser.add_argument("--mb", type=float, default=4.0)
    args = parser.parse_args()
    library = Path(sysconfig.get_paths()["stdlib"])
    parts, size = [], 0
    for path in sorted(library.glob("*.py")):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        parts.append(f"# file: {path.name}\n{text}\n")
        size += len(parts[-1].encode("utf-8"))
        if size >= args.mb * 1e6:
            break
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(parts), encoding="utf-8")
    print(f"{args.out}: {size:,} bytes from {len(parts)} files of {library}")


if __name__ == "__main__":
    main()
