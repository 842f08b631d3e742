"""Checks and choices before `charnn train` trains: which run folder, whether the corpus's first read left time to
train, whether a run can resume on what it is given."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from charnn.errors import CharnnError

MIN_SECONDS_LEFT = 15.0  # of a time budget after a corpus's first read, at least (and a quarter of the budget)


def open_run_folder(run_dir: Path | None, corpus: Path, resume: bool, held: ExitStack):
    """(the run folder, its lock, held by `held`). Without --out a new run goes to checkpoints/<corpus name>, or -2,
    -3 … where that holds a run (a new run never replaces an earlier one); a resume to that corpus's newest run."""
    from charnn import ui
    from charnn.run_lock import RunLock, make_run_folder
    from charnn.runs import (
        check_can_resume,
        check_can_start,
        check_is_not_a_file,
        claim_new_run_folder,
        newest_run_folder,
    )

    if run_dir is None and not resume:
        base = Path("checkpoints") / corpus.stem
        lock = held.push(claim_new_run_folder(base))
        if lock.path.parent != base:
            ui.info(f"{base} holds another run: this one goes to {lock.path.parent}")
        return lock.path.parent, lock
    if run_dir is None:
        run_dir = newest_run_folder(Path("checkpoints") / corpus.stem, corpus.name)
    check_is_not_a_file(run_dir)
    if resume and not run_dir.is_dir():
        check_can_resume(run_dir)  # says there is no such folder
    lock = held.enter_context(RunLock(run_dir, make_run_folder(run_dir)))
    (check_can_resume if resume else check_can_start)(run_dir)  # before the preset says anything
    return run_dir, lock


def check_resume(data, plan, run_dir: Path) -> None:
    """What training itself checks before a resume (resuming.py), before the training panel is drawn."""
    from charnn import checkpoint
    from charnn.resuming import check_resumable

    payload = checkpoint.load(run_dir / "latest.pt")
    if all(key in payload for key in ("metrics", "train_config")):  # else training says what it lacks
        check_resumable(payload, data, plan.model_config, plan.config, run_dir)


def check_time_left(corpus: Path, reading: float, elapsed: float, budget: float | None) -> None:
    """The time budget counts from the command's start (README): a big corpus's first read counts too. Refuse to
    train where that read left too little of the budget, and say what it took where it took a tenth or more (a trial:
    a 2 GB corpus's first read took 1m57s of `--time 2m`, which then trained 1 step and saved that model, exit 0)."""
    from charnn import ui

    if budget is None or reading < 2.0:
        return
    left = budget - elapsed  # `elapsed`: since the command started
    took = f"reading {corpus} took {ui.duration(reading)} of the {ui.duration(budget)} time budget"
    if reading >= budget / 4 and left < max(MIN_SECONDS_LEFT, budget / 4):
        raise CharnnError(f"{took}, leaving {ui.duration(max(0.0, left))} to train — run the same command again: "
                          f"the corpus is in the cache now, so the next run trains for the whole budget")
    if reading >= budget / 10:
        ui.info(f"{took}; {ui.duration(left)} are left to train (only this once: the next run reads it from the "
                f"cache)")
