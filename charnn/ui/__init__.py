"""Everything the user sees: the only package that imports rich.

Generated text goes to stdout as plain characters (never through Rich markup: corpora contain
`[Exeunt]` and `:smile:`). Progress, info and errors go to stderr. When stderr is not a terminal
the training view degrades to one plain line per eval, fit for CI logs and files.

messages: the stderr console, errors, info, the prompt · training: the training view · run_lines: its lines ·
script_stream: text styled as a play or screenplay · status_row: the status row under that text ·
sampling: streams, status line, headers · batch: a batch's samples as they are made · terminal: control
pictures, cursor columns, keys unechoed, where stdout goes.
"""

from __future__ import annotations

from charnn.ui.batch import BatchStream, show_fountain
from charnn.ui.cells import cells_after, file_name_in, steady_width
from charnn.ui.messages import (
    Progress,
    ask,
    duration,
    error,
    info,
    loss_text,
    show_info,
    show_table,
    stderr,
    stopped_at,
)
from charnn.ui.sampling import (
    PlainStream,
    SampleStatus,
    Spinner,
    color_terminal,
    end_piped_line,
    open_stream,
    sample_footer,
    sample_header,
    show_text,
    status_for,
)
from charnn.ui.script_stream import ScriptStream
from charnn.ui.terminal import UnechoedKeys, echoes_keys, keys_echoed, shares_stdout
from charnn.ui.training import TrainView

__all__ = ["BatchStream", "PlainStream", "Progress", "SampleStatus", "ScriptStream", "Spinner", "TrainView",
           "UnechoedKeys", "ask",
           "cells_after", "color_terminal", "duration", "echoes_keys", "end_piped_line", "error", "file_name_in",
           "info", "keys_echoed", "loss_text",
           "open_stream", "sample_footer", "sample_header", "shares_stdout", "show_fountain", "show_info", "show_table",
           "show_text",
           "status_for",
           "stderr", "steady_width", "stopped_at"]
