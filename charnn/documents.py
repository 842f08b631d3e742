"""The documents `--output` writes: the text, or a Fountain screenplay (fountain.io) made from it, with a batch's
samples each under its header. Pure text logic, on script.py's line kinds."""

from __future__ import annotations

from charnn.script import classify, kinds, speaker_split

# The keys of a Fountain title page (`Title: …` as a document's first line); any other `Key: value` there is
# forced as action, or it would be taken for one and left out of the script.
TITLE_PAGE_KEYS = {"title", "credit", "author", "authors", "source", "draft date", "date", "contact", "copyright",
                   "notes", "revision"}

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
            name, end = speaker_split(stripped)
            words = stripped[end:]
            blank_before()
            cue = name.upper()
            # Fountain takes a line in capitals for a cue; a name with no capitals (张三) is forced with `@`.
            out.append(cue if any(char.isupper() for char in cue) else "@" + cue)
            if words.strip():
                out.append(words.strip())
        elif kind == "cue":
            blank_before()
            out.append(stripped)
        elif kind == "direction" and stripped[0] in "（【":  # no parenthetical in Fountain: action, not speech
            blank_before()
            out.append(stripped)
            out.append("")
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
