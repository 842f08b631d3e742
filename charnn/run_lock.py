"""The lock of a run folder, and what is made, pruned and cleaned up under it.

One process trains in a run folder at a time (`RunLock`, an OS file lock: a killed process never leaves it stuck).
A run that ends without having written a run into the folders it made removes them again; a run whose first save
failed removes its files; and a run that takes the lock removes the temp files of saves a killed one left.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from pathlib import Path

from charnn.errors import CharnnError

RUN_FILES = ("latest.pt", "best.pt", "metrics.jsonl")  # and step-NNNNNNNN.pt files: what a training run writes


def run_files(run_dir: Path) -> list[Path]:
    """The files a training run has written into `run_dir` (checkpoints, metrics)."""
    run_dir = Path(run_dir)
    return [*(path for path in (run_dir / name for name in RUN_FILES) if path.exists()), *run_dir.glob("step-*.pt")]


def holds_run(run_dir: Path) -> bool:
    """Whether a training run has written into `run_dir` (a checkpoint or a metrics line)."""
    return bool(run_files(run_dir))


def check_can_make(run_dir: Path) -> None:
    """Refuse, before a corpus is read, a run folder that could not be made or written: a trial's read-only folder was
    named only after its 2 GB corpus had been encoded, two minutes on. Where it would have to be made, its nearest
    folder that exists must take new entries."""
    run_dir = Path(run_dir)
    existing = next(folder for folder in (run_dir, *run_dir.parents, Path(".")) if folder.exists())
    if existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        why = "read-only" if existing == run_dir else f"{existing} is read-only"  # or not ours: either way, not here
        raise CharnnError(f"cannot create run folder {run_dir}: {why} — choose another --out")


def make_run_folder(run_dir: Path) -> list[Path]:
    """Create `run_dir` and its missing parents; the folders this call made, deepest first (one made meanwhile by
    another process is not among them). A run stopped before its first step removes them again (`RunLock`)."""
    run_dir, made = Path(run_dir), []
    missing = [folder for folder in (run_dir, *run_dir.parents) if not folder.exists()]
    try:
        for folder in reversed(missing):
            with contextlib.suppress(FileExistsError):
                folder.mkdir()
                made.append(folder)
        if not run_dir.is_dir():
            raise NotADirectoryError(20, "a file of that name is in the way")
    except OSError as error:
        raise CharnnError(f"cannot create run folder {run_dir}: {error.strerror} — choose another --out") from None
    return made[::-1]


def remove_run_files(run_dir: Path) -> None:
    """Remove what a run writes (checkpoints, metrics), for a run whose first save failed."""
    for path in run_files(run_dir):
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


RUN_TEMP_FILE = re.compile(rf"\.({'|'.join(map(re.escape, RUN_FILES))}|step-\d{{8}}\.pt)\.tmp-(\d+)")


def remove_temp_files(run_dir: Path) -> None:
    """Remove the temp files of a run's saves that a killed process left half-written (`.latest.pt.tmp-PID`; a
    trial's 8 `kill -9`s left 10.9 MB of them): only charnn's own names, and only of processes that are gone."""
    for path in Path(run_dir).glob(".*.tmp-*"):
        match = RUN_TEMP_FILE.fullmatch(path.name)
        if match is None or process_alive(int(match.group(2))):
            continue
        with contextlib.suppress(OSError):
            path.unlink()


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's process; or not a pid at all
        return True
    return True


def in_use(run_dir: Path) -> bool:
    """Whether a process is training in `run_dir` now (holds its lock), asked without taking or changing anything."""
    try:
        with open(Path(run_dir) / ".lock") as file:
            fcntl.flock(file, fcntl.LOCK_SH | fcntl.LOCK_NB)  # refused while a run holds it exclusively
            fcntl.flock(file, fcntl.LOCK_UN)
    except BlockingIOError:
        return True
    except OSError:  # no lock file: no run has held it, or its run is over
        pass
    return False


def prune_steps(run_dir: Path, keep: int) -> None:
    """Delete all but the newest `keep` step-NNNNNNNN.pt files."""
    steps = sorted(run_dir.glob("step-*.pt"))
    for old in steps[: max(0, len(steps) - keep)]:
        old.unlink(missing_ok=True)


class RunLock:
    """An exclusive lock on a run folder. The OS drops it when the process dies, so it never sticks.

    `made`: the folders the run made (`make_run_folder`). Where it wrote no run into them, however it ends (a Ctrl-C
    before its first step, a second one, an error), they are removed, the lock file first, while it is still held:
    a new-user trial's Ctrl-C during set-up left a folder that the same command then refused."""

    def __init__(self, run_dir: Path, made: list[Path] | None = None):
        self.path = Path(run_dir) / ".lock"
        self.made = made or []
        self.file = None

    def __enter__(self) -> RunLock:
        if not self.take():
            raise CharnnError(self.busy())
        return self

    def take(self) -> bool:
        """Take the lock, as `__enter__` does; False, leaving everything as it was, where another process holds it."""
        try:
            self.file = open(self.path, "a+")
        except OSError as error:
            self.remove_made()
            raise CharnnError(f"cannot write in run folder {self.path.parent}: {error.strerror} — fix its "
                              "permissions or choose another --out") from None
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.close()
            return False
        if not self.holds_the_lock_file():  # its holder removed it as it let go (its run wrote nothing): held no more
            self.file.close()  # by anyone, yet a lock on the removed file would not keep a new one out (a review)
            return False
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"{os.getpid()}\n")
        self.file.flush()
        remove_temp_files(self.path.parent)
        return True

    def holds_the_lock_file(self) -> bool:
        """Whether the file this lock has open is the one at its path (not one removed since it was opened)."""
        try:
            opened, named = os.fstat(self.file.fileno()), os.stat(self.path)
        except OSError:
            return False
        return (opened.st_dev, opened.st_ino) == (named.st_dev, named.st_ino)

    def remove_made(self) -> None:
        """Remove the folders this run made where it wrote no run into them, the lock file first (while it is held)."""
        if self.made and not holds_run(self.path.parent):
            with contextlib.suppress(OSError):  # something else in a folder: it stays, and those above it
                self.path.unlink(missing_ok=True)
                for folder in self.made:
                    folder.rmdir()

    def release(self) -> None:
        self.remove_made()
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()

    def __exit__(self, *exc) -> None:
        self.release()

    def busy(self) -> str:
        return f"another charnn process is training in {self.path.parent} — wait for it, stop it, or use another --out"
