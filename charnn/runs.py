"""Run folders: where a new run goes, and which run a --resume continues.

One folder holds one run (its files: checkpoint.py). A new run never writes over an earlier one.
`charnn train corpus.txt` trains into checkpoints/corpus, or, when that holds a run, into the first
of checkpoints/corpus-2, -3, … that does not. A folder with a run's files but no latest.pt (a run
killed before its first full save, or weights only, like checkpoints/bundled) can be neither resumed
nor written over.
"""

from __future__ import annotations

from pathlib import Path

from charnn import checkpoint
from charnn.errors import CharnnError


def holds_run(run_dir: Path) -> bool:
    """Whether a training run has written into `run_dir` (a checkpoint or a metrics line)."""
    run_dir = Path(run_dir)
    names = ("latest.pt", "best.pt", "metrics.jsonl")
    return any((run_dir / name).exists() for name in names) or any(run_dir.glob("step-*.pt"))


def numbered_folders(base: Path) -> list[Path]:
    """`base` and its existing siblings base-2, base-3, … (where a new run goes when `base` holds one)."""
    base = Path(base)
    siblings = [p for p in base.parent.iterdir() if p.name.startswith(f"{base.name}-")
                and p.name[len(base.name) + 1:].isdigit()] if base.parent.is_dir() else []
    return [base, *siblings]


def new_run_folder(base: Path) -> Path:
    """`base`, or the first of base-2, base-3, … that holds no run."""
    folder, number = Path(base), 1
    while holds_run(folder):
        number += 1
        folder = folder.with_name(f"{Path(base).name}-{number}")
    return folder


def trained_on(run_dir: Path) -> str | None:
    """The corpus file name the run in `run_dir` was trained on (None if no checkpoint there says)."""
    for name in ("best.pt", "latest.pt"):  # best.pt holds the weights only: about a third of latest.pt
        try:
            return checkpoint.load(Path(run_dir) / name)["corpus"]
        except (CharnnError, KeyError):
            continue
    return None


def newest_run_folder(base: Path, corpus_name: str) -> Path:
    """For a --resume without --out: of `base`, base-2, base-3, … the one trained on `corpus_name` whose
    latest.pt was written last (`base` when none was). Each must show its corpus: data.md also trains
    into checkpoints/data, and a corpus named data-2.txt into checkpoints/data-2."""
    runs = [folder for folder in numbered_folders(base)
            if (folder / "latest.pt").exists() and trained_on(folder) == corpus_name]
    return max(runs, key=lambda folder: (folder / "latest.pt").stat().st_mtime, default=Path(base))


NO_LATEST = "holds a run's files but no latest.pt (a run stopped before its first full save, or weights only)"


def check_can_resume(run_dir: Path) -> None:
    """Refuse a --resume of `run_dir` without a latest.pt, saying why and what to do."""
    run_dir = Path(run_dir)
    if (run_dir / "latest.pt").exists():
        return
    if holds_run(run_dir):
        raise CharnnError(f"nothing to resume in {run_dir}: it {NO_LATEST} — train into another --out")
    if not run_dir.is_dir():  # a new-user trial, in another folder: "no latest.pt" in a folder that was not there
        raise CharnnError(f"nothing to resume: there is no folder {run_dir} — check the path (a run is in "
                          "checkpoints/ where it was trained, or where its --out put it), or train without --resume")
    raise CharnnError(f"nothing to resume in {run_dir}: no latest.pt — train without --resume first")


def check_can_start(run_dir: Path) -> None:
    """Refuse a new run in a folder that holds one: the two runs' files would mix."""
    if not holds_run(run_dir):
        return
    if (Path(run_dir) / "latest.pt").exists():
        raise CharnnError(f"{run_dir} already holds a run — continue it with --resume, or train into another --out")
    raise CharnnError(f"{run_dir} {NO_LATEST}, so it can be neither resumed nor written over — train into "
                      "another --out")


def resumable(payload: dict, run_dir: Path) -> str:
    """What `charnn info` says of resuming: a run folder's best.pt holds weights only, its latest.pt more."""
    if "optimizer" in payload:
        return "yes (has optimizer state)"
    if (run_dir / "latest.pt").exists():
        return f"yes, from {run_dir / 'latest.pt'} (this file holds weights only)"
    return "no (weights only)"
