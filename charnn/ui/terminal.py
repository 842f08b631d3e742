"""The terminal around a stream: its modes (the keys typed while text streams are not echoed into it), whether this
process is in its foreground, and whether stdout is a file, or shares stderr's (the cells text takes: cells.py)."""

from __future__ import annotations

import array
import contextlib
import io
import os
import signal
import stat
import sys
import threading
import time

try:
    import fcntl
    import termios
except ImportError:  # Windows: its console does not echo keys into a program's output
    fcntl = termios = None


def foreground_terminal(fd: int) -> bool:
    """Whether `fd` is this process's terminal and the process is in its foreground: changing a terminal's modes from
    the background (`charnn sample &`) would stop the process (SIGTTOU)."""
    try:
        return os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False


# Signals whose default action ends the process: with echo off, they would leave it off where charnn runs under a
# script, `make` or `timeout` (whose normal exit makes the shell keep the terminal's modes).
ENDING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name))


class UnechoedKeys:
    """While text streams to a terminal, keys typed are not echoed there: the terminal wrote them into the text and
    moved the cursor, so the status row was drawn a row off and later text wrote over it (a new-user trial saw
    `me one sTM · temp 0.8 · trength hast my soul.8/30,000`). The keys are still read: what was typed waits for
    whatever reads the terminal next, the shell or `--interactive`'s prompt, which shows it then.

    Only where the keys come from the terminal the text goes to, in its foreground; nowhere else (a pipe, `| less`,
    which sets the terminal's modes itself) does anything change. Echo is turned back on at the end, however the
    block ends: a shell keeps the modes a program leaves behind when it exits normally. So too before a signal
    in ENDING_SIGNALS ends the process (where the program has no handler of its own for it). Where `fg` resumes the
    process after Ctrl-Z, whose shell turned echo back on for itself, it is turned off again.
    """

    def __init__(self, keys, out):
        self.fd = None  # the terminal's file descriptor, where its echo is to be turned off
        self.off = False  # echo turned off by this object (or about to be): to be turned on again
        self.handlers: dict = {}  # signal → the handler before this block, to be put back
        try:
            fd = keys.fileno()
            same = os.path.samestat(os.fstat(fd), os.fstat(out.fileno()))
        except (AttributeError, ValueError, OSError):  # no file descriptor (a test's buffer), or closed
            return
        if termios is not None and same and foreground_terminal(fd) and self.echoing(fd):
            self.fd = fd
            self.noflsh = self.modes(fd) & termios.NOFLSH  # as it was: put back with echo

    @staticmethod
    def modes(fd: int) -> int:
        """The terminal's local modes (0 where they cannot be read)."""
        try:
            return termios.tcgetattr(fd)[3]
        except termios.error:
            return 0

    @classmethod
    def echoing(cls, fd: int) -> bool:
        return bool(cls.modes(fd) & termios.ECHO)

    def set_echo(self, on: bool) -> None:
        """Echo on or off; off, also NOFLSH: a Ctrl-C then leaves the terminal's output queue be. The terminal dropped
        what charnn had written but the screen had not yet shown, a status row's cursor moves among it, and the
        cursor was left a row off: `stream stopped` wrote over the text in 3 of 60 Ctrl-Cs in a pseudo-terminal."""
        if not foreground_terminal(self.fd):  # moved to the background (Ctrl-Z, then `bg`): leave the modes be
            return
        try:
            modes = termios.tcgetattr(self.fd)
            if on:  # local modes
                modes[3] = (modes[3] | termios.ECHO) & ~termios.NOFLSH | (self.noflsh & termios.NOFLSH)
            else:
                modes[3] = modes[3] & ~termios.ECHO | termios.NOFLSH
            termios.tcsetattr(self.fd, termios.TCSANOW, modes)  # not TCSAFLUSH: what was typed is kept
        except termios.error:
            pass

    def continued(self, number, frame) -> None:
        """SIGCONT: `fg` after Ctrl-Z, whose shell turned echo on for itself meanwhile."""
        if self.off:
            self.set_echo(False)

    def ending(self, number, frame) -> None:
        """A signal of ENDING_SIGNALS: echo back on, then the signal's default action, which ends the process."""
        self.__exit__()
        os.kill(os.getpid(), number)

    def __enter__(self) -> UnechoedKeys:
        if self.fd is None:
            return self
        try:
            if threading.current_thread() is threading.main_thread():  # only it may set handlers
                self.handlers[signal.SIGCONT] = signal.signal(signal.SIGCONT, self.continued)
                for number in ENDING_SIGNALS:
                    if signal.getsignal(number) is signal.SIG_DFL:  # a handler of the program's own: its own path
                        self.handlers[number] = signal.signal(number, self.ending)
            self.off = True  # first: a Ctrl-C from here on must find echo to be turned back on
            self.set_echo(False)
        except BaseException:  # a Ctrl-C inside `__enter__`: no `__exit__` follows
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        pressed = None
        while self.off or self.handlers:
            try:
                for number, previous in list(self.handlers.items()):  # first: SIGCONT must not turn echo off after
                    if previous is not None:  # (None: set outside Python, and not to be put back from here)
                        with contextlib.suppress(ValueError):  # not the main thread: echo goes back on all the same
                            signal.signal(number, previous)
                    del self.handlers[number]
                if self.off:
                    self.set_echo(True)
                    self.off = False
            except KeyboardInterrupt as interrupt:  # a Ctrl-C now must not leave echo off: once it is on, it goes on
                pressed = interrupt
        if pressed is not None:
            raise pressed


def echoes_keys(keys, out) -> bool:
    """Whether keys typed show on `out`'s terminal while text streams there (a Ctrl-C as `^C`): where UnechoedKeys
    cannot turn echo off (stdin elsewhere, a background job), or where it is off already."""
    return UnechoedKeys(keys, out).fd is None


def keys_echoed(keys) -> bool:
    """Whether the terminal that `keys` come from echoes them now (a Ctrl-C as `^C`): so it does before a sample's
    text starts, before UnechoedKeys turns echo off."""
    try:
        return termios is not None and os.isatty(keys.fileno()) and UnechoedKeys.echoing(keys.fileno())
    except (AttributeError, ValueError, OSError):  # no file descriptor (a test's buffer), or closed
        return False


def is_regular_file(out) -> bool:
    """Whether `out` writes to a file on disk (`> sample.txt`), not to a pipe, terminal or device."""
    try:
        return stat.S_ISREG(os.fstat(out.fileno()).st_mode)
    except (OSError, ValueError, io.UnsupportedOperation):  # no file descriptor (a test's buffer), or closed
        return False


def shares_stdout() -> bool:
    """Whether stderr writes into stdout's own file or pipe (`> log 2>&1`, `2>&1 | tee log`), not a terminal: what it
    says follows the text directly."""
    try:
        out, err = os.fstat(sys.stdout.fileno()), os.fstat(sys.stderr.fileno())
        return not sys.stdout.isatty() and os.path.samestat(out, err)
    except (OSError, ValueError, io.UnsupportedOperation):
        return False


def wait_for_reader(out, seconds: float = 0.5) -> None:
    """Wait (at most `seconds`) until the reader of the pipe `out` has read all that was written to it. The footer
    on stderr went straight to the terminal while `| cat` or `| tee` had not yet written the text's end there: 11 of
    14 runs of a new-user trial showed the footer before it, and the prompt after it. Nothing to wait for where `out`
    is not a pipe, or where the system cannot say (FIONREAD)."""
    try:
        if not stat.S_ISFIFO(os.fstat(out.fileno()).st_mode):
            return
        out.flush()
        unread = array.array("i", [0])
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            fcntl.ioctl(out.fileno(), termios.FIONREAD, unread)  # bytes in the pipe, not yet read
            if unread[0] == 0:
                time.sleep(0.005)  # what the reader has read, it writes on at once
                return
            time.sleep(0.002)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):  # (termios None: AttributeError)
        return
