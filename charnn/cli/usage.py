"""How the Typer app reads a command line: --help without value types, and usage errors (exit 2) as one line in
charnn's words."""

from __future__ import annotations

import difflib
import re
import sys
from pathlib import Path

import typer


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
    # Click offers every option within its cutoff, in its own order: `--temprature` got "--interactive, --temperature"
    # (a trial). The closest alone, as a question.
    offered = re.match(r"(no such option: (\S+)) \(Possible options: ([^)]*)\)$", message)
    if offered:
        wrong, options = offered.group(2), offered.group(3).split(", ")
        closest = max(options, key=lambda option: difflib.SequenceMatcher(None, wrong, option).ratio())
        message = f"{offered.group(1)} (did you mean {closest}?)"
    context = getattr(problem, "ctx", None)
    command_path = context.command_path if context is not None else command_path
    extra = re.match(r"got unexpected extra argument(?:s|\(s\))? \((.*)\)$", message)
    names = [Path(name) for name in extra.group(1).split()] if extra else []
    # `charnn train songs/*.txt`: a trial's 30 names, and no way on. Files only: `charnn train c.txt 5m` meant --time.
    if names and command_path.endswith(" train") and all(name.is_file() for name in names):
        folder, suffix = names[0].parent, names[0].suffix
        alike = len(names) > 1 and all((name.parent, name.suffix) == (folder, suffix) for name in names)
        together = f"{folder / '*'}{suffix}" if alike else "FILE1 FILE2 …"
        return (f"charnn train reads one text file, and got {len(names) + 1} — join them into one first, e.g. "
                f"cat {together} > all{suffix or '.txt'}, and train on that")
    return f"{message} — see '{command_path} --help'"


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
