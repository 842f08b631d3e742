"""How many cells of a terminal text takes: control characters shown as pictures, where the cursor goes after text,
the characters whose width terminals disagree on, and a status row fitted to a width."""

from __future__ import annotations

import re

from rich.cells import cell_len


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


# Zero-width joiners, variation selectors and skin-tone modifiers. Rich 15 measures 👨‍👩‍👧 and 👍🏽 as one emoji
# (2 cells), as terminals that cluster graphemes draw them; tmux and many others draw each part (6 and 4 cells).
# A live panel measured short leaves copies of its top border behind at every redraw (a new-user trial, an emoji
# corpus). Without these characters every terminal and Rich agree: each emoji stands alone.
UNSTEADY_WIDTH = re.compile("[\u200d\ufe00-\ufe0f\U0001f3fb-\U0001f3ff]")


def steady_width(text: str) -> str:
    """`text` for a Rich layout (the training panel's preview), without the characters above."""
    return UNSTEADY_WIDTH.sub("", text)


def file_name_in(name: str, most: int) -> str:
    """A file's name in at most `most` cells: its stem, else cut with '…' (a corpus named tinyshakespeare.txt made a
    listing of runs 86 columns wide: a review)."""
    name = name if cell_len(name) <= most else name.rpartition(".")[0] or name
    while cell_len(name) > max(most, 1) and len(name) > 1:  # (ends: at one character, '…')
        name = name[:-2] + "…"
    return name
