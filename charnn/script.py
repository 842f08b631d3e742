"""Reading generated text as a play or screenplay: line kinds, speakers, and Fountain output.

Pure text logic (no rich, no torch), so the styled terminal stream and the Fountain writer share
one set of rules and tests can pin them down on small hand-written snippets.

Line kinds:
    heading      INT. KITCHEN - NIGHT / EXT. ... / ACT II / SCENE III. A room.
    transition   CUT TO: / DISSOLVE TO: / FADE OUT. / FADE IN:
    speaker      HAMLET: (a play's speaker prefix; the rest of the line is dialogue), or a name in
                 title case alone on its line and not indented, as tiny shakespeare writes a quarter of its
                 speakers (`First Citizen:`, `Nurse:`); `Note: words` and a docstring's indented
                 `Returns:` stay text
    cue          MARGARET or JONAH (V.O.) alone on a line (a screenplay's character cue); not directly under a
                 cue, or under a parenthetical or a line in capitals of its speech: there a line in capitals is
                 dialogue (`STOP.`, a sung lyric), as Fountain reads it (`in_speech`)
    direction    (quietly) / [Exeunt] / _Enter Ghost_ lines
    text         anything else (dialogue, action, prose); also captions and camera directions with a colon
                 (`SUPER: THREE YEARS LATER`, `CLOSE ON: the ticket`, `EPISODE ONE: THE LAMP`), which are no speakers
"""

from __future__ import annotations

import re

HEADING = re.compile(r"^(INT\.|EXT\.|INT/EXT\.?|I/E\.?|EST\.|ACT\s+[IVXLC\d]+\b|SCENE\s+[IVXLC\d]+\b)")
TRANSITION = re.compile(r"^(?:[A-Z][A-Z ]*\bTO:|FADE (?:IN|OUT)[:.]?|FADE TO BLACK\.?|THE END\.?)\s*$")
# A name in capitals (letters, spaces, apostrophes, dots, hyphens), then optional (V.O.) / (CONT'D).
CUE = re.compile(r"^[A-Z][A-Z0-9 .'\-À-Þ]{0,38}?(?:\s*\([A-Z.' ]+\))?\s*$")
SPEAKER = re.compile(r"^([A-Z][A-Za-z0-9 .'\-À-ÿ]{0,38}):(?=\s|$)")
# Up to four words, each capitalised: First Citizen, Lady Capulet, King Richard III.
TITLE_NAME = re.compile(r"^[A-ZÀ-Þ][A-Za-z'\-À-ÿ]*(?: [A-ZÀ-Þ][A-Za-z'\-À-ÿ]*){0,3}$")
PARTIAL_TITLE_SPEAKER = re.compile(r"^[A-ZÀ-Þ][A-Za-z'\-À-ÿ]*(?: [A-ZÀ-Þ][A-Za-z'\-À-ÿ]*){0,3} ?(?::\s*)?$")
DIRECTION_OPENERS = "([_"
# Screenplay words before a colon that name no speaker: captions, inserts, camera directions, episode titles.
NOT_SPEAKER = re.compile(r"^(?:SUPER|INSERT|TITLE(?: CARD)?|CARD|CHYRON|CAPTION|SUBTITLES?|CLOSE-UP|"
                         r"(?:CLOSE|ANGLE|PUSH|PAN|TRACK|WIDE|BACK)(?: ON| UP| IN| TO)?|INTERCUT(?: WITH)?|MONTAGE|"
                         r"SERIES OF SHOTS|FLASHBACK|POV|ON SCREEN|LATER|(?:EPISODE|CHAPTER|PART|BOOK)\b.*)$")
# A song's section labels (`Bridge:`, `VERSE 2`, `Pre-Chorus`), in any case: a trial's lyric sheets had `Bridge:` and
# `Outro:` coloured as a play's speakers. Not `Chorus`, `Hook` or `Coro` alone: a play's chorus speaks (Henry V,
# Greek tragedy), as Captain Hook does (a review); numbered or with pre-/post-, they are sections.
SECTION = re.compile(r"^(?:(?:pre-?|post-?)?(?:verse|bridge|intro|outro|refrain|interlude|breakdown|instrumental|"
                     r"estribillo|puente|estrofa|verso|strophe)(?:\s*\d+)?|(?:pre-?|post-?)(?:chorus|hook|coro)"
                     r"(?:\s*\d+)?|(?:chorus|hook|coro)\s*\d+)$", re.IGNORECASE)


def names_no_one(name: str) -> bool:
    """Whether words before a colon, or a line in capitals, name no character: a caption or camera direction, a
    song's section, or one syllable sung over (`OH-OH-OH`, `NA NA NA`: a trial's lyrics read as cues)."""
    words = re.split(r"[\s-]+", name.strip())
    return bool(NOT_SPEAKER.match(name) or SECTION.match(name.strip())) or (len(words) > 1 and len(set(words)) == 1)


# The keys of a Fountain title page (`Title: …` as a document's first line); any other `Key: value` there is
# forced as action, or it would be taken for one and left out of the script.
TITLE_PAGE_KEYS = {"title", "credit", "author", "authors", "source", "draft date", "date", "contact", "copyright",
                   "notes", "revision"}
PARTIAL_CUE = re.compile(r"^[A-Z][A-Z0-9 .'\-À-Þ]*(?:\s*\([A-Z.' ]*\)?)?$")


def classify(line: str, in_speech: bool = False) -> str:
    """The kind of a complete line (without its newline); `in_speech`: the line above is a cue, or a parenthetical or
    a line in capitals under one (`in_speech_after`)."""
    stripped = line.strip()
    if not stripped:
        return "blank"
    if HEADING.match(stripped):
        return "heading"
    if TRANSITION.match(stripped):
        return "transition"
    if stripped[0] in DIRECTION_OPENERS:
        return "direction"
    if speaker_prefix(stripped) or (line[:1] not in " \t" and stripped.endswith(":")
                                    and TITLE_NAME.match(stripped[:-1]) and not names_no_one(stripped[:-1])):
        return "speaker"
    if (CUE.match(stripped) and any(c.isalpha() for c in stripped) and len(stripped) > 1 and not in_speech
            and not names_no_one(re.sub(r"\s*\(.*$", "", stripped))):
        return "cue"
    return "text"


def in_speech_after(line: str, kind: str, in_speech: bool) -> bool:
    """Whether the line under `line` (of `kind`, read with `in_speech`) is still in a speech: under a cue, and under
    a parenthetical or a line in capitals within one. A line in capitals there is dialogue: a new-user trial's
    `KIT` / `(laughing)` / `STOP.` and a sung lyric in capitals came out as cues, the speech cut from its speaker."""
    stripped = line.strip()
    return kind == "cue" or (in_speech and (stripped.startswith("(") or (
        kind == "text" and stripped.upper() == stripped and any(c.isalpha() for c in stripped))))


def kinds(lines: list[str]) -> list[str]:
    """The kind of each of successive lines, each read with those above it."""
    found, in_speech = [], False
    for line in lines:
        found.append(classify(line, in_speech))
        in_speech = in_speech_after(line, found[-1], in_speech)
    return found


def speaker_prefix(stripped: str) -> bool:
    """Whether a line starts with a speaker in capitals and a colon (`HAMLET: To be`). Not a caption or camera
    direction (`SUPER:`, `CLOSE ON:`), nor where what follows is itself in capitals (`EPISODE SIX: THE STRANGER`): a
    trial's screenplay made speakers of them, in the terminal's colours and in Fountain."""
    match = SPEAKER.match(stripped)
    if match is None or match.group(1).upper() != match.group(1) or names_no_one(match.group(1).strip()):
        return False
    rest = stripped[match.end():]
    return not (sum(c.isalpha() for c in rest) >= 6 and rest.upper() == rest)


def undecided(prefix: str) -> bool:
    """True while a line's beginning could still turn out to be a cue, speaker, heading or transition.

    The streamer holds such a prefix back (a few characters at most) instead of printing it plain
    and then having to repaint it.
    """
    stripped = prefix.lstrip()
    if not stripped:
        return True
    if HEADING.match(stripped) or stripped[0] in DIRECTION_OPENERS:
        return False
    title = prefix[:1] not in " \t" and PARTIAL_TITLE_SPEAKER.match(stripped)  # not indented, like `Nurse:`
    return len(stripped) <= 40 and bool(PARTIAL_CUE.match(stripped) or title)


def speaker_name(line: str) -> str | None:
    """The character a speaker or cue line names ('JONAH (V.O.)' → 'JONAH'), else None."""
    kind = classify(line)
    stripped = line.strip()
    if kind == "speaker":
        return stripped.split(":")[0].strip()
    if kind == "cue":
        return re.sub(r"\s*\(.*$", "", stripped).strip()
    return None


def looks_like_script(text: str) -> bool:
    """Whether text reads as a play or screenplay: several speaker/cue/heading lines, and two characters who speak
    or a scene heading or transition (a lyric sheet's `Chorus:` alone, again and again, is no play)."""
    lines = text.splitlines()
    found = kinds(lines)
    marked = sum(kind in ("speaker", "cue", "heading", "transition") for kind in found)
    names = {re.sub(r"\s*\(.*$", "", line.strip().split(":")[0]).strip().upper()
             for line, kind in zip(lines, found, strict=True) if kind in ("speaker", "cue")}
    return (marked >= 2 and marked >= 0.05 * sum(kind != "blank" for kind in found)
            and (len(names) >= 2 or any(kind in ("heading", "transition") for kind in found)))


def to_fountain(text: str) -> str:
    """Fountain screenplay text (fountain.io) from generated screenplay- or play-like text.

    Play-style `NAME: words` lines become a cue line and a dialogue line; cues, headings and
    transitions get the blank line before them that Fountain needs; headings that Fountain would
    not recognise (ACT I, SCENE II) are forced with a leading '.'; stage directions stay as action.
    A parenthetical the model left open (`(quietly`) is closed, or joined to the next line where that closes
    it: Fountain reads an open one as dialogue (a new-user trial: 10 of 16 in a screenplay model's scenes).
    """
    out: list[str] = []

    def blank_before():
        if out and out[-1] != "":
            out.append("")

    lines, joined = text.splitlines(), False
    for index, (line, kind) in enumerate(zip(lines, kinds(lines), strict=True)):
        if joined:  # the end of a parenthetical, joined to the line above
            joined = False
            continue
        stripped = line.strip()
        missing = stripped.count("(") - stripped.count(")")
        if kind == "direction" and stripped.startswith("(") and missing > 0:
            after = lines[index + 1] if index + 1 < len(lines) else ""
            # It goes on below where the next line is text that closes exactly what is open: one line.
            joined = (classify(after) == "text" and after.rstrip().endswith(")")
                      and after.count(")") - after.count("(") == missing)
            stripped = f"{stripped} {after.strip()}" if joined else stripped + ")" * missing
        if kind == "blank":
            blank_before()
        elif kind == "heading":
            blank_before()
            out.append(stripped if stripped.startswith(("INT", "EXT", "EST", "I/E")) else "." + stripped)
            out.append("")
        elif kind == "transition":
            blank_before()
            if stripped.startswith("FADE IN"):  # at the action margin, as screenplays set it (and Fountain reads it)
                out.append(stripped)
            elif stripped.startswith("THE END"):
                out.append(f"> {stripped} <")  # centred
            else:  # at the transition margin: Fountain knows `… TO:`, and needs `>` for FADE OUT.
                out.append(stripped if stripped.endswith("TO:") else "> " + stripped)
            out.append("")
        elif kind == "speaker":
            name, _, words = stripped.partition(":")
            blank_before()
            out.append(name.strip().upper())
            if words.strip():
                out.append(words.strip())
        elif kind == "cue":
            blank_before()
            out.append(stripped)
        else:
            out.append(stripped if kind == "direction" else line.rstrip())
    document = "\n".join(out).strip("\n")
    first = document.partition("\n")[0]
    if ":" in first and first[:1] not in "!>.@~=#" and first.partition(":")[0].strip().lower() not in TITLE_PAGE_KEYS:
        # Fountain reads a first line `Key: value` as a title page's, and leaves it out of the script: a trial's
        # opening paragraphs vanished from screenplain's HTML (2 seeds of 30). Forced as a transition or action,
        # after a blank line: screenplain takes the first paragraph for a title page whatever its first character.
        document = "\n" + ("> " if first.endswith("TO:") else "!") + document
    return document + "\n"


def sample_heading(number: int, total: int, seed: int | None, fountain: bool) -> str:
    """The line above sample `number` of `total`, with the seed that makes it alone where it has one."""
    if fountain:
        return f"# Sample {number} of {total}" + (f", seed {seed}" if seed is not None else "")
    return f"── sample {number}/{total}" + (f" · seed {seed}" if seed is not None else "") + " ──"


def output_text(texts: list[str], prime: str, fountain: bool, seeds: list[int] | None = None) -> str:
    """What `--output` writes for generated `texts` (each continuing `prime`): the text, or with `fountain` a
    Fountain screenplay of the prime and the text. Several samples each come under a header (with its seed from
    `seeds`) and end their line, as the screen shows them; in Fountain the header is a section, which screenwriting
    apps show in the outline and leave out of the script, so each sample after the first also starts a new page
    (`===`): printed, they ran into each other (a new-user trial)."""
    body = [to_fountain(prime + text) if fountain else text for text in texts]
    if len(body) == 1:
        return body[0]
    written = ""
    for number, text in enumerate(body, 1):
        if number > 1 and not written.endswith("\n\n"):  # one blank line between samples, also after `--stop '\n\n'`
            written += "\n"
        seed = seeds[number - 1] if seeds else None
        written += "===\n\n" if fountain and number > 1 else ""  # a page break
        written += sample_heading(number, len(body), seed, fountain) + ("\n\n" if fountain else "\n")
        written += text + "\n" * (bool(text) and not text.endswith("\n"))  # as the screen: an empty one adds none
    return written
