"""The `charnn` command: options → configs, core ↔ ui, errors → exit codes.

Exit codes: 0 ok, 1 a problem with the input (one line on stderr), 2 bad usage, 130 interrupted
(143 for SIGTERM during training or sampling). torch and the core are imported inside the commands, so
`charnn --help` answers without loading them.

command: the Typer app, exits, devices · usage: help and usage errors · options: option checks · training,
sampling, inspecting: the commands (train; sample; info and eval), wired to the app below in the order --help lists
them · run_list: info of a folder of runs, and a run's step files · train_checks: run folder and time left before
training · stopping, sigterm: a sample cut short · train_stop: a training stopped.
"""

from __future__ import annotations

from charnn.cli.command import Command, app
from charnn.cli.inspecting import evaluate_command, info
from charnn.cli.options import parse_duration
from charnn.cli.sampling import sample
from charnn.cli.train_stop import StopFlag
from charnn.cli.training import train

app.command(cls=Command)(train)
app.command(cls=Command)(sample)
app.command(cls=Command)(info)
app.command(name="eval", cls=Command)(evaluate_command)

__all__ = ["StopFlag", "app", "parse_duration"]
