"""Generated text styled as a play or screenplay while it streams to a terminal."""

from __future__ import annotations

from rich.console import Console

from charnn import script
from charnn.ui.cells import cells_after, visible, width_unsure
from charnn.ui.script_styles import KIND_STYLES, ScriptStyles
from charnn.ui.status_row import StatusRow

CONTEXT_CHARS = 80  # of the prime's last line, at most, shown before the text (`show_context`)


def shorter(line: str) -> str:
    """The end of a long `line`, CONTEXT_CHARS at most, as `show_context` shows it."""
    return line if len(line) <= CONTEXT_CHARS else "…" + line[1 - CONTEXT_CHARS:]



class Closing:
    """A stream as a `with` block: closed at its end, and cut (held characters dropped, nothing more written after
    the Ctrl-C) when Ctrl-C ends it."""

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.close(cut=kind is not None and issubclass(kind, KeyboardInterrupt))


class ScriptStream(Closing, ScriptStyles, StatusRow):
    """Writes generated characters to a terminal as they come, styled as a play or screenplay.

    A line's kind is often unknown at its first character (is "MAR" the start of a cue?), so
    while a line's beginning could still be a cue, speaker, heading or transition, those few
    characters are held back; once the kind is clear they are written styled and the rest of the
    line streams straight through (styled by `ScriptStyles`).
    """

    def __init__(self, out, console: Console | None = None, status: Console | None = None, detect: bool = False,
                 styles: bool = True):
        self.out = out
        # With `detect`, text streams plain until what has come so far reads as a script; without `styles`, plain
        # throughout (`--style plain` on a terminal: the text as generated, with the status row under it).
        self.styles = styles
        self.active = styles and not detect
        self.seen = ""  # recent text, for detection
        ScriptStyles.__init__(self, console or Console(file=out))
        self.line = ""  # the current line so far
        self.cells = 0  # its width in terminal cells (kept as it grows: measuring it per character is slow)
        # Of those, the cells handed to `out`: where a Ctrl-C leaves the cursor (held text is not in it). Updated in
        # the statement after each write (`show_held` says why).
        self.shown_cells = 0
        self.held = ""  # characters of it not yet written
        self.context_shown = False  # the prime's last line was shown before the text (`show_context`)
        # Where the prime ends a line (`[Chorus]\n`): its last line with text, and the line breaks after it (at most
        # 2), shown above the text; nothing of such a prime was shown (a trial's lyrics).
        self.above: tuple[str, int] | None = None
        self.dropped = ""  # held characters that a cut (Ctrl-C) left unwritten
        self.kind: str | None = None  # decided kind of the current line
        self.in_speech = False  # the line above is a cue, or a parenthetical or capitals under one (script.classify)
        self.open_start = self.open_end = ""  # codes of a style left open for the rest of the line
        StatusRow.__init__(self, status)

    def show_context(self) -> None:
        """The start of the line the text goes on (the prime's last line, `line`), dim, where styles are on: a sample
        that begins mid-line read as a fragment (`--prime "Ветер"` showed ` листает старый календарь.`, a new-user
        trial). Only its last line, and of a long one its end: a prime may be a scene, or a paragraph. Where that
        line is blank, the last line with text above it (`above`), then that line."""
        if not self.styles or not (self.line or self.above):
            return
        if self.above and not self.line.strip():
            text, breaks = self.above
            if self.status_shown:  # a batch's status row, under the row these lines go down from
                self.out.flush()
                self.clear_status()
            shown = "".join(visible(char) for char in shorter(text))
            self.out.write(self.styled(shown, "dim") + "\n" * breaks)
            self.out.flush()
            self.redraw_status()
            if not self.line:
                return
        line = shorter(self.line)
        shown = "".join(visible(char) for char in line)
        self.unsure = any(map(width_unsure, shown))  # then no status row under this line (`write`)
        self.out.write(self.styled(shown, "dim"))
        self.out.flush()
        self.shown_cells = self.cells = cells_after(0, shown, self.width)
        self.context_shown = True

    def render_decided(self, text: str) -> str:
        """Held text of the current line, styled now that the line's kind is known."""
        return self.line_start(text, self.kind, self.line)

    def decide(self, final: bool) -> None:
        stripped = self.line.strip()
        kind = script.classify(self.line, self.in_speech) if final else None
        if kind is None:
            if script.HEADING.match(stripped):
                kind = "heading"
            elif stripped[:1] in script.DIRECTION_OPENERS:
                kind = "direction"
            elif script.TRANSITION.match(stripped):
                kind = "transition"
            elif script.speaker_prefix(stripped):  # more follows on this line: only a name in capitals
                kind = "speaker"
            else:
                kind = "text"
        self.kind = kind

    def advance(self, char: str) -> None:
        """Move `cells` (where the cursor is along the line, wrapped rows included) past `char`."""
        self.cells = cells_after(self.cells, char, self.width)

    def write(self, char: str) -> None:
        char = visible(char)
        if not self.unsure and width_unsure(char):  # erased before the character: a cluster is not split by it
            self.unsure, self.owed = True, False
            if self.status_shown:
                self.out.flush()
                self.clear_status()
        if self.status_shown and char != "\n":
            self.clear_before_wrap(char)
        self.put(char)
        if self.owed:  # drawn as soon as it can be: not while a line's start is held, nor before a wrap
            self.draw_status()

    def put(self, char: str) -> None:
        """`char` to the text, styled as its line turns out to be (the status row aside)."""
        if not self.active:
            self.out.write(self.newline() if char == "\n" else char)
            if char == "\n":
                self.seen = (self.seen + self.line + "\n")[-4000:]
                self.line_done(script.classify(self.line, self.in_speech))
                self.line, self.cells, self.shown_cells, self.unsure = "", 0, 0, False
            else:
                self.line += char
                self.shown_cells = self.cells = cells_after(self.cells, char, self.width)
            self.out.flush()
            if char == "\n":
                self.active = self.styles and script.looks_like_script(self.seen)
                self.redraw_status()
            return
        if char == "\n":
            if self.held:
                self.decide(final=True)
                self.show_held()
            self.line_done(self.kind or "blank")  # a line decided on its first characters has its kind
            self.out.write(self.open_end + self.newline())
            self.line, self.cells, self.held, self.kind, self.open_start, self.open_end = "", 0, "", None, "", ""
            self.shown_cells, self.unsure = 0, False
            self.out.flush()
            self.redraw_status()
            return
        self.line += char
        self.advance(char)
        if self.kind is None:
            self.held += char
            if script.undecided(self.line):
                return
            self.decide(final=False)
            self.show_held()
            if self.kind not in ("text", "speaker", "cue"):
                # The rest of a heading/transition/direction line streams inside one open style.
                self.open_start, self.open_end = self.ansi(KIND_STYLES.get(self.kind, ""))
                self.out.write(self.open_start)
        else:
            self.out.write(char)
            self.shown_cells = self.cells
        self.out.flush()

    def line_done(self, kind: str) -> None:
        self.in_speech = script.in_speech_after(self.line, kind, self.in_speech)

    def show_held(self) -> None:
        """Write the held start of the line, styled now that its kind is decided; then count it as shown and no longer
        held, in one statement after the write: Python raises a Ctrl-C's KeyboardInterrupt at a call, not between a
        call's return and the next store. (Counted before the write, a Ctrl-C delivered at the write's call left the
        count ahead of the screen: a blank row above `stream stopped` in 8 of 40 pty trials.)"""
        rendered = self.render_decided(self.held)
        self.out.write(rendered)
        self.shown_cells, self.held = self.cells, ""

    def close(self, cut: bool = False) -> None:
        """End the stream. With `cut` (Ctrl-C), characters held back are dropped, not written after the Ctrl-C;
        `dropped` keeps them."""
        if self.held and cut:
            self.dropped, self.held = self.held, ""
        if self.held:
            self.decide(final=True)
            self.show_held()
        self.out.write(self.open_end)
        self.open_start = self.open_end = ""
        self.out.flush()
        if self.status_shown:  # erase the status row, cursor back at the end of the text shown
            self.clear_status()
