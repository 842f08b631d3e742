"""Everything the user sees, and the only module that imports rich.

Generated text goes to stdout as plain characters (never through Rich markup: corpora contain
`[Exeunt]` and `:smile:`). Progress, info and errors go to stderr. When stderr is not a terminal
the training view degrades to one plain line per eval, fit for CI logs and files.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
import zlib
from collections.abc import Callable

from rich.cells import cell_len
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.style import Style
from rich.table import Table
from rich.text import Text

from charnn import script
from charnn.events import Evaluated, Event, Finished, Saved, Started, Step

stderr = Console(stderr=True, highlight=False)


def error(message: str) -> None:
    stderr.print(Text("error: ", style="bold red") + Text(message), soft_wrap=True)


def info(message: str) -> None:
    stderr.print(Text(message, style="dim"), soft_wrap=True)


def duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "–"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def loss_text(loss: float) -> str:
    return "–" if not math.isfinite(loss) else f"{loss:.4f} nats ({loss / math.log(2):.3f} bpc)"


class TrainView:
    """The `on_event` callback of `train`: a live panel on a terminal, plain log lines otherwise."""

    def __init__(self, console: Console = stderr):
        self.console = console
        self.live_mode = console.is_terminal
        self.live: Live | None = None
        self.started: Started | None = None
        self.last_step: Step | None = None
        self.last_eval: Evaluated | None = None
        self.finished: Finished | None = None

    def __enter__(self) -> TrainView:
        if self.live_mode:
            self.live = Live(console=self.console, refresh_per_second=4, transient=False, redirect_stdout=False)
            self.live.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.update(self.render(), refresh=True)
            self.live.stop()
            if self.finished is not None:  # the last word under the panel, not above it
                self.log(self.describe_finish(self.finished))

    def __call__(self, event: Event) -> None:
        if isinstance(event, Started):
            self.started = event
            self.log(self.describe_start(event))
        elif isinstance(event, Step):
            self.last_step = event
        elif isinstance(event, Evaluated):
            self.last_eval = event
            mark = " (best)" if event.is_best else ""
            self.log(f"step {event.step:>7,}  val {loss_text(event.val_loss)}{mark}  "
                     f"train {self.train_loss()}  {self.speed()}  eval {event.seconds:.1f}s")
        elif isinstance(event, Finished):
            self.finished = event
            if self.live is None:
                self.log(self.describe_finish(event))
        if self.live is not None and not isinstance(event, Saved):
            self.live.update(self.render())

    def log(self, line: str) -> None:
        self.console.print(Text(line), soft_wrap=True)

    def describe_start(self, event: Started) -> str:
        m, c = event.model_config, event.config
        resumed = f", resumed at step {event.start_step:,}" if event.start_step else ""
        target = " and ".join(filter(None, [f"{c.steps:,} step{'s' * (c.steps != 1)}" if c.steps else "",
                                             duration(c.time_budget) if c.time_budget else ""]))
        regularised = "".join([f", dropout {m.dropout:g}" if m.dropout else "",
                               f", weight dropout {m.weight_dropout:g}" if m.weight_dropout else ""])
        return (f"training {m.num_layers}×{m.hidden_size} {m.cell.upper()} ({event.num_parameters / 1e6:.2f}M "
                f"params, vocab {m.vocab_size}{regularised}) on {event.device}/{event.precision}, batch {c.batch_size}×"
                f"{c.seq_len}, {event.train_chars:,} train / {event.val_chars:,} val chars, target {target}"
                f"{resumed} → {event.run_dir}")

    @staticmethod
    def describe_finish(event: Finished) -> str:
        return (f"finished ({event.reason}) at step {event.step:,} after {duration(event.elapsed)}; "
                f"best val {loss_text(event.best_val_loss)}; run folder {event.run_dir}")

    def train_loss(self) -> str:
        return f"{self.last_step.loss:.4f}" if self.last_step else "–"

    def speed(self) -> str:
        return f"{self.last_step.chars_per_second:,.0f} chars/s" if self.last_step else ""

    def eta(self) -> float:
        step, started = self.last_step, self.started
        if step is None or started is None:
            return math.nan
        if started.config.time_budget is not None:
            by_time = started.config.time_budget - step.elapsed
        else:
            by_time = math.inf
        if started.config.steps is not None:
            seconds_per_step = started.config.batch_size * started.config.seq_len / step.chars_per_second
            by_steps = (started.config.steps - step.step) * seconds_per_step
        else:
            by_steps = math.inf
        return max(0.0, min(by_time, by_steps))

    def render(self) -> Panel:
        step = self.last_step
        stats = Table.grid(padding=(0, 2))
        stats.add_column(style="dim")
        stats.add_column()
        stats.add_column(style="dim")
        stats.add_column()
        if self.last_eval:
            best = self.last_eval.best_val_loss
        else:  # a resumed run's best before its first eval here
            best = self.started.best_val_loss if self.started else math.nan
        done = self.finished  # the final step and time, not those of the last progress event before it
        shown_step = done.step if done else (step.step if step else None)
        elapsed = done.elapsed if done else (step.elapsed if step else None)
        stats.add_row("step", f"{shown_step:,}" if shown_step is not None else "–", "train loss", self.train_loss())
        stats.add_row("val loss", loss_text(self.last_eval.val_loss) if self.last_eval else "–",
                      "best", loss_text(best))
        stats.add_row("speed", self.speed() or "–", "learning rate", f"{step.lr:.2e}" if step else "–")
        stats.add_row("elapsed", duration(elapsed) if elapsed is not None else "–", "ETA",
                      "stopped" if done and done.reason == "interrupted" else duration(0.0 if done else self.eta()))
        progress = 1.0 if done and done.reason != "interrupted" else (step.progress if step else 0.0)
        bar = Table.grid(padding=(0, 1))
        bar.add_row(ProgressBar(total=1.0, completed=progress, width=50), Text(f"{progress:6.1%}"))
        parts = [bar, stats]
        if self.last_eval and self.last_eval.sample:
            lines = steady_width(self.last_eval.sample).strip("\n").splitlines()[:8]
            parts.append(Panel(Text("\n".join(lines)), title=f"sample at step {self.last_eval.step:,}",
                               title_align="left", border_style="dim"))
        title = f"charnn train — {self.started.run_dir}" if self.started else "charnn train"
        # Two columns short of the terminal's width: a Ctrl-C makes the terminal echo "^C" where the cursor is, after
        # the panel's last line; at the last column that wraps, the panel's lines move down one row, and its next
        # redraw left a copy of its top border behind (a new-user trial, tmux).
        width = self.console.width - 2 if self.console.width > 20 else None
        return Panel(Group(*parts), title=title, title_align="left", border_style="cyan", width=width)


# Zero-width joiners, variation selectors and skin-tone modifiers. Rich 15 measures 👨‍👩‍👧 and 👍🏽 as one emoji
# (2 cells), as terminals that cluster graphemes draw them; tmux and many others draw each part (6 and 4 cells).
# A live panel measured short leaves copies of its top border behind at every redraw (a new-user trial, an emoji
# corpus). Without these characters every terminal and Rich agree: each emoji stands alone.
UNSTEADY_WIDTH = re.compile("[\u200d\ufe00-\ufe0f\U0001f3fb-\U0001f3ff]")


def steady_width(text: str) -> str:
    """`text` for a Rich layout (the training panel's preview), without the characters above."""
    return UNSTEADY_WIDTH.sub("", text)


SPEAKER_COLOURS = ["cyan", "magenta", "green", "yellow", "bright_blue", "bright_red", "bright_cyan",
                   "bright_magenta", "bright_green", "bright_yellow"]
KIND_STYLES = {"heading": "bold underline", "transition": "bold italic", "direction": "dim italic", "text": ""}


def cells_after(cells: int, text: str, width: int) -> int:
    """Where a terminal's cursor is after `text`, `cells` along a line (wrapped rows included): a tab
    goes to the next stop of 8 but never past the row's end, and a wide character that does not fit
    in a row's last column goes to the next row."""
    for char in text:
        column = cells % width
        if char == "\t":
            cells += max(0, min(column // 8 * 8 + 8, width - 1) - column)
            continue
        size = cell_len(char)
        if size == 2 and column == width - 1:
            cells += 1  # that column stays empty
        cells += size
    return cells


class ScriptStream:
    """Writes generated characters to a terminal as they come, styled as a play or screenplay.

    A line's kind is often unknown at its first character (is "MAR" the start of a cue?), so
    while a line's beginning could still be a cue, speaker, heading or transition, those few
    characters are held back; once the kind is clear they are written styled and the rest of the
    line streams straight through. Styles are ANSI strings rendered once by Rich and reused, so
    the per-character cost stays a string write. Text itself never passes through Rich markup.
    """

    def __init__(self, out, console: Console | None = None, status: Console | None = None, detect: bool = False):
        self.out = out
        # With `detect`, text streams plain until what has come so far reads as a script.
        self.active = not detect
        self.seen = ""  # recent text, for detection
        console = console or Console(file=out)
        self.codes: dict[str, tuple[str, str]] = {}
        self.color_system = console.color_system
        self.line = ""  # the current line so far
        self.cells = 0  # its width in terminal cells (kept as it grows: measuring it per character is slow)
        self.held = ""  # characters of it not yet written
        self.dropped = ""  # held characters that a cut (Ctrl-C) left unwritten
        self.kind: str | None = None  # decided kind of the current line
        self.open_start = self.open_end = ""  # codes of a style left open for the rest of the line
        self.status = status  # a console on the same terminal for a per-line status, or None
        self.status_text = ""
        self.status_shown = False
        # The terminal's width when the status was last drawn (asking costs ~15 µs).
        self.width = max(1, status.width) if status is not None else 80

    def ansi(self, style: str) -> tuple[str, str]:
        if style not in self.codes:
            rendered = Style.parse(style).render("\0", color_system=self.color_system) if style else "\0"
            self.codes[style] = tuple(rendered.split("\0", 1))
        return self.codes[style]

    def styled(self, text: str, style: str) -> str:
        start, end = self.ansi(style)
        return f"{start}{text}{end}" if text else ""

    def speaker_style(self, name: str) -> str:
        return f"bold {SPEAKER_COLOURS[zlib.crc32(name.encode()) % len(SPEAKER_COLOURS)]}"

    def render_decided(self, text: str) -> str:
        """Held text of the current line, styled now that the line's kind is known."""
        # The name comes from the whole line: a prime that ends mid-line (`CLARE`) began it, unprinted.
        if self.kind == "speaker":
            name, colon, rest = text.partition(":")
            return self.styled(name + colon, self.speaker_style(self.line.partition(":")[0].strip())) + rest
        if self.kind == "cue":
            return self.styled(text, self.speaker_style(re.sub(r"\s*\(.*$", "", self.line.strip())))
        return self.styled(text, KIND_STYLES.get(self.kind, ""))

    def decide(self, final: bool) -> None:
        stripped = self.line.strip()
        kind = script.classify(self.line) if final else None
        if kind is None:
            if script.HEADING.match(stripped):
                kind = "heading"
            elif stripped[:1] in script.DIRECTION_OPENERS:
                kind = "direction"
            elif script.TRANSITION.match(stripped):
                kind = "transition"
            elif script.speaker_prefix(stripped):  # more follows on this line: only a name in capitals
                kind = "speaker"
            else:
                kind = "text"
        self.kind = kind

    def newline(self) -> str:
        """A line break; when it lands on the status row, it clears that row for the text."""
        shown, self.status_shown = self.status_shown, False
        return "\n\x1b[2K" if shown else "\n"

    def advance(self, char: str) -> None:
        """Move `cells` (where the cursor is along the line, wrapped rows included) past `char`."""
        self.cells = cells_after(self.cells, char, self.width)

    def clear_status(self, position: int) -> None:
        """Erase the status row, the cursor back at `position` (cells written of the current line)."""
        column = position % self.width
        self.status.file.write("\n\x1b[2K\x1b[1A" + (f"\r\x1b[{column}C" if column else "\r"))
        self.status.file.flush()
        self.status_shown = False

    def write(self, char: str) -> None:
        if self.status_shown and char != "\n":
            # Text that reaches the end of its row wraps onto the status row, and would write over the
            # status only in part: what it leaves would read as text. Clear that row first.
            position = 0 if self.held else self.cells  # held text starts the line, none of it written yet
            if cells_after(position, self.held + char, self.width) >= (position // self.width + 1) * self.width:
                self.out.flush()
                self.clear_status(position)
        if not self.active:
            self.out.write(self.newline() if char == "\n" else char)
            self.out.flush()
            if char == "\n":
                self.seen = (self.seen + self.line + "\n")[-4000:]
                self.line, self.cells = "", 0
                self.active = script.looks_like_script(self.seen)
            else:
                self.line += char
                self.advance(char)
            return
        if char == "\n":
            if self.held:
                self.decide(final=True)
                self.out.write(self.render_decided(self.held))
            self.out.write(self.open_end + self.newline())
            self.line, self.cells, self.held, self.kind, self.open_start, self.open_end = "", 0, "", None, "", ""
            self.out.flush()
            return
        self.line += char
        self.advance(char)
        if self.kind is None:
            self.held += char
            if script.undecided(self.line):
                return
            self.decide(final=False)
            text, self.held = self.held, ""
            self.out.write(self.render_decided(text))
            if self.kind not in ("text", "speaker", "cue"):
                # The rest of a heading/transition/direction line streams inside one open style.
                self.open_start, self.open_end = self.ansi(KIND_STYLES.get(self.kind, ""))
                self.out.write(self.open_start)
        else:
            self.out.write(char)
        self.out.flush()

    def draw_status(self) -> None:
        """The status on the row under the text, then the cursor back to where the text goes on.

        Relative moves only (down by a line break, up by one row), so it also works on the bottom
        row of the screen, where the line break scrolls.
        """
        if self.status is None or not self.status_text or self.held:
            return
        width = self.width = max(1, self.status.width)
        written = self.cells
        if written and written % width == 0:
            return  # the terminal is about to wrap this line: skip this update
        self.out.write(self.open_end)  # the status row is not part of the line's open style
        self.out.flush()
        back = f"\r\x1b[{written % width}C" if written % width else "\r"
        self.status.file.write("\n\x1b[2K" + self.styled(self.status_text[: width - 1], "dim") + "\x1b[1A" + back)
        self.status.file.flush()
        self.status_shown = True
        if self.open_start:  # the status's own style ended with a reset: the line's open style goes on
            self.out.write(self.open_start)
            self.out.flush()

    def close(self, cut: bool = False) -> None:
        """End the stream. With `cut` (Ctrl-C), characters held back are dropped, not written after the `^C`
        the terminal echoed; `dropped` keeps them."""
        if self.held and cut:
            self.dropped, self.held = self.held, ""
        if self.held:
            self.decide(final=True)
            self.out.write(self.render_decided(self.held))
            self.held = ""
        self.out.write(self.open_end)
        self.open_start = self.open_end = ""
        self.out.flush()
        if self.status_shown:  # erase the status row, cursor back at the end of the text
            self.clear_status(self.cells)


class PlainStream:
    """Characters straight to a file, flushed one by one: what a pipe or NO_COLOR gets."""

    def __init__(self, out):
        self.out = out
        self.status_text = ""
        self.dropped = ""  # nothing is held back here

    def write(self, char: str) -> None:
        self.out.write(char)
        self.out.flush()

    def close(self, cut: bool = False) -> None:
        self.out.flush()


def color_terminal(out) -> bool:
    """Whether `out` is a terminal that wants colour (NO_COLOR unset, TERM not dumb)."""
    return out.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def open_stream(style: str, out, context: str = "", writes_script: Callable[[], bool] | None = None
                ) -> ScriptStream | PlainStream:
    """'plain', 'script' (always style script lines) or 'auto': styled from the first character where the
    prime (`context`) reads as a script or `writes_script()` says the model will write one, else once the
    text so far reads as one. `writes_script` is asked only when its answer is used.

    Styling needs a colour terminal on `out`; anywhere else the text is written exactly as generated.
    """
    if style == "plain" or not color_terminal(out):
        return PlainStream(out)
    console = Console(file=out, force_terminal=True)
    stream = ScriptStream(out, console, status=stderr if stderr.is_terminal else None, detect=style == "auto")
    stream.line = context.rpartition("\n")[2]  # the text goes on the prime's last line: its kind is the line's
    if style == "auto":
        stream.seen = context[-4000:]  # the prime counts toward "reads as a script"
        stream.active = script.looks_like_script(stream.seen) or (writes_script is not None and writes_script())
    return stream


class SampleStatus:
    """Model, temperature, chars/s and progress while a sample streams; gone when it ends.

    With stdout on the same terminal, it sits on the line below the text and is redrawn at each
    line break (ScriptStream). With stdout in a pipe or file, it is a transient Rich status on stderr.
    """

    def __init__(self, stream, label: str, temperature: float, length: int):
        self.stream, self.label, self.temperature, self.length = stream, label, temperature, length
        self.count, self.started = 0, time.monotonic()
        piped = not sys.stdout.isatty() and stderr.is_terminal
        self.live = (Live(console=stderr, transient=True, refresh_per_second=4, redirect_stdout=False,
                          redirect_stderr=False) if piped else None)

    def __enter__(self) -> SampleStatus:
        if self.live is not None:
            self.live.start()
        return self

    def tick(self) -> None:
        self.count += 1
        if self.count == 1:  # chars/s from the first character: not the prime's reading, nor the trial samples
            self.started = time.monotonic()
        if self.count % 32 == 0:
            rate = (self.count - 1) / max(1e-9, time.monotonic() - self.started)
            text = (f"{self.label} · temp {self.temperature} · {rate:,.0f} chars/s · "
                    f"{self.count:,}/{self.length:,}")
            self.stream.status_text = text
            if isinstance(self.stream, ScriptStream):
                self.stream.draw_status()
            if self.live is not None:
                self.live.update(Text(text, style="dim"))

    def __exit__(self, kind, value, traceback) -> None:
        try:  # may raise BrokenPipeError when the reader has gone
            self.stream.close(cut=kind is not None and issubclass(kind, KeyboardInterrupt))
        finally:
            if self.live is not None:
                self.live.stop()


def status_for(stream, label: str, temperature: float, length: int) -> SampleStatus:
    return SampleStatus(stream, label, temperature, length)


class Spinner:
    """A transient 'working…' line on stderr for output that is shown only when complete."""

    def __init__(self, text: str):
        self.text = text
        self.status = stderr.status(text) if stderr.is_terminal else None

    def __enter__(self) -> Spinner:
        if self.status is not None:
            self.status.start()
        return self

    def progress(self, total: int):
        def update(done: int) -> None:
            if self.status is not None and done % 16 == 0:
                self.status.update(f"{self.text} · {done / total:.0%}")

        return update

    def __exit__(self, *exc) -> None:
        if self.status is not None:
            self.status.stop()


def sample_header(number: int, total: int, style: str, previous: str = "") -> None:
    """The line above sample `number`: one blank line after the `previous` sample's text, which may end in one
    already (`--stop '\n\n'`)."""
    line = f"── sample {number}/{total} ──"
    stream = open_stream(style, sys.stdout)
    sys.stdout.write("\n" if number > 1 and not previous.endswith("\n\n") else "")
    sys.stdout.write(stream.styled(line, "bold") if isinstance(stream, ScriptStream) else line)
    sys.stdout.write("\n")


def show_text(text: str, style: str, script_like: bool) -> None:
    """A whole generated text at once (a batch's samples); with style 'auto', styled where `script_like` says
    (the caller decides once for all samples: one short sample may hold a single speaker)."""
    if style == "auto":  # decided: no detection within a sample
        style = "script" if script_like else "plain"
    stream = open_stream(style, sys.stdout)
    for char in text:
        stream.write(char)
    stream.close()
    if text and not text.endswith("\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()


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
    console = console or Console(highlight=False)
    width = max((len(key) for key, _ in rows), default=0)
    for key, value in rows:  # not a rich Table: it pads every line to its widest with trailing spaces
        console.print(Text.assemble((key.ljust(width), "bold"), "  ", value), soft_wrap=True)


def sample_footer(count: int, seconds: float, seed: int) -> None:
    rate = count / seconds if seconds > 0 else 0
    info(f"{count:,} chars in {seconds:.2f}s ({rate:,.0f} chars/s), seed {seed}")

