"""The training view: a live panel on a terminal, one plain line per eval elsewhere (CI logs, files)."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from charnn.events import Evaluated, Evaluating, Event, Finished, Saved, Started, Step
from charnn.ui import messages
from charnn.ui.cells import steady_width
from charnn.ui.messages import duration, loss_text, stderr
from charnn.ui.run_lines import finish_line, overfitting_line, start_line
from charnn.ui.terminal import UnechoedKeys

FEW_VAL_CHARS = 1000  # fewer held-out characters than this: their loss is mostly noise


class TrainView:
    """The `on_event` callback of `train`: a live panel on a terminal, plain log lines otherwise."""

    def __init__(self, console: Console = stderr):
        self.console = console
        self.live_mode = console.is_terminal
        self.live: Live | None = None
        self.started: Started | None = None
        self.last_step: Step | None = None
        self.last_eval: Evaluated | None = None
        self.evaluating = False  # an eval is under way: the panel says so (a long one looked like a hang)
        self.best_step: int | None = None  # the step of this run's best eval so far
        self.worse_after_best: list[float] = []  # the val losses of the evals after it (none beat it)
        self.finished: Finished | None = None
        self.said_threads = False  # that training went on with fewer threads (said once)
        self.stopped_by = "interrupted"  # or "terminated": how a stop is named (the CLI knows its signal)
        self.unlearnable = 0  # validation characters the training text never has (the CLI counts them)
        self.on_reader_left: Callable[[], None] | None = None  # called once the reader of stderr has gone
        self.stop_asked = False  # a Ctrl-C or SIGTERM came before the run's start: its header would follow `stopping`
        # Training since the last eval: (step counted to, chars, seconds), for the eval line's mean speed. The last
        # window's alone (the panel's) read 32,877 chars/s beside ~55,000 at the next evals, where it was the thread
        # tuner's one-thread try (threads.py), and a user could not tell why.
        self.trained = (0, 0, 0.0)

    def __enter__(self) -> TrainView:
        if self.live_mode:
            # Keys typed are not echoed into the panel: a line typed under it left a copy of its top border behind
            # at each redraw (tmux). What was typed goes to the shell after training, as it would have.
            self.keys = UnechoedKeys(sys.stdin, self.console.file).__enter__()
            try:
                self.live = Live(console=self.console, refresh_per_second=4, transient=False, redirect_stdout=False)
                self.live.start()
            except BaseException:
                self.keys.__exit__()
                raise
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            try:
                self.live.update(self.render(), refresh=True)
                self.live.stop()
            finally:
                self.keys.__exit__()
            if self.finished is not None:  # the last word under the panel, not above it
                self.log(self.describe_finish(self.finished))

    def __call__(self, event: Event) -> None:
        self.show(event)  # a reader that has gone is met by the console (messages.StderrConsole), not raised here
        if messages.stderr_left and self.on_reader_left is not None:  # met here, or at a line before training
            self.on_reader_left()
            self.on_reader_left = None

    def show(self, event: Event) -> None:
        if isinstance(event, Started):
            self.started, self.trained = event, (event.start_step, 0, 0.0)
            if self.stop_asked:  # `stopping before training begins`, then no step: the header would say what is not
                return
            self.log(start_line(event))
            if event.val_chars < FEW_VAL_CHARS:  # a trial's 288-character corpus showed "best val 0.1262 nats", on 28
                self.log(f"only {event.val_chars:,} validation characters: their loss says little of how well the "
                         "model writes (a corpus of 10,000 characters or more gives a steadier one)")
        elif isinstance(event, Step):
            self.last_step = event
            if self.started and event.chars_per_second > 0:
                counted, chars, seconds = self.trained
                window = (event.step - counted) * self.started.config.batch_size * self.started.config.seq_len
                self.trained = (event.step, chars + window, seconds + window / event.chars_per_second)
            most = self.started.threads if self.started else None
            if most and event.threads and event.threads < most and not self.said_threads:
                self.said_threads = True
                # Two trials read "another program may be busy" as a fault where they ran nothing else (others
                # may have been running on the machine); a small model's short steps may also share cores badly.
                self.log(f"training goes on with {event.threads} of {most} threads, faster just now (another program "
                         f"may be busy on the CPU, or the steps are too short to share; --threads to fix the count)")
        elif isinstance(event, Evaluating):
            self.evaluating = True
            if self.live is not None:
                self.live.update(self.render(), refresh=True)  # at once: nothing is drawn until the eval ends
            return
        elif isinstance(event, Evaluated):
            self.last_eval, self.evaluating = event, False
            if event.is_best:
                self.best_step, self.worse_after_best = event.step, []
            elif self.best_step is not None:
                self.worse_after_best.append(event.val_loss)
            mark = " (best)" if event.is_best else ""
            if self.live is not None:  # before the line: printing redraws the panel as last drawn, `evaluating…` and
                self.live.update(self.render(), refresh=True)  # the best before, beside the line's new best (a trial)
            # The train loss since the eval before, as metrics.jsonl has it: the last few steps' (the panel's) read
            # 1.21 beside a val 1.54, then 1.60 where the mean had fallen to 1.27 (a trial's code corpus).
            train = f"{event.train_loss:.4f}" if math.isfinite(event.train_loss) else self.train_loss()
            line = f"step {event.step:>7,}  val {loss_text(event.val_loss)}{mark}  train {train}  {self.mean_speed()}"
            # On a terminal narrower than the line (a teacher's 80 columns put `eval 0.2s` alone on the next row), the
            # eval's time goes first, then the bpc; a log file keeps them.
            timed = f"  eval {event.seconds:.1f}s"
            if not self.console.is_terminal or len(line + timed) <= self.console.width:
                line += timed
            elif len(line) > self.console.width:
                line = line.replace(loss_text(event.val_loss), f"{event.val_loss:.4f} nats")
            self.log(line)
            self.trained = (self.trained[0], 0, 0.0)
        elif isinstance(event, Finished):
            self.finished = event
            if self.live is None:
                self.log(self.describe_finish(event))
        if self.live is not None and not isinstance(event, Saved):
            self.live.update(self.render())

    def log(self, line: str) -> None:
        # Wrapped at words on a terminal (at a teacher's 80 columns `→ checkp` / `oints/screenplay`); a log file
        # keeps each line whole.
        lines = Text(line).wrap(self.console, self.console.width) if self.console.is_terminal else [Text(line)]
        for part in lines:
            part.rstrip()  # no space left at a wrapped line's end
            self.console.print(part, soft_wrap=True)

    def describe_finish(self, event: Finished) -> str:
        return finish_line(event, self.stopped_by,
                           overfitting_line(self.best_step, self.worse_after_best, self.last_eval, self.started,
                                            self.unlearnable))

    def train_loss(self) -> str:
        return f"{self.last_step.loss:.4f}" if self.last_step else "–"

    def speed(self, chars_per_second: float | None = None) -> str:
        """The last window's chars/s (or `chars_per_second`), and the threads the last window ran on where they are
        fewer than the run's most."""
        if self.last_step is None:
            return ""
        fewer = self.last_step.threads and self.started and self.last_step.threads < (self.started.threads or 0)
        threads = f" ({self.last_step.threads} thread{'s' * (self.last_step.threads != 1)})" if fewer else ""
        return f"{chars_per_second or self.last_step.chars_per_second:,.0f} chars/s{threads}"

    def mean_speed(self) -> str:
        """`speed`, but training's mean chars/s since the last eval: for an eval's line."""
        _, chars, seconds = self.trained
        return self.speed(chars / seconds if chars and seconds else None)

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
        if self.last_eval:
            best = self.last_eval.best_val_loss
        else:  # a resumed run's best before its first eval here
            best = self.started.best_val_loss if self.started else math.nan
        done = self.finished  # the final step and time, not those of the last progress event before it
        shown_step = done.step if done else (step.step if step else None)
        elapsed = done.elapsed if done else (step.elapsed if step else None)
        pairs = [
            ("step", f"{shown_step:,}" if shown_step is not None else "–"), ("train loss", self.train_loss()),
            # A resumed run's last eval before it, until its first here (it showed `–`, a trial).
            ("val loss", "evaluating…" if self.evaluating else loss_text(self.last_eval.val_loss) if self.last_eval
             else loss_text(self.started.last_val_loss) if self.started else "–"), ("best", loss_text(best)),
            ("speed", self.speed() or "–"), ("learning rate", f"{step.lr:.2e}" if step else "–"),
            ("elapsed", duration(elapsed) if elapsed is not None else "–"),
            ("ETA", "stopped" if done and done.reason == "interrupted" else duration(0.0 if done else self.eta())),
        ]
        # Two pairs a row where they fit (about 76 columns inside the panel, room for a loss of 10 nats and more);
        # else one, so that a narrow terminal does not cut the labels to `elaps…` (a new-user trial, 40 columns).
        across = 2 if self.console.width >= 84 else 1
        stats = Table.grid(padding=(0, 2))
        for _ in range(across):
            stats.add_column(style="dim")
            stats.add_column()
        for row in range(0, len(pairs), across):
            stats.add_row(*[cell for pair in pairs[row:row + across] for cell in pair])
        progress = 1.0 if done and done.reason != "interrupted" else (step.progress if step else 0.0)
        bar = Table.grid(padding=(0, 1))
        bar.add_row(ProgressBar(total=1.0, completed=progress, width=max(10, min(50, self.console.width - 16))),
                    Text(f"{progress:6.1%}"))
        parts = [bar, stats]
        if self.last_eval and self.last_eval.sample:
            lines = steady_width(self.last_eval.sample).strip("\n").splitlines()[:8]
            parts.append(Panel(Text("\n".join(lines)), title=f"sample at step {self.last_eval.step:,}",
                               title_align="left", border_style="dim"))
        title = f"charnn train — {self.started.run_dir}" if self.started else "charnn train"
        # Two columns short of the terminal's width: where the terminal echoes keys (stdin is not this terminal, so
        # UnechoedKeys leaves echo on), a Ctrl-C writes "^C" where the cursor is, after the panel's last line; at the
        # last column that wraps, the panel's lines move down one row, and its next redraw left a copy of its top
        # border behind (a new-user trial, tmux).
        width = self.console.width - 2 if self.console.width > 20 else None
        return Panel(Group(*parts), title=title, title_align="left", border_style="cyan", width=width)
