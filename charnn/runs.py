"""Run folders: which checkpoint a command means, where a new run goes, which run a --resume continues (the lock
of a folder a run trains in, and its clean-ups: run_lock.py).

One folder holds one run (its files: checkpoint.py). A new run never writes over an earlier one.
`charnn train corpus.txt` trains into checkpoints/corpus, or, when that holds a run, into the first
of checkpoints/corpus-2, -3, … that does not. A folder with a run's files but no latest.pt (a run
killed before its first full save, or weights only, like checkpoints/bundled) can be neither resumed
nor written over.
"""

from __future__ import annotations

import math
from pathlib import Path

from charnn import paths
from charnn.errors import CharnnError
from charnn.run_lock import RunLock, holds_run, in_use, make_run_folder

USER_RUNS = Path("checkpoints")  # relative to the working directory, like the default --out
BUNDLED = Path(__file__).resolve().parent.parent / "checkpoints" / "bundled" / "best.pt"


def numbered_folders(base: Path) -> list[Path]:
    """`base` and its existing siblings base-2, base-3, … (where a new run goes when `base` holds one)."""
    base = Path(base)
    siblings = [p for p in base.parent.iterdir() if p.name.startswith(f"{base.name}-")
                and p.name[len(base.name) + 1:].isdigit()] if base.parent.is_dir() else []
    return [base, *siblings]


def claim_new_run_folder(base: Path) -> RunLock:
    """The lock, taken, of `base` or of the first of base-2, base-3, … that holds no run and that no other process
    trains in; the folder is made if missing (and removed again by the lock's `release` if no run is written into
    it). Taken at once, before the preset's speed test: two `charnn train` of one corpus started a second apart both
    chose the same free folder, and the second was refused there once the first had taken it (a new-user trial)."""
    folder, number = Path(base), 1
    while True:
        if not holds_run(folder):
            lock = RunLock(folder, make_run_folder(folder))
            if lock.take():
                if not holds_run(folder):  # a run that trained and left in between wrote into it
                    return lock
                lock.release()
        number += 1
        folder = folder.with_name(f"{Path(base).name}-{number}")


def trained_on(run_dir: Path) -> str | None:
    """The corpus file name the run in `run_dir` was trained on (None if no checkpoint there says)."""
    from charnn import checkpoint  # here and below: it loads torch (~2 s), which `resolve`'s errors need not wait for
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


def user_runs_newest_first() -> list[Path]:
    """The run folders under checkpoints/ (any name; not the bundled model's), the one whose best.pt or latest.pt
    was written last first."""
    written: dict[Path, float] = {}
    for file in USER_RUNS.glob("*/*.pt"):
        if file.name in ("best.pt", "latest.pt") and file.parent.name != "bundled":
            written[file.parent] = max(written.get(file.parent, 0.0), file.stat().st_mtime)
    return sorted(written, key=written.get, reverse=True)


def newest_trained_on(corpus_name: str) -> Path | None:
    """The newest run folder under checkpoints/, whatever its name (`--out checkpoints/lstm` too), trained on
    `corpus_name`; None where none was. (`charnn eval CORPUS` looked in checkpoints/<corpus name>, -2, … alone: a
    new-user trial's runs named by cell were "no run trained on" it, and a newer run of another name was passed over
    for an older one.)"""
    return next((folder for folder in user_runs_newest_first() if trained_on(folder) == corpus_name), None)


NO_LATEST = "holds a run's files but no latest.pt (a run stopped before its first full save, or weights only)"


def check_is_not_a_file(run_dir: Path) -> None:
    """Refuse an --out that is a file, before the preset's speed test: a trial gave `--out RUN/latest.pt` and was
    told there was no folder of that name."""
    if run_dir.exists() and not run_dir.is_dir():
        if run_dir.suffix == ".pt" and holds_run(run_dir.parent):
            raise CharnnError(f"--out takes a run folder, and {run_dir} is a checkpoint in one — give "
                              f"{run_dir.parent} (with --resume to continue it), or a new folder")
        raise CharnnError(f"cannot use {run_dir} as the run folder: a file of that name is in the way — choose "
                          "another --out")


def check_can_resume(run_dir: Path) -> None:
    """Refuse a --resume of `run_dir` without a latest.pt, saying why and what to do."""
    run_dir = Path(run_dir)
    if (run_dir / "latest.pt").exists():
        return
    check_is_not_a_file(run_dir)
    if holds_run(run_dir):
        raise CharnnError(f"nothing to resume in {run_dir}: it {NO_LATEST} — train into another --out")
    if not run_dir.is_dir():  # a new-user trial, in another folder: "no latest.pt" in a folder that was not there
        raise CharnnError(f"nothing to resume: there is no folder {run_dir} — check the path (a run is in "
                          "checkpoints/ where it was trained, or where its --out put it), or train without --resume")
    raise CharnnError(f"nothing to resume in {run_dir}: no latest.pt — train without --resume first")


def check_can_start(run_dir: Path) -> None:
    """Refuse a new run in a folder that holds one: the two runs' files would mix."""
    check_is_not_a_file(Path(run_dir))
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
    latest = run_dir / "latest.pt"
    if latest.exists():  # not from this file, which a trial read as resumable from its step
        try:  # and only where it can be read (a trial: a truncated latest.pt was called resumable)
            read_checkpoint(latest)
        except CharnnError:
            return f"no: {latest} is not a readable checkpoint (truncated or corrupt)"
        return f"yes, from {latest} (this file holds weights only)"
    return "no (weights only)"


def runs_inside(folder: Path) -> list[Path]:
    """The run folders (with a best.pt or latest.pt) right inside `folder`, where it is not a run itself (e.g.
    checkpoints/), in name order, `name-10` after `name-9`; else []."""
    try:
        if not folder.is_dir() or any((folder / name).exists() for name in ("best.pt", "latest.pt")):
            return []
        found = {p.parent for name in ("best.pt", "latest.pt") for p in folder.glob(f"*/{name}")}
    except PermissionError:
        return []  # a folder that may not be read holds no runs we can use; resolve says why
    return sorted(found, key=lambda run: paths.number_order(run.name))


def resolve(path: str | Path | None) -> Path:
    """A checkpoint file from a user's argument: a file, a run folder, or None (newest run/bundled)."""
    if path is not None:
        path = Path(path)
        if not paths.exists(path):  # here, not in checkpoint.load alone: a typo is told before torch loads (~2 s)
            raise paths.missing(path, "checkpoint", "pass a .pt file or a run folder",
                                lambda entry: entry.is_dir() or entry.suffix == ".pt")
        if path.is_dir():
            for name in ("best.pt", "latest.pt"):
                if (path / name).exists():
                    return path / name
            inside = runs_inside(path)
            if inside:  # e.g. checkpoints/ itself: name the runs it holds
                shown = ", ".join(map(str, inside[:5])) + (f" and {len(inside) - 5} more" if len(inside) > 5 else "")
                raise CharnnError(f"{path} holds runs, not a run: pass one of {shown}")
            steps = sorted(path.glob("step-*.pt"))
            if steps:  # a trial: a folder of step files alone was "holds no best.pt or latest.pt" and nothing more
                raise CharnnError(f"{path} holds no best.pt or latest.pt, only step files — pass one, e.g. {steps[-1]}")
            raise CharnnError(f"{path} holds no best.pt or latest.pt — train into it first, or pass a .pt file")
        return path
    runs = user_runs_newest_first()
    if runs:
        return resolve(runs[0])
    if BUNDLED.exists():
        return BUNDLED
    raise CharnnError("no checkpoint found — train one first (charnn train corpus.txt) or pass --checkpoint")


def stopped_short(run_dir: Path, latest: dict | None = None) -> tuple[float, float, str] | None:
    """How far short of its target the run in `run_dir` stopped, by its latest.pt (`latest`, where the caller has
    read it already): (done, target, "time" or "steps"), where it was stopped (Ctrl-C) before 90% of its time or
    before its steps; None where it was not, or where that cannot be read. (Two trials sampled a run stopped after
    20 seconds, the newest, for a finished one.)"""
    if in_use(run_dir) or (latest is None and not (Path(run_dir) / "latest.pt").is_file()):  # training now; no run
        return None  # (a lone best.pt had torch load to say that its latest.pt did not exist: a trial, ~2.5 s)
    try:  # without torch where it can be read so: `charnn sample` may not need torch
        payload = latest if latest is not None else read_checkpoint(Path(run_dir) / "latest.pt")
        budget, steps = payload["train_config"].get("time_budget"), payload["train_config"].get("steps")
        elapsed, step = float(payload["metrics"]["elapsed"]), int(payload["step"])
    except (CharnnError, KeyError, TypeError, ValueError, AttributeError):  # a crafted latest.pt (a review)
        return None
    if payload["metrics"].get("stopped_by"):  # it reached a target: by time, with --steps too (a review)
        return None
    if steps and step < steps:
        return step, steps, "steps"
    if budget and not steps and elapsed < 0.9 * budget:
        return elapsed, budget, "time"
    return None


def read_checkpoint(path: Path) -> dict:
    """A checkpoint's payload, its weights as NumPy arrays where charnn/checkpoint_arrays.py reads it without torch
    (~2.5 s sooner on 2 cores), else as tensors, read by torch, which says what is wrong with a broken file."""
    from charnn import checkpoint_arrays

    payload = checkpoint_arrays.read(path)
    if payload is None:
        from charnn import checkpoint

        payload = checkpoint.load(path)
    return payload


def load_model(path: str | Path | None = None, device: str = "cpu"):
    """(model in eval mode on `device`, its Vocab) from a checkpoint file or run folder (its best.pt), as `charnn
    sample --checkpoint` finds it; None: the newest run under checkpoints/, else the bundled model."""
    from charnn import checkpoint
    from charnn.vocab import Vocab

    found = resolve(path)
    payload = checkpoint.load(found)
    return checkpoint.build_model(payload, found).to(device), Vocab(payload["vocab"])


def best_saved(run_dir: Path, latest: dict) -> float:
    """The validation loss of the model in `run_dir`/best.pt, where it is of the run `latest` (the payload of its
    latest.pt) saved: same model, vocabulary and corpus (its length and digest). Else inf (none, unreadable, or
    another run's)."""
    from charnn import checkpoint

    try:
        best = checkpoint.load(Path(run_dir) / "best.pt")
        if any(best.get(key) != latest.get(key) for key in ("model_config", "vocab", "corpus_chars")):
            return math.inf
        if None not in (best.get("corpus_digest"), latest.get("corpus_digest")) and (
                best["corpus_digest"] != latest["corpus_digest"]):  # one saved before digests were kept matches any
            return math.inf
        return float(best["metrics"]["val_loss"])
    except (CharnnError, KeyError, TypeError, ValueError):
        return math.inf
