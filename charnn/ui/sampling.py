"""Showing samples: the stream chosen for stdout, its status line, a spinner, headers, the closing line."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from rich.console import Console
from rich.live import Live
from rich.text import Text

from charnn import documents, script
from charnn.ui.cells import visible
from charnn.ui.messages import info, stderr
from charnn.ui.script_stream import Closing, ScriptStream
from charnn.ui.terminal import UnechoedKeys, is_regular_file, shares_stdout, wait_for_reader


class PlainStream(Closing):
    """Characters straight to a file, flushed one by one: what a pipe or NO_COLOR gets."""

    def __init__(self, out):
        self.out = out
        self.status_text = ""
        self.dropped = ""  # nothing is held back here
        self.shown_cells = 0  # whether the current line has text (ScriptStream's, where it is counted in cells)
        self.terminal = out.isatty()  # a terminal gets control characters as pictures; a file or pipe, the text
        self.context_shown = False  # the text alone, no prime (ScriptStream.show_context)

    def write(self, char: str) -> None:
        self.out.write(visible(char) if self.terminal else char)
        self.shown_cells = 0 if char == "\n" else self.shown_cells + 1  # right after the write (ScriptStream.show_held)
        self.out.flush()

    def show_context(self) -> None:
        pass

    def close(self, cut: bool = False) -> None:
        self.out.flush()


def color_terminal(out) -> bool:
    """Whether `out` is a terminal that wants colour (NO_COLOR unset, TERM not dumb)."""
    return out.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def open_stream(style: str, out, context: str = "", writes_script: Callable[[], bool] | None = None,
                prime: str | None = None) -> ScriptStream | PlainStream:
    """'plain', 'script' (always style script lines) or 'auto': styled from the first character where the
    prime (`context`) reads as a script or `writes_script()` says the model will write one, else once the
    text so far reads as one. `writes_script` is asked only when its answer is used.

    Styling needs a colour terminal on `out`; anywhere else the text is written exactly as generated. On such a
    terminal 'plain' is a ScriptStream that never styles: the status row is drawn under its text too.
    """
    if not color_terminal(out):
        return PlainStream(out)
    console = Console(file=out, force_terminal=True)
    stream = ScriptStream(out, console, status=stderr if stderr.is_terminal else None, detect=style != "script",
                          styles=style != "plain")
    stream.line = context.rpartition("\n")[2]  # the text goes on the prime's last line: its kind is the line's
    prime = context if prime is None else prime  # the prime alone, of a context that holds the sample before it
    body = prime.rstrip()  # up to the end of its last line with text (`[Chorus]\r\n  \n`: `[Chorus]`, 2 breaks)
    if not stream.line.strip() and body:
        stream.above = body.rpartition("\n")[2], min(2, prime[len(body):].count("\n"))
    if style == "auto":
        stream.seen = context[-4000:]  # the prime counts toward "reads as a script"
        stream.active = script.looks_like_script(stream.seen) or (writes_script is not None and writes_script())
    return stream


class SampleStatus:
    """Model, temperature, chars/s and progress while a sample streams; gone when it ends.

    With stdout on the same terminal, it sits on the line below the text and is redrawn at each
    line break (ScriptStream). With stdout redirected to a file, it is a transient Rich status on stderr.
    With stdout in a pipe there is none: the reader (`| cat`, `| tee`) may write the text to this same
    terminal, where a status redrawn under it erased and overwrote the line being written (a new-user trial).
    """

    def __init__(self, stream, label: str, temperature: float, length: int, samples: int = 1):
        self.stream, self.label, self.temperature, self.length = stream, label, temperature, length
        self.samples = samples  # a batch's: each tick is one character of each
        self.count, self.started = 0, time.monotonic()  # `started`: from the first character on (`tick`)
        to_file = not sys.stdout.isatty() and stderr.is_terminal and is_regular_file(sys.stdout)
        self.live = (Live(console=stderr, transient=True, refresh_per_second=4, redirect_stdout=False,
                          redirect_stderr=False) if to_file else None)
        # Keys typed meanwhile are not echoed into the text, or into the status on stderr where stdout is a file (a
        # new-user trial saw `… 21,792/200,000hello`). With stdout in a pipe, they are: its reader may use the terminal.
        self.keys = UnechoedKeys(sys.stdin, stderr.file if to_file else sys.stdout)

    def __enter__(self) -> SampleStatus:
        self.keys.__enter__()
        try:
            if self.live is not None:
                self.live.start()
        except BaseException:  # a Ctrl-C here: no `__exit__` follows, and echo must not stay off
            self.keys.__exit__()
            raise
        return self

    def tick(self) -> None:
        self.count += 1
        if self.count == 1:  # chars/s from the first character: not the prime's reading, nor the trial samples
            self.started = time.monotonic()
        if self.count % 32 == 0:
            rate = (self.count - 1) * self.samples / max(1e-9, time.monotonic() - self.started)
            batch = f"{self.samples} samples · " if self.samples > 1 else ""
            text = (f"{self.label} · temp {self.temperature} · {batch}{rate:,.0f} chars/s · "
                    f"{self.count:,}/{self.length:,}")
            self.stream.status_text = text
            if isinstance(self.stream, ScriptStream):
                self.stream.draw_status()
            if self.live is not None:
                self.live.update(Text(text, style="dim"))

    def __exit__(self, kind, value, traceback) -> None:
        try:  # may raise BrokenPipeError when the reader has gone
            self.stream.__exit__(kind, value, traceback)
        finally:
            try:
                if self.live is not None:
                    self.live.stop()
            finally:
                self.keys.__exit__()


def status_for(stream, label: str, temperature: float, length: int) -> SampleStatus:
    return SampleStatus(stream, label, temperature, length)


class Spinner:
    """A transient 'working…' line on stderr for output that is shown only when complete."""

    def __init__(self, text: str):
        self.text = text
        self.status = stderr.status(text) if stderr.is_terminal else None
        self.started: float | None = None  # time.monotonic() at the first character: chars/s not of the prime's read

    def __enter__(self) -> Spinner:
        if self.status is not None:
            self.status.start()
        return self

    def progress(self, total: int):
        def update(done: int) -> None:
            if self.started is None:
                self.started = time.monotonic()
            if self.status is not None and done % 16 == 0:
                self.status.update(f"{self.text} · {done / total:.0%}")

        return update

    def __exit__(self, *exc) -> None:
        if self.status is not None:
            self.status.stop()


def sample_header(number: int, total: int, style: str, previous: str = "", seed: int | None = None) -> None:
    """The line above sample `number` (with the `seed` that makes it alone): one blank line after the `previous`
    sample's text, which may end in one already (`--stop '\n\n'`)."""
    line = documents.sample_heading(number, total, seed, fountain=False)
    stream = open_stream(style, sys.stdout)
    # The previous sample's text follows its own header's line break: a sample of "\n" ends a blank line already.
    sys.stdout.write("\n" if number > 1 and not ("\n" + previous).endswith("\n\n") else "")
    sys.stdout.write(stream.styled(line, "bold") if isinstance(stream, ScriptStream) and stream.styles else line)
    sys.stdout.write("\n")


def show_text(text: str, style: str, script_like: bool) -> None:
    """A whole generated text at once (a batch's samples); with style 'auto', styled where `script_like` says
    (the caller decides once for all samples: one short sample may hold a single speaker)."""
    if style == "auto":  # decided: no detection within a sample
        style = "script" if script_like else "plain"
    with open_stream(style, sys.stdout) as stream:  # a Ctrl-C ends a style left open: "interrupted" is not in it
        for char in text:
            stream.write(char)
    if text and not text.endswith("\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()


def end_piped_line(open_line: bool) -> None:
    """After a Ctrl-C with stdout in a pipe, whose reader may write the text to this terminal (`| cat`): the terminal
    echoed `^C` after that text, so what stderr says next starts a line of its own (a new-user trial saw
    `…him sta^Cinterrupted (seed 2)`). So too where stderr shares stdout's file and the text there ended mid-line
    (`open_line`)."""
    if (stderr.is_terminal and not sys.stdout.isatty() and not is_regular_file(sys.stdout)) or (
            open_line and shares_stdout()):
        sys.stdout.flush()
        stderr.file.write("\n")
        stderr.file.flush()


def sample_footer(count: int, seconds: float, seed: int | None, open_line: bool = False, samples: int = 1) -> None:
    """The closing line on stderr; `seed` None at temperature 0 (greedy: any seed gives the same). `open_line`: the
    text on stdout (not a terminal) ended mid-line. When stdout is a pipe, whose reader may write it to this same
    terminal (`| cat`), or where stderr shares stdout's file (a new-user trial's log read `They nod. 10 chars in
    0.00s …`), the footer goes on a line of its own."""
    if stderr.is_terminal and not shares_stdout():
        wait_for_reader(sys.stdout)  # `| cat`, `| tee`: the text's end on this terminal first
    if open_line and ((stderr.is_terminal and not is_regular_file(sys.stdout)) or shares_stdout()):
        stderr.file.flush()
        sys.stdout.flush()  # the text before the line break, where the two share a file
        stderr.file.write("\n")
    rate = count / seconds if seconds > 0 else 0
    # A batch's seed under its last sample read as that sample's (a trial): it is the batch's, as its headers say.
    batch = f" for the {samples} samples (each one's own is in its header)" if samples > 1 else ""
    info(f"{count:,} char{'s' * (count != 1)} in {seconds:.2f}s ({rate:,.0f} chars/s)"
         + ("" if seed is None else f", seed {seed}{batch}"))
