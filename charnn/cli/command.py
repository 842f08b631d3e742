"""The Typer app itself and how a command ends: --version, failure and interruption exits (a Ctrl-C at start-up
included), the corpus, device and threads a command runs with (its help and usage errors: usage.py)."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from charnn.cli.usage import one_line_errors, valueless_help

STARTED_AT = time.monotonic()  # the time budget counts from here: torch, corpus and model set-up included


def end_ctrl_c_line() -> None:
    """A line break after the `^C` a terminal echoed where no text was streaming (echo is on then), so that what is
    said next starts a line of its own."""
    if sys.stderr.isatty():
        sys.stderr.write("\n")


@contextlib.contextmanager
def said_on_ctrl_c():
    """A Ctrl-C inside the block: `interrupted` on a line of its own (exit 130)."""
    try:
        yield
    except KeyboardInterrupt:
        end_ctrl_c_line()
        interrupted()


def interruptible(command_class, numpy_first: bool = True):
    """`command_class` where a Ctrl-C that the command does not handle itself (one while its options are read, or
    while torch loads, in the first second or so) ends in `interrupted` on a line of its own, exit 130. Typer's own
    handling exits 130 silently, and left the shell's next prompt on the line of the `^C` (a new-user trial).

    With `numpy_first` (a command, not the group: `charnn sample --help` need not load it), NumPy is imported before
    the command runs. Imported by torch's import, a Ctrl-C in the middle of it was swallowed (the command went on),
    or left NumPy half-loaded (`module 'numpy' has no attribute 'logical_and'` later), a new-user trial found.
    Imported on its own, it is interrupted as any import."""

    class Command(command_class):
        def make_context(self, *args, **kwargs):
            with said_on_ctrl_c():
                return super().make_context(*args, **kwargs)

        def invoke(self, ctx):
            with said_on_ctrl_c():
                if numpy_first:
                    import numpy  # noqa: F401

                return super().invoke(ctx)

    return Command


Command = interruptible(valueless_help(typer.core.TyperCommand))
Group = one_line_errors(interruptible(valueless_help(typer.core.TyperGroup), numpy_first=False))
Flag = dict(metavar="")  # for bool options: no `<bool>` after them in --help (they take no value)

app = typer.Typer(
    cls=Group,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",  # help strings are Rich markup: their "\[default: …]" brackets are escaped
    context_settings={"help_option_names": ["-h", "--help"]},  # a trial's `charnn train -h` was "no such option"
    help="Train a character-level LSTM on any text, then stream new text in its style.",
)


def show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"charnn {version('charnn')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            typer.echo("charnn (not installed)")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=show_version, is_eager=True, **Flag,
                                          help="Show charnn's version and exit.")] = False,
):
    """Train a character-level LSTM on any text, then stream new text in its style."""


FAILED = False  # an error was said (`fail`): its exit is one, even where its message met a closed pipe (__main__)


def fail(message: str, code: int = 1):
    from charnn import ui

    global FAILED
    FAILED = True
    ui.error(message)
    raise typer.Exit(code)


def interrupted(message: str = "interrupted", code: int = 130):
    """Ctrl-C (exit 130; `code` 143 for SIGTERM): the user's choice, so said as information rather than as an
    error."""
    from charnn import ui

    ui.info(message)
    raise typer.Exit(code)



BIG_CORPUS_BYTES = 20_000_000  # a corpus this large takes seconds to encode the first time: say what is going on


def load_announced(path: Path, options, vocab=None, unknown: str = "error"):
    """`data.load_corpus`, saying so first where a large file is encoded for the first time (a new-user trial: 7 s of
    silence before a 50 MB corpus's first line)."""
    from charnn import ui
    from charnn.corpus_cache import cache_dir
    from charnn.data import is_cached, load_corpus

    if not (path.is_file() and path.stat().st_size >= BIG_CORPUS_BYTES and not is_cached(path, options, vocab)):
        return load_corpus(path, options, vocab, unknown=unknown)
    once = "" if unknown == "skip" else f" — once: later runs read it from the cache in {cache_dir()}"
    ui.info(f"encoding {path} ({path.stat().st_size / 1e6:,.0f} MB){once}")
    with ui.Progress(f"encoding {path.name}") as shown:  # a trial's 2 GB: two minutes with nothing moving
        return load_corpus(path, options, vocab, on_progress=shown.update, unknown=unknown)


def resolve_device(name: str):
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        fail("--device cuda: no CUDA GPU is available here — use --device cpu or auto")
    if name == "mps" and not torch.backends.mps.is_available():
        fail("--device mps: Apple's MPS is not available here — use --device cpu or auto")
    return torch.device(name)


def set_threads(threads: int | None, device, probe: bool = True) -> int | None:
    """torch's CPU thread count for work on `device`: `--threads N` fixes it, and so does OMP_NUM_THREADS. Else, on
    a CPU, the most threads training or sampling may tune up to (charnn/threads.py), or None; with `probe`, it
    starts on half of them where those multiplied faster just now (0.1 s: training's speed test runs with it)."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
        return None
    if os.environ.get("OMP_NUM_THREADS") or device.type != "cpu" or torch.get_num_threads() < 2:
        return None
    most = torch.get_num_threads()
    if probe:
        from charnn.threads import faster_count

        faster_count(most)
    return most


DEVICES = ["auto", "cpu", "cuda", "mps"]
Positive = dict(min=1)  # for counts: typer refuses 0 and below
