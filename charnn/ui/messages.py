"""The shared stderr console and the small things said on it: errors, information, a prompt, key-value lines."""

from __future__ import annotations

import math
import os
import sys
import time

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

stderr_left = False  # the reader of stderr has gone (`charnn train c.txt 2>&1 | head -3`): it is /dev/null now


def reader_left() -> None:
    """The reader of stderr has gone: what is said from here on goes to /dev/null. Those who go on, such as a
    training, look at `stderr_left`."""
    global stderr_left
    stderr_left = True
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stderr.fileno())  # and what sys.stderr still holds is flushed there
        os.close(null)
    except (OSError, ValueError, AttributeError):  # no file descriptor (a test's StringIO)
        pass


class StderrConsole(Console):
    def on_broken_pipe(self) -> None:
        """Rich's own points stdout at /dev/null and exits 1: a student's `charnn train c.txt 2>&1 | head -1` ended
        the run at once, with nothing saved, and an exit code of an error. The training stops after its step and
        saves instead (cli/training.py)."""
        self.quiet = True
        reader_left()


stderr = StderrConsole(stderr=True, highlight=False)


def error(message: str) -> None:
    stderr.print(Text("error: ", style="bold red") + Text(message), soft_wrap=not stderr.is_terminal)


def info(message: str) -> None:
    """A line of information. On a terminal, wrapped between words (at a trial's 50 columns the terminal broke
    lines mid-word: `refu` / `sed`); in a file or pipe, one line, for grep."""
    stderr.print(Text(message, style="dim"), soft_wrap=not stderr.is_terminal)


def stopped_at(short: tuple[float, float, str]) -> str:
    """Where a run stopped short of its target (`runs.stopped_short`): "0m14s of its 0m40s", "step 40 of 400"."""
    done, target, unit = short
    return f"{duration(done)} of its {duration(target)}" if unit == "time" else f"step {done:,} of {target:,}"


def duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "–"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def loss_text(loss: float) -> str:
    return "–" if not math.isfinite(loss) else f"{loss:.4f} nats ({loss / math.log(2):.3f} bpc)"



def ask(prompt: str) -> str:
    """A line typed at `prompt`. On a terminal with readline loaded, readline draws the prompt itself, so
    that it knows the prompt's width when it redraws a long or recalled line; its bold is wrapped in
    \\001…\\002, which readline counts as no width. Elsewhere Rich prints the prompt on stderr, keeping
    stdout for text."""
    if "readline" in sys.modules and sys.stdin.isatty() and sys.stdout.isatty() and stderr.is_terminal:
        plain = os.environ.get("NO_COLOR")
        return input(prompt if plain else f"\001\x1b[1m\002{prompt}\001\x1b[0m\002")
    return stderr.input(Text(prompt, style="bold"))


def show_info(rows: list[tuple[str, str]], console: Console | None = None) -> None:
    """`key  value` lines. On a terminal a long value wraps between words, under its own column (the terminal broke
    it mid-word, `--checkp` / `oint`, at a trial's 50 columns); a file or pipe gets a line a row, for grep."""
    console = console or Console(highlight=False)
    width = max((len(key) for key, _ in rows), default=0)
    room = console.width - width - 2 if console.is_terminal else 0
    for key, value in rows:  # not a rich Table: it pads every line to its widest with trailing spaces
        lines = wrapped(value, room) if room >= 20 else [value]
        console.print(Text.assemble((key.ljust(width), "bold"), "  ", lines[0]), soft_wrap=True)
        for line in lines[1:]:
            console.print(Text(" " * (width + 2) + line), soft_wrap=True)


def wrapped(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` terminal cells, broken between words (a word wider than that stands
    alone). By cells, not characters: 日本語 takes 6 (a review's CJK corpus name overran a 50-column line)."""
    lines = [""]
    for word in text.split(" "):
        if lines[-1] and cell_len(lines[-1]) + 1 + cell_len(word) > width:
            lines.append(word)
        else:
            lines[-1] = f"{lines[-1]} {word}" if lines[-1] else word
    return lines


def show_table(rows: list[tuple[str, ...]], console: Console | None = None) -> None:
    """Columns, the first row (the header) bold, each column as wide as its widest cell: no trailing spaces. A row of
    two cells where the header has more is a note: its second cell runs on, and widens no column."""
    console = console or Console(highlight=False)
    full = [row for row in rows if len(row) == len(rows[0])]
    widths = [max(cell_len(row[column]) for row in full) for column in range(len(rows[0]))]  # 日本 takes 4
    widths[0] = max(cell_len(row[0]) for row in rows)
    if console.is_terminal and sum(widths) + 2 * (len(widths) - 1) > console.width:
        show_records(rows, console)
        return
    for number, row in enumerate(rows):
        line = "  ".join(cell + " " * (width - cell_len(cell)) for cell, width in zip(row, widths, strict=False))
        line = line.rstrip()
        console.print(Text(line, style="bold" if number == 0 else ""), soft_wrap=True)


def show_records(rows: list[tuple[str, ...]], console: Console) -> None:
    """`show_table`'s rows where the terminal is narrower than its lines (a trial's 50 columns broke each row of
    `charnn info checkpoints` in two, mid-word): a row a paragraph, its first cell bold, then `header value` pairs,
    wrapped between them and indented."""
    header, room = rows[0], max(console.width - 2, 20)
    console.print(Text(header[0], style="bold"), soft_wrap=True)
    for row in rows[1:]:
        pairs = [f"{name} {value}" for name, value in zip(header[1:], row[1:], strict=False)] if (
            len(row) == len(header)) else list(row[1:])  # a note's text runs on as it is
        console.print(Text(row[0], style="bold"), soft_wrap=True)
        # A pair is kept whole where it fits a line (`best val` / `3.4748` read as two fields), and a `·` ends a line.
        kept = [pair.replace(" ", "\xa0") if cell_len(pair) <= room - 2 else pair for pair in pairs]
        for line in wrapped(" ".join(pair + "\xa0·" for pair in kept)[:-2], room):
            console.print(Text("  " + line.replace("\xa0", " ")), soft_wrap=True)


class Progress:
    """A transient line on stderr, on a terminal, for a long job: what it is, how far it has got, how long is left
    (`charnn eval` of a 2 GB corpus's split scored for 38 minutes without a word: a trial)."""

    def __init__(self, text: str):
        self.text, self.started, self.shown = text, time.monotonic(), 0.0
        self.status = stderr.status(text) if stderr.is_terminal else None

    def __enter__(self) -> Progress:
        if self.status is not None:
            self.status.start()
        return self

    def update(self, fraction: float) -> None:
        now = time.monotonic()
        if self.status is None or now - self.shown < 0.5 or fraction <= 0:
            return
        self.shown = now
        left = (now - self.started) * (1 - fraction) / fraction
        self.status.update(f"{self.text} · {fraction:.0%}" + (f" · {duration(left)} left" if fraction >= 0.01 else ""))

    def __exit__(self, *exc) -> None:
        if self.status is not None:
            self.status.stop()
