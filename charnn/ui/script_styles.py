"""How a play's or screenplay's lines look on a terminal: a colour per speaker, a style per line kind, as ANSI codes."""

from __future__ import annotations

import re

from rich.console import Console
from rich.style import Style

from charnn import script

SPEAKER_COLOURS = ["cyan", "magenta", "green", "yellow", "bright_blue", "bright_red", "bright_cyan",
                   "bright_magenta", "bright_green", "bright_yellow"]
# Colour by speaker, in the order they first speak: shared by every stream of the process, so that a name keeps its
# colour across a batch's samples and an interactive session's streams.
SPEAKERS: dict[str, str] = {}
KIND_STYLES = {"heading": "bold underline", "transition": "bold italic", "direction": "dim italic", "text": ""}


class ScriptStyles:
    """Styles as ANSI strings, rendered once by Rich for the console's colour system and reused, so that styling a
    streamed character costs a string write. Text itself never passes through Rich markup."""

    def __init__(self, console: Console):
        self.codes: dict[str, tuple[str, str]] = {}  # style → (its start, its end)
        self.color_system = console.color_system

    def ansi(self, style: str) -> tuple[str, str]:
        if style not in self.codes:
            rendered = Style.parse(style).render("\0", color_system=self.color_system) if style else "\0"
            self.codes[style] = tuple(rendered.split("\0", 1))
        return self.codes[style]

    def styled(self, text: str, style: str) -> str:
        start, end = self.ansi(style)
        return f"{start}{text}{end}" if text else ""

    def speaker_style(self, name: str) -> str:
        """Bold in the speaker's colour: the next colour unused so far for a new name (a hash of the name gave the
        bundled screenplay's six main characters three colours between them: a new-user trial)."""
        key = name.upper()  # `Nurse:` and `NURSE:` are one character
        if key not in SPEAKERS:
            SPEAKERS[key] = SPEAKER_COLOURS[len(SPEAKERS) % len(SPEAKER_COLOURS)]
        return f"bold {SPEAKERS[key]}"

    def line_start(self, text: str, kind: str, line: str) -> str:
        """`text`, the start of a `line` of `kind`, styled. The name comes from the whole line: a prime that ends
        mid-line (`CLARE`) began it, unprinted."""
        if kind == "speaker":  # `text` ends `line`; its name ends with its colon (or `】`), maybe before `text`
            speaker, end = script.speaker_split(line)
            name_end = max(0, end - (len(line) - len(text)))
            name, rest = text[:name_end], text[name_end:]
            return self.styled(name, self.speaker_style(speaker)) + rest
        if kind == "cue":
            return self.styled(text, self.speaker_style(re.sub(r"\s*\(.*$", "", line.strip())))
        return self.styled(text, KIND_STYLES.get(kind, ""))
