"""Ctrl-C and SIGTERM during `charnn train`: the first asks training to stop after its step (and save), a second
quits at once; during set-up, before there is a step to finish, Ctrl-C quits at once."""

from __future__ import annotations

import signal
from collections.abc import Callable


class StopFlag:
    """First Ctrl-C/SIGTERM asks training to stop after the current step; a second Ctrl-C stops now."""

    def __init__(self):
        self.signal: int | None = None  # the first: training stops after its step
        self.last: int | None = None  # the second, which quits at once
        self.training: Callable[[], bool] = lambda: False  # whether training has begun (the view has its start)
        self.view = None  # the TrainView, told which signal stopped the run
        self.setting_up = False  # before `train` is called: a Ctrl-C ends at once (the run folder goes with its lock)

    def is_set(self) -> bool:
        return self.signal is not None

    def handle(self, number, frame) -> None:
        if self.setting_up and number == signal.SIGINT:  # the preset's speed tests would go on for a second or so
            raise KeyboardInterrupt
        if self.signal is not None:
            self.last = number
            raise KeyboardInterrupt
        self.signal = number
        from charnn import ui

        if self.view is not None and number == signal.SIGTERM:  # its last line said `stopped (interrupted)` (a trial)
            self.view.stopped_by = "terminated"
        if self.view is not None and not self.training():
            self.view.stop_asked = True  # no header for a run that stops before its first step

        # At once, from the handler: the step may be an eval and a save of several seconds, and a user who sees
        # nothing presses Ctrl-C again, which quits without the save.
        # Not "and saving latest.pt": a step may not have been trained yet (the first takes ~1 s), and then nothing
        # is saved; what was saved is said at the end.
        by = "terminated: " if number == signal.SIGTERM else ""  # a trial read SIGTERM's stop as a Ctrl-C's
        # A SIGTERM comes from `kill` or `timeout`, not a key: a trial read its "Ctrl-C again" as a slip.
        again = "a second signal or Ctrl-C quits at once" if by else "Ctrl-C again to quit at once"
        ui.info(by + ("stopping after this step" if self.training() else "stopping before training begins")
                + f" ({again})")

    def installed(self):
        flag = self

        class Installed:
            def __enter__(self):
                self.previous = {s: signal.signal(s, flag.handle) for s in (signal.SIGINT, signal.SIGTERM)}

            def __exit__(self, *exc):
                for number, handler in self.previous.items():
                    signal.signal(number, handler)

        return Installed()
