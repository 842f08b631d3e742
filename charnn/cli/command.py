"""The Typer app itself and how a command ends: its help formatting, --version, failure and interruption exits (a
Ctrl-C at start-up included), usage errors as one line, the device a command runs on."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

STARTED_AT = time.monotonic()  # the time budget counts from here: torch, corpus and model set-up included


def valueless_help(command_class):
    """`command_class` whose --help shows no value type: Typer 0.29 writes `--help <bool>`, as if it took one; and
    whose usage line names a required argument CORPUS, not Typer 0.29's `{CORPUS}`."""

    class Command(command_class):
        def get_help_option(self, ctx):
            option = super().get_help_option(ctx)
            if option is not None:
                option.metavar = ""
            return option

        def collect_usage_pieces(self, ctx):
            return [re.sub(r"^\{(.*)\}$", r"\1", piece) for piece in super().collect_usage_pieces(ctx)]

    return Command


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


# Click's base of usage errors, which Typer ≥ 0.2x vendors as a private module and earlier versions import from click.
CLICK_EXCEPTION = next(base for base in typer.BadParameter.__mro__ if base.__name__ == "ClickException")


# Typer's messages for values its type checks refuse (from pydantic; from click before Typer 0.29: "integer range"
# in older click, "int range" in click 8.5), in the words of charnn's own checks.
TYPER_WORDS = [(r"Input should be greater than or equal to (\S+)", r"must be \1 or more"),
               (r"Input should be a valid integer.*", "must be a whole number"),
               (r"Input should be a valid number.*", "must be a number"),
               (r"(\S+) is not in the range x>=(\S+?)\.", r"must be \2 or more, not \1"),
               (r"(\S+) is not a valid int(?:eger)?(?: range)?\.", r"must be a whole number, not \1"),
               (r"(\S+) is not a valid float(?: range)?\.", r"must be a number, not \1")]


def usage_line(problem, command_path: str) -> str:
    """A usage error (`click.UsageError`, from Typer) as one line that says what to do, in the style of charnn's own
    errors (`--top-k: must be 1 or more — see 'charnn sample --help'`): Typer draws a usage line, a hint and a boxed
    message, five lines or more, in its own words for ranges. `command_path`: where the error has no context."""
    message = " ".join(problem.format_message().split())
    for said, meant in TYPER_WORDS:
        message = re.sub(said, meant, message)
    # "Invalid value for '--top-k' (env var: …): …" → "--top-k: …"; a capital only where a sentence starts.
    message = re.sub(r"^Invalid value for '([^']+)'(?: \(env var: [^)]*\))?: ", r"\1: ", message).rstrip(".")
    message = message[:1].lower() + message[1:] if re.match(r"[A-Z][a-z]", message) else message
    context = getattr(problem, "ctx", None)
    return f"{message} — see '{context.command_path if context is not None else command_path} --help'"


def one_line_errors(group_class):
    """`group_class` whose usage errors (exit 2) are one line on stderr, like every other error of charnn's."""

    class Group(group_class):
        def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
            if not standalone_mode:
                return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            try:  # not standalone: Typer raises its usage errors here rather than drawing them
                outcome = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            except CLICK_EXCEPTION as problem:
                code, message = problem.exit_code, None  # `charnn` alone (NoArgsIsHelpError): its help is shown
                if type(problem).__name__ != "NoArgsIsHelpError":
                    given = sys.argv[1:] if args is None else list(args)
                    named = next((word for word in given if word in self.commands), None)  # the command, if any
                    message = usage_line(problem, " ".join(filter(None, [prog_name or "charnn", named])))
            except typer.Abort:  # end of input where a command asked for more
                code, message = 1, "aborted"
            else:  # a command returns None; an exit (typer.Exit, --help) returns its code
                code = outcome if isinstance(outcome, int) else 0
                message = None
            if message is not None:
                from charnn import ui

                ui.error(message)
            sys.exit(code)  # (outside Typer's main now: typer.Exit would be a traceback)

    return Group


Command = interruptible(valueless_help(typer.core.TyperCommand))
Group = one_line_errors(interruptible(valueless_help(typer.core.TyperGroup), numpy_first=False))
Flag = dict(metavar="")  # for bool options: no `<bool>` after them in --help (they take no value)

app = typer.Typer(
    cls=Group,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",  # help strings are Rich markup: their "\[default: …]" brackets are escaped
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


def fail(message: str, code: int = 1):
    from charnn import ui

    ui.error(message)
    raise typer.Exit(code)


def interrupted(message: str = "interrupted", code: int = 130):
    """Ctrl-C (exit 130; `code` 143 for SIGTERM): the user's choice, so said as information rather than as an
    error."""
    from charnn import ui

    ui.info(message)
    raise typer.Exit(code)



BIG_CORPUS_BYTES = 20_000_000  # a corpus this large takes seconds to encode the first time: say what is going on


def load_announced(path: Path, options, vocab=None):
    """`data.load_corpus`, saying so first where a large file is encoded for the first time (a new-user trial: 7 s of
    silence before a 50 MB corpus's first line)."""
    from charnn import ui
    from charnn.corpus_cache import cache_dir
    from charnn.data import is_cached, load_corpus

    if path.is_file() and path.stat().st_size >= BIG_CORPUS_BYTES and not is_cached(path, options, vocab):
        ui.info(f"encoding {path} ({path.stat().st_size / 1e6:,.0f} MB) — once: later runs read it from the cache "
                f"in {cache_dir()}")
    return load_corpus(path, options, vocab)


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
