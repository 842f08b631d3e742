"""The training view: a live panel on a terminal, one plain line per eval elsewhere (CI logs, files)."""

from __future__ import annotations

import math
import re
import sys

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from charnn.events import Evaluated, Evaluating, Event, Finished, Saved, Started, Step
from charnn.ui.messages import duration, loss_text, stderr
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
        if isinstance(event, Started):
            self.started, self.trained = event, (event.start_step, 0, 0.0)
            if self.stop_asked:  # `stopping before training begins`, then no step: the header would say what is not
                return
            self.log(self.describe_start(event))
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
                self.log(f"training goes on with {event.threads} of {most} threads, faster just now (another "
                         f"program may be busy on the CPU; --threads to fix the count)")
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
            self.log(f"step {event.step:>7,}  val {loss_text(event.val_loss)}{mark}  "
                     f"train {self.train_loss()}  {self.mean_speed()}  eval {event.seconds:.1f}s")
            self.trained = (self.trained[0], 0, 0.0)
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
        sampled = (f" (each eval scores {c.eval_chars:,} of them, spread over the split; `charnn eval` scores all)"
                   if c.eval_chars and c.eval_chars < event.val_chars else "")
        regularised = "".join([f", dropout {m.dropout:g}" if m.dropout else "",
                               f", weight dropout {m.weight_dropout:g}" if m.weight_dropout else ""])
        return (f"training {m.num_layers}×{m.hidden_size} {m.cell.upper()} ({event.num_parameters / 1e6:.2f}M "
                f"params, vocab {m.vocab_size}{regularised}) on {event.device}/{event.precision}, batch {c.batch_size}×"
                f"{c.seq_len}, {event.train_chars:,} train / {event.val_chars:,} val chars{sampled}, target {target}"
                f"{resumed} → {event.run_dir}")

    def describe_finish(self, event: Finished) -> str:
        first = event.step  # nothing was trained by this call, so its first step is its last
        if event.reason == "interrupted" and not event.steps_trained:  # train.py saves nothing then
            return (f"stopped ({self.stopped_by}) before the first step; nothing was saved" if first == 0 else
                    f"stopped ({self.stopped_by}) before a step was trained; the run is as it was at step {first:,}")
        if event.reason == "time" and not event.steps_trained:  # nor then (a new-user trial: `--time 2s`)
            return ("finished (time) before the first step: starting up took the whole budget; nothing was saved — "
                    "give a longer --time (30s or more)" if first == 0 else
                    f"finished (time) before a step was trained: starting up took the time left; the run is as it "
                    f"was at step {first:,} — give a longer --time")
        verb = f"stopped ({self.stopped_by})" if event.reason == "interrupted" else f"finished ({event.reason})"
        line = (f"{verb} at step {event.step:,} after {duration(event.elapsed)}; best val "
                f"{loss_text(event.best_val_loss)}; run folder {event.run_dir}")
        return line + self.overfitting()

    def overfitting(self) -> str:
        """A word where validation got worse for the run's last evals, the last 3% or more above the best (a trial's
        GRU bottomed at step 750 of 2,000 and rose 5% after it, and only the best loss was said): for a learner, what
        it means and what helps."""
        worse = self.worse_after_best
        if self.best_step is None or len(worse) < 2 or not math.isfinite(self.last_eval.best_val_loss) or (
                worse[-1] < self.last_eval.best_val_loss * 1.03):  # the README's 3-minute screenplay: 2.4%, left quiet
            return ""
        # Where dropout is already high (the preset gives 0.4 to a corpus read hundreds of times), more of it is no
        # advice: a trial's 35 KB play overfit at 1×128, dropout 0.4 and weight dropout 0.5, and was told to add some.
        high = self.started is not None and self.started.model_config.dropout >= 0.4
        helps = ("more text to train on would help most" if high else
                 "more --dropout or a smaller model may score better")
        return (f"\nvalidation was best at step {self.best_step:,}; the {len(worse)} evals after it were worse (last "
                f"{loss_text(worse[-1])}): the model began to fit its training text more than text like it "
                f"(overfitting). best.pt keeps the best; {helps}")

    def train_loss(self) -> str:
        return f"{self.last_step.loss:.4f}" if self.last_step else "–"

    def speed(self) -> str:
        """The last window's chars/s, and the threads it ran on where they are fewer than the run's most."""
        if self.last_step is None:
            return ""
        fewer = self.last_step.threads and self.started and self.last_step.threads < (self.started.threads or 0)
        threads = f" ({self.last_step.threads} thread{'s' * (self.last_step.threads != 1)})" if fewer else ""
        return f"{self.last_step.chars_per_second:,.0f} chars/s{threads}"

    def mean_speed(self) -> str:
        """`speed`, but training's mean chars/s since the last eval: for an eval's line."""
        _, chars, seconds = self.trained
        last = self.speed()
        return f"{chars / seconds:,.0f} chars/s{last[last.index(' chars/s') + 8:]}" if chars and seconds else last

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


# Zero-width joiners, variation selectors and skin-tone modifiers. Rich 15 measures 👨‍👩‍👧 and 👍🏽 as one emoji
# (2 cells), as terminals that cluster graphemes draw them; tmux and many others draw each part (6 and 4 cells).
# A live panel measured short leaves copies of its top border behind at every redraw (a new-user trial, an emoji
# corpus). Without these characters every terminal and Rich agree: each emoji stands alone.
UNSTEADY_WIDTH = re.compile("[\u200d\ufe00-\ufe0f\U0001f3fb-\U0001f3ff]")


def steady_width(text: str) -> str:
    """`text` for a Rich layout (the training panel's preview), without the characters above."""
    return UNSTEADY_WIDTH.sub("", text)
