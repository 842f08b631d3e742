"""Paths as typed on the command line: what a missing one likely meant, and run folders in the order people number
them. No torch here: these errors come before it loads (~2 s on a slow CPU).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable
from pathlib import Path

from charnn.errors import CharnnError


def exists(path: Path) -> bool:
    """`path.exists()`, with a folder on the way that may not be read said in one line (a traceback in Python 3.11)."""
    try:
        return path.exists()
    except PermissionError:
        raise CharnnError(f"cannot look at {path}: permission denied — use a path you can read") from None


def missing(path: Path, what: str, fix: str, fits: Callable[[Path], bool]) -> CharnnError:
    """The error for `path`, a `what` ("corpus", "checkpoint") that does not exist: a link to nothing said as one (it
    was its own "did you mean"); else the likeliest name in its folder that `fits` (the kind of file meant), as a
    question (a new-user trial's pycod.txt beside pycode.txt); else `fix`."""
    if os.path.lexists(path):
        return CharnnError(f"{what} {path} is a link to {os.readlink(path)}, which does not exist — {fix}")
    near = closest_sibling(path, fits)
    return CharnnError(f"{what} {path} does not exist — " + (f"did you mean {near}?" if near else fix))


def closest_sibling(path: Path, fits: Callable[[Path], bool]) -> Path | None:
    """The name in `path`'s folder likeliest meant by `path`, of those that `fits` (hidden ones left out: an editor's
    swap file is no one's corpus); None where none is alike."""
    try:
        names = [entry.name for entry in path.parent.iterdir()
                 if entry.name != path.name and not entry.name.startswith(".") and fits(entry)]
    except OSError:
        return None
    # The name with a suffix first: a trial's `charnn train work/code` for code.txt was too short a name to be
    # close enough.
    close = sorted(name for name in names if Path(name).stem == path.name) or difflib.get_close_matches(
        path.name, names, n=1, cutoff=0.75)
    return path.parent / close[0] if close else None


def number_order(name: str) -> list:
    """A sort key that reads runs of ASCII digits as numbers: run-9 before run-10. (By position: str.isdigit holds for
    '²', which int() refuses.)"""
    return [int(part) if index % 2 else part for index, part in enumerate(re.split(r"([0-9]+)", name))]
