"""SIGTERM during `charnn sample`: the path a Ctrl-C takes (cli/stopping.py), then `terminated` and exit 143."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time

from charnn.cli.stopping import CTRL_C_HANDLERS


class Termination:
    """SIGTERM (`kill`, `timeout 60 charnn sample`) ends a sample the way Ctrl-C does, by every path a Ctrl-C takes
    (CtrlCGate, ctrl_c_noted, `--interactive`): the status row is erased, echo comes back on, and what was made goes
    to --output. Only the last line differs: `terminated`, exit 143. Left to its default action, SIGTERM left the
    status row on the screen, the shell's `Terminated` after the cut text, and the next prompt written into it.

    The handler passes it on to SIGINT's. Where SIGINT is ignored (a script's `&` job), to the handler charnn would
    have given it (CTRL_C_HANDLERS), else it raises KeyboardInterrupt itself: a review's SIGTERMs to such a job
    wrote a batch's cut character twice, 5 times in 12, and lost --output to a second one. Only from the main thread
    (the only one that may set handlers), and not where SIGTERM has a handler of the program's own or is ignored.
    """

    NUDGE_AFTER = 0.2  # seconds a SIGTERM may wait for its handler before `nudge` sends it again

    def __init__(self):
        self.received = False

    def handler(self, signum, frame) -> None:
        self.received = True
        ctrl_c = signal.getsignal(signal.SIGINT)
        if not callable(ctrl_c):  # ignored, or set outside Python (None)
            ctrl_c = CTRL_C_HANDLERS[-1] if CTRL_C_HANDLERS else signal.default_int_handler
        ctrl_c(signal.SIGINT, frame)  # from here: a SIGINT raised now would wait for the next signal inside `input()`

    @property
    def word(self) -> str:  # how the last line names the stop
        return "terminated" if self.received else "interrupted"

    @property
    def code(self) -> int:
        return 143 if self.received else 130

    def nudge(self, reader: int, main_thread: int) -> None:
        """A thread, told of each signal through Python's wakeup fd. Waiting for a key at `--interactive`'s prompt,
        readline runs Python's handlers only when a signal interrupts its wait: a SIGTERM that came between the
        prompt's drawing and the wait waited with it, for ever (a review: 2 of 6 sent as `prime> ` showed). So while
        the handler has not run, the SIGTERM goes again, to the main thread."""
        with contextlib.suppress(OSError):
            while data := os.read(reader, 64):  # one byte per signal, its number; nothing once the writer closes
                if signal.SIGTERM in data:
                    time.sleep(self.NUDGE_AFTER)
                    if not self.received:
                        signal.pthread_kill(main_thread, signal.SIGTERM)
        os.close(reader)

    def start_nudging(self) -> int | None:
        """`nudge` started on a pipe that Python's wakeup fd writes into: its write end, to close when done. None
        where the wakeup fd is the program's own (left to it), or there is no `pthread_kill` (Windows, whose wakeup
        fd takes only sockets)."""
        if not hasattr(signal, "pthread_kill"):
            return None
        reader, writer = os.pipe()
        os.set_blocking(writer, False)
        thread = threading.Thread(target=self.nudge, args=(reader, threading.main_thread().ident), daemon=True)
        try:
            thread.start()  # first: the thread closes `reader` once `writer` is closed
            earlier = signal.set_wakeup_fd(writer, warn_on_full_buffer=False)
        except BaseException:  # a Ctrl-C in the middle
            os.close(writer)
            if thread.ident is None:  # not started: nothing else will close it
                os.close(reader)
            raise
        if earlier != -1:
            signal.set_wakeup_fd(earlier)
            os.close(writer)
            return None
        return writer

    @contextlib.contextmanager
    def installed(self):
        if (threading.current_thread() is not threading.main_thread()
                or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
            yield self
            return
        previous, writer = signal.signal(signal.SIGTERM, self.handler), None
        try:
            writer = self.start_nudging()
            yield self
        finally:
            # Put back, however often a signal interrupts it (as UnechoedKeys does); a Ctrl-C here is raised only
            # where the block ended without one of its own, which has said how it stopped.
            left, pressed = [lambda: signal.signal(signal.SIGTERM, previous)], None
            if writer is not None:
                left += [lambda: signal.set_wakeup_fd(-1), lambda: os.close(writer)]  # the thread sees the end, goes
            while left:
                try:
                    left[0]()
                    left.pop(0)
                except KeyboardInterrupt as interrupt:
                    pressed = interrupt
            if pressed is not None and sys.exc_info()[0] is None:
                raise pressed
