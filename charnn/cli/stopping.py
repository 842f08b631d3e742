"""How `charnn sample` ends early and keeps what it made: Ctrl-C (and SIGTERM: cli/sigterm.py), or a reader of stdout
that has gone (`| head`)."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import sys
import threading
from pathlib import Path

from charnn.errors import CharnnError


def write_output(output: Path, text: str, say: bool = True) -> str:
    """`text` into `output`. A plain file of ours in a folder we may write in is written beside it and renamed over
    it, so that it is whole or as it was (a full disk had cut one at 12,288 bytes of 20,000: a new-user trial).
    Anything else (a pipe, /dev/stdout, a link, another user's file, a file with other names) is written in place,
    as it is: a rename would break or replace it. The line that says so, shown unless `say` is False."""
    from charnn import ui

    try:
        found = os.lstat(output)
    except OSError:
        found = None
    beside = os.access(output.parent, os.W_OK) and (found is None or (
        stat.S_ISREG(found.st_mode) and found.st_nlink == 1 and found.st_uid == os.geteuid()))
    temp = output.with_name(f".{output.name}.tmp-{os.getpid()}") if beside else output
    try:
        temp.write_text(text, encoding="utf-8")
        if beside:
            if found is not None:
                os.chmod(temp, stat.S_IMODE(found.st_mode))  # the file keeps its permissions
            os.replace(temp, output)
    except OSError as problem:
        if beside:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
        said = ["it is as it was"] if beside else []
        if problem.errno in (errno.ENOSPC, errno.EDQUOT):
            said.append("free space there or choose another path")
        raise CharnnError(f"cannot write --output {output}: {problem.strerror}"
                          + (f" — {'; '.join(said)}" if said else "")) from None
    said = f"wrote {len(text):,} chars to {output}"
    if say:
        ui.info(said)
    return said


def keep_what_was_made(batch, shown, pieces: list[str], stream, output: Path | None, written: bool, prime: str,
                       style: str, fountain: bool, finished: bool, typed: bool = True) -> None:
    """After a Ctrl-C: the text made so far to --output; a batch's to stdout where that is a file or pipe. `typed`:
    a Ctrl-C typed at the terminal, which echoes it as `^C` there; not a SIGTERM taking its path (cli/sigterm.py).

    `batch`: a batch's rows, `shown` its stream on stdout (None for Fountain, shown only when done, so once
    `finished` it was being shown already). Else `pieces` and `stream`: the single sample so far and its stream."""
    from charnn import documents, ui

    if batch is not None:  # a batch cut short: its text so far, in full or in part
        made = batch.texts()
    else:
        so_far = "".join(pieces)
        made = [so_far[: len(so_far) - len(stream.dropped if stream is not None else "")]]  # as the screen shows
    # End the cut line on a terminal (a pipe gets exactly the text generated). Not where a single stream's text ended
    # its line and no `^C` was echoed after it: that left a blank line before `interrupted` (a new-user trial, 3 of 15
    # Ctrl-Cs). Nor for Fountain, whose spinner line is gone with its ^C.
    at_line_start = batch is None and (stream is None or not stream.shown_cells)  # as the stream counts what it showed
    # Before the text (start-up, or typing `--prime -`), the terminal still echoed keys: `half^Cinterrupted` (a trial).
    echoed = ui.echoes_keys(sys.stdin, sys.stdout) or (typed and stream is None and batch is None
                                                       and ui.keys_echoed(sys.stdin))
    if sys.stdout.isatty() and not fountain and not (at_line_start and not echoed):
        sys.stdout.write("\n")
        sys.stdout.flush()
    # A batch's text in a file goes on below (whole samples, each ending its line): only a single stream's is cut.
    ui.end_piped_line(open_line=batch is None and bool(made[0]) and not made[0].endswith("\n"))
    if output is not None and not written and any(made):
        with contextlib.suppress(CharnnError):
            write_output(output, documents.output_text(made, prime, fountain, batch.seeds if batch else None))
    elif fountain and not finished and any(made) and sys.stdout.isatty():  # a trial saw it go without a word
        ui.info("the Fountain document is shown when complete, so none was: --output keeps what was made")
    # A batch into a file or pipe, as the whole batch would have gone (a terminal gets no flood of text after its
    # Ctrl-C). Ctrl-C also stops the reader of a pipe (`| cat`): then there is nobody to write to.
    if batch is not None and any(made) and not sys.stdout.isatty():
        try:
            if shown is not None:
                shown.finish(made)  # from where stdout has got to
            elif not finished:  # a finished document was being written: not twice
                ui.show_fountain(made, prime, style, batch.seeds)
        except BrokenPipeError:
            drop_stdout()


# The handlers `sigint_handled_by` gave Ctrl-C, innermost last; kept where Ctrl-C is ignored too, for a SIGTERM
# (Termination) to take the path a Ctrl-C would have taken.
CTRL_C_HANDLERS: list = []


@contextlib.contextmanager
def sigint_handled_by(handler):
    """Ctrl-C goes to `handler` inside the block, then to whatever handled it before. Only the main thread may set
    handlers, and only it gets Ctrl-C: elsewhere (the app run from a thread of another program) nothing changes.
    Nor where Ctrl-C is ignored (`trap '' INT`, `nohup`, a script's `&` job): it stays ignored, and only a SIGTERM
    finds `handler` (CTRL_C_HANDLERS)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    previous = None if ignored else signal.signal(signal.SIGINT, handler)
    CTRL_C_HANDLERS.append(handler)
    try:
        yield
    finally:
        CTRL_C_HANDLERS.remove(handler)
        if not ignored:
            signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def ctrl_c_noted():
    """While what was made is saved: a Ctrl-C is noted (the list gets an item), not raised, so that it cannot cut
    the saving short or end in a traceback. The handler is restored after: the app may run inside another program."""
    pressed: list[bool] = []
    with sigint_handled_by(lambda *_: pressed.append(True)):
        yield pressed


class CtrlCGate:
    """Ctrl-C as usual, except inside `with gate:` (text being written and counted), where it waits for the block's
    end: what stdout got and the count of it then agree, and a cut batch goes on from there into a file or pipe."""

    def __init__(self):
        self.inside = self.pressed = False

    def handler(self, signum, frame) -> None:
        if not self.inside:
            raise KeyboardInterrupt
        self.pressed = True

    def __enter__(self) -> None:
        self.inside = True

    def __exit__(self, *exc) -> None:
        self.inside = False
        if self.pressed:
            self.pressed = False
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self):
        with sigint_handled_by(self.handler):
            yield self


def drop_stdout() -> None:
    """The reader of stdout has gone: what is still to be written goes nowhere, and Python does not complain of the
    broken pipe at exit."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
