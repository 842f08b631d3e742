"""The status row under streaming text: drawn under the line the text is on, cleared before the text wraps onto it.

A mixin for `ScriptStream`, which supplies what the row is placed by: `out` (the text's file), `cells` (the cursor's
cells along the current line), `held` (the line's start not yet written), and `open_start`/`open_end` (a style open
for the rest of the line) and `styled` (ScriptStyles).
"""

from __future__ import annotations

from rich.console import Console

from charnn.ui.cells import cells_after, fitted

# To the status row and back, wherever the text left the cursor. Down and up by one row keeping the column (IND, RI:
# on the bottom row, the way down scrolls, so the status row exists before the cursor is saved); save it (DECSC);
# down to the status row's start; and after the status, the cursor restored (DECRC). No column is computed: one
# counted from the text's own widths (`\r\x1b[27C`) put the text back in the wrong place wherever the terminal drew
# a character wider or narrower than Unicode's tables say (a ZWJ family, a flag, ❤️): a new-user trial saw
# `Family: 👩‍👩‍👧 and 👨‍👩‍👦‍          , flags …` and `heart.❤️` on 68 of 142 lines of emoji in tmux.
UNDER = "\x1bD\x1bM\x1b7\x1bD\r"
BACK = "\x1b8"


class StatusRow:
    def __init__(self, status: Console | None):
        self.status = status  # a console on the same terminal for a per-line status, or None
        self.status_text = ""
        self.status_shown = False
        self.owed = False  # a status erased for a wrapping line, to draw again under its new row
        # The current line holds a character whose width terminals disagree on (`width_unsure`): where it will wrap
        # is not known, so it has no status row under it. (Counted by Unicode's widths, the text wrapped onto the
        # status row before it was cleared, and pieces of it were left in the text: 7 in a 37-column trial.)
        self.unsure = False
        # The terminal's width when the status was last drawn (asking costs ~15 µs).
        self.width = max(1, status.width) if status is not None else 80

    def newline(self) -> str:
        """A line break; when it lands on the status row, it clears that row for the text (`redraw_status` then
        draws the status under it again)."""
        return "\n\x1b[2K" if self.status_shown else "\n"

    def redraw_status(self) -> None:
        """After a line break written with `newline` and flushed: the status on the row under the new line. The
        break erased it, or a line that wrapped onto its row did (`write`); left until the next tick, it was
        missing from half the screen captures of a new-user trial."""
        if self.status is not None and self.status_text:
            self.status_shown = False
            self.draw_status()

    def clear_status(self) -> None:
        """Erase the status row, the cursor back where it was."""
        self.status.file.write(UNDER + "\x1b[2K" + BACK)
        self.status.file.flush()
        self.status_shown = False  # only now: a Ctrl-C during the write must still find it shown, and erase it

    def draw_status(self) -> None:
        """The status on the row under the text, then the cursor back to where the text goes on (UNDER, BACK)."""
        if self.status is None or not self.status_text or self.held or self.unsure:
            return
        width = self.width = max(1, self.status.width)
        written = self.cells
        if written and written % width == 0:
            return  # the terminal is about to wrap this line: skip this update
        self.owed = False
        self.out.write(self.open_end)  # the status row is not part of the line's open style
        self.out.flush()
        self.status_shown = True  # first: a Ctrl-C during the write must find it shown, and erase it (a new-user
        # trial saw `interrupted (seed …)` written over a status left behind, 2 times in 49)
        self.status.file.write(UNDER + "\x1b[2K" + self.styled(fitted(self.status_text, width), "dim") + BACK)
        self.status.file.flush()
        if self.open_start:  # the status's own style ended with a reset: the line's open style goes on
            self.out.write(self.open_start)
            self.out.flush()

    def clear_before_wrap(self, char: str) -> None:
        """Text that reaches the end of its row wraps onto the status row, and would write over the status only in
        part: what it leaves would read as text. So, where `char` will reach it, clear that row first; the status is
        owed under the new row once the character is written."""
        position = 0 if self.held else self.cells  # held text starts the line, none of it written yet
        if cells_after(position, self.held + char, self.width) >= (position // self.width + 1) * self.width:
            self.out.flush()
            self.clear_status()
            self.owed = True
