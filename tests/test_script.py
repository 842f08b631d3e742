"""Reading text as a play/screenplay, the styled stream, and Fountain output."""

from __future__ import annotations

import io
import re
import unicodedata

import pytest
from rich.console import Console

from charnn import documents, script
from charnn.ui import PlainStream, ScriptStream
from charnn.ui.cells import fitted

PLAY = """ACT I
SCENE II. A room in the castle.

HAMLET: To be, or not to be, that is the question.
[Exeunt] :smile:
OPHELIA: Good my lord,
How does your honour for this many a day?
HAMLET: I humbly thank you.
"""

SCREENPLAY = """FADE IN:

INT. LIGHTHOUSE KITCHEN - NIGHT

Margaret stirs a pot. The wind rattles the window.

MARGARET
(quietly)
You came back.

JONAH (V.O.)
I never left.

CUT TO:

EXT. HARBOUR - DAY
"""

PROSE = """It was a bright cold day in April, and the clocks were striking thirteen.
Winston Smith, his chin nuzzled into his breast, slipped quickly through the glass doors.
Nothing in the room had changed since the morning.
"""

MIXED_CASE_PLAY = """First Citizen:
The granary is bare and the bakers are idle.

Nurse:
Come in, come in, the supper grows cold,
And the lady has asked for you twice.

First Citizen:
Note: this line is his.
"""

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@pytest.mark.parametrize("line, kind", [
    ("INT. LIGHTHOUSE KITCHEN - NIGHT", "heading"), ("EXT. HARBOUR - DAY", "heading"), ("ACT I", "heading"),
    ("SCENE II. A room.", "heading"), ("CUT TO:", "transition"), ("DISSOLVE TO:", "transition"),
    ("FADE OUT.", "transition"), ("FADE IN:", "transition"), ("HAMLET: To be.", "speaker"),
    ("FIRST CITIZEN:", "speaker"), ("MARGARET", "cue"), ("JONAH (V.O.)", "cue"), ("(quietly)", "direction"),
    ("[Exeunt]", "direction"), ("Margaret stirs a pot.", "text"), ("", "blank"), ("I", "text"),
    ("Hamlet: said no one", "text"), ("Nurse:", "speaker"), ("First Citizen:", "speaker"),
    ("King Richard III:", "speaker"), ("Note: this is prose", "text"), ("Nay, let them follow:", "text"),
    ("Whither 'tis bent:", "text"), ("The Five Towns Of The North:", "text"), ("    Returns:", "text"),
    ("\tArgs:", "text"), ("Nurse:\r", "speaker"),
])
def test_classify(line, kind):
    assert script.classify(line) == kind


CODE = '''def clip(values, low, high):
    """Clip each value.

    Args:
        values: the numbers.
        low: the floor.

    Returns:
        The clipped numbers.

    Raises:
        ValueError: when low > high.
    """
    return [min(max(v, low), high) for v in values]
'''


def test_detects_plays_and_screenplays_but_not_prose_or_code():
    assert script.looks_like_script(PLAY)
    assert script.looks_like_script(SCREENPLAY)
    assert not script.looks_like_script(PROSE)
    assert not script.looks_like_script(CODE)  # a docstring's Args:/Returns: are indented


LYRICS = """[Intro]
OH-OH-OH
(ooh, ooh)

Chorus:
Neon rain on the boulevard
HEY! HEY!
NA NA NA
We were young and we were far

Verse 2:
La razón de mi canción
Bridge:
OH-OH-OH
Pre-Chorus
VERSE 3
Outro:
Neon rain (x2)
"""


def test_a_lyric_sheet_is_no_script():
    """A songwriter trial: `OH-OH-OH` alone on a line was a screenplay's cue (bold, a colour), so `auto` styled a
    song as a screenplay; and `Chorus:`, `Bridge:` and `Outro:` were coloured as a play's speakers."""
    assert not script.looks_like_script(LYRICS)
    assert {script.classify(line) for line in ("Bridge:", "Outro:", "Verse 2:", "Chorus 2:", "Pre-Chorus", "VERSE 3",
                                                 "POST-CHORUS:", "OH-OH-OH", "NA NA NA", "LA-LA")} == {"text"}
    assert script.classify("JEAN-LUC") == "cue" and script.classify("MARY-ANNE:") == "speaker"  # names stay names
    assert script.classify("Nurse:") == "speaker" and script.classify("HAMLET: To be") == "speaker"
    # A play's chorus speaks, and so does Captain Hook (a review): `Chorus` alone stays a name. A lyric sheet with
    # `Chorus:` for its only "speaker" still reads as no play.
    assert script.classify("Chorus:") == script.classify("HOOK: Smee!") == "speaker"
    assert script.classify("CHORUS") == "cue"
    assert script.looks_like_script("CHORUS:\nTwo households, both alike in dignity,\n\nPROLOGUE:\nO for a Muse\n")
    assert not script.looks_like_script(LYRICS.replace("Bridge:", "Chorus:") + "\nChorus:\nNeon rain\n" * 3)


CAPITAL_LYRICS = """VERSE 1
Kitchen light, kitchen light
Hold me through the night

CHORUS
Whoa-oh, carry me home
SING IT LOUD

BRIDGE
Broken string like a song on the radio
HOLD ON

CHORUS
Whoa-oh, carry me home
"""


def test_a_lyric_sheet_in_capitals_is_no_script():
    """A trial's lyric sheet with `VERSE 1`, `CHORUS`, `BRIDGE` on lines of their own: `CHORUS` was a cue, and with
    a shouted line (or a cut `VERS`) the sheet read as a screenplay, every `CHORUS` coloured as a speaker. Where such
    labels stand, `CHORUS` is one of them; a play's chorus, with no song's labels about, still speaks."""
    assert not script.looks_like_script(CAPITAL_LYRICS)
    assert not script.looks_like_script(CAPITAL_LYRICS.replace("BRIDGE", "[Bridge]").replace("VERSE 1", "Verse 1:"))
    assert script.looks_like_script(CAPITAL_LYRICS.replace("VERSE 1", "INT. DINER - NIGHT"))  # a heading: a script
    henry = "CHORUS\nO for a Muse of fire\n\nKING HENRY\nOnce more unto the breach\n\nEXETER\nMy lord.\n"
    assert script.looks_like_script(henry) and script.looks_like_script(henry.replace("\n", ":\n", 1))
    # The stream decides on each line's prefix of the text, and never styles back (a review: styled from a shouted
    # line under `VERSE 1`, with one label only).
    shouted = "VERSE 1\nKitchen light, kitchen light\nHOLD ME\nHold me through the night\nSING IT LOUD\nCHORUS\nOh\n"
    lines = shouted.splitlines(keepends=True)
    assert not any(script.looks_like_script("".join(lines[:end])) for end in range(1, len(lines) + 1))
    # A play's own labels are no song's: a Greek tragedy's chorus sings in strophes, and still speaks (a review).
    tragedy = ("OEDIPUS\nMy children, why do you sit here?\n\nPRIEST\nYou see us, king.\n\nCHORUS\nStrophe 1\n"
               "O sweet voice of Zeus\nStrophe 2\nFirst on thee I call\n\nOEDIPUS\nYou pray.\n")
    assert script.looks_like_script(tragedy)
    assert script.looks_like_script("FIRST CITIZEN:\nWe are accounted poor.\nInterlude\nSECOND CITIZEN:\nNay.\n"
                                    "Interlude\n")


def test_speaker_names():
    assert script.speaker_name("HAMLET: words") == "HAMLET"
    assert script.speaker_name("JONAH (V.O.)") == "JONAH"
    assert script.speaker_name("plain words") is None


def test_undecided_holds_only_possible_cues():
    assert script.undecided("MARG")
    assert script.undecided("")
    assert script.undecided("Marg") and script.undecided("First Citizen:")  # `Margaret:` alone is a speaker
    assert not script.undecided("Marg stirs") and not script.undecided("Nurse: yes")
    assert script.undecided("Nurse: ") and not script.undecided("    Retur")  # indented: not a speaker
    assert not script.undecided("INT. ")
    assert not script.undecided("(qui")


def styled(text: str) -> str:
    out = io.StringIO()
    stream = ScriptStream(out, Console(file=out, force_terminal=True, color_system="truecolor"))
    for char in text:
        stream.write(char)
    stream.close()
    return out.getvalue()


def test_the_line_a_prime_leaves_open_is_shown_dim_before_the_text():
    """A new-user trial: `--prime "Ветер"` showed ` листает старый календарь.`, a fragment; a batch's samples too.
    On a colour terminal the prime's last line now comes first, dim, and the text goes on from it, styled as the
    line it is part of: the speech after a prime's `ROMEO:` is not the name's colour."""
    out = io.StringIO()
    stream = ScriptStream(out, Console(file=out, force_terminal=True, color_system="truecolor"))
    stream.line = "ROMEO: But soft"  # as open_stream starts it from a prime "…\nROMEO: But soft"
    stream.show_context()
    assert stream.context_shown and stream.shown_cells == len("ROMEO: But soft")  # a Ctrl-C ends its line
    for char in "! what light\nJULIET: Ay me.\n":
        stream.write(char)
    stream.close()
    rendered = out.getvalue()
    dim = stream.ansi("dim")[0]
    assert rendered.startswith(dim + "ROMEO: But soft")
    assert ANSI.sub("", rendered) == "ROMEO: But soft! what light\nJULIET: Ay me.\n"
    assert "! what light" in ANSI.sub("", rendered.split("\n")[0].split("soft", 1)[1]) and re.search(
        r"soft\x1b\[[0-9;]*m! what light", rendered)  # no colour of its own: only the dim's end before it
    assert re.search(r"\x1b\[1;[0-9;]*mJULIET:", rendered)
    out = io.StringIO()  # a prime whose last line is a long paragraph: its end (a review)
    stream = ScriptStream(out, Console(file=out, force_terminal=True, color_system="truecolor"))
    stream.line = "word " * 100
    stream.show_context()
    assert ANSI.sub("", out.getvalue()) == "…" + ("word " * 100)[-79:] and stream.shown_cells == 80
    for line, styles in (("", True), ("To be", False)):  # a prime that ends its line; `--style plain`
        out = io.StringIO()
        stream = ScriptStream(out, Console(file=out, force_terminal=True, color_system="truecolor"), styles=styles)
        stream.line = line
        stream.show_context()
        assert out.getvalue() == "" and not stream.context_shown and stream.shown_cells == 0


@pytest.mark.parametrize("text", [PLAY, SCREENPLAY, PROSE, MIXED_CASE_PLAY, "HAMLET", "INT. unfinished",
                                  "日本語のテキスト\n— ñ é"])
def test_styled_stream_is_the_text_plus_styles_only(text):
    rendered = styled(text)
    assert ANSI.sub("", rendered) == text  # nothing added, dropped or reordered; [Exeunt] :smile: verbatim
    if text in (PLAY, SCREENPLAY):
        assert rendered != text


def test_speakers_keep_one_colour():
    rendered = styled(PLAY)
    hamlet = re.findall(r"(\x1b\[[0-9;]*m)HAMLET:", rendered)
    ophelia = re.findall(r"(\x1b\[[0-9;]*m)OPHELIA:", rendered)
    assert len(hamlet) == 2 and hamlet[0] == hamlet[1]
    assert ophelia and ophelia[0].startswith("\x1b[1;")  # bold


def test_speakers_get_colours_of_their_own(monkeypatch):
    """A new-user trial: the bundled screenplay's six main characters had three colours between them."""
    from charnn.ui import script_styles

    monkeypatch.setattr(script_styles, "SPEAKERS", {})  # as a new process has it: none named yet
    names = ["JONAH", "ZOË", "MARGARET", "RUTH", "PETRA", "OLD TOBIAS"]
    rendered = styled("".join(f"{name}: Yes.\n" for name in names * 2))
    colours = [re.findall(rf"(\x1b\[[0-9;]*m){name}:", rendered) for name in names]
    assert all(len(found) == 2 and found[0] == found[1] for found in colours)  # each keeps its own
    assert len({found[0] for found in colours}) == len(names)


def test_title_case_speakers_alone_on_their_line_are_styled():
    """Tiny shakespeare writes a quarter of its speakers in title case (`First Citizen:`, `Nurse:`)."""
    assert script.looks_like_script(MIXED_CASE_PLAY)
    rendered = styled(MIXED_CASE_PLAY)
    citizen = re.findall(r"(\x1b\[[0-9;]*m)First Citizen:", rendered)
    assert len(citizen) == 2 and citizen[0] == citizen[1] and citizen[0].startswith("\x1b[1;")
    assert re.search(r"\x1b\[[0-9;]*mNurse:", rendered)
    assert "\nNote: this line is his." in rendered  # a title-case word with more after its colon stays text
    assert re.match(r"\x1b\[[0-9;]*mNurse:", styled("Nurse: \nCome in.\n"))  # a trailing space too
    lines = documents.to_fountain(MIXED_CASE_PLAY).splitlines()
    assert lines[lines.index("NURSE") + 1] == "Come in, come in, the supper grows cold,"


def test_prose_is_not_styled():
    assert styled(PROSE) == PROSE


def test_plain_stream_writes_text_unchanged():
    out = io.StringIO()
    stream = PlainStream(out)
    for char in PLAY:
        stream.write(char)
    stream.close()
    assert out.getvalue() == PLAY


def test_fountain_from_a_play():
    fountain = documents.to_fountain(PLAY)
    lines = fountain.splitlines()
    assert ".ACT I" in lines  # forced scene heading
    index = lines.index("HAMLET")
    assert lines[index - 1] == "" and lines[index + 1] == "To be, or not to be, that is the question."
    assert "[Exeunt] :smile:" in lines


def test_fountain_from_a_screenplay():
    fountain = documents.to_fountain(SCREENPLAY)
    lines = fountain.splitlines()
    assert "INT. LIGHTHOUSE KITCHEN - NIGHT" in lines
    assert lines[lines.index("MARGARET") + 1] == "(quietly)"
    assert lines[lines.index("CUT TO:") - 1] == ""
    # FADE IN: stays at the left margin, as screenplays set it (a new-user trial: `> FADE IN:` forced it right);
    # FADE OUT. is a transition Fountain would not know without `>`; THE END is centred.
    assert lines[1] == "!FADE IN:" and lines[2] == ""  # forced as action: first, a title page's key to some parsers
    assert documents.to_fountain("She waits.\nFADE IN:\n").splitlines() == ["She waits.", "", "FADE IN:"]
    ending = documents.to_fountain("She leaves.\nFADE OUT.\nTHE END\n").splitlines()
    assert ending == ["She leaves.", "", "> FADE OUT.", "", "> THE END <"]
    assert fountain.endswith("\n")


CSI = re.compile(r"\x1b\[([0-9;]*)([A-Za-z])")


class Screen:
    """Just enough of a terminal to see what the status row leaves behind: auto-wrap (a character in the
    last column leaves the cursor there until the next one), CR, LF (as a tty's CR LF), and the escapes
    ScriptStream writes: erase line, cursor up, cursor forward, index and reverse index (down and up a row,
    the column kept), save and restore the cursor. Colours are ignored.

    With a `height`, the screen has that many rows: a line break or index on the bottom row scrolls it up one (rows
    stay numbered from the first, scrolled away or not), and a restored cursor goes to the row of the screen it was
    saved on, as a terminal's does: where the screen scrolled in between, that is another row of the text."""

    def __init__(self, width: int, height: int | None = None):
        self.width, self.cells, self.row, self.column, self.pending = width, {}, 0, 0, False
        self.height, self.top, self.saved = height, 0, (0, 0, False)  # top: rows scrolled away

    def down(self) -> None:
        self.row += 1
        if self.height is not None and self.row >= self.top + self.height:
            self.top += 1

    def feed(self, data: str) -> None:
        position = 0
        while position < len(data):
            match = CSI.match(data, position)
            if match:
                count = int(match.group(1)) if match.group(1).isdigit() else 1
                if match.group(2) == "K":  # only 2K (the whole row) is written
                    self.cells = {key: value for key, value in self.cells.items() if key[0] != self.row}
                elif match.group(2) in "AC":
                    self.pending = False
                    if match.group(2) == "A":
                        self.row = max(self.top, self.row - count)
                    else:
                        self.column = min(self.width - 1, self.column + count)
                position = match.end()
                continue
            if data.startswith("\x1b", position) and data[position + 1 : position + 2] in ("7", "8", "D", "M"):
                code, position = data[position + 1], position + 2
                if code == "7":
                    self.saved = (self.row - self.top, self.column, self.pending)
                elif code == "8":
                    row, self.column, self.pending = self.saved
                    self.row = self.top + row
                elif code == "D":
                    self.pending = False
                    self.down()
                else:  # M, on the top row: scrolling down is not emulated, and not needed
                    self.pending = False
                    self.row = max(self.top, self.row - 1)
                continue
            char, position = data[position], position + 1
            if char in "\r\n":
                if char == "\n":
                    self.down()
                self.column, self.pending = 0, False
                continue
            if char == "\t":  # the next stop of 8, never past the last column; no wrap
                self.column, self.pending = min(self.column // 8 * 8 + 8, self.width - 1), False
                continue
            size = 2 if unicodedata.east_asian_width(char) in "WF" else 1
            if self.pending or self.column + size > self.width:  # a wide character skips a last column
                self.down()
                self.column, self.pending = 0, False
            self.cells[self.row, self.column] = char
            if size == 2:
                self.cells[self.row, self.column + 1] = ""
            if self.column + size == self.width:
                self.column, self.pending = self.width - 1, True
            else:
                self.column += size

    def rows(self) -> list[str]:
        last = max([row for row, _ in self.cells] + [self.row])
        return ["".join(self.cells.get((row, column), " ") for column in range(self.width)).rstrip()
                for row in range(last + 1)]


def assert_status_row_leaves_the_screen_as_plain_text(text: str, width: int, every: int, detect: bool,
                                                      height: int | None = None) -> None:
    """`text` through a ScriptStream whose status row is redrawn every `every` characters must leave the
    terminal as the plain text alone would, the status row gone at the end."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="truecolor", width=width)
    stream = ScriptStream(out, console, status=console, detect=detect)
    for number, char in enumerate(text, 1):
        stream.write(char)
        if number % every == 0:
            stream.status_text = f"model · temp 0.8 · {number * 97:,} chars/s · {number:,}/{len(text):,}"
            stream.draw_status()
    stream.close()
    streamed, plain = Screen(width, height), Screen(width)
    streamed.feed(out.getvalue())
    plain.feed(text)
    assert streamed.rows()[:len(plain.rows())] == plain.rows()
    assert not any(streamed.rows()[len(plain.rows()):])


@pytest.mark.parametrize("detect", [False, True])
def test_status_row_leaves_nothing_in_wrapped_text(detect):
    """Found by a new-user trial at 60 columns: screenplay action lines longer than the terminal wrapped
    onto the status row and wrote over it only in part, leaving `…65 chars/s · 32/3,000` in the text."""
    text = SCREENPLAY + "\n" + "She runs down the long corridor past the doors, the lights, the guards, and out. " * 3
    assert_status_row_leaves_the_screen_as_plain_text(text, width=40, every=7, detect=detect)


@pytest.mark.parametrize("text", [
    "func main() {\n\tif x {\n\t\treturn fmt.Sprintf(\"%d apples and %d pears\", apples, pears)\n\t}\n}\n" * 4,
    "これは日本語のテキストです。とても長い行が端末の幅を超えて折り返されます。\n" * 4
    + "mixed ascii と 日本語 text\n" * 3,
    "x\n\t\tABCDEFGHIJ KLMNO\n" * 6,  # a tab-indented cue, held back while it could be a name
])
def test_status_row_leaves_tabs_and_wide_characters_where_they_were(text):
    """The status row puts the cursor back by counting cells: a tab (0 cells to Rich) or a wide
    character wrapped from the last column threw that count off, and later text overwrote earlier."""
    assert_status_row_leaves_the_screen_as_plain_text(text, width=23, every=5, detect=True)


@pytest.mark.parametrize("width, every", [(120, 3), (37, 1), (37, 3), (23, 5)])
@pytest.mark.parametrize("height", [None, 4])
def test_status_row_leaves_emoji_where_a_terminal_drew_them(width, every, height):
    """Two new-user trials: tmux draws a ZWJ family, a flag or ❤️ at other widths than Unicode's tables give. The
    cursor went back by a column counted from those tables, and later text landed in the wrong place (`heart.❤️`, a
    family's last member written over) on 68 of 142 lines; where lines wrapped (37 columns), the text wrapped onto the
    status row before it was cleared, leaving pieces of it in the text. This screen, too, counts a ZWJ and a variation
    selector as one cell each where Rich counts none. With a height of 4 rows, it scrolls under the status row."""
    text = ("Family: 👩\u200d👩\u200d👧 and 👨\u200d👩\u200d👦\u200d👦, flags 🇯🇵🇫🇷, heart ❤\ufe0f, 日本.\n"
            "Plain words here, with no emoji at all, long enough to wrap at narrow widths.\n") * 4
    assert_status_row_leaves_the_screen_as_plain_text(text, width=width, every=every, detect=True, height=height)


def test_width_unsure_flags_emoji_and_their_joiners_not_other_text():
    from charnn.ui.cells import width_unsure

    flagged = "👩\u200d\ufe0f🇯🏽❤▶©™↔⌚☕🏴\U000e0067"
    assert all(width_unsure(char) for char in flagged), [char for char in flagged if not width_unsure(char)]
    plain = "aé日本語한─│→∑≤ÇΩ…—«»½\t1"
    assert not any(width_unsure(char) for char in plain), [char for char in plain if width_unsure(char)]


def test_no_status_row_under_a_line_of_emoji():
    """Where an emoji line will wrap is not known: the status row goes at its first emoji (before it: a cluster is not
    split by a status drawn inside it, as tmux showed), and comes back under the next line."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="truecolor", width=80)
    stream = ScriptStream(out, console, status=console, styles=False)
    stream.status_text = "model · temp 0.8 · 1,234 chars/s · 8/20"
    for char in "one\nheart ":
        stream.write(char)
    stream.draw_status()
    assert stream.status_shown
    before = len(out.getvalue())
    stream.write("❤")
    assert not stream.status_shown and out.getvalue().index("\x1b[2K", before) < out.getvalue().index("❤", before)
    stream.draw_status()
    assert not stream.status_shown  # not under this line
    for char in "\ufe0f!\nnext":
        stream.write(char)
    assert stream.status_shown  # under the next one, from its start


def test_status_row_leaves_wrapped_text_whole_on_the_bottom_row():
    """Drawn from the bottom row of the screen, the status row's line break scrolls the text up: where the cursor
    was saved before that, it came back a row too low."""
    text = SCREENPLAY + "\n" + "She runs down the long corridor past the doors, the lights, the guards, and out. " * 3
    assert_status_row_leaves_the_screen_as_plain_text(text, width=40, every=7, detect=True, height=3)


def test_a_style_left_open_goes_on_after_the_status_row_is_drawn():
    """Found by a new-user trial: the status row's own style ends in a reset, and a direction line streamed
    on after it plain: `(slippin` dim italic, then `g)` plain."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="truecolor", width=80)
    stream = ScriptStream(out, console, status=console)
    for char in "(slippin":
        stream.write(char)
    stream.status_text = "model · temp 0.8 · 1,234 chars/s · 8/20"
    stream.draw_status()
    for char in "g)\n":
        stream.write(char)
    written = out.getvalue()
    start, _ = stream.ansi("dim italic")
    after_status = written[written.index("8/20"):]
    assert start in after_status[:after_status.index("g)")]  # the open style again, before the rest of the line
    before_status = written[written.index("slippin"):written.index("model ·")]
    assert "\x1b[0m" in before_status  # and closed before the status row, which would otherwise take it on


class ColourTerminal(io.StringIO):
    """Stdout as a colour terminal (TERM set, NO_COLOR not), its output kept."""

    def isatty(self) -> bool:
        return True

    @classmethod
    def for_test(cls, monkeypatch) -> ColourTerminal:
        monkeypatch.delenv("NO_COLOR", raising=False)
        monkeypatch.setenv("TERM", "xterm-256color")
        return cls()


def test_a_line_begun_by_the_prime_is_styled_as_the_whole_line(monkeypatch):
    """Found by a new-user trial: with the prime ending in `CLARE`, the model's `NCE:` was styled as a speaker
    called NCE. The prime is not printed, but its last line is the start of the first line written."""
    from charnn import ui

    out = ColourTerminal.for_test(monkeypatch)
    stream = ui.open_stream("script", out, context="Exeunt.\n\nCLARE")
    for char in "NCE:\nO, I have passed a miserable night.\n":
        stream.write(char)
    stream.close()
    colour = stream.ansi(stream.speaker_style("CLARENCE"))[0]
    assert out.getvalue().startswith(colour + "NCE:")
    assert ANSI.sub("", out.getvalue()) == "NCE:\nO, I have passed a miserable night.\n"


def test_a_cut_stream_writes_nothing_after_the_ctrl_c():
    """Ctrl-C while a line's start was held back (could `MAR` be a speaker?) wrote `MAR` after the `^C` the
    terminal echoed (seen in the tenth session). A cut drops it, and still ends a style left open."""
    out = io.StringIO()
    stream = ScriptStream(out, Console(file=out, force_terminal=True, color_system="truecolor"))
    for char in "HAMLET: To be.\n(Aside\nMAR":
        stream.write(char)
    assert stream.held == "MAR"
    stream.close(cut=True)
    written = out.getvalue()
    assert ANSI.sub("", written) == "HAMLET: To be.\n(Aside\n" and stream.dropped == "MAR"
    assert written.endswith("\n")  # the direction's open style ended with its line
    out = io.StringIO()
    stream = ScriptStream(out, Console(file=out, force_terminal=True, color_system="truecolor"))
    for char in "HAMLET: To be.\n(Asi":
        stream.write(char)
    stream.close(cut=True)
    assert ANSI.sub("", out.getvalue()) == "HAMLET: To be.\n(Asi" and out.getvalue().endswith("\x1b[0m")
    stream = ScriptStream(io.StringIO(), Console(file=io.StringIO(), force_terminal=True))
    for char in "MAR":
        stream.write(char)
    stream.close()  # not cut: the held text is written
    assert ANSI.sub("", stream.out.getvalue()) == "MAR" and stream.dropped == ""


def test_control_characters_reach_a_terminal_as_pictures_and_a_pipe_as_they_are():
    """A new-user trial: a model trained on a binary with --errors replace wrote ESC, NUL and BEL raw to the terminal,
    where ESC begins an escape sequence."""
    text = "ROMEO: a\x1b[2Jb\x07c\x00\td\x9b2J\r\n"
    assert ANSI.sub("", styled(text)) == "ROMEO: a␛[2Jb␇c␀\td\ufffd2J\r\n"

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for out, expected in ((Terminal(), "a␛[2Jb␇c␀\td\ufffd2J\r\n\u2421"), (io.StringIO(), text[7:] + "\x7f")):
        stream = PlainStream(out)
        for char in text[7:] + "\x7f":
            stream.write(char)
        assert out.getvalue() == expected


def streamed_with_status(width: int = 60):
    """A ScriptStream with its status row on the same (emulated) terminal; `terminal.interrupt` makes the status's
    next flush raise KeyboardInterrupt after its write, as a Ctrl-C during that system call does."""

    class Terminal:
        def __init__(self, out: io.StringIO):
            self.out, self.interrupt = out, False

        def write(self, data: str) -> int:
            return self.out.write(data)

        def flush(self) -> None:
            if self.interrupt:
                self.interrupt = False
                raise KeyboardInterrupt

    out = io.StringIO()
    terminal = Terminal(out)
    text_console = Console(file=out, force_terminal=True, color_system="truecolor", width=width)
    status_console = Console(file=terminal, force_terminal=True, color_system="truecolor", width=width)
    return out, terminal, ScriptStream(out, text_console, status=status_console)


def test_the_status_row_is_back_under_each_new_line_at_once():
    """A new-user trial saw the status in only half of its screen captures: each line break erased it, and it
    came back at the next update, up to 32 characters later."""
    out, _, stream = streamed_with_status()
    for char in "The first line\n":
        stream.write(char)
    stream.status_text = "model · temp 0.8 · 1,234 chars/s · 15/99"
    stream.draw_status()
    wrapped = "A line longer than the terminal, which wraps onto the status row: " * 2 + "\n"
    for line in ["Second line\n", "\n", wrapped, "Third\n"]:
        for char in line:
            stream.write(char)
        screen = Screen(60)
        screen.feed(out.getvalue())
        rows = screen.rows()
        assert rows[screen.row + 1] == stream.status_text and screen.column == 0  # under the new, empty line
        assert sum(stream.status_text in row for row in rows) == 1
    stream.close()
    screen = Screen(60)
    screen.feed(out.getvalue())
    plain = Screen(60)
    plain.feed("The first line\nSecond line\n\n" + wrapped + "Third\n")
    assert screen.rows() == plain.rows()  # the status row gone at the end


@pytest.mark.parametrize("during", ["a draw", "a redraw after a line break"])
def test_a_ctrl_c_while_the_status_is_written_still_erases_it(during):
    """A new-user trial, 2 times in 49: `interrupted (seed …)` written over a status row left on the screen, as the
    Ctrl-C came between writing the status and noting that it was shown."""
    out, terminal, stream = streamed_with_status()
    for char in "ROMEO:\nBut soft, what li":
        stream.write(char)
    stream.status_text = "model · temp 0.8 · 1,234 chars/s · 22/99"
    if during == "a draw":
        terminal.interrupt = True
        with pytest.raises(KeyboardInterrupt):
            stream.draw_status()
    else:
        stream.draw_status()
        terminal.interrupt = True
        with pytest.raises(KeyboardInterrupt):
            for char in "ght\n":
                stream.write(char)
    stream.close(cut=True)
    screen = Screen(60)
    screen.feed(out.getvalue())
    assert not any("chars/s" in row for row in screen.rows())
    assert screen.rows()[1].startswith("But soft, what li")


def held_under_the_status(start: str):
    """(out, stream) after a speech, with the status row drawn under it, and `start` begun on the next line."""
    out, _, stream = streamed_with_status()
    for char in "ROMEO:\nBut soft.\n":
        stream.write(char)
    stream.status_text = "model · temp 0.8 · 1,234 chars/s · 22/99"
    stream.draw_status()
    for char in start:
        stream.write(char)
    return out, stream


def test_a_cut_that_drops_a_held_line_start_leaves_the_cursor_at_the_line_start():
    """The status row shown, then a Ctrl-C while a line's start is held back (`MAR`: a speaker's name?): nothing of
    that line was written, so the cursor goes back to its start. It went to the held text's width, and the
    `stream stopped` after it stood three cells in, on an empty row (seen in tmux)."""
    out, stream = held_under_the_status("MAR")
    assert stream.held == "MAR" and stream.status_shown
    stream.close(cut=True)
    screen = Screen(60)
    screen.feed(out.getvalue())
    assert stream.dropped == "MAR" and (screen.row, screen.column) == (2, 0)
    assert not any("chars/s" in row for row in screen.rows())


def test_plain_style_on_a_terminal_writes_the_text_as_is_with_the_status_row_under_it(monkeypatch):
    """A new-user trial: `--style plain` at a terminal showed no status row (chars/s, progress), as `auto` does."""
    from charnn import ui

    out = ColourTerminal.for_test(monkeypatch)
    stream = ui.open_stream("plain", out)
    stream.status = Console(file=out, force_terminal=True, color_system="truecolor", width=80)  # stderr, same terminal
    stream.status_text = "2×8 LSTM · temp 0.8 · 1,000 chars/s · 5/40"
    drawn = []
    for number, char in enumerate(PLAY, 1):
        stream.write(char)
        if number % 9 == 0:
            stream.draw_status()
            drawn.append(stream.status_shown)
    stream.close()
    assert any(drawn) and "1,000 chars/s" in out.getvalue()
    colours = set(re.findall(r"\x1b\[[0-9;]*m", out.getvalue()))
    assert colours == set(stream.ansi("dim"))  # the status row's dim and its reset: nothing in the text is styled
    screen, plain = Screen(80), Screen(80)
    screen.feed(out.getvalue())
    plain.feed(PLAY)
    assert screen.rows() == plain.rows()  # the text as generated, the status row gone at the end


@pytest.mark.parametrize("length", [61, 75, 121, 181])  # at 120 the cursor waits in the last column: drawn at 121
def test_the_status_row_follows_a_line_that_wraps_at_once(length):
    """A new-user trial at 40 columns: after a line wrapped onto the status row, the status stayed away until the
    next update (up to 31 characters). It is drawn under the new row as soon as a character is on it."""
    out, _, stream = streamed_with_status(width=60)
    for char in "Lead:\n":
        stream.write(char)
    stream.status_text = "model · temp 0.8 · 1,234 chars/s · 6/999"
    stream.draw_status()
    for char in "w" * length:
        stream.write(char)
    screen = Screen(60)
    screen.feed(out.getvalue())
    rows = screen.rows()
    assert rows[screen.row + 1] == stream.status_text and sum(stream.status_text in row for row in rows) == 1
    assert rows[1:screen.row + 1] == ["w" * 60] * (length // 60) + (["w" * (length % 60)] if length % 60 else [])


def test_a_status_too_wide_for_the_terminal_drops_whole_fields_from_the_front():
    """A new-user trial at 40 columns saw `… 9,650 chars/s ·` (no progress), and in a batch `64/4,00`."""
    status = "2×384 LSTM · temp 0.8 · 8 samples · 9,650 chars/s · 64/4,000"
    assert fitted(status, 200) == status
    assert fitted(status, 40) == "8 samples · 9,650 chars/s · 64/4,000"
    assert fitted(status, 30) == "9,650 chars/s · 64/4,000"
    assert fitted(status, 10) == "64/4,000"
    assert fitted(status, 6) == "64/4,"  # a lone field too long for the row: cut


def test_fountain_closes_a_parenthetical_the_model_left_open():
    """A new-user trial: 10 of 16 parentheticals in a screenplay model's scenes had no `)`, and Fountain read them as
    dialogue. Closed at the end of the line, or joined to the next where that line closes it; no blank line comes
    between a cue, its parenthetical and its dialogue."""
    text = "MARGARET\n(quietly\nWe go now.\n\nJONAH\n(looking out at\nthe sea)\nHello.\n\nMARGARET\n(fine)\nYes.\n"
    lines = documents.to_fountain(text).splitlines()
    assert lines == ["MARGARET", "(quietly)", "We go now.", "", "JONAH", "(looking out at the sea)", "Hello.", "",
                     "MARGARET", "(fine)", "Yes."]
    # Nested, or closed only in part below, or a scene heading below (from a review): every `(` is closed, and a
    # heading is never swallowed.
    assert documents.to_fountain("JONAH\n(a (b\nHi.\n").splitlines() == ["JONAH", "(a (b))", "Hi."]
    assert documents.to_fountain("JONAH\n(he says (softly\nyes)\nHi.\n").splitlines()[1] == "(he says (softly))"
    lines = documents.to_fountain("JONAH\n(looking\nEXT. BEACH - DAY)\n").splitlines()
    assert lines[:2] == ["JONAH", "(looking)"] and "EXT. BEACH - DAY)" in lines


@pytest.mark.parametrize("where", ["styling it", "writing it"])
def test_a_ctrl_c_while_held_text_is_shown_leaves_the_count_with_the_screen(where):
    """A pty trial: a Ctrl-C delivered while a held line start (`Thou h`) was being written, after it was counted as
    shown, left a blank row above `stream stopped` in 8 of 40 trials. Interrupted before its write, the held text
    is dropped unshown, and the stream counts nothing of the line: the cursor is back at its start."""
    out, stream = held_under_the_status("Thou ")
    assert stream.held == "Thou " and stream.shown_cells == 0

    def interrupted(*args):
        raise KeyboardInterrupt

    if where == "styling it":
        stream.render_decided = interrupted
    else:
        stream.out = type("Out", (), {"write": interrupted, "flush": out.flush})()
    with pytest.raises(KeyboardInterrupt):
        stream.write("h")  # `Thou h` is text: the held start is shown now
    stream.out = out
    stream.close(cut=True)
    screen = Screen(60)
    screen.feed(out.getvalue())
    assert stream.dropped == "Thou h" and stream.shown_cells == 0 and (screen.row, screen.column) == (2, 0)
    assert screen.rows()[2] == ""


def test_capitals_under_a_cue_are_its_speech_not_another_cue():
    """A second new-user trial's screenplay: `KIT` / `(laughing)` / `STOP.` and a sung lyric in capitals came out as
    cues, in Fountain with a blank line before them (the speech cut from its speaker) and on the terminal in a speaker
    colour of their own. Fountain reads a cue only after a blank line; within a speech, capitals are dialogue."""
    lines = ["KIT", "(laughing)", "STOP.", "", "OLD MAN", "(singing)", "SO SING ME HOME BEFORE THE DAWN",
             "AND LAY ME DOWN", "", "JONAH", "M.", "", "(The door opens.)", "ZOË", "Hello.", "MARGARET", "Hi."]
    assert script.kinds(lines) == ["cue", "direction", "text", "blank", "cue", "direction", "text", "text", "blank",
                                   "cue", "text", "blank", "direction", "cue", "text", "cue", "text"]
    fountain = documents.to_fountain("\n".join(lines))
    assert "KIT\n(laughing)\nSTOP.\n" in fountain and "JONAH\nM.\n" in fountain
    assert "OLD MAN\n(singing)\nSO SING ME HOME BEFORE THE DAWN\nAND LAY ME DOWN\n" in fountain
    assert "\nMARGARET\n" in fountain and "Hello.\n\nMARGARET" in fountain  # no blank lines in the source: still cues
    rendered = styled("\n".join(lines) + "\n")
    assert re.search(r"\x1b\[[0-9;]*mKIT\x1b", rendered) and re.search(r"\x1b\[[0-9;]*mMARGARET\x1b", rendered)
    for words in ("STOP.", "SO SING ME HOME BEFORE THE DAWN", "M."):
        assert f"\n{words}\n" in rendered  # plain, not in a speaker's colour


def test_captions_and_camera_directions_are_no_speakers():
    """A trial's screenplay: `SUPER: THREE YEARS LATER`, `CLOSE ON: …`, `EPISODE SIX: THE STRANGER` became a cue and
    its dialogue in Fountain, and `INTERCUT WITH:` lost its colon."""
    for line in ("SUPER: THREE YEARS LATER", "INSERT: A TORN LETTER", "CLOSE ON: the ticket, soaked through.",
                 "ANGLE ON: the pier", "INTERCUT WITH:", "EPISODE SIX: THE STRANGER", "BACK TO: the kitchen"):
        assert script.classify(line) == "text", line
        assert documents.to_fountain(f"She waits.\n\n{line}\n").splitlines()[-1] == line  # verbatim, as action
    for line in ("HAMLET: To be, or not to be", "HAMLET: O, O, O, O.", "OLD TOBIAS: Aye.", "KING LEAR:"):
        assert script.classify(line) == "speaker", line


def test_a_first_line_that_reads_as_a_title_page_key_is_forced():
    """Fountain reads a first line `Key: value` as the title page's and leaves it out of the script: a trial's opening
    paragraph vanished from screenplain's HTML. A real title page (a prime's `Title: …`) is left as it is."""
    assert documents.to_fountain("She was the door: the green bens.\nMore.\n").startswith("\n!She was the door:")
    assert documents.to_fountain("FADE IN:\n\nEXT. PIER - DAY\n").startswith("\n!FADE IN:\n")
    assert documents.to_fountain("CUT TO:\n\nEXT. PIER - DAY\n").startswith("\n> CUT TO:\n")
    titled = "Title: The Last Keeper\nAuthor: charnn\n\nFADE IN:\n"
    assert documents.to_fountain(titled).startswith("Title: The Last Keeper\nAuthor: charnn\n")
    assert documents.to_fountain("JONAH\nWait: what?\n").startswith("JONAH\n")


def test_a_programmers_marks_and_docstring_sections_are_no_speakers():
    """A new-user trial on a code base: a module docstring's `TODO:` and `NOTE:` (or unindented `Args:` and
    `Returns:`) read as two speakers, and the code after it was styled as a script, its `(…` and `_…` lines dimmed."""
    code = ('"""Helpers for the billing service.\n\nTODO: split this module.\nNOTE: not thread-safe.\n"""\n\n'
            'def pay(amount):\n    """Pay.\n\nArgs:\n    amount: how much\nReturns:\n    None\nFIXME\n"""\n'
            '    (protocol, delay) = channel\n    _thread = None\n')
    assert not script.looks_like_script(code)
    assert {script.classify(line) for line in ("TODO: split it", "Note: see below", "Args:", "RETURNS", "See Also:",
                                               "XXX", "FIXME: later")} == {"text"}
    assert script.classify("NORA: A note.") == "speaker" and script.classify("NOTARY") == "cue"  # names stay names


CHINESE_PLAY = """第一幕
时间：一九四八年秋，傍晚。
地点：北平城里一家茶馆。

【幕启】
（茶馆里坐满了客人。王掌柜在柜台后面算账。）
王掌柜：今儿个下雨，客人倒不少。
林秀：掌柜的，来一壶茶。
王掌柜：您坐，马上就来。
【林秀】（低声）他还没回来吗？
罗密欧·蒙太古：我来晚了。

第二场
林秀：雨停了。
"""

CHINESE_PROSE = """注意：本文仅供参考。
他走进房间，看见桌上放着一封信。信上写着：明天早上八点，老地方见。
时间：晚上八点。
她笑了笑，没有说话。窗外的雨越下越大。
"""


@pytest.mark.parametrize("line, kind", [
    ("张三：你好。", "speaker"), ("张三:你好。", "speaker"), ("【李四】你好", "speaker"),
    ("（他走到窗前）", "direction"), ("【幕启】", "direction"), ("第一幕", "heading"), ("第二场 茶馆", "heading"),
    ("第3場", "heading"), ("时间：晚上", "text"), ("人物：张三、李四", "text"), ("你好，我是张三。", "text"),
    ("信上写着：明天见。", "text"), ("他说：“你好。”", "text"), ("老王：「走吧。」", "text"),
    ("ZHANG: 你好你好你好你好", "speaker"), ("罗密欧·蒙太古：爱", "speaker"), ("ハムレット：生きるべきか", "speaker"),
    ("第一次见面", "text"), ("第一场雪下了一夜。", "text"), ("第一幕：茶馆", "heading"), ("第一幕第一场", "heading"),
    ("第一幕（1898年初秋）", "heading"), ("第二场。", "heading"), ("佐々木：こんにちは", "speaker"),
    ("作词：周杰伦", "text"), ("副歌：", "text"), ("答案是：不知道。", "text"), ("例如：苹果、香蕉", "text"),
])
def test_a_chinese_or_japanese_plays_lines(line, kind):
    """A new-user trial, a Chinese play: its speakers (`张三：`, `【李四】`), directions (`（…）`) and scenes (`第一幕`)
    were plain text on screen and action in Fountain. An ASCII name before CJK speech was no speaker either: its speech
    has no capitals, which read as a caption in capitals (`EPISODE SIX: THE STRANGER`)."""
    assert script.classify(line) == kind


def test_a_chinese_play_reads_as_a_script_and_is_styled_but_prose_is_not(monkeypatch):
    from charnn.ui import script_styles

    monkeypatch.setattr(script_styles, "SPEAKERS", {})
    assert script.looks_like_script(CHINESE_PLAY) and not script.looks_like_script(CHINESE_PROSE)
    rendered = styled(CHINESE_PLAY)
    assert ANSI.sub("", rendered) == CHINESE_PLAY  # nothing added or dropped
    wang = re.findall(r"(\x1b\[[0-9;]*m)王掌柜：\x1b\[0m", rendered)
    lin = re.findall(r"(\x1b\[[0-9;]*m)(?:林秀：|【林秀】)\x1b\[0m", rendered)
    assert len(wang) == 2 and len(set(wang)) == 1 and len(lin) == 3 and len(set(lin)) == 1 and wang[0] != lin[0]
    assert re.search(r"\x1b\[[0-9;]*m罗密欧·蒙太古：\x1b\[0m我来晚了", rendered)
    assert re.search(r"\x1b\[2;3m（(?:\x1b\[0m\x1b\[2;3m)?茶馆里", rendered)  # dim italic
    assert re.search(r"\x1b\[2;3m【幕启】", rendered)
    assert re.search(r"\x1b\[1;4m第一幕", rendered) and re.search(r"\x1b\[1;4m第二场", rendered)
    assert "时间：一九四八年秋" in ANSI.sub("", rendered) and not re.search(r"\x1b\[[0-9;]*m时间", rendered)
    assert styled(CHINESE_PROSE) == CHINESE_PROSE
    assert script.undecided("张三") and script.undecided("第二") and script.undecided("【李四】")
    assert script.undecided("张三：") and not script.undecided("张三：你") and not script.undecided("你好，")
    assert not script.undecided("【李四】你") and script.undecided("第一场") and not script.undecided("第二场 茶")
    assert styled("第一场雪下了一夜。\n") == "第一场雪下了一夜。\n"  # the first snow: no heading, even as it streams
    # As streamed, as `classify` reads the whole line (a review): a space after the name, a long direction, CRLF.
    assert re.match(r"\x1b\[1;[0-9;]*m【李四】\x1b\[0m 你好", styled("【李四】 你好\n"))
    for direction in ("【幕启。舞台上一片漆黑，远处传来钟声，众人慢慢走上台来。】\n", "【幕启】 \n", "【幕启】\r\n"):
        assert styled(direction).startswith("\x1b[2;3m【"), direction
    assert ANSI.sub("", styled("他说：“走吧。”\n")) == styled("他说：“走吧。”\n")  # prose speech stays plain


def test_fountain_from_a_chinese_play():
    lines = documents.to_fountain(CHINESE_PLAY).splitlines()
    assert ".第一幕" in lines and ".第二场" in lines  # forced scene headings
    at = lines.index("@王掌柜")  # no capitals: a forced cue
    assert lines[at - 1] == "" and lines[at + 1] == "今儿个下雨，客人倒不少。"
    assert lines[lines.index("@林秀", at) + 1] == "掌柜的，来一壶茶。"
    assert "@罗密欧·蒙太古" in lines and "（低声）他还没回来吗？" in lines
    assert "时间：一九四八年秋，傍晚。" in lines  # front matter stays action
    after = documents.to_fountain("张三：你好。\n（他走到窗前）\n李四：嗯。\n").splitlines()
    assert after == ["@张三", "你好。", "", "（他走到窗前）", "", "@李四", "嗯。"]  # action, not 张三's speech
