"""Reading generated text as a play or screenplay: line kinds and speakers.

Pure text logic (no rich, no torch), so the styled terminal stream and the Fountain writer (documents.py) share
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
    and a Chinese or Japanese play's own marks: speakers `张三：你好。` (a full-width colon, or a colon) and
    `【李四】你好`, directions `（他走到窗前）` and `【幕启】` alone on a line, acts and scenes `第一幕` / `第二场`
    text         anything else (dialogue, action, prose); also captions and camera directions with a colon
                 (`SUPER: THREE YEARS LATER`, `CLOSE ON: the ticket`, `EPISODE ONE: THE LAMP`), which are no speakers
"""

from __future__ import annotations

import re

# An act or scene of a Chinese or Japanese play (第一幕, 第二场) ends its word: 第一场雪 is "the first snow".
HEADING = re.compile(r"^(INT\.|EXT\.|INT/EXT\.?|I/E\.?|EST\.|ACT\s+[IVXLC\d]+\b|SCENE\s+[IVXLC\d]+\b|"
                     r"第[一二三四五六七八九十百零〇两\d０-９]+[幕场場景](?=[\s：:.．、　（(，,。第]|$))")
TRANSITION = re.compile(r"^(?:[A-Z][A-Z ]*\bTO:|FADE (?:IN|OUT)[:.]?|FADE TO BLACK\.?|THE END\.?)\s*$")
# A name in capitals (letters, spaces, apostrophes, dots, hyphens), then optional (V.O.) / (CONT'D).
CUE = re.compile(r"^[A-Z][A-Z0-9 .'\-À-Þ]{0,38}?(?:\s*\([A-Z.' ]+\))?\s*$")
SPEAKER = re.compile(r"^([A-Z][A-Za-z0-9 .'\-À-ÿ]{0,38}):(?=\s|$)")
# Up to four words, each capitalised: First Citizen, Lady Capulet, King Richard III.
TITLE_NAME = re.compile(r"^[A-ZÀ-Þ][A-Za-z'\-À-ÿ]*(?: [A-ZÀ-Þ][A-Za-z'\-À-ÿ]*){0,3}$")
PARTIAL_TITLE_SPEAKER = re.compile(r"^[A-ZÀ-Þ][A-Za-z'\-À-ÿ]*(?: [A-ZÀ-Þ][A-Za-z'\-À-ÿ]*){0,3} ?(?::\s*)?$")
DIRECTION_OPENERS = "([_（"
# A Chinese or Japanese play (a new-user trial: a Chinese play read as plain text, on screen and in Fountain). A name
# of up to 8 CJK characters (a middle dot in translated names: 罗密欧·蒙太古) and a colon, full-width or not; or a
# name in 【】 with the line's words after it (【幕启】 alone on its line is a direction).
CJK = "\u3005\u3007\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"  # 々 and 〇 too: 佐々木
CJK_SPEAKER = re.compile(f"^([{CJK}][{CJK}·・]{{0,7}})\\s*[：:]")
BRACKET_SPEAKER = re.compile("^【([^】\\s]{1,10})】(?=.*\\S)")
BRACKETED = re.compile("^【[^】]*】$")
QUOTES = "“「『\"'‘"  # prose quotes speech after its colon; a play does not
SAYS = "说說道着著曰是"  # nor does it name a speaker with a verb: 他说, 笑道, 写着, 答案是
# What a Chinese or Japanese play's front matter, a song's credits and sections, or prose put before a colon.
CJK_NOT_SPEAKER = {"时间", "時間", "时", "時", "地点", "地點", "地", "場所", "人物", "人物表", "登场人物", "出场人物",
                   "剧中人物", "劇中人物", "登場人物", "场景", "場景", "布景", "背景", "注", "注意", "备注", "備註",
                   "说明", "說明", "提示", "简介", "簡介", "剧情", "劇情", "作者", "编剧", "編劇", "标题", "標題",
                   "题目", "題目", "作词", "作詞", "作曲", "编曲", "編曲", "演唱", "原唱", "歌手", "制作人", "製作人",
                   "主歌", "副歌", "前奏", "间奏", "間奏", "尾奏", "例如", "比如", "譬如", "网址", "網址", "地址",
                   "电话", "電話", "邮箱", "郵箱"}
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
# Of those, the ones only a song has: a play may have a `Strophe`, an `Interlude` or a `Refrain`, and a radio script an
# `INTRO` (a review: a Greek tragedy's `Strophe 1` and `Strophe 2` hid its speakers).
SONG_SECTION = re.compile(r"^(?:verse|bridge|estribillo|puente|estrofa|verso)(?:\s*\d+)?$|^(?:pre-?|post-?)"
                          r"(?:chorus|hook|coro)(?:\s*\d+)?$|^(?:chorus|hook|coro)\s*\d+$", re.IGNORECASE)


# A programmer's marks and a docstring's sections, in any case: a code model's `TODO:` and `NOTE:` (or `Args:` and
# `Returns:` unindented) read as two speakers, and its lines that began with `(` or `_` were dimmed as directions (a
# new-user trial on a code base).
CODE_WORD = re.compile(r"^(?:TODO|FIXME|XXX|HACK|NOTE|NOTES|NB|BUG|WARNING|WARNINGS|CAUTION|IMPORTANT|DEPRECATED|"
                       r"ARGS|ARGUMENTS|KEYWORD ARGS|KWARGS|PARAMETERS|PARAMS|RETURNS?|RAISES|YIELDS?|EXAMPLES?|"
                       r"ATTRIBUTES|SEE ALSO|USAGE|METHODS|OPTIONS)$", re.IGNORECASE)


def names_no_one(name: str) -> bool:
    """Whether words before a colon, or a line in capitals, name no character: a caption or camera direction, a
    song's section, a programmer's mark (`TODO`), or one syllable sung over (`OH-OH-OH`, `NA NA NA`: a trial's lyrics
    read as cues)."""
    words = re.split(r"[\s-]+", name.strip())
    return bool(NOT_SPEAKER.match(name) or SECTION.match(name.strip()) or CODE_WORD.match(name.strip())) or (
        len(words) > 1 and len(set(words)) == 1)


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
    if stripped[0] in DIRECTION_OPENERS or BRACKETED.match(stripped):
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
    """Whether a line starts with a speaker in capitals and a colon (`HAMLET: To be`), or a Chinese or Japanese play's
    (`张三：`, `【李四】`: no capitals there; not front matter or prose, above). Not a caption or camera
    direction (`SUPER:`, `CLOSE ON:`), nor where what follows is itself in capitals (`EPISODE SIX: THE STRANGER`): a
    trial's screenplay made speakers of them, in the terminal's colours and in Fountain."""
    cjk = CJK_SPEAKER.match(stripped) or BRACKET_SPEAKER.match(stripped)
    if cjk is not None:  # not prose's `他说：“你好。”` or `信上写着：明天见。`
        return not (cjk.group(1) in CJK_NOT_SPEAKER or (stripped[cjk.end():].lstrip()[:1] or "x") in QUOTES
                    or (cjk.re is CJK_SPEAKER and len(cjk.group(1)) > 1 and cjk.group(1)[-1] in SAYS))
    match = SPEAKER.match(stripped)
    if match is None or match.group(1).upper() != match.group(1) or names_no_one(match.group(1).strip()):
        return False
    rest = stripped[match.end():]
    return not (sum(c.isalpha() for c in rest) >= 6 and rest.upper() == rest != rest.lower())  # cased: not `你好`


def speaker_split(line: str) -> tuple[str, int]:
    """A speaker line's name, and where the name and its mark (`:`, `：`, `】`) end in `line`."""
    stripped = line.lstrip()
    match = CJK_SPEAKER.match(stripped) or BRACKET_SPEAKER.match(stripped)
    if match is not None:
        return match.group(1), len(line) - len(stripped) + match.end()
    return line.partition(":")[0].strip(), line.find(":") + 1 if ":" in line else len(line)


def undecided(prefix: str) -> bool:
    """True while a line's beginning could still turn out to be a cue, speaker, heading or transition.

    The streamer holds such a prefix back (a few characters at most) instead of printing it plain
    and then having to repaint it.
    """
    stripped = prefix.lstrip()
    if not stripped:
        return True
    if PARTIAL_CJK.match(stripped):  # `张三` may go on to `：`, `张三：` to a quote (prose), `第一场` to `雪`
        return True
    if HEADING.match(stripped) or stripped[0] in DIRECTION_OPENERS:
        return False
    if stripped[0] == "【":  # a speaker's name, or a direction alone on its line: known after the `】` and a word
        return len(stripped) <= 40 and (stripped.rstrip().endswith("】") or "】" not in stripped)
    title = prefix[:1] not in " \t" and PARTIAL_TITLE_SPEAKER.match(stripped)  # not indented, like `Nurse:`
    return len(stripped) <= 40 and bool(PARTIAL_CUE.match(stripped) or title)


PARTIAL_CJK = re.compile(f"^[{CJK}][{CJK}·・]{{0,7}}\\s*(?:[：:]\\s*)?$")


def speaker_name(line: str, kind: str | None = None) -> str | None:
    """The character a speaker or cue line names ('JONAH (V.O.)' → 'JONAH'), else None; `kind`: the line's, where
    read with the lines above it (`kinds`)."""
    kind = kind or classify(line)
    stripped = line.strip()
    if kind == "speaker":
        return speaker_split(stripped)[0]
    if kind == "cue":
        return re.sub(r"\s*\(.*$", "", stripped).strip()
    return None


def looks_like_script(text: str) -> bool:
    """Whether text reads as a play or screenplay: several speaker/cue/heading lines, and two characters who speak
    or a scene heading or transition (a lyric sheet's `Chorus:` alone, again and again, is no play)."""
    lines = text.splitlines()
    found = kinds(lines)
    # Where a label only a song has stands on a line of its own (`VERSE 1`, `[Bridge]`, `Pre-Chorus:`), lines in
    # capitals are sung and `CHORUS` is a label: a trial's lyric sheet with `VERSE 1`, `CHORUS`, `BRIDGE` and shouted
    # lines read as a screenplay, every `CHORUS` coloured as a speaker. A scene heading or transition still decides.
    scenes = any(kind in ("heading", "transition") for kind in found)
    if not scenes and any(SONG_SECTION.match(line.strip().strip("[]:").strip()) for line in lines):
        return False
    marked = sum(kind in ("speaker", "cue", "heading", "transition") for kind in found)
    names = {speaker_name(line, kind).upper() for line, kind in zip(lines, found, strict=True)
             if kind in ("speaker", "cue")}
    return (marked >= 2 and marked >= 0.05 * sum(kind != "blank" for kind in found)
            and (len(names) >= 2 or scenes))
