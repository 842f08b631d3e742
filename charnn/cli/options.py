"""Option values checked at the edge, each a Typer callback: a bad value is a usage error (exit 2); and the prime that
`--prime` and `--prime-file` name, read."""

from __future__ import annotations

import math
import os
import re
import sys
from pathlib import Path

import typer

from charnn.errors import CharnnError


def parse_duration(text: str) -> float:
    """'90s', '10m', '1h30m', '1.5h' → seconds; a bare number is refused (seconds or minutes?)."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):  # 10 seconds or 10 minutes? A trial user meant minutes and got seconds.
        raise typer.BadParameter(f"{text!r} has no unit — say {text}s or {text}m (e.g. 90s, 10m, 1h30m)",
                                 param_hint="'--time'")
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([hms])", text)
    unitless = re.fullmatch(r"\d+\s*([hm])\s*(\d+)", text)  # a trial's 1m30: the next unit down, left out
    if unitless and int(unitless[2]) < 60:  # (1h90m would be refused in its turn)
        raise typer.BadParameter(f"{text!r} is not a duration — did you mean {text}{'ms'['hm'.index(unitless[1])]}?",
                                 param_hint="'--time'")
    if not parts or re.sub(r"\d+(?:\.\d+)?\s*[hms]", "", text).strip():
        raise typer.BadParameter(f"{text!r} is not a duration — use e.g. 90s, 10m, 1h30m", param_hint="'--time'")
    units = "".join(unit for _, unit in parts)
    if units not in ("h", "m", "s", "hm", "hs", "ms", "hms"):  # "10m5m", "30s1m": a slip, not a duration
        raise typer.BadParameter(f"{text!r} is not a duration — give hours, minutes, seconds in that order, each "
                                 "once (e.g. 1h30m)", param_hint="'--time'")
    for value, unit in parts[1:]:  # a trial's `1h99m` (2h39m) was a slip
        if float(value) >= 60:
            raise typer.BadParameter(f"{text!r}: {value}{unit} after a larger unit must be under 60 — "
                                     "e.g. 1h30m, or 150m", param_hint="'--time'")
    seconds = sum(float(value) * {"h": 3600, "m": 60, "s": 1}[unit] for value, unit in parts)
    if seconds <= 0:
        raise typer.BadParameter("the duration must be more than zero", param_hint="'--time'")
    return seconds


def text_file(value: str) -> Path:
    """A corpus argument as typed: an empty one (a script's unset `"$CORPUS"`) became the current folder, and
    `charnn train ""` said `. is a directory`."""
    if not value:
        raise typer.BadParameter("is empty — give the path of a text file", param_hint="'CORPUS'")
    return Path(value)


def check_top_p(value: float | None) -> float | None:
    if value is not None and (math.isnan(value) or not (0 < value <= 1)):
        raise typer.BadParameter(f"must be in (0, 1], not {value}")
    return value


def check_dropout(value: float | None) -> float | None:
    if value is not None and not 0 <= value < 1:
        raise typer.BadParameter(f"must be in [0, 1), not {value}")
    return value


def check_nonnegative(value: float | None) -> float | None:
    if value is not None and not (value >= 0 and math.isfinite(value)):
        raise typer.BadParameter(f"must be a number ≥ 0, not {value}")
    return value


def check_positive(value: float | None) -> float | None:
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise typer.BadParameter(f"must be a positive number, not {value}")
    return value


SEEDS = 2**32  # torch's CPU generator keeps 32 bits of a seed: 5 and 5 + 2^32 drew the same text (a trial)


def check_seed(value: int | None) -> int | None:
    if value is not None and not 0 <= value < SEEDS:  # a callback, not min/max: those print the range in --help
        raise typer.BadParameter(f"must be a whole number from 0 to {SEEDS - 1} (2^32 - 1), not {value}")
    return value


def check_encoding(value: str | None) -> str | None:
    import codecs

    if value is None:
        return None
    try:
        codecs.lookup(value)
    except LookupError:
        raise typer.BadParameter(f"unknown encoding {value!r} — try utf-8, cp1252 (Windows) or latin-1") from None
    return value


def check_temperature(value: float) -> float:
    if not math.isfinite(value) or value < 0:  # inf would draw every character alike: noise, not a setting
        raise typer.BadParameter(f"must be 0 (greedy) or more, and finite, not {value}")
    return value


def read_prime(prime: str, prime_file: Path | None) -> str:
    """The prime: `--prime` as given, the text of `--prime-file`, or standard input for `--prime -`. One that comes
    out empty is said to be (a new-user trial: an empty file went by without a word, where stdin's did not)."""
    from charnn import ui

    if prime_file is not None:
        try:
            prime = prime_file.read_text(encoding="utf-8-sig")  # a byte-order mark dropped, as a corpus's is
        except OSError as problem:
            raise CharnnError(f"cannot read --prime-file {prime_file}: {problem.strerror}") from None
        except UnicodeDecodeError as problem:
            raise CharnnError(f"cannot read --prime-file {prime_file}: not UTF-8 text (byte offset {problem.start}) "
                              "— save it as UTF-8") from None
        if not prime:
            ui.info(f"--prime-file: {prime_file} is empty, so there is no prime")
    elif prime == "-":
        if sys.stdin.isatty():  # else it looks like a hang (a new-user trial)
            ui.info("--prime -: type the prime, then press Ctrl-D on a line of its own (twice to end it mid-line)")
        # As --prime-file reads a file: its line endings as \n, a byte-order mark dropped (a trial's Windows file,
        # `cat p.py | charnn sample --prime -`, was refused for the '\r' its --prime-file took).
        prime = sys.stdin.read().replace("\r\n", "\n").replace("\r", "\n").removeprefix("\ufeff")
        if sys.stdin.isatty() and sys.stderr.isatty() and prime and not prime.endswith("\n"):  # Ctrl-D mid-line: the
            sys.stderr.write("\n")  # cursor is still on it (a trial's next message began there: `Ветерsampling …`)
        if not prime:
            ui.info("--prime -: standard input was empty, so there is no prime")
    return prime


def check_writable(output: Path, replace: bool = False) -> None:
    """Refuse an --output that cannot be written, without changing it (a new one is made and removed), and one that
    holds text unless `replace` (--force): a new-user trial's `--output favourites.txt` replaced 37 KB of poems
    kept from earlier samples without a word. A pipe or device (/dev/null) is written as ever."""
    folder = output.parent  # Path("x").parent is Path(".")
    if output.is_dir():
        raise CharnnError(f"cannot write --output {output}: it is a folder — give a file name")
    if not folder.is_dir():
        raise CharnnError(f"cannot write --output {output}: no folder {folder} — create it or choose another path")
    device = str(output).startswith(("/dev/", "/proc/"))  # /dev/stdout is a file where stdout is one (`>>`)
    if not replace and not device and output.is_file() and (size := output.stat().st_size):
        raise CharnnError(f"--output {output} already holds {size:,} bytes — add --force to replace it, or give "
                          "another name")
    if output.exists():
        if not os.access(output, os.W_OK):
            raise CharnnError(f"cannot write --output {output}: permission denied — choose another path")
    else:  # made and removed, as the sample will make it again: a folder may refuse new files whatever its
        try:  # permissions say (/proc: a trial's error came only after the whole sample was made)
            os.close(os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
            output.unlink()
        except OSError as problem:
            raise CharnnError(f"cannot write --output {output}: {problem.strerror} — choose another path") from None
