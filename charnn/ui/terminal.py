"""What a terminal does with characters: control characters shown as pictures, where the cursor goes, the keys
typed while text streams; and whether stdout is a file, or shares stderr's."""

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

from rich.cells import cell_len

try:
    import fcntl
    import termios
except ImportError:  # Windows: its console does not echo keys into a program's output
    fcntl = termios = None


def visible(char: str) -> str:
    """`char` as a terminal should get it. A control character (ESC, BEL, NUL, …: a model trained on a binary with
    `--errors replace` writes them; a new-user trial) becomes its Unicode picture, ␛ (a C1 control becomes �), so
    that it cannot move the cursor, ring, or begin an escape sequence. Line breaks, tabs and CR (of `--keep-crlf`
    text) pass as they are."""
    code = ord(char)
    if code < 32 and char not in "\n\t\r":
        return chr(0x2400 + code)  # the Control Pictures block: ␀ … ␟
    if 127 <= code < 160:  # DEL, and the C1 controls (CSI, OSC, …: a binary read with --encoding latin-1)
        return "\u2421" if code == 127 else "\ufffd"  # ␡, or �: C1 has no pictures
    return char


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


# Emoji and the characters that join them: the planes' emoji blocks (faces, people, flags' letters, skin tones),
# the symbols of 2600–27BF, the tags of flags like 🏴, and the emoji of other blocks that a variation selector may
# make wide (▶️, ©️, ↔️, ⌚), after Unicode's Extended_Pictographic; then ZWJ, keycap and the variation selectors.
UNSURE_RANGES = ((0x1F000, 0x1FAFF), (0x2600, 0x27BF), (0xE0020, 0xE007F), (0x2194, 0x2199), (0x21A9, 0x21AA),
                 (0x231A, 0x231B), (0x23E9, 0x23F3), (0x23F8, 0x23FA), (0x25AA, 0x25AB), (0x25FB, 0x25FE),
                 (0x2934, 0x2935), (0x2B05, 0x2B07), (0x2B1B, 0x2B1C))
UNSURE_CHARS = frozenset(map(chr, (0xA9, 0xAE, 0x203C, 0x2049, 0x2122, 0x2139, 0x2328, 0x23CF, 0x24C2, 0x25B6, 0x25C0,
                                   0x2B50, 0x2B55, 0x3030, 0x303D, 0x3297, 0x3299, 0x200D, 0x20E3, 0xFE0E, 0xFE0F)))


def width_unsure(char: str) -> bool:
    """Whether terminals disagree on the cells `char` takes, or on those of the cluster it begins or joins: a ZWJ
    family drawn as one glyph or as several, ❤ with its variation selector, a flag's two letters. tmux drew such
    text wider than Unicode's tables say (two trials). Flagged at an emoji itself, not at what joins it, where it
    can be: a status row erased at the selector after ▶ split the cluster (a review). A keycap's digit (1️⃣) is not."""
    code = ord(char)
    return char in UNSURE_CHARS or (code >= 0x2194 and any(low <= code <= high for low, high in UNSURE_RANGES))


def fitted(status: str, width: int, separator: str = " · ") -> str:
    """`status` in fewer than `width` cells: whole fields dropped from the front (the model, then the temperature), so
    that chars/s and progress stay whole; a new-user trial at 40 columns saw `… 9,650 chars/s ·` and, in a batch,
    `64/4,00`, which reads as a real number. Only a lone field too long for the row is cut."""
    fields = status.split(separator)
    while len(fields) > 1 and cell_len(separator.join(fields)) > width - 1:
        fields.pop(0)
    return separator.join(fields)[: max(0, width - 1)]


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
