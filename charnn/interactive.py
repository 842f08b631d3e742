"""`charnn sample --interactive`: a prompt loop in the terminal. Each line typed is a prime, and its continuation
streams under it; /temp, /length, /topk, /topp, /seed and /unknown change the settings between streams, /lines on
takes primes of several lines (an empty line sends one), and /save adds the last stream to a file. Ctrl-C stops the
current stream and keeps the session; Ctrl-D ends it.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import sys
from pathlib import Path

from charnn import ui
from charnn.drawing import check_controls, sample_seeds
from charnn.errors import CharnnError
from charnn.mersenne import MersenneTwister
from charnn.sample import generate, seed_with_prime, writes_script
from charnn.vocab import typed_breaks, unseen_note

EXAMPLES = {"temp": "0.8", "length": "500", "topk": "20", "topp": "0.9", "unknown": "skip", "seed": "7"}  # /name value
HELP = ["/temp F          randomness: 0 greedy, 1 as trained",
        "/length N        characters a stream writes",
        "/topk N|off      draw from the N likeliest characters",
        "/topp F|off      draw from the likeliest that add up to F",
        "/seed N          the next stream's seed (each stream says its own)",
        "/unknown error|skip|replace   characters the model never saw",
        "/lines on|off    primes of several lines: an empty line sends one",
        "/save FILE       add the last stream, its prime first, to FILE",
        "/quit            end (or Ctrl-D)",
        "anything else is a prime; commands work at prime> only"]


def session(model, vocab, label, temperature, top_k, top_p, length, seed, unknown, stop, style,
            precision: str = "auto", most_threads: int | None = None, terminated=lambda: False,
            guard: contextlib.AbstractContextManager | None = None) -> None:
    """A prompt loop: text is a prime; /temp, /length, /topk, /topp, /seed change settings. `terminated()`: whether
    a KeyboardInterrupt was SIGTERM (cli/stopping.py's Termination), which ends the session rather than a stream.
    `guard`: a block in which a Ctrl-C waits for the block's end (cli/stopping.py's CtrlCGate), around each
    character's write and its count, so that /save keeps what the screen shows."""
    guard = guard or contextlib.nullcontext()
    with contextlib.suppress(ImportError):  # line editing and history at the prompt, where the platform has it
        import readline  # noqa: F401

    settings = {"temp": temperature, "length": length, "topk": top_k, "topp": top_p, "unknown": unknown, "seed": seed}
    # Each stream draws from a seed of its own, said after it, so that `charnn sample --seed S --prime …` makes it
    # again: the first after /seed N (or the start) is N, the next ones derived from it as a batch's samples are (a
    # trial's favourite second stream could not be found again: all drew on from one generator).
    streams = 0  # since the seed was set
    last: list[str] = []  # the last stream as shown, its prime first: what /save adds to a file
    # /lines on: Enter ends a line of the prime, an empty line sends it, its last line break included. A code model
    # keeps a typed \n as typed, so `def f(x):` + Enter could not ask for a body (a new-user trial).
    by_lines = False
    ending = False  # Ctrl-D (or piped input's end) came inside a prime of several lines: it streams, then the end
    # Short lines: at a teacher's 80 columns one long line broke mid-word (`C` / `trl-D quits`).
    ui.info(f"{label} — type a prime, then Enter; Ctrl-C stops a stream, Ctrl-D ends")
    ui.info("commands: /temp 1.1  /length 500  /lines on  /save scene.txt  /quit  /help (all)")
    while True:
        try:
            line = ui.ask("prime> ")
            if by_lines and not line.startswith("/"):
                more = line
                while more and not ending:  # "def f(x):", "    return", "" → "def f(x):\n    return\n"
                    try:
                        more = ui.ask("  ...> ")
                        line += "\n" + more
                    except EOFError:  # what was typed is sent as it is (a review: it was dropped for "bye")
                        ending = True
        except EOFError:
            ui.info("bye")
            return
        except KeyboardInterrupt:
            sys.stderr.write("\n")  # the next prompt (or line) on a line of its own
            if terminated():
                raise
            continue
        if line.startswith("/"):
            name, _, value = line[1:].partition(" ")
            try:
                if name in settings and not value.strip():  # `/temp` alone read "bad value for /temp: ''"
                    raise CharnnError(f"/{name} needs a value, e.g. /{name} {EXAMPLES[name]} — try /help")
                if name in ("quit", "exit"):  # a teacher's /quit was an unknown command
                    ui.info("bye")
                    return
                if name == "help":  # a command a line (a teacher: one run-on sentence, broken mid-word)
                    ui.info("\n".join(HELP))  # and the settings line after it
                elif name == "save":  # a trial could keep a favourite stream only by copying it off the screen
                    save(last, value.strip())
                    continue
                elif name == "lines":
                    if value.strip() not in ("on", "off"):
                        raise CharnnError("/lines takes on or off")
                    by_lines = value.strip() == "on"
                    ui.info("lines on: Enter ends a line of the prime, an empty line sends it" if by_lines else
                            "lines off: Enter sends the prime")
                    continue
                elif name == "seed":
                    if not 0 <= int(value) < 2**32:
                        raise CharnnError(f"/seed takes a whole number from 0 to {2**32 - 1}, not {value.strip()}")
                    settings, streams = {**settings, "seed": int(value)}, 0
                elif name == "unknown":
                    if value.strip() not in ("error", "skip", "replace"):
                        raise CharnnError("/unknown takes error, skip or replace")
                    settings = {**settings, "unknown": value.strip()}
                elif name in settings:
                    parsed = None if value.strip() == "off" else (int(value) if name in ("length", "topk")
                                                                   else float(value))
                    trial = {**settings, name: parsed}
                    check_controls(trial["temp"], trial["topk"], trial["topp"])
                    if trial["length"] is None or trial["length"] < 0:
                        raise CharnnError("length must be 0 or more")
                    settings = trial
                else:
                    near = difflib.get_close_matches(name, [*EXAMPLES, "save", "lines", "help", "quit"], n=1)
                    raise CharnnError(f"unknown command /{name} — " + (f"did you mean /{near[0]}?" if near else
                                                                         "try /help"))  # a trial's /lenght
                # name=value: "unknown error" read as an error message (a new-user trial)
                # The seed: the next stream's (a trial read seed=7 after two streams from it as the next one's).
                shown = {**settings, "seed": sample_seeds(settings["seed"], streams + 1)[streams]}
                ui.info("settings: " + " ".join(f"{k}={'off' if v is None else v}" for k, v in shown.items())
                        + " (the next stream's)")
            except (ValueError, CharnnError) as problem:
                ui.error(str(problem) if isinstance(problem, CharnnError) else f"bad value for /{name}: {value!r}")
            continue
        stream = None  # where a Ctrl-C leaves the cursor: `cursor_inside_a_line`
        own = sample_seeds(settings["seed"], streams + 1)[streams]
        told = f" (seed {own})" if settings["temp"] else ""  # at temperature 0 every seed gives the same
        try:
            # From Enter on, keys typed are not echoed into the text (ui.UnechoedKeys): they wait for the next prompt.
            with ui.UnechoedKeys(sys.stdin, sys.stdout):
                line = typed_breaks(line, vocab)  # `[Chorus]\n`, as --prime takes it
                try:  # unseen characters: the error before the prime is echoed
                    ids = vocab.encode(line, unknown=settings["unknown"])
                except CharnnError as problem:
                    raise CharnnError(str(problem).replace("--unknown", "/unknown")) from None
                streams += 1  # only now: a refused prime drew nothing (a trial's /seed 7 went to a typo's prime)
                note = unseen_note(vocab, line, settings["unknown"])
                typed = line  # what /save keeps: the poem as typed (a trial lost a Greek word to `replace`)
                if note:  # skipped or replaced: the echo shows the prime the model reads (not the one typed)
                    ui.info(f"/unknown {settings['unknown']}: {note}")
                    line = vocab.decode(ids)
                # The numbers torch.Generator().manual_seed gives, the prime mixed in, as `--seed own --prime …`.
                generator = MersenneTwister(seed_with_prime(own, vocab, line, settings["unknown"]))
                chars = generate(model, vocab, line, settings["length"], settings["temp"], settings["topk"],
                                 settings["topp"], generator, settings["unknown"], stop, precision, most_threads)
                stream = ui.open_stream(style, sys.stdout, writes_script=functools.partial(  # the echo is context
                    writes_script, model, vocab, line, settings["temp"], settings["topk"], settings["topp"],
                    settings["unknown"], precision, most_threads) if settings["length"] else None)
                # The status row under the text, as `charnn sample` has. Ctrl-C: closes a style left open, erases the
                # status, and writes no more of the text.
                last = [typed]  # kept as it grows: a stream stopped by Ctrl-C can be saved as far as it came
                with ui.status_for(stream, label, settings["temp"], settings["length"]) as status:
                    for char in line:  # echo the prime so the continuation reads on from it
                        stream.write(char)
                    for char in chars:
                        with guard:  # written and kept, or neither (a trial: 7 of 21 /saves after a Ctrl-C differed)
                            last.append(char)
                            stream.write(char)
                        status.tick()
        except CharnnError as problem:  # before anything was written
            ui.error(str(problem))
        except KeyboardInterrupt:  # "(stopped)" read as a screenplay's direction under a speaker's name
            # The start of a line that a styled stream held back is not shown after a Ctrl-C: nor is it kept.
            dropped = min(len(stream.dropped), len(last) - 1) if stream is not None else 0
            del last[len(last) - dropped:]
            line_break = "\n" if cursor_inside_a_line(stream) else ""
            if terminated():  # the session ends; what says so starts a line of its own
                sys.stderr.write(line_break)
                raise
            ui.info(line_break + "stream stopped" + told)
        else:
            sys.stdout.write("\n")  # end the continuation's line
            sys.stdout.flush()
            if told:
                ui.info(told.strip(" ()"))
        if ending:
            ui.info("bye")
            return


def save(last: list[str], name: str) -> None:
    """/save FILE: the last stream, its prime first (as typed), added to FILE (a blank line after what FILE held), so
    that a session's favourites collect in one file."""
    if not name:
        raise CharnnError("/save needs a file name, e.g. /save scene.txt")
    if not last:
        raise CharnnError("nothing to save yet — type a prime first")
    text, path = "".join(last), Path(name).expanduser()
    text += "" if text.endswith("\n") else "\n"
    try:
        with open(path, "a", encoding="utf-8") as file:
            file.write(("\n" if file.tell() else "") + text)
    except OSError as problem:
        raise CharnnError(f"cannot write {path}: {problem.strerror} — give another file") from None
    ui.info(f"added the last stream ({len(text):,} chars, its prime first) to {path}")


def cursor_inside_a_line(stream) -> bool:
    """After a Ctrl-C: whether the cursor is inside a line, so that `stream stopped` needs a line break before it
    to stand on a line of its own: the text on the terminal had not ended its line, or a `^C` was echoed after it.
    Else a line break would leave a blank line (a Ctrl-C just after the text's own line break)."""
    # The stream counts what it handed the terminal of the current line; no stream yet: the cursor is where Enter
    # after the prime left it. (Inferred from the text instead, a Ctrl-C inside a write, after held text was taken
    # out but before it was written, left a blank row above `stream stopped` in 8 of 40 pty trials.)
    ended_line = stream is None or not stream.shown_cells
    return (sys.stdout.isatty() and not ended_line) or ui.echoes_keys(sys.stdin, sys.stdout)
