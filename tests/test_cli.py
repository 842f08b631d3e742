"""The `charnn` command through typer's CliRunner (and a few real subprocesses): outputs, exit codes, errors."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import typer
from conftest import REPETITIVE, locked_by_another_process, sample_in_int8
from typer.testing import CliRunner

import charnn.cli as cli_module
from charnn import products, stepper
from charnn.checkpoint import build_model, load
from charnn.cli import app, parse_duration
from charnn.data import load_corpus
from charnn.drawing import sample_seeds
from charnn.errors import CharnnError
from charnn.sample import generate
from charnn.vocab import Vocab, listed

TINY = ["--layers", "1", "--hidden-size", "16", "--embed-dim", "8", "--seq-len", "16", "--batch-size", "4",
        "--device", "cpu", "--precision", "fp32", "--lr", "0.02"]


def invoke(*args: str, input: str | None = None):
    result = CliRunner().invoke(app, list(args), input=input)
    # An exception other than the SystemExit of a clean exit would be a traceback for a real user.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result


def fails(code: int, *args: str, message: str = "") -> SimpleNamespace:
    result = invoke(*args)
    assert result.exit_code == code, (result.exit_code, result.output)
    if message:
        assert message in result.stderr, result.stderr
    assert result.stdout == ""  # errors and usage go to stderr; stdout stays clean for pipes
    return result


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """`charnn train corpus.txt --steps 40 ...` run once, into ./checkpoints/corpus of a fresh folder."""
    root = tmp_path_factory.mktemp("cli")
    (root / "corpus.txt").write_text(REPETITIVE, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        result = invoke("train", "corpus.txt", "--steps", "40", "--eval-every", "20", *TINY)
    return SimpleNamespace(root=root, result=result, run_dir=root / "checkpoints" / "corpus",
                           vocab=Vocab("".join(sorted(set(REPETITIVE)))))


@pytest.fixture
def in_cli_root(cli_run, monkeypatch):
    monkeypatch.chdir(cli_run.root)
    return cli_run


# --- the happy path --------------------------------------------------------------------------------


def test_train(cli_run):
    result = cli_run.result
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # progress goes to stderr
    assert "finished (steps) at step 40" in result.stderr
    names = sorted(p.name for p in cli_run.run_dir.iterdir())
    assert {"best.pt", "latest.pt", "metrics.jsonl", "step-00000020.pt", "step-00000040.pt"} <= set(names)
    config = load(cli_run.run_dir / "latest.pt")["model_config"]
    assert (config["num_layers"], config["hidden_size"], config["embed_dim"]) == (1, 16, 8)


def test_the_newest_run_chosen_for_sample_says_it_was_stopped_short(in_cli_root):
    """Two trials stopped a second run after 20 seconds, and `charnn sample` took it, the newest, for the finished
    one without a word beyond its name. It now says so."""
    from charnn import checkpoint

    short = in_cli_root.root / "checkpoints" / "corpus-short"
    shutil.copytree(in_cli_root.run_dir, short)
    try:
        payload = checkpoint.load(short / "latest.pt")
        payload["train_config"]["steps"] = 400  # as if stopped (Ctrl-C) at step 40 of 400
        payload["metrics"]["stopped_by"] = None
        checkpoint.save(payload, short / "latest.pt")
        os.utime(short / "best.pt")  # the newest
        # `charnn info` says it too, of the run and in a folder's list (a trial: only `sample` did).
        shown = " ".join(invoke("info", "checkpoints/corpus-short").output.split())
        assert "stopped at step 40 of 400 (Ctrl-C or a signal): --resume goes on from its latest.pt" in shown, shown
        listed = " ".join(invoke("info", "checkpoints").output.split())
        assert "stopped (Ctrl-C or a signal) before their target: corpus-short — --resume goes on" in listed, listed
        assert "stopped" not in invoke("info", "checkpoints/corpus").output
        said = " ".join(invoke("sample", "--length", "5").stderr.split())
        assert "corpus-short/best.pt (1×16 LSTM, step 40) — the newest run, stopped at step 40 of 400 (--checkpoint" \
               in said
        with locked_by_another_process(short):  # training there now, in another terminal: not stopped (a review)
            assert "stopped at" not in invoke("sample", "--length", "5").stderr
        payload["metrics"]["stopped_by"] = "time"  # --steps 400 --time 1m, ended by its time (a review)
        checkpoint.save(payload, short / "latest.pt")
        assert "stopped at" not in invoke("sample", "--length", "5").stderr
        payload["metrics"]["stopped_by"] = None
        payload["train_config"].update(steps=None, time_budget=600.0)
        payload["metrics"]["elapsed"] = 20.0
        checkpoint.save(payload, short / "latest.pt")
        assert "stopped at 0m20s of its 10m00s" in invoke("sample", "--length", "5").stderr
        named = invoke("sample", "--length", "5", "--checkpoint", str(short))  # chosen: nothing to say
        assert "stopped at" not in named.stderr
        payload["metrics"]["elapsed"] = 580.0  # finished by its time (less its final eval's reserve)
        checkpoint.save(payload, short / "latest.pt")
        assert "stopped at" not in invoke("sample", "--length", "5").stderr
    finally:
        shutil.rmtree(short)


def test_sample_default_checkpoint_plain_text(in_cli_root):
    result = invoke("sample", "--length", "120", "--seed", "5")
    assert result.exit_code == 0, result.output
    assert len(result.stdout) == 120
    assert set(result.stdout) <= set(in_cli_root.vocab.chars)
    assert "\x1b" not in result.stdout  # no ANSI codes in a pipe
    assert "seed 5" in result.stderr
    assert invoke("sample", "--length", "120", "--seed", "5").stdout == result.stdout
    assert invoke("sample", "--length", "120", "--seed", "6").stdout != result.stdout
    explicit = invoke("sample", "--checkpoint", "checkpoints/corpus/best.pt", "--length", "120", "--seed", "5")
    assert explicit.stdout == result.stdout


def test_sample_precision_fp32_writes_what_a_cpu_without_int8_writes(in_cli_root, monkeypatch):
    """One stream and a batch: `--precision fp32` on an int8 CPU gives the text the same seed gives on a CPU
    without int8 dot products, where `auto` is fp32 too (charnn/products.py)."""
    args = [["sample", "--length", "300", "--seed", "3", "--temperature", "1.5"],
            ["sample", "--length", "100", "--seed", "3", "--temperature", "1.5", "--num-samples", "3"]]
    monkeypatch.setattr(products, "native_int8", lambda: False)
    elsewhere = [invoke(*command).stdout for command in args]
    sample_in_int8(monkeypatch)
    asked = []  # the precision each stepper was made in
    make_stepper = stepper.make_stepper
    monkeypatch.setattr(stepper, "make_stepper", lambda *given: asked.append(given[2]) or make_stepper(*given))
    # Steppers torch's path makes: none for one stream in fp32 (NumPy's, without torch), and a batch's.
    for command, expected, made in zip(args, elsewhere, (0, 1), strict=True):
        pinned = invoke(*command, "--precision", "fp32")
        assert pinned.exit_code == 0 and pinned.stdout == expected, pinned.output
        assert asked == ["fp32"] * made
        asked.clear()
        assert invoke(*command).exit_code == 0  # without it, the same command runs in int8, through torch
        assert asked == ["int8"] * max(made, 1)
        asked.clear()


def test_a_stop_the_model_cannot_write_is_named(in_cli_root):
    result = invoke("sample", "--length", "40", "--seed", "1", "--stop", "日\\n")
    assert result.exit_code == 0 and len(result.stdout) == 40, result.output
    assert "--stop: the model never writes '日', so it cannot stop there" in result.stderr
    assert "--stop" not in invoke("sample", "--length", "40", "--stop", "e").stderr


def test_sample_greedy_matches_library(in_cli_root):
    result = invoke("sample", "--checkpoint", "checkpoints/corpus", "--prime", "the ", "--length", "60",
                    "--temperature", "0")
    assert result.exit_code == 0, result.output
    payload = load(in_cli_root.run_dir / "best.pt")
    expected = "".join(generate(build_model(payload), Vocab(payload["vocab"]), "the ", 60, temperature=0))
    assert result.stdout == expected


def test_sample_batch_stop_and_output_file(in_cli_root, tmp_path):
    out = tmp_path / "out.txt"
    result = invoke("sample", "--num-samples", "2", "--length", "50", "--seed", "1", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert "sample 1/2" in result.stdout and "sample 2/2" in result.stdout
    # The file keeps the samples apart as the screen does: each under its header; off a terminal, the same bytes.
    assert out.read_text(encoding="utf-8") == result.stdout
    assert f"wrote {len(result.stdout):,} chars to {out}" in result.stderr  # a new-user trial: it said nothing
    fountain = tmp_path / "out.fountain"
    invoke("sample", "--num-samples", "2", "--length", "50", "--seed", "1", "--format", "fountain", "--output",
           str(fountain))
    sections = fountain.read_text(encoding="utf-8").split("# Sample ")
    assert sections[0] == "" and [part[:6] for part in sections[1:]] == ["1 of 2", "2 of 2"]
    assert sections[1].endswith("\n\n===\n\n")  # sample 2 on a page of its own: printed, they ran together
    # With a prime: the file's screenplay is the screen's, the prime once at its head (it was prepended twice).
    shown = invoke("sample", "--num-samples", "2", "--length", "50", "--seed", "1", "--format", "fountain",
                   "--output", str(fountain), "--force", "--prime", "THE END, said the")
    written = fountain.read_text(encoding="utf-8")
    files = [part.split("\n\n", 1)[1].strip("\n") for part in written.split("# Sample ")[1:]]
    assert shown.stdout == written and len(files) == 2 and all(text.startswith("THE END, said the") for text in files)
    full = invoke("sample", "--length", "100", "--temperature", "0").stdout
    stop = full[10:13]
    stopped = invoke("sample", "--length", "100", "--temperature", "0", "--stop", stop)
    assert stopped.exit_code == 0
    assert stopped.stdout == full[: full.find(stop) + len(stop)]


@pytest.mark.parametrize("mode", [[], ["--num-samples", "2"], ["--format", "fountain"]])
def test_a_long_prime_is_announced_in_every_mode(in_cli_root, monkeypatch, mode):
    """Read before the first character: seconds of silence (30 s for 600,000 characters on machine C)."""
    import charnn.cli.sampling

    monkeypatch.setattr(charnn.cli.sampling, "LONG_PRIME", 30)
    result = invoke("sample", "--length", "5", "--seed", "1", "--prime", "the " * 10, *mode)
    assert result.exit_code == 0 and "reading the 40-character prime first" in result.stderr


def test_a_fountain_document_cut_short_at_a_terminal_says_it_was_not_shown(monkeypatch, capsys):
    """A trial: Ctrl-C (or SIGTERM) during `--format fountain` on a terminal, without --output, dropped the text
    without a word: the document is shown when complete."""
    from charnn.cli.stopping import keep_what_was_made

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    batch = SimpleNamespace(texts=lambda: ["INT. HOUSE - DAY\n\nShe waits"])
    keep_what_was_made(batch, None, [], None, None, False, "", "plain", True, False)
    assert "the Fountain document is shown when complete, so none was: --output keeps" in capsys.readouterr().err
    keep_what_was_made(batch, None, [], None, None, False, "", "plain", False, False)  # text: its stream showed it
    assert "Fountain" not in capsys.readouterr().err


def test_a_windows_prime_reads_alike_from_stdin_and_from_a_file(in_cli_root, tmp_path):
    """A trial: `cat p.py | charnn sample --prime -` of a file saved on Windows was refused for its '\\r', which
    --prime-file turned into line breaks as a corpus's are read."""
    windows = tmp_path / "p.txt"
    windows.write_bytes("\ufeffthe fox\r\nthe dog\r\n".encode())
    from_file = invoke("sample", "--prime-file", str(windows), "--length", "20", "--seed", "2")
    from_stdin = invoke("sample", "--prime", "-", "--length", "20", "--seed", "2", input=windows.read_bytes())
    typed = invoke("sample", "--prime", "the fox\nthe dog\n", "--length", "20", "--seed", "2")
    assert from_file.exit_code == from_stdin.exit_code == 0, from_stdin.output
    assert from_file.stdout == from_stdin.stdout == typed.stdout


def test_a_greedy_sample_names_no_seed(in_cli_root):
    """At temperature 0 every seed gives the same text: the last line named one to repeat it by."""
    greedy = invoke("sample", "--length", "30", "--temperature", "0", "--seed", "5")
    assert greedy.exit_code == 0 and re.search(r"^30 chars in [0-9.]+s \([0-9,]+ chars/s\)$", greedy.stderr, re.M)
    assert "seed" not in greedy.stderr
    assert re.search(r"\), seed 5$", invoke("sample", "--length", "30", "--seed", "5").stderr, re.M)


def test_sample_prime_from_stdin_and_unknown_skip(in_cli_root):
    result = invoke("sample", "--prime", "-", "--length", "10", "--seed", "2", input="the fox ")
    assert result.exit_code == 0 and len(result.stdout) == 10 and "type the prime" not in result.stderr
    empty = invoke("sample", "--prime", "-", "--length", "10", input="")
    assert empty.exit_code == 0 and "standard input was empty, so there is no prime" in empty.stderr
    skipped = invoke("sample", "--prime", "the 日fox", "--unknown", "skip", "--length", "10", "--seed", "2")
    assert skipped.exit_code == 0 and len(skipped.stdout) == 10
    assert "--unknown skip: dropped the prime's characters the model never saw: '日'" in skipped.stderr


def test_a_prime_typed_at_the_terminal_is_asked_for(in_cli_root):
    """A new-user trial: `charnn sample --prime -` at a terminal printed nothing while it waited, and looked hung."""
    import os
    import pty

    leader, follower = pty.openpty()
    command = [sys.executable, "-m", "charnn", "sample", "--prime", "-", "--length", "10", "--seed", "2"]
    child = subprocess.Popen(command, cwd=in_cli_root.root, stdin=follower, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    os.close(follower)
    with watched(child):
        assert "type the prime, then press Ctrl-D" in child.stderr.readline()
        os.write(leader, b"the fox \n\x04")  # a line, then Ctrl-D at the start of the next: end of input
        out, said = child.communicate(timeout=60)
    os.close(leader)
    assert child.returncode == 0 and len(out) == 10
    assert said.startswith("sampling from")  # the prime ended its line: nothing added
    # Ctrl-D twice mid-line (the first ends the read of the line, the second the input): the terminal's cursor is on
    # the typed line, and a trial's next message began there (`Ветерsampling from …`). A line break comes first.
    seen = bytearray()
    with open(os.devnull, "w") as nowhere, at_a_terminal(in_cli_root.root, "sample", "--prime", "-", "--length", "10",
                                                          "--seed", "2", stdout=nowhere) as (child, leader, _):
        read_until(leader, b"Ctrl-D", seen)
        os.write(leader, b"the fox")
        read_until(leader, b"the fox", seen)  # echoed by the terminal
        os.write(leader, b"\x04")
        time.sleep(0.3)
        os.write(leader, b"\x04")
        read_until(leader, b"seed 2", seen)
        assert child.wait(timeout=60) == 0
    assert re.search(rb"the fox\r?\n(\x1b\[[0-9;]*m)*sampling from", seen), bytes(seen)


def test_at_a_terminal_each_sample_goes_on_from_the_primes_last_line(in_cli_root):
    """A new-user trial: `--num-samples 3 --prime "雪"` showed samples that began `が降る…`, fragments. On a colour
    terminal each sample now starts on the prime's last line (dim); in a pipe the text alone, as before."""
    from test_script import ANSI, Screen

    prime = "the first\nthe"
    seen = bytearray()
    with at_a_terminal(in_cli_root.root, "sample", "--prime", prime, "--length", "30", "--seed", "3",
                       "--num-samples", "2", "--style", "auto") as (child, leader, follower):
        read_until(leader, b"for the 2 samples", seen)
        assert child.wait(timeout=60) == 0
    piped = invoke("sample", "--prime", prime, "--length", "30", "--seed", "3", "--num-samples", "2")
    samples = re.split(r"── sample \d/2 · seed \d+ ──\n", piped.stdout)[1:]
    assert len(samples) == 2 and not any(sample.startswith("the") for sample in samples)
    screen = Screen(80)
    screen.feed(ANSI.sub("", seen.decode("utf-8").replace("\r\n", "\n")))
    rows = screen.rows()
    headers = [number for number, row in enumerate(rows) if row.startswith("── sample")]
    assert len(headers) == 2
    for header, sample in zip(headers, samples, strict=True):
        assert rows[header + 1] == "the" + sample.split("\n")[0]  # the prime's last line, then the sample's
    assert "the first" not in "\n".join(rows)  # only its last line: a prime may be a whole scene
    seen = bytearray()
    with at_a_terminal(in_cli_root.root, "sample", "--prime", prime, "--length", "30", "--seed", "3"
                       ) as (child, leader, follower):
        read_until(leader, b"seed 3", seen)
        assert child.wait(timeout=60) == 0
    screen = Screen(80)
    screen.feed(ANSI.sub("", seen.decode("utf-8").replace("\r\n", "\n")))
    alone = invoke("sample", "--prime", prime, "--length", "30", "--seed", "3").stdout
    assert "the" + alone.split("\n")[0] in screen.rows() and not alone.startswith("the")


TYPED = b"#7%7#"  # keys a user types while text streams; none is in the corpus's vocabulary


@contextlib.contextmanager
def at_a_terminal(root: Path, *args: str, stdout=None):
    """`charnn *args` in the foreground of a pseudo-terminal of its own, as from a shell: (child, leader, follower).
    The follower stays open here too, so that its modes can be read after the child has gone. `stdout`: a file for
    stdout instead of the terminal."""
    import os
    import pty

    leader, follower = pty.openpty()
    start = ("import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "  # the terminal becomes its own
             "os.execv(sys.executable, [sys.executable, '-m', 'charnn', *sys.argv[1:]])")
    environment = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    environment.pop("NO_COLOR", None)
    child = subprocess.Popen([sys.executable, "-c", start, *args], cwd=root, stdin=follower,
                             stdout=follower if stdout is None else stdout, stderr=follower, start_new_session=True,
                             env=environment)
    try:
        with watched(child):
            yield child, leader, follower
    finally:
        os.close(leader)
        os.close(follower)


def read_until(leader: int, marker: bytes, seen: bytearray, after: int | None = None, seconds: float = 60) -> int:
    """Read the terminal into `seen` until it holds `marker` past index `after` (default: what it held before); fails
    after `seconds`. Returns where the marker is."""
    import os
    import select

    start, deadline = len(seen) if after is None else after, time.monotonic() + seconds
    while marker not in seen[start:]:
        assert time.monotonic() < deadline, (marker, bytes(seen[-400:]))
        if select.select([leader], [], [], 0.1)[0]:
            seen += os.read(leader, 4096)
    return seen.index(marker, start)


def echoing(follower: int) -> bool:
    import termios

    return bool(termios.tcgetattr(follower)[3] & termios.ECHO)


def keeps_output(follower: int) -> bool:
    """NOFLSH: a Ctrl-C leaves the output queue be. The terminal dropped what it had yet to show, status-row cursor
    moves among it, and `stream stopped` then wrote over the text (3 of 60 Ctrl-Cs in a pseudo-terminal)."""
    import termios

    return bool(termios.tcgetattr(follower)[3] & termios.NOFLSH)


def test_keys_typed_while_a_sample_streams_are_not_echoed_into_it(in_cli_root):
    """A new-user trial: keys typed while text streamed were echoed into it, and moved the cursor, so the status row
    was drawn a row off and text later wrote over it. Echo is off while the text streams, and on again after, Ctrl-C
    included (a shell keeps the modes a program leaves)."""
    seen = bytearray()
    with at_a_terminal(in_cli_root.root, "sample", "--length", "100000000", "--seed", "2") as (child, leader, follower):
        read_until(leader, b"the ", seen)  # the text is streaming
        assert not echoing(follower)
        assert keeps_output(follower)  # a Ctrl-C must not drop what the screen has yet to show (NOFLSH)
        import os

        os.write(leader, TYPED + b"\r")
        read_until(leader, b"chars/s", seen)  # the status row, drawn after the keys
        os.write(leader, b"\x03")  # Ctrl-C
        read_until(leader, b"interrupted (seed 2)", seen)
        assert child.wait(timeout=60) == 130
        assert echoing(follower) and not keeps_output(follower)  # both as they were
    assert TYPED not in seen, bytes(seen[-400:])
    assert b"\r\n\r\n\x1b[2minterrupted" not in seen  # no blank line before it (stdout and stderr: one terminal)


def test_sigterm_ends_a_stream_as_ctrl_c_does(in_cli_root, tmp_path):
    """`kill` or `timeout` (SIGTERM): echo back on (a script or `timeout` that ran charnn exits normally, and its shell
    keeps the modes: a review), the status row erased (it was left on the screen, and the next prompt written into
    it), what was made kept in --output, and a line that says so: exit 143."""
    import signal

    from test_script import Screen

    seen, out = bytearray(), tmp_path / "cut.txt"
    with at_a_terminal(in_cli_root.root, "sample", "--length", "100000000", "--seed", "4", "--output", str(out)
                       ) as (child, leader, follower):
        read_until(leader, b"chars/s", seen)
        assert not echoing(follower)
        child.send_signal(signal.SIGTERM)
        read_until(leader, b"terminated (seed 4)", seen)
        assert child.wait(timeout=60) == 143
        assert echoing(follower)
    screen = Screen(80)
    screen.feed(seen.decode("utf-8").replace("\r\n", "\n"))
    rows = [row for row in screen.rows() if row]
    assert rows[-1] == "terminated (seed 4)" and any(row.startswith("wrote ") for row in rows[-3:-1])  # (a path wraps)
    assert not any("chars/s" in row for row in rows), rows[-4:]
    assert out.stat().st_size > 0 and b"Traceback" not in seen


def test_sigterm_ends_a_background_job_of_a_script_as_ctrl_c_does(in_cli_root, tmp_path):
    """A script's `charnn sample --output F &` runs with SIGINT ignored: a review's `kill` of it left no F."""
    import os
    import signal

    out = tmp_path / "cut.txt"
    child = subprocess.Popen([sys.executable, "-m", "charnn", "sample", "--length", "100000000", "--seed", "7",
                              "--output", str(out)], cwd=in_cli_root.root, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"),
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    with watched(child):
        first = child.stdout.read(10)  # it is sampling
        child.send_signal(signal.SIGTERM)
        rest, stderr = child.stdout.read(), child.stderr.read()
        child.wait(timeout=60)
    assert child.returncode == 143 and "Traceback" not in stderr and "terminated (seed 7)" in stderr
    written, shown = out.read_text(encoding="utf-8"), first + rest
    assert written.startswith(first) and abs(len(written) - len(shown)) <= 1  # as for Ctrl-C: one more or less
    assert written[:-1] == shown[: len(written) - 1]


def test_sigterm_ends_an_interactive_session(in_cli_root):
    """Not only the stream under way, as Ctrl-C stops: the session, at its prompt or mid-stream. At the prompt, sent
    the moment it shows: readline draws the prompt, then waits for a key, and runs Python's handlers only when a
    signal interrupts the wait; one between the two waited with it (2 of 5 runs, before Termination.nudge). In a
    session the seed is not named: /seed and /temp change it."""
    import os
    import signal

    for prime in (b"", b"the \r"):
        seen = bytearray()
        with at_a_terminal(in_cli_root.root, "sample", "--interactive", "--length", "100000000", "--seed", "2"
                           ) as (child, leader, follower):
            read_until(leader, b"prime> ", seen)
            if prime:
                os.write(leader, prime)
                read_until(leader, b"chars/s", seen)
            child.send_signal(signal.SIGTERM)
            read_until(leader, b"terminated", seen, seconds=10)
            assert child.wait(timeout=60) == 143
            assert echoing(follower)
        assert b"stream stopped" not in seen and b"Traceback" not in seen and b"(seed" not in seen
        assert b"\r\n\r\nterminated" not in seen  # a SIGTERM shows no `^C` to end a line after (a review)


def test_keys_typed_while_a_sample_streams_into_a_file_are_not_echoed_into_its_status(in_cli_root, tmp_path):
    """`charnn sample > out.txt`: the status on stderr showed `… 21,792/200,000hello` (a new-user trial)."""
    import os

    seen = bytearray()
    with open(tmp_path / "out.txt", "w") as out, at_a_terminal(in_cli_root.root, "sample", "--length", "100000000",
                                                                "--seed", "2", stdout=out) as (child, leader, follower):
        read_until(leader, b"chars/s", seen)  # the status, on stderr
        assert not echoing(follower)
        os.write(leader, TYPED + b"\r")
        read_until(leader, b"chars/s", seen)
        os.write(leader, b"\x03")
        read_until(leader, b"interrupted (seed 2)", seen)
        assert child.wait(timeout=60) == 130 and echoing(follower)
    assert TYPED not in seen and (tmp_path / "out.txt").stat().st_size > 0


def test_keys_typed_during_an_interactive_stream_wait_for_the_next_prompt(in_cli_root):
    """Not echoed into the text, yet not lost: the prompt after the stream shows them, ready to be sent."""
    import os

    seen = bytearray()
    with at_a_terminal(in_cli_root.root, "sample", "--interactive", "--length", "20000", "--seed", "2"
                       ) as (child, leader, follower):
        read_until(leader, b"prime> ", seen)
        os.write(leader, b"the \r")
        read_until(leader, b"chars/s", seen)  # the status row: the continuation has begun, 20,000 characters to
        os.write(leader, TYPED)  # come, at most a few thousand of them in the terminal's buffer now
        prompt = read_until(leader, b"prime> ", seen)
        read_until(leader, TYPED, seen, after=prompt)  # the prompt shows what was typed
        streamed = bytes(seen[:prompt])
        os.write(leader, b"\x15\x04")  # Ctrl-U clears that line, Ctrl-D at an empty prompt ends the session
        read_until(leader, b"bye", seen)
        assert child.wait(timeout=60) == 0
        assert echoing(follower)
    assert TYPED not in streamed, streamed[-400:]


def test_keys_typed_during_training_are_not_echoed_into_its_panel(in_cli_root, tmp_path):
    """A line typed under the live panel (tmux) left a copy of its top border behind at each redraw."""
    import os

    seen = bytearray()
    with at_a_terminal(in_cli_root.root, "train", "corpus.txt", "--steps", "400", "--eval-every", "100",
                       "--out", str(tmp_path / "run"), *TINY) as (child, leader, follower):
        read_until(leader, b"chars/s", seen)  # the panel
        assert not echoing(follower)
        os.write(leader, TYPED + b"\r")
        read_until(leader, b"finished (steps) at step 400", seen)
        assert child.wait(timeout=60) == 0
        assert echoing(follower)
    assert TYPED not in seen, bytes(seen[-400:])


def test_a_checkpoint_with_nan_weights_is_shown_by_info_and_refused_by_sample_and_eval(in_cli_root, tmp_path):
    payload = load(in_cli_root.run_dir / "best.pt")
    payload["model"]["head.bias"][0] = float("nan")
    torch.save(payload, tmp_path / "nan.pt")
    shown = invoke("info", str(tmp_path / "nan.pt"))
    assert shown.exit_code == 0 and "head.bias holds NaN or infinite values" in " ".join(shown.stdout.split())
    assert "NaN" not in invoke("info", "checkpoints/corpus").stdout
    fails(1, "sample", "--checkpoint", str(tmp_path / "nan.pt"), message="head.bias holds NaN or infinite values")
    fails(1, "eval", "corpus.txt", "--checkpoint", str(tmp_path / "nan.pt"), message="NaN or infinite")


def test_info(in_cli_root, tmp_path):
    result = invoke("info", "checkpoints/corpus")
    assert result.exit_code == 0, result.output
    for text in ("1×16 LSTM", "parameters", f"{len(in_cli_root.vocab)} characters", "corpus.txt", "best val loss"):
        assert text in result.stdout, text
    assert re.search(r"training time +0m\d\ds\n", result.stdout)  # a --steps run; "0.7 min" read oddly (a trial)
    payload = load("checkpoints/corpus/best.pt")
    payload["train_config"]["time_budget"], payload["metrics"]["elapsed"] = 600.0, 542.0
    torch.save(payload, tmp_path / "timed.pt")
    assert "training time  9m02s into a --time 10m00s run" in invoke("info", str(tmp_path / "timed.pt")).stdout
    # The folder's best.pt holds weights only, but the run resumes from its latest.pt.
    assert ("yes, from checkpoints/corpus/latest.pt (this file holds weights only)"
            in " ".join(result.stdout.split()))
    # Unless that cannot be read (a trial: a truncated latest.pt was called resumable; --resume then refused it).
    shutil.copytree("checkpoints/corpus", tmp_path / "cut")
    latest = tmp_path / "cut" / "latest.pt"
    latest.write_bytes(latest.read_bytes()[:1000])
    cut = invoke("info", str(tmp_path / "cut"))
    said = f"no: {latest} is not a readable checkpoint (truncated or corrupt)"
    assert cut.exit_code == 0 and "".join(said.split()) in "".join(cut.stdout.split())  # however Rich wraps it
    lines = result.stdout.splitlines()
    assert lines and all(line == line.rstrip() for line in lines)  # no trailing spaces (a rich Table pads them)
    assert re.search(r"^parameters +[0-9,]+$", result.stdout, re.M)  # key, then its value, on one line
    assert invoke("info").stdout == result.stdout  # no path: the newest run, as `charnn sample` takes (a trial)
    latest = invoke("info", "checkpoints/corpus/latest.pt")
    assert "yes (has optimizer state)" in latest.stdout and "40" in latest.stdout
    # The run's step files, by step (a teacher wanted an early one to show progress, and found them with `ls`).
    assert re.search(r"^step files +steps 20, 40: --checkpoint checkpoints/corpus/step-00000020\.pt samples the first",
                     latest.stdout, re.M), latest.stdout
    from charnn.cli.run_list import step_files

    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "step-00000143.pt").touch()  # a trial read "steps 143: … samples the first"
    assert step_files(tmp_path / "one")[0][1].startswith(f"step 143: --checkpoint {tmp_path}/one/step-00000143.pt "
                                                         "samples it (")
    shutil.copy("checkpoints/corpus/best.pt", "alone.pt")
    assert "no (weights only)" in invoke("info", "alone.pt").stdout
    assert "last val loss" not in result.stdout  # best.pt: its own loss is the best
    # A step file saved after the best shows its own loss too (a trial took the run's best for the file's).
    worse = load(Path("alone.pt"))
    best = worse["metrics"]["best_val_loss"]
    worse["metrics"]["val_loss"] = best + 1.5
    torch.save(worse, "worse.pt")
    shown = invoke("info", "worse.pt").stdout
    assert re.search(rf"^last val loss +{best + 1.5:.4f} nats, [0-9.]+ bpc \(the eval these weights last had\)$",
                     shown, re.M) and re.search(rf"^best val loss +{best:.4f} nats", shown, re.M), shown
    # A folder of runs is not a run: sample says which runs it holds (a new-user trial got "holds no best.pt"), and
    # info lists them, a line each (a trial compared three cells a run at a time).
    fails(1, "sample", "--checkpoint", "checkpoints", message="checkpoints holds runs, not a run: pass one of "
          "checkpoints/corpus")
    shutil.copytree("checkpoints/corpus", "several/corpus")  # not in checkpoints/: other tests take its newest run
    shutil.copytree("checkpoints/corpus", "several/corpus-10")
    Path("several/corpus-9").mkdir()
    Path("several/corpus-9/best.pt").write_bytes(b"\x00" * 10)
    listed = invoke("info", "several")
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["several/", "model", "params", "trained", "on", "step", "best", "val", "time"]
    assert [line.split()[0] for line in lines[1:]] == ["corpus", "corpus-9", "corpus-10"]  # in number order
    params = f"{sum(t.numel() for t in load(Path('alone.pt'))['model'].values()) / 1e6:.2f}M"
    assert lines[1].split()[1:7] == ["1×16", "LSTM", params, "corpus.txt", "40", f"{best:.4f}"], lines[1]
    assert "not readable" in lines[2]
    assert all(line == line.rstrip() for line in lines)
    assert all(len(line) <= 80 for line in lines if "not readable" not in line)  # a teacher's 80 columns
    # A corrupt latest.pt: the line is its best.pt's (a review), as `charnn info RUN` reads the run.
    Path("several/corpus-10/latest.pt").write_bytes(b"\x00" * 10)
    again = invoke("info", "several").stdout.splitlines()
    assert again[3].split()[:2] == ["corpus-10", "1×16"], again
    # A checkpoint's typo is offered a run folder or a .pt file, never the corpus (a review: corpus.pt → corpus.txt).
    fails(1, "sample", "--checkpoint", "corpus.pt", message="does not exist — pass a .pt file or a run folder")
    fails(1, "sample", "--checkpoint", "checkpoints/corpus.pt", message="did you mean checkpoints/corpus?")
    Path("empty").mkdir()
    fails(1, "info", "empty", message="empty holds no best.pt or latest.pt")
    shutil.copy("alone.pt", "empty/step-00000040.pt")
    fails(1, "info", "empty", message="only step files — pass one, e.g. empty/step-00000040.pt")


def test_eval_json(in_cli_root):
    result = invoke("eval", "corpus.txt", "--checkpoint", "checkpoints/corpus", "--json")
    assert result.exit_code == 0, result.output
    assert invoke("eval", "corpus.txt", "--json").stdout == result.stdout  # the corpus's newest run by default
    shutil.copy("corpus.txt", "other.txt")
    fails(1, "eval", "other.txt", message="no run trained on other.txt under checkpoints/ — give --checkpoint "
          "(the newest run: --checkpoint checkpoints/corpus)")  # a trial's `eval README.md`: which run to give
    shutil.copy("corpus.txt", "corpus.md")  # its runs would go to checkpoints/corpus too, which holds corpus.txt's
    fails(1, "eval", "corpus.md", message="no run trained on corpus.md")
    # A run of another name counts too, the newest first (a trial's runs named by cell, `--out checkpoints/lstm`,
    # were "no run trained on" the corpus, and a newer one was passed over for an older one).
    shutil.copytree("checkpoints/corpus", "checkpoints/lstm")
    try:
        later = time.time() + 5
        for name in ("best.pt", "latest.pt"):
            os.utime(f"checkpoints/lstm/{name}", (later, later))
        named = invoke("eval", "corpus.txt", "--json")
        assert "scoring checkpoints/lstm (the newest run trained on corpus.txt)" in named.stderr, named.stderr
        assert json.loads(named.stdout)["checkpoint"] == str(Path("checkpoints/lstm/best.pt"))
    finally:
        shutil.rmtree("checkpoints/lstm")
    assert result.stdout.endswith("}\n") and result.stdout.count("\n") == 1  # one JSON object, one line
    report = json.loads(result.stdout)
    assert isinstance(report, dict)
    n_val = int(len(REPETITIVE) * 0.1)
    assert report["chars"] == n_val - 1
    assert report["split"] == "val"
    assert math.isfinite(report["nats"]) and report["bpc"] == pytest.approx(report["nats"] / math.log(2))
    best = load(in_cli_root.run_dir / "best.pt")["metrics"]["val_loss"]
    assert report["nats"] == pytest.approx(best, rel=0.02)  # same text, same weights (precision may differ)
    everything = json.loads(invoke("eval", "corpus.txt", "--checkpoint", "checkpoints/corpus/best.pt", "--json",
                                   "--split", "all").stdout)
    assert everything["chars"] == len(REPETITIVE) - 1


def test_eval_tunes_its_threads_unless_given_a_count(in_cli_root, monkeypatch):
    """A trial beside a busy program: two `charnn eval`s at once took 22 s each on 2 threads, 4.5 s on one each, and
    eval had no --threads. Its windows are timed by a tuner now, as training's steps are; --threads fixes the count."""
    import charnn.evaluation
    import charnn.threads

    real, seen = charnn.evaluation.evaluate, []

    def evaluate(*args, on_progress=None, **kwargs):
        seen.append((torch.get_num_threads(), kwargs.get("seq_len")))
        return real(*args, on_progress=on_progress, **kwargs)

    monkeypatch.setattr(charnn.evaluation, "evaluate", evaluate)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # (the tests' one thread: a count fixed, as --threads does)
    timed = []
    monkeypatch.setattr(charnn.threads.ThreadTuner, "step_done", lambda self, seconds=None: timed.append(self.threads))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        tuned = invoke("eval", "corpus.txt", "--checkpoint", "checkpoints/corpus", "--json")
        assert torch.get_num_threads() == 2  # put back as it was
        fixed = invoke("eval", "corpus.txt", "--checkpoint", "checkpoints/corpus", "--json", "--threads", "1")
    finally:
        torch.set_num_threads(before)
    assert tuned.exit_code == fixed.exit_code == 0, tuned.output + fixed.output
    assert seen == [(2, charnn.evaluation.TUNED_SEQ_LEN), (1, None)] and timed and set(timed) == {2}
    assert json.loads(tuned.stdout)["nats"] == pytest.approx(json.loads(fixed.stdout)["nats"], rel=1e-5)


def test_eval_scores_fewer_characters_and_says_the_score_so_far_when_stopped(in_cli_root, monkeypatch):
    """A trial's `charnn eval` of a 2 GB corpus would have scored 198M characters for 38 minutes, with no way to
    score fewer, and its Ctrl-C after 1m45s said only `interrupted`."""
    import charnn.evaluation

    sampled = invoke("eval", "corpus.txt", "--split", "all", "--max-chars", "300", "--json")
    assert sampled.exit_code == 0 and json.loads(sampled.stdout)["chars"] == 300
    shown = invoke("eval", "corpus.txt", "--split", "all", "--max-chars", "300")
    assert f"all (300 of {len(REPETITIVE) - 1:,} chars scored, spread over it)" in shown.stdout
    real, reported = charnn.evaluation.evaluate, []

    def stopped(*args, on_progress, **kwargs):  # Ctrl-C after the second window
        def progress(fraction, scored, total):
            on_progress(fraction, scored, total)
            reported.append((scored, float(total)))
            if len(reported) == 2:
                raise KeyboardInterrupt

        return real(*args, on_progress=progress, **kwargs)

    monkeypatch.setattr(charnn.evaluation, "evaluate", stopped)
    result = fails(130, "eval", "corpus.txt", "--split", "all")
    scored, total = reported[-1]
    assert 0 < scored < len(REPETITIVE) - 1
    said = " ".join(result.stderr.split())
    assert (f"interrupted after scoring {scored:,} of {len(REPETITIVE) - 1:,} characters, spread over the all split: "
            f"{total / scored:.4f} nats") in said


def test_eval_falls_back_to_the_bundled_model_for_its_own_corpus(in_cli_root):
    """A new-user trial: `charnn eval tinyshakespeare.txt` said "no run trained on tinyshakespeare.txt", though the
    bundled model, which `charnn sample` falls back to, was trained on it."""
    from charnn import runs

    if not runs.BUNDLED.exists():
        pytest.skip("no bundled model in this checkout")
    Path("tinyshakespeare.txt").write_text("ROMEO:\nBut soft, what light through yonder window breaks?\n" * 20,
                                           encoding="utf-8")
    result = invoke("eval", "tinyshakespeare.txt", "--json")
    assert result.exit_code == 0 and "scoring the bundled model, trained on tinyshakespeare.txt" in result.stderr
    assert json.loads(result.stdout)["checkpoint"] == str(runs.BUNDLED)


def test_a_prime_refused_names_the_model_charnn_chose(in_cli_root, tmp_path, monkeypatch):
    """A trial: `charnn sample --prime 'def foo(x):'` in a folder with no runs said only "the model never saw '(',
    ')'", of the bundled Shakespeare model it had fallen back to; the programmer's code model had seen them."""
    from charnn import runs

    if not runs.BUNDLED.exists():
        pytest.skip("no bundled model in this checkout")
    fails(1, "sample", "--prime", "a {b}", "--length", "5", message="(the model is checkpoints/corpus/best.pt)")
    monkeypatch.chdir(tmp_path)
    fails(1, "sample", "--prime", "a {b}", "--length", "5", message="(the model is the bundled Shakespeare one: no "
          "run is under checkpoints/ in this folder; --checkpoint to give yours)")
    given = fails(1, "sample", "--checkpoint", str(runs.BUNDLED), "--prime", "a {b}", "--length", "5")
    assert "the model is" not in given.stderr  # given: the user knows which


def test_eval_of_a_long_split_says_it_is_scoring(in_cli_root, monkeypatch):
    from charnn.cli import inspecting

    monkeypatch.setattr(inspecting, "LONG_SPLIT", 10)
    result = invoke("eval", "corpus.txt")
    said = " ".join(result.stderr.split())
    assert result.exit_code == 0 and re.search(r"scoring [0-9,]+ characters \(Ctrl-C for the score so far; "
                                               r"--max-chars N scores N of them, spread over the split\)", said)
    sampled = " ".join(invoke("eval", "corpus.txt", "--max-chars", "20").stderr.split())
    assert "scoring 20 characters (Ctrl-C for the score so far)" in sampled
    monkeypatch.setattr(inspecting, "LONG_SPLIT", 10**9)
    assert "characters (Ctrl-C" not in invoke("eval", "corpus.txt").stderr


def test_eval_table(in_cli_root):
    result = invoke("eval", "corpus.txt", "--checkpoint", "checkpoints/corpus")
    assert result.exit_code == 0 and "bits per char" in result.stdout
    # Which model it scored (three evals in a row read alike in a new-user trial).
    assert re.search(r"checkpoint\s+checkpoints/corpus/best\.pt", result.stdout), result.stdout


def test_eval_unknown_skip_scores_the_text_without_the_characters_the_model_never_saw(in_cli_root):
    """Two new-user trials' held-out texts (a code comment's 'é', a poem's capital M) were refused whole."""
    Path("held.txt").write_text("the quick brown fox — jumps over the lazy Zog. THE END, said the fox!\n")
    Path("without.txt").write_text("the quick brown fox  jumps over the lazy og. THE END, said the fox!\n")
    fails(1, "eval", "held.txt", "--checkpoint", "checkpoints/corpus", message="never saw: '—', 'Z' — evaluate on "
          "text written in the model's alphabet, or give --unknown skip to score the text without them")
    skipped = invoke("eval", "held.txt", "--checkpoint", "checkpoints/corpus", "--unknown", "skip", "--json")
    assert skipped.exit_code == 0, skipped.output
    assert "--unknown skip: left out 2 characters the model never saw ('—', 'Z')" in skipped.stderr
    alone = invoke("eval", "without.txt", "--checkpoint", "checkpoints/corpus", "--json")
    assert json.loads(skipped.stdout)["nats"] == json.loads(alone.stdout)["nats"]
    assert json.loads(skipped.stdout)["chars"] == len("the quick brown fox  jumps over the lazy og. THE END, said the "
                                                      "fox!\n") - 1
    # Not cached: the same file without --unknown is refused again.
    fails(1, "eval", "held.txt", "--checkpoint", "checkpoints/corpus", message="never saw")
    fails(2, "eval", "held.txt", "--unknown", "replace", message="--unknown: must be error or skip")


def test_a_short_text_is_scored_after_a_blank_line(in_cli_root):
    """From the zero state the bundled model scored a 36-character speech at 8.53 nats a character: eval reads the
    blank line a sample reads first, unscored (it scores 1.40)."""
    import torch

    from charnn.checkpoint import build_model
    from charnn.vocab import Vocab

    Path("short.txt").write_text("the lazy dog.\nTHE END, said the fox!\n")
    scored = json.loads(invoke("eval", "short.txt", "--checkpoint", "checkpoints/corpus", "--json").stdout)
    payload = load(Path("checkpoints/corpus/best.pt"))
    model, vocab = build_model(payload, "best.pt").eval(), Vocab(payload["vocab"])
    ids = torch.tensor(vocab.encode("\n\n" + Path("short.txt").read_text()))[None]
    with torch.no_grad():
        logits, _ = model(ids[:, :-1])
    by_hand = torch.nn.functional.cross_entropy(logits[0, 2:].double(), ids[0, 3:]).item()
    assert scored["nats"] == pytest.approx(by_hand, rel=1e-5) and scored["chars"] == ids.shape[1] - 3
    # The run's own validation split follows its training text: led by the 256 characters before it.
    from charnn.data import load_corpus
    from charnn.evaluation import evaluate

    val = json.loads(invoke("eval", "corpus.txt", "--checkpoint", "checkpoints/corpus", "--json").stdout)
    text = load_corpus(Path("corpus.txt"), vocab=vocab).ids
    start = len(text) - int(len(text) * 0.1)
    expected = evaluate(model, text[start:], lead=text[start - 256:start])
    assert val["split"] == "val" and (val["nats"], val["chars"]) == (pytest.approx(expected[0], rel=1e-6), expected[1])


def test_a_mistyped_checkpoint_gets_the_likeliest_name(in_cli_root):
    fails(1, "sample", "--checkpoint", "checkpoints/corpsu", message="checkpoint checkpoints/corpsu does not exist — "
          "did you mean checkpoints/corpus?")
    fails(1, "info", "checkpoints/corpus/bset.pt", message="did you mean checkpoints/corpus/best.pt?")
    fails(1, "sample", "--checkpoint", "elsewhere.pt", message="does not exist — pass a .pt file or a run folder")


def test_train_resume_via_cli(in_cli_root, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(in_cli_root.run_dir, out)
    result = invoke("train", "corpus.txt", "--out", str(out), "--resume", "--steps", "44", "--device", "cpu",
                    "--precision", "fp32", "--lr", "0.02", "--embed-dim", "8")
    assert result.exit_code == 0, result.output
    assert "resumed at step 40" in result.stderr and "finished (steps) at step 44" in result.stderr
    changed = invoke("train", "corpus.txt", "--out", str(out), "--resume", "--steps", "48", "--hidden-size", "32",
                     "--device", "cpu", "--precision", "fp32", "--embed-dim", "8")
    assert changed.exit_code == 1 and "--hidden-size 16 → 32" in changed.stderr


def test_validation_characters_the_training_text_never_has_are_said(tmp_path, monkeypatch):
    """A trial's code base, its CJK and emoji lines joined last: 10% of the validation text was characters training
    never saw; its loss stayed near 3.4 nats while training's fell to 2.0, and the run was told that it overfit."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus.txt").write_text(REPETITIVE + "日本 🚀 " * 30, encoding="utf-8")
    result = invoke("train", "corpus.txt", "--steps", "2", *TINY)
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert ("the validation text (the last 10%) has 90 characters the training text never has ('日', '本', '🚀'): "
            "no model learns them, so the val loss counts them against it — put some of that text earlier in the "
            "file") in said, said
    (tmp_path / "corpus.txt").write_text("日本 🚀 " + REPETITIVE + "日本 🚀 " * 30, encoding="utf-8")
    assert "never has" not in invoke("train", "corpus.txt", "--steps", "2", *TINY).stderr  # in both parts
    # Too few to count (a review: 2 quotes in the bundled screenplay's 4,577 validation characters were said).
    (tmp_path / "corpus.txt").write_text(REPETITIVE * 3 + '"', encoding="utf-8")  # 1 in 612
    assert "never has" not in invoke("train", "corpus.txt", "--steps", "2", *TINY).stderr


def test_a_second_run_never_replaces_the_first(tmp_path, monkeypatch):
    """Found by a new-user trial: the same `charnn train` twice overwrote best.pt with a worse model and mixed
    the two runs' step files and metrics. The default folder now moves on to corpus-2, -3, …"""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus.txt").write_text(REPETITIVE, encoding="utf-8")
    first = tmp_path / "checkpoints" / "corpus"
    assert invoke("train", "corpus.txt", "--steps", "4", "--eval-every", "2", *TINY).exit_code == 0
    files = {p.name: p.read_bytes() for p in first.iterdir() if p.name != ".lock"}
    second = invoke("train", "corpus.txt", "--steps", "6", "--eval-every", "3", *TINY)
    assert second.exit_code == 0, second.output
    assert "checkpoints/corpus holds another run: this one goes to checkpoints/corpus-2" in second.stderr
    assert {p.name: p.read_bytes() for p in first.iterdir() if p.name != ".lock"} == files  # untouched
    assert load(first.parent / "corpus-2" / "latest.pt")["step"] == 6
    assert "corpus-2" in invoke("sample", "--length", "5").stderr  # sampling takes the newest run
    # --resume without --out continues the newest run, not the first one.
    resumed = invoke("train", "corpus.txt", "--resume", "--steps", "8", "--device", "cpu")
    assert resumed.exit_code == 0 and "resumed at step 6" in resumed.stderr, resumed.output
    assert load(first.parent / "corpus-2" / "latest.pt")["step"] == 8 and load(first / "latest.pt")["step"] == 4
    third = invoke("train", "corpus.txt", "--steps", "2", "--eval-every", "2", *TINY)
    assert third.exit_code == 0 and (first.parent / "corpus-3" / "best.pt").exists()


def test_resume_without_out_skips_another_corpus_named_like_a_numbered_folder(tmp_path, monkeypatch):
    """checkpoints/data-2 is where a second run of data.txt goes, and also where data-2.txt trains."""
    monkeypatch.chdir(tmp_path)
    for name in ("data.txt", "data-2.txt"):
        (tmp_path / name).write_text(REPETITIVE, encoding="utf-8")
        assert invoke("train", name, "--steps", "4", "--eval-every", "2", *TINY).exit_code == 0
    resumed = invoke("train", "data.txt", "--resume", "--steps", "6", "--device", "cpu")
    assert resumed.exit_code == 0 and "checkpoints/data\n" in resumed.stderr + "\n", resumed.output
    assert load(tmp_path / "checkpoints" / "data" / "latest.pt")["step"] == 6
    assert load(tmp_path / "checkpoints" / "data-2" / "latest.pt")["step"] == 4


def test_a_run_killed_before_its_first_full_save_is_neither_resumed_nor_written_over(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus.txt").write_text(REPETITIVE, encoding="utf-8")
    half = tmp_path / "checkpoints" / "corpus"
    assert invoke("train", "corpus.txt", "--steps", "2", "--eval-every", "2", *TINY).exit_code == 0
    (half / "latest.pt").unlink()  # as a kill between best.pt and latest.pt leaves it
    best = (half / "best.pt").read_bytes()
    fails(1, "train", "corpus.txt", "--out", str(half), "--steps", "2", *TINY,
          message="holds a run's files but no latest.pt (a run stopped before its first full save")
    fails(1, "train", "corpus.txt", "--out", str(half), "--resume", "--steps", "4",
          message="nothing to resume in")
    fresh = invoke("train", "corpus.txt", "--steps", "2", "--eval-every", "2", *TINY)
    assert fresh.exit_code == 0 and (half.parent / "corpus-2" / "latest.pt").exists()
    assert (half / "best.pt").read_bytes() == best
    assert "model size" not in fails(1, "train", "corpus.txt", "--out", str(half), "--steps", "2").stderr
    elsewhere = tmp_path / "elsewhere"  # a new-user trial: a --resume from a folder without the run's checkpoints/
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    fails(1, "train", str(tmp_path / "corpus.txt"), "--resume", *TINY,
          message="there is no folder checkpoints/corpus — check the path (a run is in checkpoints/ where it was")


def test_an_out_that_is_a_file_is_refused_before_the_preset(tmp_path, monkeypatch):
    """A new-user trial: `--resume --out RUN/latest.pt` was told there is no folder of that name."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus.txt").write_text(REPETITIVE, encoding="utf-8")
    assert invoke("train", "corpus.txt", "--steps", "2", "--eval-every", "2", *TINY).exit_code == 0
    for resume in ([], ["--resume"]):
        result = fails(1, "train", "corpus.txt", "--out", "checkpoints/corpus/latest.pt", "--steps", "4", *resume,
                       message="--out takes a run folder, and checkpoints/corpus/latest.pt is a checkpoint in one — "
                               "give checkpoints/corpus")
        assert "model size" not in result.stderr
        fails(1, "train", "corpus.txt", "--out", "corpus.txt", "--steps", "4", *resume,
              message="cannot use corpus.txt as the run folder: a file of that name is in the way")


def test_resume_without_out_skips_another_corpus_with_the_same_stem(tmp_path, monkeypatch):
    """data.md and data.txt both train into checkpoints/data by default: --resume must find data.txt's run."""
    monkeypatch.chdir(tmp_path)
    for name in ("data.md", "data.txt"):
        (tmp_path / name).write_text(REPETITIVE + (" #" if name == "data.md" else ""), encoding="utf-8")
        assert invoke("train", name, "--steps", "4", "--eval-every", "2", *TINY).exit_code == 0
    (tmp_path / "checkpoints" / "data" / "latest.pt").touch()  # data.md's run, now the newest
    resumed = invoke("train", "data.txt", "--resume", "--steps", "6", "--device", "cpu")
    assert resumed.exit_code == 0, resumed.output
    assert load(tmp_path / "checkpoints" / "data-2" / "latest.pt")["step"] == 6


def test_an_explicit_out_holding_a_run_is_refused_without_resume(in_cli_root):
    result = fails(1, "train", "corpus.txt", "--out", str(in_cli_root.run_dir), "--steps", "2", *TINY,
                   message="already holds a run — continue it with --resume, or train into another --out")
    assert "\n" not in result.stderr.strip()


def test_resume_keeps_the_runs_schedule_when_defaults_change(in_cli_root, tmp_path):
    """Settings with no flag (warmup, final lr fraction, decay, clipping) come from the run on a resume,
    so a run started under an older charnn continues on the schedule it started with."""
    from charnn import checkpoint

    out = tmp_path / "run"
    shutil.copytree(in_cli_root.run_dir, out)
    payload = load(out / "latest.pt")
    payload["train_config"].update(min_lr_fraction=0.5, warmup_steps=3, weight_decay=0.2, grad_clip=0.7)
    checkpoint.save(payload, out / "latest.pt")
    result = invoke("train", "corpus.txt", "--out", str(out), "--resume", "--steps", "42", "--device", "cpu",
                    "--precision", "fp32")
    assert result.exit_code == 0, result.output
    saved = load(out / "latest.pt")["train_config"]
    assert (saved["min_lr_fraction"], saved["warmup_steps"], saved["weight_decay"], saved["grad_clip"]) == (
        0.5, 3, 0.2, 0.7)



def test_regularisation_flags_reach_the_run_and_its_resume(in_cli_root, tmp_path):
    out = tmp_path / "run"
    result = invoke("train", "corpus.txt", "--steps", "4", "--eval-every", "4", "--out", str(out), *TINY,
                    "--layers", "2", "--dropout", "0.2", "--weight-dropout", "0.3", "--weight-decay", "0.05")
    assert result.exit_code == 0, result.output
    assert "dropout 0.2, weight dropout 0.3" in result.stderr
    payload = load(out / "latest.pt")
    assert (payload["model_config"]["dropout"], payload["model_config"]["weight_dropout"]) == (0.2, 0.3)
    assert payload["train_config"]["weight_decay"] == 0.05
    assert [group["weight_decay"] for group in payload["optimizer"]["param_groups"]] == [0.05, 0.0]
    assert "weight dropout 0.3" in invoke("info", str(out)).stdout
    # --resume keeps the run's weight dropout, refuses another, and applies a new weight decay.
    resume = ["train", "corpus.txt", "--out", str(out), "--resume", "--device", "cpu", "--precision", "fp32"]
    changed = invoke(*resume, "--steps", "6", "--weight-dropout", "0.1")
    assert changed.exit_code == 1 and "--weight-dropout 0.3 → 0.1" in changed.stderr
    result = invoke(*resume, "--steps", "6", "--weight-decay", "0.02")
    assert result.exit_code == 0, result.output
    payload = load(out / "latest.pt")
    assert payload["step"] == 6 and payload["model_config"]["weight_dropout"] == 0.3
    assert [group["weight_decay"] for group in payload["optimizer"]["param_groups"]] == [0.02, 0.0]


def test_the_clock_cadence_comes_from_the_preset_and_an_explicit_eval_every_turns_it_off(in_cli_root, tmp_path,
                                                                                      monkeypatch):
    def invoke(*args):  # a budget counts from the command's start, which in this process is its import
        monkeypatch.setattr(cli_module.command, "STARTED_AT", time.monotonic())
        return globals()["invoke"](*args)

    planned = invoke("train", "corpus.txt", "--time", "4s", "--out", str(tmp_path / "a"), *TINY)
    assert planned.exit_code == 0, planned.output
    assert 4 / 8 <= load(tmp_path / "a" / "latest.pt")["train_config"]["eval_seconds"] <= 4 / 2
    given = invoke("train", "corpus.txt", "--time", "4s", "--eval-every", "1000", "--out", str(tmp_path / "b"), *TINY)
    assert given.exit_code == 0, given.output
    assert load(tmp_path / "b" / "latest.pt")["train_config"]["eval_seconds"] is None
    longer = invoke("train", "corpus.txt", "--time", "8s", "--out", str(tmp_path / "a"), "--resume")
    assert longer.exit_code == 0, longer.output  # a new budget: the clock cadence is planned for it
    assert load(tmp_path / "a" / "latest.pt")["train_config"]["eval_seconds"] == 1.0


def test_a_budget_spent_before_the_first_step_exits_1(in_cli_root, tmp_path, monkeypatch):
    """Two trials: `--time 1s` trained and saved nothing, yet exited 0, so `charnn train … && charnn sample` went on
    to sample another model."""
    monkeypatch.setattr(cli_module.command, "STARTED_AT", time.monotonic() - 60)  # the budget is gone already
    result = invoke("train", "corpus.txt", "--time", "30s", "--out", str(tmp_path / "run"), *TINY)
    assert result.exit_code == 1 and "before the first step" in result.stderr and "nothing was saved" in result.stderr
    assert not (tmp_path / "run").exists()


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.startswith("charnn ")


def test_a_run_without_weight_dropout_leaves_the_key_out(in_cli_root):
    """Older charnn refuses unknown model settings, so an unused new one is not written."""
    assert "weight_dropout" not in load(in_cli_root.run_dir / "latest.pt")["model_config"]


@pytest.mark.parametrize("saved", ["fp32", "bf16"])
def test_resume_keeps_the_runs_precision(in_cli_root, tmp_path, monkeypatch, saved):
    """Without --precision a resumed run goes on in the precision it started with, whatever auto
    would pick here (auto changed in this project once: bf16 on emulating CPUs became fp32)."""
    from charnn import checkpoint, planning, precision

    if saved == "bf16" and not precision.bf16_runs(torch.device("cpu")):
        pytest.skip("bf16 does not run on this CPU")
    monkeypatch.setattr(planning, "chosen_precision", lambda device: ("fp32" if saved == "bf16" else "bf16", None))
    out = tmp_path / "run"
    shutil.copytree(in_cli_root.run_dir, out)
    payload = load(out / "latest.pt")
    payload["train_config"]["precision"] = saved
    checkpoint.save(payload, out / "latest.pt")
    result = invoke("train", "corpus.txt", "--out", str(out), "--resume", "--steps", "42", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert load(out / "latest.pt")["train_config"]["precision"] == saved
    # An explicit flag still wins: for a bf16 run that is what a CPU without bf16 is told to do, and the
    # bf16 state it carries must not crash the fp32 LSTM.
    forced = invoke("train", "corpus.txt", "--out", str(out), "--resume", "--steps", "44", "--device", "cpu",
                    "--precision", "fp32")
    assert forced.exit_code == 0 and load(out / "latest.pt")["train_config"]["precision"] == "fp32"

# --- bad inputs: one line on stderr, the right exit code, never a traceback -------------------------


@pytest.fixture
def bad_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "latin1.txt").write_bytes(("hello café\n" * 10).encode("latin-1"))
    (tmp_path / "short.txt").write_text("abcdefghij" * 5, encoding="utf-8")
    (tmp_path / "corrupt.pt").write_bytes(b"PK\x03\x04 definitely not a checkpoint")
    return tmp_path


TRAIN_FLAGS = ["--steps", "2", *TINY]


def test_a_large_corpus_is_announced_while_it_is_encoded_the_first_time(bad_files, monkeypatch):
    """A new-user trial: a 50 MB corpus gave 7 s of silence before the first line (4 s of it encoding)."""
    from charnn.cli import command

    monkeypatch.setattr(command, "BIG_CORPUS_BYTES", 400)  # big.txt (500 bytes) counts as large
    Path("big.txt").write_text("abcdefghij" * 50, encoding="utf-8")
    first = invoke("train", "big.txt", *TRAIN_FLAGS, "--out", "one")
    assert first.exit_code == 0 and "encoding big.txt (0 MB) — once: later runs read it from the cache" in first.stderr
    again = invoke("train", "big.txt", *TRAIN_FLAGS, "--out", "two")
    assert again.exit_code == 0 and "encoding" not in again.stderr


def test_train_missing_corpus(bad_files):
    fails(1, "train", "missing.txt", *TRAIN_FLAGS, message="does not exist")


def test_train_directory_corpus(bad_files):
    fails(1, "train", "folder", *TRAIN_FLAGS, message="is a directory — give the path of a text file inside it, or "
          "join its files into one (e.g. cat folder/*.txt > all.txt, or for code find folder -name '*.py' -exec cat "
          "{} + > all.py; each in UTF-8) and give that")


def test_train_given_several_files_says_how_to_join_them(bad_files):
    """A songwriter trial: `charnn train songs/*.txt` gave `got unexpected extra argument(s) (…)`, 30 names long, and
    no way on."""
    Path("songs").mkdir()
    for name in ("songs/a.txt", "songs/b.txt", "songs/c.txt", "notes.md"):
        Path(name).write_text("la la\n", encoding="utf-8")
    fails(2, "train", "songs/a.txt", "songs/b.txt", "songs/c.txt", message="charnn train reads one text file, and "
          "got 3 — join them into one first, e.g. cat songs/*.txt > all.txt, and train on that")
    fails(2, "train", "songs/a.txt", "notes.md", message="got 2 — join them into one first, e.g. cat FILE1 FILE2 …")
    fails(2, "train", "songs/a.txt", "5m", message="got unexpected extra argument(s) (5m) — see ")  # meant --time
    fails(2, "sample", "a", "b", message="got unexpected extra argument(s) (a b) — see ")


def test_train_empty_corpus(bad_files):
    fails(1, "train", "empty.txt", *TRAIN_FLAGS, message="empty")


@pytest.mark.parametrize("head, kind", [
    (b"{\\rtf1\\ansi\\deff0 {\\fonttbl", "an RTF document"),
    (b"PK\x03\x04\x14\x00\x06\x00", "a zip archive (a .docx, .odt or .epub is one)"), (b"%PDF-1.7\n", "a PDF")])
def test_a_document_is_told_to_be_saved_as_plain_text(bad_files, head, kind):
    """A trial's lyrics.rtf trained, on `\\f0\\fs24` and `\\par`; its lyrics.docx was "a binary file, not text (bad
    byte 0xb0 at byte offset 10 …)", which says nothing to a songwriter."""
    Path("lyrics").write_bytes(head + b"Verse one\n" * 50)
    for command in (["train", "lyrics", *TRAIN_FLAGS], ["eval", "lyrics", "--checkpoint", "corrupt.pt"]):
        fails(1, *command, message=f"lyrics is {kind}, not plain text — save or export it as plain text (.txt, "
                                   "UTF-8) from the program that made it")


def test_train_non_utf8_corpus(bad_files):
    result = fails(1, "train", "latin1.txt", *TRAIN_FLAGS, message="byte offset 9")
    assert "0xe9" in result.stderr
    ok = invoke("train", "latin1.txt", "--encoding", "latin-1", "--steps", "1", "--batch-size", "1",
                "--seq-len", "4", *TINY[:6], "--device", "cpu", "--precision", "fp32")
    assert ok.exit_code == 0, ok.output


def test_train_corpus_shorter_than_a_batch(bad_files):
    fails(1, "train", "short.txt", *TRAIN_FLAGS, message="too short")


@pytest.mark.parametrize("flags", [["--time", "garbage"], ["--time", "10x"], ["--time", "0s"], ["--cell", "lstmx"],
                                   ["--dropout", "1.5"], ["--lr", "-1"], ["--errors", "ignore"],
                                   ["--precision", "fp64"], ["--batch-size", "0"], ["--threads", "0"],
                                   ["--weight-decay", "-0.1"], ["--weight-decay", "nan"], ["--weight-decay", "inf"],
                                   ["--encoding", "bogus"], ["--weight-dropout", "1"]])
def test_train_bad_usage(bad_files, flags):
    result = invoke("train", "short.txt", "--steps", "2", *flags)
    assert result.exit_code == 2, result.output
    assert not (bad_files / "checkpoints").exists()
    assert flags[0] in result.output  # the message names the option


@pytest.mark.parametrize("flags", [["--temperature", "-1"], ["--temperature", "nan"], ["--temperature", "inf"],
                                   ["--top-p", "2"],
                                   ["--top-p", "0"], ["--top-k", "0"], ["--unknown", "bogus"], ["--stop", ""],
                                   ["--length", "-5"], ["--style", "fancy"], ["--seed", "-1"], ["--seed", str(2**32)],
                                   ["--precision", "int8"], ["--precision", "bf16"], ["--threads", "0"]])
def test_sample_bad_usage(in_cli_root, flags):
    result = invoke("sample", "--length", "5", *flags)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""


def test_sample_prime_with_unseen_chars(in_cli_root):
    result = fails(1, "sample", "--prime", "the ZQ日", "--length", "5",
                   message="the prime has characters the model never saw")
    for char in ("'Z'", "'Q'", "'日'"):
        assert char in result.stderr


def test_sample_missing_checkpoint(bad_files):
    fails(1, "sample", "--checkpoint", "nope.pt", "--length", "5", message="does not exist")


def test_a_text_file_given_as_a_checkpoint_is_named_as_one(in_cli_root):
    for command in (["info", "corpus.txt"], ["sample", "--checkpoint", "corpus.txt"]):
        fails(1, *command, message="corpus.txt is a text file, not a checkpoint")


@pytest.mark.parametrize("command", [["sample", "--checkpoint", "corrupt.pt"], ["info", "corrupt.pt"],
                                     ["eval", "latin1.txt", "--checkpoint", "corrupt.pt"]])
def test_corrupt_checkpoint(bad_files, command):
    fails(1, *command, message="corrupt.pt")


def test_sample_folder_without_checkpoint(bad_files):
    fails(1, "sample", "--checkpoint", "folder", message="no best.pt or latest.pt")


def test_sample_without_any_run(bad_files, monkeypatch):
    import charnn.runs

    monkeypatch.setattr(charnn.runs, "BUNDLED", bad_files / "no-bundled.pt")
    fails(1, "sample", "--length", "5", message="no checkpoint found")


def test_eval_corpus_with_unseen_chars(in_cli_root, tmp_path):
    (tmp_path / "other.txt").write_text("日本語のテキスト\n" * 10, encoding="utf-8")
    fails(1, "eval", str(tmp_path / "other.txt"), "--checkpoint", "checkpoints/corpus", message="never saw")


def test_eval_takes_the_encoding_its_message_suggests(in_cli_root, tmp_path):
    """A new-user trial: eval of a UTF-16 file said `use --encoding utf-16`, and eval had no --encoding."""
    from conftest import REPETITIVE

    (tmp_path / "utf8.txt").write_text(REPETITIVE, encoding="utf-8")
    (tmp_path / "utf16.txt").write_text(REPETITIVE, encoding="utf-16")
    base = ["eval", "--checkpoint", "checkpoints/corpus", "--split", "all", "--json"]
    refused = fails(1, "eval", str(tmp_path / "utf16.txt"), *base[1:], message="--encoding utf-16")
    assert "Traceback" not in refused.output
    scored = invoke(*base[:1], str(tmp_path / "utf16.txt"), *base[1:], "--encoding", "utf-16")
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["nats"] == json.loads(invoke(*base[:1], str(tmp_path / "utf8.txt"),
                                                                  *base[1:]).stdout)["nats"]
    assert invoke(*base[:1], str(tmp_path / "utf8.txt"), *base[1:], "--errors", "bogus").exit_code == 2


def test_eval_scores_a_held_out_text_whole(in_cli_root, tmp_path):
    """A trial's held-out source file had its last 10% scored alone (`split val (1,900 chars scored)`). Another text
    than the run's corpus is scored whole by default, and said so; the run's own corpus still its val split."""
    held_out = tmp_path / "held_out.txt"
    held_out.write_text(REPETITIVE[::-1], encoding="utf-8")  # other text, the same characters
    scored = invoke("eval", str(held_out), "--checkpoint", "checkpoints/corpus", "--json")
    assert scored.exit_code == 0 and json.loads(scored.stdout)["split"] == "all", scored.output
    assert json.loads(scored.stdout)["chars"] == len(REPETITIVE) - 1
    assert "scoring all of held_out.txt, which is not the text the run was trained on (corpus.txt); --split val " \
           "scores its last 10% instead" in scored.stderr
    val = json.loads(invoke("eval", str(held_out), "--checkpoint", "checkpoints/corpus", "--json", "--split",
                            "val").stdout)
    assert val["split"] == "val" and val["chars"] == int(len(REPETITIVE) * 0.1) - 1
    # By its text, not its name: a copy of the corpus under another name is the run's; another corpus.txt is not.
    shutil.copy("corpus.txt", tmp_path / "renamed.txt")
    renamed = invoke("eval", str(tmp_path / "renamed.txt"), "--checkpoint", "checkpoints/corpus", "--json")
    assert json.loads(renamed.stdout)["split"] == "val", renamed.output
    (tmp_path / "corpus.txt").write_text(REPETITIVE[::-1], encoding="utf-8")  # its name, other text
    other = invoke("eval", str(tmp_path / "corpus.txt"), "--checkpoint", "checkpoints/corpus", "--json")
    assert json.loads(other.stdout)["split"] == "all", other.output
    # A checkpoint without a digest (the bundled model's): by name and length. A trial's 9,000 characters of
    # samples saved as tinyshakespeare.txt had their last 10% scored as the bundled model's held-out text.
    payload = torch.load("checkpoints/corpus/best.pt", weights_only=True)
    del payload["corpus_digest"]
    torch.save(payload, tmp_path / "no_digest.pt")
    for text, split in ((REPETITIVE[::-1], "val"), (REPETITIVE[::-1] + "the fox", "all")):
        (tmp_path / "corpus.txt").write_text(text, encoding="utf-8")
        scored = invoke("eval", str(tmp_path / "corpus.txt"), "--checkpoint", str(tmp_path / "no_digest.pt"),
                        "--json")
        assert json.loads(scored.stdout)["split"] == split, scored.output


def test_eval_split_too_short(in_cli_root, tmp_path):
    (tmp_path / "tiny.txt").write_text("the fox the fox the", encoding="utf-8")  # val split: 1 char
    result = invoke("eval", str(tmp_path / "tiny.txt"), "--checkpoint", "checkpoints/corpus", "--json", "--split",
                    "val")
    if result.exit_code == 0:
        def refuse(constant):
            raise ValueError(f"{constant} is not JSON")

        report = json.loads(result.stdout, parse_constant=refuse)
        assert math.isfinite(report["nats"])
    else:
        assert result.exit_code == 1 and result.stdout == "" and "short" in result.stderr


def test_eval_of_a_missing_corpus_says_so(in_cli_root):
    """Without --checkpoint it said "no run trained on nothere.txt", as if the file were fine."""
    fails(1, "eval", "nothere.txt", message="corpus nothere.txt does not exist")


def test_a_corpus_too_short_is_refused_before_the_preset_speaks(in_cli_root, tmp_path):
    (tmp_path / "abc.txt").write_text("abc", encoding="utf-8")
    result = fails(1, "train", str(tmp_path / "abc.txt"), "--time", "5s", message="too short")
    assert "preset" not in result.stderr and "passes" not in result.stderr


def test_eval_bad_split(in_cli_root):
    assert invoke("eval", "corpus.txt", "--checkpoint", "checkpoints/corpus", "--split", "test").exit_code == 2


def test_a_typed_prime_reads_backslash_n_as_a_line_break_unless_the_model_knows_backslashes(in_cli_root, tmp_path,
                                                                                              monkeypatch):
    """A trial's `--prime 'JONAH\\n'` was refused for its backslash, though `--stop '\\n'` means a line break."""
    greedy = ["sample", "--temperature", "0", "--length", "30"]
    typed = invoke(*greedy, "--prime", "the fox.\\nTHE")
    assert typed.exit_code == 0, typed.output
    assert typed.stdout == invoke(*greedy, "--prime", "the fox.\nTHE").stdout
    # A model of code has seen backslashes: there `\n` is the two characters, as a prime of code means them.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "code.txt").write_text('print("a\\tb\\n") ' * 100, encoding="utf-8")  # no real line break in it
    assert invoke("train", "code.txt", "--steps", "2", "--out", "code", *TINY).exit_code == 0
    literal = invoke(*greedy, "--checkpoint", "code", "--prime", 'print("a\\n")')
    assert literal.exit_code == 0, literal.output  # unescaped, its line break would be a character never seen
    # And said so: a trial's `--prime 'def foo():\n    return 1\n'` showed its backslashes without a word.
    assert "--prime: \\n and \\t are kept as typed: this model writes backslashes (code)" in literal.stderr
    assert "kept as typed" not in typed.stderr


def test_cell_names_are_read_in_any_case(tmp_path, monkeypatch):
    """A trial typed `--cell LSTM`, as the start line and README write it, and was refused."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus.txt").write_text(REPETITIVE, encoding="utf-8")
    result = invoke("train", "corpus.txt", "--cell", "GRU", "--steps", "2", "--out", "upper", *TINY)
    assert result.exit_code == 0, result.output
    assert load(tmp_path / "upper" / "latest.pt")["model_config"]["cell"] == "gru"
    fails(2, "train", "corpus.txt", "--cell", "lsmt", message="must be one of lstm, gru, rnn (did you mean lstm?)")


def test_parse_duration():
    assert parse_duration("90s") == 90 and parse_duration("10m") == 600 and parse_duration("1h30m") == 5400
    assert parse_duration("1.5h") == 5400 and parse_duration("2m 30s") == 150
    # A new-user trial: `--time 10` trained for 10 seconds when 10 minutes were meant.
    with pytest.raises(typer.BadParameter, match="'10' has no unit — say 10s or 10m"):
        parse_duration("10")
    assert parse_duration("150m") == 9000 and parse_duration("1h59m59s") == 7199 and parse_duration("90s") == 90
    # A new-user trial's `--time 1h99m` ran for 2h39m: a slip. So are units out of order or given twice.
    for slip, said in [("1h99m", "99m after a larger unit must be under 60"), ("2m60s", "60s after a larger unit"),
                       ("10m5m", "in that order, each once"), ("30s1m", "in that order, each once")]:
        with pytest.raises(typer.BadParameter, match=said):
            parse_duration(slip)
    # A new-user trial's 1m30: the unit left out is the next one down.
    for slip, meant in [("1m30", "1m30s"), ("1h30", "1h30m"), ("2h 5", "2h 5m")]:
        with pytest.raises(typer.BadParameter, match=f"did you mean {meant}\\?"):
            parse_duration(slip)
    with pytest.raises(typer.BadParameter, match="'1h90' is not a duration — use e.g."):  # not 1h90m, refused too
        parse_duration("1h90")


# --- real processes --------------------------------------------------------------------------------


def run_python(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def test_python_dash_m_help():
    result = run_python("-m", "charnn", "--help")
    assert result.returncode == 0, result.stderr
    for command in ("train", "sample", "info", "eval"):
        assert command in result.stdout


def test_help_does_not_import_torch():
    code = ("import sys; import charnn.cli; assert 'torch' not in sys.modules, 'import'\n"
            "from typer.testing import CliRunner\n"
            "for args in (['--help'], ['train', '--help'], ['sample', '--help']):\n"
            "    r = CliRunner().invoke(charnn.cli.app, args); assert r.exit_code == 0, r.output\n"
            "print('torch' in sys.modules, 'numpy' in sys.modules)")
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "False"


def test_a_mistyped_path_is_told_before_torch_loads(tmp_path):
    """`charnn info missing.pt` took 3 s on a 2-core machine, `charnn train missing.txt` as long: torch (~2 s) was
    imported before the path was looked at."""
    code = ("import sys, charnn.cli\n"
            "from typer.testing import CliRunner\n"
            "for args in (['info', 'missing.pt'], ['sample', '--checkpoint', 'missing.pt'],\n"
            "             ['train', 'missing.txt'], ['eval', 'missing.txt'],\n"
            "             ['eval', 'text.txt', '--checkpoint', 'missing.pt'], ['train', '.'],\n"
            "             ['train', 'empty.txt']):\n"
            "    r = CliRunner().invoke(charnn.cli.app, args)\n"
            "    print(r.exit_code, 'torch' in sys.modules, r.output.strip().splitlines()[-1])\n")
    (tmp_path / "text.txt").write_text("some text\n")
    (tmp_path / "empty.txt").write_text("")
    result = run_python("-c", code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 7
    for line in lines:
        assert line.startswith("1 False error: "), line
    assert "missing.pt does not exist" in lines[0] and "missing.txt does not exist" in lines[2]
    assert "is a directory" in lines[5] and "empty.txt is empty" in lines[6]


def test_import_charnn_cli_does_not_import_torch():
    result = run_python("-c", "import charnn.cli, sys; print('torch' in sys.modules)")
    assert result.returncode == 0 and result.stdout.strip() == "False"


def test_real_process_error_has_no_traceback(tmp_path):
    (tmp_path / "corrupt.pt").write_bytes(b"\x00" * 100)
    result = run_python("-m", "charnn", "sample", "--checkpoint", "corrupt.pt", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and "corrupt.pt" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_result_in_library_terms(in_cli_root):
    """The CLI-trained run is an ordinary run folder: the library reads it and scores what eval printed."""
    from charnn.evaluation import evaluate

    payload = load(in_cli_root.run_dir / "best.pt")
    data = load_corpus(in_cli_root.root / "corpus.txt", vocab=Vocab(payload["vocab"]))
    nats, chars = evaluate(build_model(payload), data.split(0.1)[1])
    report = json.loads(invoke("eval", "corpus.txt", "--checkpoint", "checkpoints/corpus", "--json").stdout)
    assert chars == report["chars"] and nats == pytest.approx(report["nats"], rel=0.02)
    assert torch.get_num_threads() >= 1


@contextlib.contextmanager
def watched(child: subprocess.Popen, seconds: float = 120):
    """A child process that a broken stop path kills within `seconds`, failing the test instead of hanging it."""
    watchdog = threading.Timer(seconds, child.kill)
    watchdog.start()
    try:
        yield child
    finally:
        watchdog.cancel()
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.mark.parametrize("signal_name, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_signal_during_training_saves_latest(tmp_path, signal_name, code):
    import os
    import signal

    (tmp_path / "corpus.txt").write_text(REPETITIVE, encoding="utf-8")
    child = subprocess.Popen([sys.executable, "-m", "charnn", "train", "corpus.txt", "--steps", "1000000",
                              "--eval-every", "1", "--out", "run", *TINY], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONUNBUFFERED="1"))
    with watched(child):
        for line in child.stderr:  # the first eval's line: a step is trained (and the signal handler is running)
            if line.startswith("step "):
                break
        child.send_signal(getattr(signal, signal_name))
        stdout, stderr = child.communicate(timeout=60)
    assert child.returncode == code, stderr
    assert "Traceback" not in stderr and stdout == ""
    # SIGTERM's stop is named so to the end: a trial's `kill -TERM` ended `stopped (interrupted) at step 79`.
    word = "terminated" if signal_name == "SIGTERM" else "interrupted"
    assert f"stopped ({word}) at step" in stderr and "--resume" in stderr
    assert stderr.count("stopping after this step") == 1
    latest = load(tmp_path / "run" / "latest.pt")
    assert latest["step"] >= 1 and "optimizer" in latest


def test_the_first_ctrl_c_is_answered_at_once_and_the_second_quits(capsys):
    """At once: the step under way may be a long eval and save, and a user who sees nothing presses Ctrl-C again."""
    import signal

    flag = cli_module.StopFlag()
    assert not flag.is_set()
    flag.training = lambda: True  # the view has the run's start
    flag.handle(signal.SIGINT, None)
    assert flag.is_set()
    assert capsys.readouterr().err.count("stopping after this step (Ctrl-C again to quit at once)") == 1
    with pytest.raises(KeyboardInterrupt):  # a second Ctrl-C stops at once
        flag.handle(signal.SIGINT, None)


def test_the_resume_command_shown_after_a_stop_can_be_pasted(tmp_path, monkeypatch):
    """A new-user trial pasted the command a Ctrl-C showed, for a corpus named `lyrics 歌詞 ♫.txt`: the paths were not
    quoted, and the shell split them into extra arguments (exit 2)."""
    import re
    import shlex
    import signal

    import charnn.train

    monkeypatch.chdir(tmp_path)
    (tmp_path / "my songs").mkdir()
    (tmp_path / "my songs" / "lyrics 歌詞 ♫.txt").write_text(REPETITIVE, encoding="utf-8")
    corpus = "my songs/lyrics 歌詞 ♫.txt"
    assert invoke("train", corpus, "--steps", "4", "--eval-every", "2", *TINY).exit_code == 0
    real = charnn.train.train

    def pressed_during_set_up(*args, **kwargs):
        signal.raise_signal(signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(charnn.train, "train", pressed_during_set_up)
    stopped = invoke("train", corpus, "--steps", "8", "--resume")
    assert stopped.exit_code == 130
    shown = re.search(r"continue with: (charnn train .* --resume)", " ".join(stopped.stderr.split())).group(1)
    assert shown == "charnn train 'my songs/lyrics 歌詞 ♫.txt' --out 'checkpoints/lyrics 歌詞 ♫' --resume"
    monkeypatch.setattr(charnn.train, "train", real)
    pasted = invoke(*shlex.split(shown)[1:], "--steps", "8")  # (its own target, 4, is reached: the run is unchanged)
    assert pasted.exit_code == 0, pasted.output
    assert load(tmp_path / "checkpoints" / "lyrics 歌詞 ♫" / "latest.pt")["step"] == 8


def test_a_ctrl_c_during_the_last_eval_says_the_run_is_complete(tmp_path, monkeypatch):
    """A trial pressed Ctrl-C while the last step's eval ran: told to continue with --resume, which was then refused
    as at its target."""
    import signal

    import charnn.train
    from charnn.events import Evaluated

    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus.txt").write_text(REPETITIVE, encoding="utf-8")
    real = charnn.train.train

    def pressed_at_the_last_eval(*args, **kwargs):
        on_event = args[5]

        def seen(event):
            on_event(event)
            if isinstance(event, Evaluated) and event.step == 4:
                signal.raise_signal(signal.SIGINT)

        return real(*args[:5], seen, *args[6:], **kwargs)

    monkeypatch.setattr(charnn.train, "train", pressed_at_the_last_eval)
    cut = invoke("train", "corpus.txt", "--steps", "4", "--eval-every", "2", "--out", "run", *TINY)
    said = " ".join(cut.stderr.split())
    assert cut.exit_code == 130 and "finished (steps) at step 4" in said, cut.stderr
    assert "stopped as the run reached its target: it is complete in run" in said and "--resume" not in said
    assert load(tmp_path / "run" / "latest.pt")["metrics"]["stopped_by"] == "steps"


def test_a_ctrl_c_before_the_first_step_saves_nothing_and_leaves_no_folder(tmp_path, monkeypatch):
    """A new-user trial: a Ctrl-C while training was being set up said "stopping after this step and saving
    latest.pt" before the run's header, then saved a step-0 latest.pt, so the same command again was refused:
    "already holds a run — continue it with --resume"."""
    import signal

    import charnn.planning
    import charnn.train

    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus.txt").write_text(REPETITIVE, encoding="utf-8")
    real = charnn.train.train

    def pressed_during_set_up(*args, **kwargs):
        signal.raise_signal(signal.SIGINT)  # before the view has the run's start
        return real(*args, **kwargs)

    monkeypatch.setattr(charnn.train, "train", pressed_during_set_up)
    command = ["train", "corpus.txt", "--steps", "4", "--eval-every", "2", "--out", "run", *TINY]
    cut = invoke(*command)
    assert cut.exit_code == 130, cut.output
    assert "stopping before training begins" in cut.stderr and "saving" not in cut.stderr
    assert "stopped (interrupted) before the first step; nothing was saved" in cut.stderr and "folder" not in cut.stderr
    assert "training 1×" not in cut.stderr  # no header of a run after `stopping before training begins`
    assert not (tmp_path / "run").exists()
    monkeypatch.setattr(charnn.train, "train", real)
    assert invoke(*command).exit_code == 0  # the same command again
    monkeypatch.setattr(charnn.train, "train", pressed_during_set_up)

    resumed = invoke("train", "corpus.txt", "--steps", "8", "--out", "run", "--resume")  # pressed again, now
    assert resumed.exit_code == 130 and "before a step was trained; the run is as it was at step 4" in resumed.stderr
    assert "stopped; the run is unchanged in run/latest.pt — continue with: charnn train corpus.txt --out run " \
           "--resume" in " ".join(resumed.stderr.split()) and "saved in" not in resumed.stderr
    assert load(tmp_path / "run" / "latest.pt")["step"] == 4
    # With --threads, the command to continue keeps them: a trial's resume without them was not bit-identical.
    threads = invoke("train", "corpus.txt", "--steps", "8", "--out", "run", "--resume", "--threads", "1")
    assert "--out run --resume --threads 1" in " ".join(threads.stderr.split()), threads.stderr

    def pressed_while_planning(*args, **kwargs):
        raise KeyboardInterrupt  # before the handler that asks to stop is installed

    monkeypatch.setattr(charnn.planning, "plan_run", pressed_while_planning)
    cut = invoke("train", "corpus.txt", "--steps", "4", "--out", "other", *TINY)
    assert cut.exit_code == 130 and "interrupted before training began; nothing was saved" in cut.stderr


def test_quitting_at_once_says_what_was_saved(tmp_path, monkeypatch):
    """A new-user trial: a double Ctrl-C before the first save said only `interrupted`, over a folder holding only
    its lock file."""
    import charnn.train

    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus.txt").write_text(REPETITIVE, encoding="utf-8")

    def quit_at_once(*args, **kwargs):
        import signal

        signal.raise_signal(signal.SIGINT)  # the first asks to stop after the step under way
        signal.raise_signal(signal.SIGINT)  # the second raises KeyboardInterrupt from the handler

    real = charnn.train.train
    monkeypatch.setattr(charnn.train, "train", quit_at_once)
    cut = invoke("train", "corpus.txt", "--steps", "4", "--out", "run", *TINY)
    assert cut.exit_code == 130 and "interrupted at once; nothing was saved" in cut.stderr
    monkeypatch.setattr(charnn.train, "train", real)
    assert invoke("train", "corpus.txt", "--steps", "2", "--eval-every", "2", "--out", "run", *TINY).exit_code == 0
    monkeypatch.setattr(charnn.train, "train", quit_at_once)
    cut = invoke("train", "corpus.txt", "--steps", "4", "--out", "run", "--resume")
    assert cut.exit_code == 130 and "run/latest.pt holds the last save (continue with --resume)" in cut.stderr


def test_a_second_sigterm_quits_at_once_as_terminated(tmp_path, monkeypatch):
    """A trial: two SIGTERMs said `interrupted at once`, exit 130, and the first one's line spoke of a Ctrl-C."""
    import signal

    import charnn.train

    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus.txt").write_text(REPETITIVE, encoding="utf-8")

    def terminated_twice(*args, **kwargs):
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(charnn.train, "train", terminated_twice)
    cut = invoke("train", "corpus.txt", "--steps", "4", "--out", "run", *TINY)
    assert cut.exit_code == 143 and "terminated at once; nothing was saved" in cut.stderr
    assert "terminated: stopping before training begins (a second signal or Ctrl-C quits at once)" in cut.stderr


def test_a_training_whose_reader_of_stderr_leaves_stops_and_saves(tmp_path):
    """A student's `charnn train c.txt --steps 5 2>&1 | head -1` ended the run at its next line, exit 1 (Rich's
    own handling), with nothing saved. It stops after the step and saves, as for SIGTERM, with SIGPIPE's code."""
    import os

    from charnn.checkpoint import load

    (tmp_path / "corpus.txt").write_text(REPETITIVE, encoding="utf-8")
    child = subprocess.Popen([sys.executable, "-m", "charnn", "train", "corpus.txt", "--steps", "100000", "--out",
                              "run", "--eval-every", "5", *TINY], cwd=tmp_path, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    with watched(child):
        while not child.stderr.readline().startswith(b"step "):  # the preset's lines, the start's, the first eval's
            pass
        child.stderr.close()  # `| head -4`
        child.wait(timeout=120)
    assert child.returncode == 141
    saved = load(tmp_path / "run" / "latest.pt")
    assert 0 < saved["step"] < 100000 and saved["metrics"]["stopped_by"] is None  # resumable: not through


@pytest.mark.parametrize("raised", [
    RuntimeError("[enforce fail at alloc_cpu.cpp:127] data. DefaultCPUAllocator: not enough memory: you tried to "
                 "allocate 160000000000 bytes."), MemoryError(), RuntimeError("something else")])
def test_a_model_too_big_for_memory_is_one_line(tmp_path, monkeypatch, raised):
    """A trial's `--hidden-size 100000` (a zero too many) was a traceback: 160 GB for its weights. Other errors
    still show theirs: a bug must not read as a lack of memory."""
    import charnn.train

    def train(*args, **kwargs):
        raise raised

    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus.txt").write_text(REPETITIVE, encoding="utf-8")
    monkeypatch.setattr(charnn.train, "train", train)
    if "else" in str(raised):
        result = CliRunner().invoke(app, ["train", "corpus.txt", "--steps", "4", "--out", "run", *TINY])
        assert result.exception is raised
    else:
        result = invoke("train", "corpus.txt", "--steps", "4", "--out", "run", *TINY)
        assert result.exit_code == 1 and result.stderr == ("error: not enough memory to train a 1×16 LSTM — choose a "
                                                           "smaller --hidden-size or --layers (or --batch-size), or "
                                                           "leave them out for the preset's size\n"), result.stderr
        assert not (tmp_path / "run").exists()


def test_ctrl_c_during_a_sample_names_its_seed(in_cli_root):
    import os
    import signal

    child = subprocess.Popen([sys.executable, "-m", "charnn", "sample", "--length", "100000000", "--seed", "7"],
                             cwd=in_cli_root.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONUNBUFFERED="1"))
    with watched(child):
        child.stdout.read(10)  # it is sampling
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=60)
    assert child.returncode == 130 and "Traceback" not in stderr
    assert "interrupted (seed 7)" in stderr and "error" not in stderr  # the user's choice, not an error


@pytest.mark.parametrize("command", ["sample", "info", "train"])
def test_a_ctrl_c_no_command_handles_says_interrupted(in_cli_root, monkeypatch, command):
    """One while torch loads, say: Typer's own handling exited 130 without a word, and left the shell's prompt on the
    line of the ^C (a new-user trial)."""
    from charnn import runs
    from charnn.cli import sampling, training

    def pressed(*args, **kwargs):
        raise KeyboardInterrupt

    target = {"sample": (sampling, "unescape"), "info": (runs, "resolve"), "train": (training, "parse_duration")}
    monkeypatch.setattr(*target[command], pressed)
    arguments = {"sample": ["sample"], "info": ["info", "checkpoints/corpus"],
                 "train": ["train", "corpus.txt", "--time", "1m"]}[command]
    result = invoke(*arguments)
    assert result.exit_code == 130 and result.stderr.strip() == "interrupted" and result.stdout == ""


@pytest.mark.parametrize("loader", ["checkpoint_arrays", "checkpoint"])
def test_a_ctrl_c_before_the_text_begins_names_no_seed(in_cli_root, monkeypatch, loader):
    """`interrupted (seed 7)` was said of a Ctrl-C while a checkpoint loaded: a seed of a text never begun."""
    import importlib

    def pressed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module(f"charnn.{loader}"), "load", pressed)
    result = invoke("sample", "--seed", "7", "--length", "20", *(["--device", "cpu", "--num-samples", "2"]
                                                                 if loader == "checkpoint" else []))
    assert result.exit_code == 130 and result.stderr.strip() == "interrupted" and result.stdout == ""


@pytest.mark.parametrize("module", ["typer", "numpy"])
def test_a_ctrl_c_while_the_command_loads_says_interrupted(module, tmp_path):
    """A new-user trial pressed Ctrl-C in the first second, 40 times: in the first ~0.1 s (Typer loading) it was a
    traceback; while torch's import loaded NumPy it was swallowed (torch imports it from C, and goes on without it),
    and the sample ran on. Here the first import of `module` is interrupted, as a Ctrl-C then would."""
    refuse = (f"import sys\nclass Refuse:\n    raised = False\n"
              f"    def find_spec(self, name, path=None, target=None):\n"
              f"        if name == {module!r} and not Refuse.raised:\n"
              f"            Refuse.raised = True\n            raise KeyboardInterrupt\n"
              f"sys.meta_path.insert(0, Refuse())\nsys.argv = ['charnn', 'sample', '--length', '10']\n"
              f"from charnn.__main__ import main\nmain()\n")
    done = subprocess.run([sys.executable, "-c", refuse], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 130 and done.stderr.strip() == "interrupted" and done.stdout == "", done.stderr


@pytest.mark.parametrize("arguments", [["--version"], ["sample", "--top-k", "0"]])
def test_the_entry_point_skips_the_last_garbage_collection(monkeypatch, arguments):
    """The shell's prompt came back ~0.35 s after the text ended, ~0.2 s of it the interpreter's last garbage
    collection over torch's objects (benchmarks/RESULTS.md): `main` freezes them however the command ends."""
    import gc

    from charnn.__main__ import main

    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    monkeypatch.setattr(sys, "argv", ["charnn", *arguments])
    with pytest.raises(SystemExit):
        main()
    assert frozen == [True]


def test_the_footer_starts_its_own_line_where_stderr_shares_stdouts_file(in_cli_root, tmp_path):
    """`charnn sample > log 2>&1`: a new-user trial's log read `They nod. 10 chars in 0.00s …`. Stdout alone still
    gets exactly the text."""
    command = [sys.executable, "-m", "charnn", "sample", "--length", "7", "--seed", "3"]
    with open(tmp_path / "log", "w") as log:
        assert subprocess.run(command, cwd=in_cli_root.root, stdout=log, stderr=log, timeout=120).returncode == 0
    alone = subprocess.run(command, cwd=in_cli_root.root, capture_output=True, text=True, timeout=120)
    assert len(alone.stdout) == 7  # the text alone, as generated (this seed's ends mid-line)
    assert not alone.stdout.endswith("\n")
    log = (tmp_path / "log").read_text(encoding="utf-8")
    assert f"{alone.stdout}\n7 chars in " in log and re.search(r"^7 chars in .*, seed 3$", log, re.M), log


def test_ctrl_c_still_writes_the_output_file(in_cli_root, tmp_path):
    """A long sample stopped with Ctrl-C once it has written enough: --output gets what the screen showed."""
    import os
    import signal

    out = tmp_path / "cut.txt"
    child = subprocess.Popen([sys.executable, "-m", "charnn", "sample", "--length", "100000000", "--seed", "7",
                              "--output", str(out)], cwd=in_cli_root.root, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    with watched(child):
        first = child.stdout.read(10)  # it is sampling
        child.send_signal(signal.SIGINT)
        # The rest through the same reader: communicate() reads the pipe itself, past what read(10) buffered.
        rest, stderr = child.stdout.read(), child.stderr.read()
        child.wait(timeout=60)
    assert child.returncode == 130 and "Traceback" not in stderr
    written = out.read_text(encoding="utf-8")
    shown = first + rest  # Ctrl-C may land between a character's generating and its writing: one more or less
    assert written.startswith(first) and abs(len(written) - len(shown)) <= 1
    assert written[:-1] == shown[: len(written) - 1]
    assert f"wrote {len(written):,} chars to {out}" in stderr


def test_a_folder_being_trained_in_is_refused_before_the_preset_runs(in_cli_root, tmp_path):
    """A new-user trial: a second `charnn train --out` into a folder in training first ran the preset's speed test,
    which slowed the real run (1,768 chars/s at its first eval instead of ~34,000), and then refused."""
    out = tmp_path / "busy"
    out.mkdir()
    with locked_by_another_process(out):
        for resume in ([], ["--resume"]):
            result = fails(1, "train", "corpus.txt", "--time", "30s", "--out", str(out), *resume,
                           message="another charnn process is training in")
            assert "preset" not in result.stderr


def test_ctrl_c_during_a_batch_keeps_what_it_made(in_cli_root, tmp_path):
    """A new-user trial: Ctrl-C during `--num-samples 3 --output F` threw all of it away. Now the samples so far go
    to --output, and to stdout when that is a file or pipe (a terminal is spared the flood)."""
    import os
    import signal

    out = tmp_path / "cut.txt"
    child = subprocess.Popen([sys.executable, "-m", "charnn", "sample", "--num-samples", "3", "--length", "100000000",
                              "--seed", "7", "--output", str(out)], cwd=in_cli_root.root, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    with watched(child):
        assert "sampling from" in child.stderr.readline()  # the model is loaded; the batch starts now
        time.sleep(1.5)
        child.send_signal(signal.SIGINT)
        shown, stderr = child.communicate(timeout=60)
    assert child.returncode == 130 and "Traceback" not in stderr and "interrupted (seed 7)" in stderr
    written = out.read_text(encoding="utf-8")
    assert written == shown and [f"sample {n}/3" in written for n in (1, 2, 3)] == [True] * 3
    assert len(written) > 3 * 30  # each row as far as the batch had come


def test_wrote_is_said_after_the_fountain_document(in_cli_root, tmp_path, monkeypatch):
    """Two trials read `wrote N chars to film.fountain` above the document it names (a text sample says it after)."""
    from charnn import ui

    order, show, info = [], ui.show_fountain, ui.info
    monkeypatch.setattr(ui, "show_fountain", lambda *args: order.append("document") or show(*args))
    monkeypatch.setattr(ui, "info", lambda message: order.append(message.split()[0]) or info(message))
    result = invoke("sample", "--length", "50", "--seed", "1", "--output", str(tmp_path / "film.fountain"))
    assert result.exit_code == 0 and order.index("wrote") == order.index("document") + 1


def test_fountain_on_stdout_is_the_document_output_writes(in_cli_root, tmp_path):
    """A new-user trial: `--num-samples 2 --format fountain > c.fountain` had `── sample` lines for headers, and
    `--output d.fountain` Fountain sections."""
    args = ["sample", "--num-samples", "2", "--length", "50", "--seed", "1", "--format", "fountain"]
    printed = invoke(*args)
    out = tmp_path / "d.fountain"
    both = invoke(*args, "--output", str(out))
    assert printed.exit_code == 0 and printed.stdout == out.read_text(encoding="utf-8") == both.stdout
    assert printed.stdout.startswith("# Sample 1 of 2, seed 1\n\n") and "── sample" not in printed.stdout
    one = invoke("sample", "--length", "80", "--seed", "1", "--format", "fountain", "--prime", "THE END,\n",
                 "--output", str(out), "--force")  # one sample, with --output too: the screen shows the file's document
    assert one.exit_code == 0 and one.stdout == out.read_text(encoding="utf-8") and one.stdout.startswith("THE END")


def test_a_batch_cut_before_its_first_character_prints_no_empty_samples(in_cli_root, monkeypatch):
    import charnn.sample

    def cut(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(charnn.sample, "generate_batch", cut)
    result = invoke("sample", "--num-samples", "3", "--seed", "7")
    assert result.exit_code == 130 and result.stdout == "" and "interrupted (seed 7)" in result.stderr


def test_ctrl_c_during_a_batch_whose_reader_has_gone_still_writes_the_file(in_cli_root, tmp_path):
    """Ctrl-C stops the whole pipeline, `| cat` too: the samples so far then met a closed pipe, and the run ended
    with exit 1, no message and no --output file (found in review)."""
    import os
    import signal

    out = tmp_path / "cut.txt"
    child = subprocess.Popen([sys.executable, "-m", "charnn", "sample", "--num-samples", "3", "--length", "100000000",
                              "--seed", "7", "--output", str(out)], cwd=in_cli_root.root, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    with watched(child):
        assert "sampling from" in child.stderr.readline()
        time.sleep(1.5)
        child.send_signal(signal.SIGINT)
        child.stdout.close()  # the reader is gone: the same Ctrl-C stopped it
        stderr = child.stderr.read()
        child.wait(timeout=60)
    assert child.returncode == 130 and "Traceback" not in stderr and "interrupted (seed 7)" in stderr, stderr
    assert "sample 3/3" in out.read_text(encoding="utf-8")


def test_a_batch_whose_reader_leaves_stops_quietly_and_writes_the_file(in_cli_root, tmp_path):
    """`charnn sample --num-samples 3 --output F | head -c 200`: a batch now streams, so the reader can leave while
    it is made. It stops as one stream does, exit 0, with the samples so far in F."""
    out = tmp_path / "cut.txt"
    child = subprocess.Popen([sys.executable, "-m", "charnn", "sample", "--num-samples", "3", "--length", "100000000",
                              "--seed", "7", "--output", str(out)], cwd=in_cli_root.root, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    with watched(child):
        head = child.stdout.read(200)
        child.stdout.close()
        stderr = child.stderr.read().decode()
        child.wait(timeout=60)
    assert child.returncode == 0 and "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert head.startswith(b"\xe2\x94\x80\xe2\x94\x80 sample 1/3") and len(head) == 200
    written = out.read_text(encoding="utf-8")
    assert written.encode().startswith(head) and "sample 3/3" in written


def test_ctrl_c_while_a_finished_fountain_batch_is_written_does_not_write_it_twice(in_cli_root, monkeypatch):
    """Found in review: a Ctrl-C while the finished Fountain document went into a file or pipe wrote it again."""
    from charnn import ui

    def cut(texts, prime, style, seeds):
        sys.stdout.write("# Sample 1 of 2\n")
        raise KeyboardInterrupt

    monkeypatch.setattr(ui, "show_fountain", cut)
    result = invoke("sample", "--num-samples", "2", "--length", "30", "--seed", "1", "--format", "fountain")
    assert result.exit_code == 130 and result.stdout == "# Sample 1 of 2\n"


def test_a_batch_runs_outside_the_main_thread(in_cli_root):
    """Found in review: the Ctrl-C handling set a signal handler, which only the main thread may do: `--num-samples`
    from a thread of another program failed with 'signal only works in main thread'."""
    results = []
    worker = threading.Thread(target=lambda: results.append(invoke("sample", "--num-samples", "2", "--length", "20")))
    worker.start()
    worker.join(timeout=60)
    assert results and results[0].exit_code == 0, results and results[0].output
    assert "sample 2/2" in results[0].stdout


def test_an_ignored_ctrl_c_stays_ignored():
    """`trap '' INT; charnn sample --num-samples 8`: the batch's Ctrl-C handling must not turn Ctrl-C back on."""
    import signal

    from charnn.cli.stopping import CtrlCGate, ctrl_c_noted

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with CtrlCGate().installed(), ctrl_c_noted():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    with CtrlCGate().installed() as gate:  # where Ctrl-C is handled, the gate takes it
        assert signal.getsignal(signal.SIGINT) == gate.handler
    assert signal.getsignal(signal.SIGINT) is previous


def test_sigterm_takes_charnns_ctrl_c_path_where_ctrl_c_is_ignored():
    """A script's `&` job ignores Ctrl-C: a review's SIGTERMs to one skipped CtrlCGate and ctrl_c_noted (a batch's cut
    character written twice, --output lost to a second SIGTERM). They go to the handler charnn would have set."""
    import signal

    from charnn.cli.sigterm import Termination
    from charnn.cli.stopping import ctrl_c_noted

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with Termination().installed() as termination, ctrl_c_noted() as pressed:
            signal.raise_signal(signal.SIGTERM)
            assert pressed == [True] and termination.received  # noted, not raised
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # and Ctrl-C still ignored
        with pytest.raises(KeyboardInterrupt), Termination().installed():  # no handler of charnn's: the Ctrl-C path
            signal.raise_signal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_termination_puts_back_the_handler_and_the_wakeup_fd_and_leaves_the_programs_own_be():
    """The app may run inside another program: what SIGTERM did, and Python's wakeup fd, are as they were after."""
    import signal

    from charnn.cli.sigterm import Termination

    before = signal.getsignal(signal.SIGTERM)
    with Termination().installed() as termination:
        assert signal.getsignal(signal.SIGTERM) == termination.handler
        fd = signal.set_wakeup_fd(-1)  # the nudge's pipe (read, and put back)
        assert fd != -1
        signal.set_wakeup_fd(fd)
    assert signal.getsignal(signal.SIGTERM) is before and signal.set_wakeup_fd(-1) == -1
    def own(*_):  # a handler of the program's own: its own path
        pass

    previous = signal.signal(signal.SIGTERM, own)
    try:
        with Termination().installed():
            assert signal.getsignal(signal.SIGTERM) is own and signal.set_wakeup_fd(-1) == -1
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_ctrl_c_as_a_batch_moves_to_its_next_sample_still_gives_the_files_bytes(monkeypatch):
    """Found in review: a Ctrl-C between a sample's closing line break and the move to the next sample made `finish`
    end that sample twice (an extra blank line in a file or pipe). Both now happen, or neither."""
    import io

    from charnn import documents, ui
    from charnn.cli.stopping import CtrlCGate

    class Rows:  # sample 1 has ended at its --stop ("ab"); sample 2 runs on
        num_samples, ends, seeds = 2, [2, None], None

        @staticmethod
        def text(row, start=0):
            return ["ab", "cd"][row][start:]

    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    gate = CtrlCGate()
    shown = ui.BatchStream(Rows(), "plain", "", None, "2×8 LSTM", 0.8, 2, guard=gate)
    pressed = []

    def close(cut=False):  # Ctrl-C pressed as sample 1 is being closed
        if not pressed:
            pressed.append(gate.handler(2, None))

    shown.stream.close = close
    with pytest.raises(KeyboardInterrupt), shown:
        shown.update(2)
    shown.finish(["ab", "cd"])
    assert out.getvalue() == documents.output_text(["ab", "cd"], "", False)


def test_a_batch_cut_on_a_terminal_ends_its_line(monkeypatch):
    """Found in review: a Ctrl-C before the batch's first sample was open (its style's trial samples) left
    `^Cinterrupted` on one line."""
    import io

    from charnn.batch_rows import BatchRows
    from charnn.cli.stopping import keep_what_was_made

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for fountain, line_break in ((False, "\n"), (True, "")):  # Fountain's spinner line goes with its ^C
        out = Terminal()
        monkeypatch.setattr(sys, "stdout", out)
        keep_what_was_made(BatchRows(Vocab("ab"), 2), None, [], None, None, False, "", "auto", fountain, False)
        assert out.getvalue() == line_break


@pytest.mark.parametrize("text, echoed, line_break", [("mid-li", False, "\n"), ("a line\n", False, ""), ("", False, ""),
                                                      ("a line\n", True, "\n"), ("", True, "\n")])
def test_a_stream_cut_on_a_terminal_ends_its_line_once(monkeypatch, text, echoed, line_break):
    """A new-user trial: a Ctrl-C just after a line break left a blank line before `interrupted`. Where the terminal
    echoes keys (stdin elsewhere), its `^C` follows the text, and a line break is due all the same."""
    import io

    from charnn import ui
    from charnn.cli.stopping import keep_what_was_made

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(ui, "echoes_keys", lambda keys, terminal: echoed)
    stream = ui.sampling.PlainStream(io.StringIO())  # what it counts of the line it showed says where the cursor is
    for char in text:
        stream.write(char)
    keep_what_was_made(None, None, [text], stream, None, False, "", "auto", False, False)
    assert out.getvalue() == line_break


@pytest.mark.parametrize("keys_echoed, line_break", [(True, "\n"), (False, "")])
def test_a_ctrl_c_before_the_text_starts_ends_the_echoed_line(monkeypatch, keys_echoed, line_break):
    """A new-user trial: a Ctrl-C in start-up, or while typing `--prime -`, gave `half^Cinterrupted (seed …)`: until
    the text starts, the terminal echoes keys (UnechoedKeys turns that off only while the text streams)."""
    import io

    from charnn import ui
    from charnn.cli.stopping import keep_what_was_made

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(ui, "echoes_keys", lambda keys, terminal: False)  # while text streams, echo would be off
    monkeypatch.setattr(ui, "keys_echoed", lambda keys: keys_echoed)
    keep_what_was_made(None, None, [], None, None, False, "", "auto", False, False)
    assert out.getvalue() == line_break
    out.seek(0), out.truncate()
    keep_what_was_made(None, None, [], None, None, False, "", "auto", False, False, typed=False)  # SIGTERM: no `^C`
    assert out.getvalue() == ""


def test_a_batchs_speed_is_of_its_samples_not_of_what_came_before(in_cli_root, monkeypatch):
    """A new-user trial: `--num-samples 3 --length 300` ended with `900 chars in 0.25s (3,655 chars/s)` while its
    status line read 11,234 chars/s: the time before the first characters (the prime, the style's trial samples)
    counted, as it does not for one stream."""
    import numpy as np

    import charnn.sample

    def batch(model, vocab, prime, length, num_samples, *args, on_progress=None, rows=None, **kwargs):
        time.sleep(0.6)  # reading the prime, the trial samples
        for position in range(1, 11):
            rows.add(np.zeros(num_samples, dtype=np.int64))
            on_progress(position)
        return rows.texts()

    monkeypatch.setattr(charnn.sample, "generate_batch", batch)
    result = invoke("sample", "--num-samples", "2", "--length", "10")
    assert result.exit_code == 0, result.output
    seconds = float(re.search(r"20 chars in ([0-9.]+)s", result.stderr).group(1))
    assert seconds < 0.3


def test_sample_into_a_closed_pipe(in_cli_root):
    """`charnn sample | head -c 20`: the reader leaves early; the sampler stops quietly."""
    child = subprocess.Popen([sys.executable, "-m", "charnn", "sample", "--length", "1000000", "--seed", "1"],
                             cwd=in_cli_root.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with watched(child):
        head = child.stdout.read(20)
        child.stdout.close()
        stderr = child.stderr.read().decode()
        child.wait(timeout=60)
    assert len(head) == 20
    assert child.returncode == 0, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    assert stderr.endswith("stopped where the reader of stdout left (seed 1)\n")  # to make it again (a trial)
    # `2>&1 | head`: stderr's reader has gone too, so nothing more is said there, and it still ends 0 (a review).
    child = subprocess.Popen([sys.executable, "-m", "charnn", "sample", "--length", "1000000", "--seed", "1"],
                             cwd=in_cli_root.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    with watched(child):
        head = child.stdout.read(200)
        child.stdout.close()
        child.wait(timeout=60)
    assert len(head) == 200 and child.returncode == 0


@pytest.mark.parametrize("command", [["--help"], ["info"], ["eval", "corpus.txt", "--json"]])
def test_other_commands_into_a_closed_pipe_end_quietly_and_zero(in_cli_root, command):
    """A trial: `charnn info | head -2` and `charnn --help | head` exited 1 (Rich's and Typer's way with a reader that
    left), which fails a script with `set -o pipefail`; `charnn sample | head` ends 0. A real error still fails."""
    child = subprocess.Popen([sys.executable, "-m", "charnn", *command], cwd=in_cli_root.root,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with watched(child):
        child.stdout.close()  # before anything is written: every write meets a closed pipe
        stderr = child.stderr.read().decode()
        child.wait(timeout=60)
    assert child.returncode == 0 and "Traceback" not in stderr, stderr
    with open(os.devnull, "w") as null:  # an error with stdout on /dev/null is still an error
        failed = subprocess.run([sys.executable, "-m", "charnn", "info", "missing.pt"],
                                cwd=in_cli_root.root, stdout=null, stderr=subprocess.PIPE, timeout=60)
    assert failed.returncode == 1, failed.stderr
    # And where its message meets a closed pipe, or stdout was closed from the start (a review: both exited 0).
    child = subprocess.Popen([sys.executable, "-m", "charnn", "info", "missing.pt"], cwd=in_cli_root.root,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    with watched(child):
        child.stdout.close()
        child.wait(timeout=60)
    assert child.returncode == 1
    closed = subprocess.run([sys.executable, "-m", "charnn", "info", "missing.pt"], cwd=in_cli_root.root,
                            stderr=subprocess.PIPE, timeout=60, preexec_fn=lambda: os.close(1))
    assert closed.returncode == 1, closed.stderr


# --- sampling formats, styles and the interactive prompt ------------------------------------------


def test_sample_fountain_to_stdout_and_file(in_cli_root, tmp_path):
    result = invoke("sample", "--length", "200", "--seed", "3", "--format", "fountain")
    assert result.exit_code == 0, result.output
    out = tmp_path / "scene.fountain"
    to_file = invoke("sample", "--length", "200", "--seed", "3", "--format", "fountain", "--output", str(out))
    assert to_file.exit_code == 0
    assert out.read_text(encoding="utf-8") == result.stdout
    # A trial's `--output film.fountain` without --format wrote plain text: the name says Fountain. Given, it wins.
    by_name = tmp_path / "film.Fountain"
    assert invoke("sample", "--length", "200", "--seed", "3", "--output", str(by_name)).exit_code == 0
    assert by_name.read_text(encoding="utf-8") == result.stdout
    assert invoke("sample", "--length", "200", "--seed", "3", "--format", "FOUNTAIN").stdout == result.stdout
    text = tmp_path / "as-text.fountain"
    assert invoke("sample", "--length", "200", "--seed", "3", "--format", "text", "--output", str(text)).exit_code == 0
    assert text.read_text(encoding="utf-8") == invoke("sample", "--length", "200", "--seed", "3").stdout


def test_sampling_from_the_bundled_model_says_why(tmp_path, monkeypatch):
    """A trial ran `charnn sample` in another folder and got Shakespeare where it expected its screenplay model."""
    monkeypatch.chdir(tmp_path)
    result = invoke("sample", "--length", "5")
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert "the bundled Shakespeare model: no run is under checkpoints/ in this folder (--checkpoint to give" in said


def test_samples_ending_in_a_blank_line_get_no_second_one(in_cli_root, tmp_path, monkeypatch):
    # `--stop '\n\n' --num-samples 3` showed two blank lines before each header (seen in the tenth session).
    import charnn.sample

    monkeypatch.setattr(charnn.sample, "generate_batch", lambda *args, **kwargs: ["one\n\n", "two", "three\n"])
    out = tmp_path / "out.txt"
    result = invoke("sample", "--num-samples", "3", "--stop", "\\n\\n", "--output", str(out), "--seed", "5")
    assert result.exit_code == 0, result.output
    from charnn.drawing import sample_seeds

    one, two, three = sample_seeds(5, 3)
    assert result.stdout == (f"── sample 1/3 · seed {one} ──\none\n\n── sample 2/3 · seed {two} ──\ntwo\n\n"
                             f"── sample 3/3 · seed {three} ──\nthree\n")
    assert out.read_text(encoding="utf-8") == result.stdout


@pytest.mark.parametrize("style", ["auto", "script", "plain"])
def test_sample_styles_are_plain_off_a_terminal(in_cli_root, style, monkeypatch):
    plain = invoke("sample", "--length", "150", "--seed", "9", "--style", "plain").stdout
    assert invoke("sample", "--length", "150", "--seed", "9", "--style", style).stdout == plain
    monkeypatch.setenv("NO_COLOR", "1")
    assert invoke("sample", "--length", "150", "--seed", "9", "--style", style).stdout == plain


def test_greedy_samples_are_said_to_be_the_same(in_cli_root):
    result = invoke("sample", "--num-samples", "2", "--length", "20", "--temperature", "0")
    assert result.exit_code == 0 and "every sample will be the same" in result.stderr
    parts = [part.split("\n", 1)[1] for part in result.stdout.split("── sample ")[1:]]
    assert len(parts) == 2 and parts[0].strip() == parts[1].strip()


def test_sample_batch_is_reproducible(in_cli_root):
    first = invoke("sample", "--num-samples", "3", "--length", "40", "--seed", "4")
    assert first.exit_code == 0
    assert invoke("sample", "--num-samples", "3", "--length", "40", "--seed", "4").stdout == first.stdout
    parts = [part for part in first.stdout.split("── sample ") if part]
    assert len(parts) == 3


def test_a_sample_of_a_batch_is_made_again_alone_by_the_seed_in_its_header(in_cli_root, tmp_path):
    """A new-user trial: a favourite from `--num-samples` could not be made again on its own. Each header now shows
    the seed that makes that sample alone (the first is --seed itself); --output and Fountain show them too."""
    batch = invoke("sample", "--num-samples", "3", "--length", "60", "--seed", "4", "--temperature", "1.3")
    headers = re.findall(r"^── sample (\d)/3 · seed (\d+) ──$", batch.stdout, flags=re.MULTILINE)
    assert [number for number, _ in headers] == ["1", "2", "3"] and headers[0][1] == "4"
    texts = re.split(r"^── sample \d/3 · seed \d+ ──\n", batch.stdout, flags=re.MULTILINE)[1:]
    for (_, seed), text in zip(headers, texts, strict=True):
        alone = invoke("sample", "--length", "60", "--seed", seed, "--temperature", "1.3")
        assert alone.exit_code == 0 and len(alone.stdout) == 60 and text.startswith(alone.stdout)
    out = tmp_path / "batch.fountain"
    invoke("sample", "--num-samples", "3", "--length", "60", "--seed", "4", "--temperature", "1.3", "--output",
           str(out))
    sections = re.findall(r"^# Sample \d of 3, seed (\d+)$", out.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert sections == [seed for _, seed in headers]
    greedy = invoke("sample", "--num-samples", "2", "--length", "20", "--temperature", "0")  # no seed does anything
    assert re.findall(r"^── sample .*$", greedy.stdout, flags=re.MULTILINE) == ["── sample 1/2 ──", "── sample 2/2 ──"]


def test_one_seed_after_two_primes_writes_two_texts_and_a_batch_sample_is_still_made_again(in_cli_root):
    """A new-user trial: `--seed 2` wrote the same 1,000 characters after two primes (every prime's text drawn with one
    stream of numbers fell into step). The prime is mixed into the seed now (`sample.seed_with_prime`); the same seed
    and prime still make the same text, and a batch's header seed with that prime makes its sample alone."""
    from charnn import runs

    if not runs.BUNDLED.exists():
        pytest.skip("no bundled model")
    texts = [invoke("sample", "--checkpoint", str(runs.BUNDLED), "--seed", "2", "--length", "300", "--prime", prime)
             for prime in ("ROMEO:\nI love thee.", "KING HENRY VI:\nWhere is my crown?", "ROMEO:\nI love thee.")]
    assert all(text.exit_code == 0 for text in texts)
    assert texts[0].stdout == texts[2].stdout and texts[0].stdout[-100:] != texts[1].stdout[-100:]
    batch = invoke("sample", "--num-samples", "3", "--length", "60", "--seed", "4", "--temperature", "1.3",
                   "--prime", "the ")
    headers = re.findall(r"^── sample \d/3 · seed (\d+) ──$", batch.stdout, flags=re.MULTILINE)
    samples = re.split(r"^── sample \d/3 · seed \d+ ──\n", batch.stdout, flags=re.MULTILINE)[1:]
    assert len(headers) == 3 and headers[0] == "4"
    for seed, sample in zip(headers, samples, strict=True):
        alone = invoke("sample", "--length", "60", "--seed", seed, "--temperature", "1.3", "--prime", "the ")
        assert alone.exit_code == 0 and sample.startswith(alone.stdout) and alone.stdout


class SlowRead:
    """The clock of `charnn train`'s module, `seconds` later once the corpus has been read: a big corpus's first
    read, without the wait."""

    def __init__(self, monkeypatch, seconds: float):
        import charnn.cli.training as training

        self.offset, real = 0.0, training.load_announced

        def load(*args, **kwargs):
            data = real(*args, **kwargs)
            self.offset = seconds
            return data

        monkeypatch.setattr(training, "load_announced", load)
        monkeypatch.setattr(training, "time", SimpleNamespace(monotonic=lambda: time.monotonic() + self.offset))
        monkeypatch.setattr(cli_module.command, "STARTED_AT", time.monotonic())


def test_a_first_read_that_takes_most_of_the_budget_is_refused_with_what_to_do(in_cli_root, monkeypatch):
    """A trial: a 2 GB corpus's first read took 1m57s of `--time 2m`; the run trained 1 step, saved that model and
    exited 0. Now it stops before making a folder, and says that the same command will train for the whole budget."""
    SlowRead(monkeypatch, 110)
    result = fails(1, "train", "corpus.txt", "--time", "2m", "--out", "slow", *TINY,
                   message="reading corpus.txt took 1m50s of the 2m00s time budget, leaving 0m10s to train — run "
                           "the same command again: the corpus is in the cache now")
    assert not Path("slow").exists() and "model size" not in result.stderr


def test_a_first_read_that_takes_a_tenth_of_the_budget_is_said_and_the_preset_plans_the_rest(in_cli_root,
                                                                                              monkeypatch):
    import charnn.planning

    budgets, choose = [], charnn.planning.choose
    monkeypatch.setattr(charnn.planning, "choose", lambda *args: budgets.append(args[2]) or choose(*args))
    SlowRead(monkeypatch, 40)
    result = invoke("train", "corpus.txt", "--time", "2m", "--steps", "3", "--out", "slower", "--device", "cpu")
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert "reading corpus.txt took 0m40s of the 2m00s time budget; 1m20s are left to train" in said
    assert 79 < budgets[0] <= 80  # the preset plans for the time left
    assert load(Path("slower") / "latest.pt")["train_config"]["time_budget"] == 120  # the budget is the user's


def test_a_run_folder_that_cannot_be_made_is_refused_before_the_corpus_is_read(in_cli_root, monkeypatch):
    """A trial's read-only folder was named only after its 2 GB corpus had been encoded (two minutes)."""
    import charnn.cli.training as training
    import charnn.run_lock

    Path("ro").mkdir()
    access = charnn.run_lock.os.access
    monkeypatch.setattr(charnn.run_lock.os, "access",
                        lambda path, mode: Path(path) != Path("ro") and access(path, mode))
    monkeypatch.setattr(training, "load_announced", lambda *args: pytest.fail("the corpus was read"))
    fails(1, "train", "corpus.txt", "--out", "ro/run", "--steps", "2", *TINY,
          message="cannot create run folder ro/run: ro is read-only — choose another --out")
    assert not Path("ro/run").exists()


@pytest.mark.parametrize("command", ["train", "eval"])
def test_an_empty_corpus_argument_is_named_as_empty(in_cli_root, command):
    """A script's unset `"$CORPUS"`: `charnn train ""` said `. is a directory`."""
    fails(2, command, "", message="CORPUS: is empty — give the path of a text file")
    fails(1, command, ".", message=". is a directory")  # the folder itself, given as such


def test_interactive_commands(in_cli_root):
    script = "/temp 0\n/length 12\nthe \n/temp -1\n/bogus\n/lenght 5\n/length x\n/temp\n/seed 7\n"
    result = invoke("sample", "--interactive", input=script)
    assert result.exit_code == 0, result.output
    greedy = invoke("sample", "--prime", "the ", "--length", "12", "--temperature", "0").stdout
    assert "the " + greedy in result.stdout
    assert "temperature must be 0" in result.stderr
    assert "unknown command /bogus — try /help" in result.stderr
    assert "unknown command /lenght — did you mean /length?" in result.stderr  # a trial's typo
    assert "bad value for /length" in result.stderr
    assert "/temp needs a value, e.g. /temp 0.8" in result.stderr  # it read "bad value for /temp: ''"
    assert "settings: temp=0.0 length=12 topk=off topp=off unknown=error seed=7 (the next stream's)" in result.stderr
    # /help a command a line, /quit ends (a teacher: a run-on sentence broken mid-word at 80 columns; /quit unknown).
    ended = invoke("sample", "--interactive", input="/help\n/temp 0\n/length 5\n/quit\nthe \n")
    assert ended.exit_code == 0 and ended.stdout == "" and ended.stderr.rstrip().endswith("bye"), ended.output
    assert "\n/lines on|off    primes of several lines: an empty line sends one\n" in ended.stderr
    assert "\n/quit            end (or Ctrl-D)\n" in ended.stderr and "unknown command" not in ended.stderr
    opening = ended.stderr.split("prime>")[0].splitlines()[-2:]  # under the `sampling from …` line
    assert opening[1].startswith("commands: /temp 1.1") and all(len(line) <= 80 for line in opening), opening


def test_interactive_lines_takes_a_prime_of_several_lines(in_cli_root):
    """A new-user trial's code model: `def forward(self, x):` + Enter continued on the same line, and a typed \\n
    stays as typed where the model writes backslashes. /lines on: an empty line sends the lines typed."""
    script = "/temp 0\n/length 12\n/lines on\nthe\nfox \n\n/lines off\nthe\n/lines maybe\n"
    result = invoke("sample", "--interactive", input=script)
    assert result.exit_code == 0, result.output
    several = invoke("sample", "--prime", "the\\nfox \\n", "--length", "12", "--temperature", "0").stdout
    one = invoke("sample", "--prime", "the", "--length", "12", "--temperature", "0").stdout
    assert result.stdout == "the\nfox \n" + several + "\n" + "the" + one + "\n"
    assert "lines on: Enter ends a line of the prime, an empty line sends it" in result.stderr
    assert "/lines takes on or off" in result.stderr
    # Ctrl-D (the input's end) inside such a prime: what was typed streams, then the session ends (a review: dropped).
    ended = invoke("sample", "--interactive", input="/temp 0\n/length 12\n/lines on\nthe\nfox")
    alone = invoke("sample", "--prime", "the\\nfox", "--length", "12", "--temperature", "0").stdout
    assert ended.exit_code == 0 and ended.stdout == "the\nfox" + alone + "\n" and "bye" in ended.stderr


def test_each_interactive_stream_says_the_seed_that_makes_it_again(in_cli_root):
    """A trial's favourite second stream after `/seed 42` could not be found again: every stream drew on from one
    generator, and the settings line said seed=42 for all. Each stream now has a seed of its own, said after it."""
    result = invoke("sample", "--interactive", "--length", "40", input="/seed 42\nthe \nthe \n/seed 99999999999\n")
    assert result.exit_code == 0, result.output
    said = re.findall(r"(?:^|> )seed (\d+)$", result.stderr, flags=re.MULTILINE)  # piped: after the prompt
    assert said[0] == "42" and len(said) == 2 and said[1] != "42"
    assert "/seed takes a whole number from 0 to 4294967295, not 99999999999" in result.stderr
    # The settings line names the next stream's seed (a trial read seed=42 after two streams as the next one's).
    assert said[1] not in result.stderr.split("seed 42")[0]
    after = invoke("sample", "--interactive", "--length", "10", input="/seed 42\nthe \n/temp 0.9\n")
    next_seed = re.search(r"seed=(\d+) \(the next stream's\)", after.stderr.rpartition("settings:")[2]).group(1)
    assert next_seed == said[1]  # the second stream after /seed 42, as in the session above
    streams = [block.split("\n")[0] for block in result.stdout.split("the ")[1:]]  # each stream's text, prime cut
    for seed, text in zip(said, streams, strict=True):
        alone = invoke("sample", "--seed", seed, "--prime", "the ", "--length", "40").stdout
        assert text == alone.split("\n")[0] and alone


def test_an_interactive_prime_refused_keeps_the_seed_and_takes_escapes_as_prime_does(in_cli_root):
    """A trial: a prime refused for a typo used up the seed just set with /seed 7; and `[Chorus]\\n` at the prompt was
    refused for its backslash (shown as '\\\\'), where --prime reads a line break."""
    result = invoke("sample", "--interactive", "--length", "20", input="/seed 7\nthe ~\nthe\\nfox \n/temp 0.9\n")
    assert result.exit_code == 0, result.output
    assert "never saw: '~'" in result.stderr
    assert re.findall(r"(?:^|> )seed (\d+)$", result.stderr, flags=re.MULTILINE) == ["7"]  # the first stream's
    assert "seed=" + str(sample_seeds(7, 2)[1]) + " (the next stream's)" in result.stderr
    alone = invoke("sample", "--seed", "7", "--prime", "the\\nfox ", "--length", "20").stdout
    assert result.stdout.startswith("the\nfox " + alone)
    assert listed(["\\"]) == "'\\'"


def test_interactive_save_adds_the_last_stream_to_a_file(in_cli_root, tmp_path):
    """A trial could keep a favourite stream of a session only by copying it off the screen."""
    out = tmp_path / "scenes.txt"
    script = f"/save {out}\nthe \n/save {out}\nfox \n/save {out}\n/save\n/save {tmp_path}\n"
    result = invoke("sample", "--interactive", "--length", "30", "--seed", "5", input=script)
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert "nothing to save yet — type a prime first" in said and "/save needs a file name" in said
    assert f"cannot write {tmp_path}: Is a directory — give another file" in said
    added = re.findall(rf"added the last stream \(3[45] chars, its prime first\) to {re.escape(str(out))}", said)
    assert len(added) == 2
    # The screen: each stream (its prime echoed, then 30 characters), then a line break.
    first, second = result.stdout[:34], result.stdout[35:69]
    assert first.startswith("the ") and second.startswith("fox ")
    ended = [text + ("" if text.endswith("\n") else "\n") for text in (first, second)]
    assert out.read_text(encoding="utf-8") == ended[0] + "\n" + ended[1]


def test_interactive_refuses_an_unseen_character_before_echoing_the_prime(in_cli_root, tmp_path):
    """Refused, then skipped or replaced: the echo is the prime the model reads (it was the prime as typed). /save
    keeps the prime as typed: a trial's poem lost its Greek word (`Ωμέγα и снег` saved as `      и снег`)."""
    saved = tmp_path / "kept.txt"
    result = invoke("sample", "--interactive", "--seed", "3", "--length", "20",
                    input=("thQ\n/topk off\n/unknown maybe\n/unknown skip\nthQe\n/unknown replace\nthQe\n"
                           f"/save {saved}\n"))
    assert result.exit_code == 0, result.output
    assert "never saw: 'Q'" in result.stderr and "use /unknown skip|replace" in result.stderr
    assert "topk=off" in result.stderr and "None" not in result.stderr
    assert "/unknown takes error, skip or replace" in result.stderr and "unknown=skip" in result.stderr
    assert "/unknown skip: dropped the prime's characters the model never saw: 'Q'" in result.stderr
    assert "/unknown replace: put ' ' for the prime's characters the model never saw: 'Q'" in result.stderr
    assert "Q" not in result.stdout and result.stdout.startswith("the") and "\nth e" in result.stdout, result.stdout
    assert saved.read_text(encoding="utf-8") == "thQe" + result.stdout.rstrip("\n").rpartition("\nth e")[2] + "\n"


def test_interactive_ctrl_c_keeps_the_session_and_writes_nothing_after_it(in_cli_root, monkeypatch):
    """Ctrl-C stops the stream: what a styled line held back (`MAR`: a speaker's name?) is not written after it."""
    import io

    from rich.console import Console

    import charnn.interactive
    from charnn.ui import ScriptStream

    def cut(model, vocab, prime, *args):
        yield from "HAMLET: To be.\nMAR"
        raise KeyboardInterrupt

    screen = io.StringIO()
    monkeypatch.setattr(charnn.interactive, "generate", cut)
    monkeypatch.setattr(charnn.interactive.ui, "open_stream", lambda *args, **kwargs: ScriptStream(
        screen, Console(file=screen, force_terminal=True)))
    result = invoke("sample", "--interactive", input="the \nthe \n")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("stream stopped") == 2 and "bye" in result.stderr  # the session went on to Ctrl-D
    assert result.stdout == ""  # no line break after "stream stopped": it left a blank line before the next prompt
    text = re.sub(r"\x1b\[[0-9;]*m", "", screen.getvalue())
    assert text == "the HAMLET: To be.\n" * 2


def test_interactive_save_after_a_ctrl_c_keeps_what_the_screen_shows(in_cli_root, monkeypatch, tmp_path):
    """A trial: 7 of 21 /saves after a Ctrl-C differed from the screen at the cut. A line's start that the styled
    stream held back (`OLD TOBI`: a speaker?) was saved though never shown, and a character shown as the Ctrl-C came
    was not saved."""
    import io
    import signal

    from rich.console import Console

    import charnn.interactive
    from charnn.ui import ScriptStream

    def cut(model, vocab, prime, *args):
        yield from "HAMLET: To be.\nMAR"
        raise KeyboardInterrupt

    class CtrlCInWrite(ScriptStream):  # Ctrl-C arrives while the 6th character is being written
        def write(self, char: str) -> None:
            super().write(char)
            self.count = getattr(self, "count", 0) + 1
            if self.count == 6:
                signal.raise_signal(signal.SIGINT)

    screens = []

    def open_stream(*args, **kwargs):
        screens.append(io.StringIO())
        kind = CtrlCInWrite if len(screens) == 2 else ScriptStream
        return kind(screens[-1], Console(file=screens[-1], force_terminal=True))

    saved = tmp_path / "saved.txt"
    monkeypatch.setattr(charnn.interactive, "generate", cut)
    monkeypatch.setattr(charnn.interactive.ui, "open_stream", open_stream)
    result = invoke("sample", "--interactive", input=f"the \n/save {saved}\nso \n/save {saved}\n")
    assert result.exit_code == 0 and result.stderr.count("stream stopped") == 2, result.output
    shown = [re.sub(r"\x1b\[[0-9;]*m", "", screen.getvalue()) for screen in screens]
    assert shown == ["the HAMLET: To be.\n", "so HAM"]  # 6 writes: the prime's 3 characters, then `HAM`
    assert saved.read_text(encoding="utf-8") == "the HAMLET: To be.\n\nso HAM\n"


@pytest.mark.parametrize("text, echoed, apart", [("HAMLET: To be.\n", False, ""), ("HAMLET: To be", False, "\n"),
                                                 ("HAMLET: To be.\nMAR", False, ""), ("", False, ""),
                                                 ("HAMLET: To be.\n", True, "\n")])
def test_interactive_ctrl_c_at_a_line_start_leaves_no_blank_line(in_cli_root, monkeypatch, text, echoed, apart):
    """`stream stopped` on a line of its own, with no blank line above it where the text on the terminal had just
    ended its line (a held-back `MAR` is never shown) and echo was off, so no `^C` followed it; after a `^C` the
    terminal echoed, a line break."""
    import io

    from rich.console import Console

    import charnn.interactive
    from charnn.ui import ScriptStream

    def cut(model, vocab, prime, *args):
        monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # the text goes to a terminal
        yield from text
        raise KeyboardInterrupt

    screen = io.StringIO()
    monkeypatch.setattr(charnn.interactive, "generate", cut)
    monkeypatch.setattr(charnn.interactive.ui, "echoes_keys", lambda keys, out: echoed)
    monkeypatch.setattr(charnn.interactive.ui, "open_stream", lambda *args, **kwargs: ScriptStream(
        screen, Console(file=screen, force_terminal=True)))
    result = invoke("sample", "--interactive", input="\n")
    assert result.exit_code == 0 and re.search(f"{apart}stream stopped \\(seed \\d+\\)\n", result.stderr), result.stderr
    assert "\n\nstream stopped" not in result.stderr and (apart or "\nstream stopped" not in result.stderr)


@pytest.mark.parametrize("args", [["--prime", "th", "--prime-file", "p.txt"], ["--interactive", "--num-samples", "2"],
                                  ["--interactive", "--output", "x.txt"], ["--interactive", "--prime", "th"],
                                  ["--interactive", "--prime-file", "p.txt"],
                                  ["--interactive", "--format", "fountain"]])
def test_sample_options_that_cannot_go_together(in_cli_root, args):
    Path("p.txt").write_text("the", encoding="utf-8")
    result = invoke("sample", *args, input="")
    assert result.exit_code == 2 and ("not both" in result.output or "one stream" in result.output)


@pytest.mark.parametrize("where", ["folder", "missing folder", "a folder that refuses files"])
def test_an_unwritable_output_is_refused_before_generating(in_cli_root, tmp_path, where):
    """The last: /proc takes no new files whatever its permissions say (a trial: the error came after the sample)."""
    target = {"folder": tmp_path, "missing folder": tmp_path / "nope" / "out.txt",
              "a folder that refuses files": Path("/proc/charnn-out.txt")}[where]
    if where.startswith("a folder") and not Path("/proc/self").exists():
        pytest.skip("no /proc here")
    result = fails(1, "sample", "--length", "50", "--output", str(target), message="cannot write --output")
    assert len(result.stderr.strip().splitlines()) == 1 and "chars in" not in result.stderr  # nothing generated
    assert not (tmp_path / "nope").exists() and not target.is_file()


def test_an_output_that_holds_text_is_replaced_only_with_force(in_cli_root, tmp_path):
    """A new-user trial's `--output favourites.txt` replaced 37 KB of poems kept from earlier samples."""
    kept = tmp_path / "favourites.txt"
    kept.write_text("a poem kept\n", encoding="utf-8")
    result = fails(1, "sample", "--length", "30", "--seed", "1", "--output", str(kept),
                   message=f"--output {kept} already holds 12 bytes — add --force to replace it")
    assert len(result.stderr.strip().splitlines()) == 1 and "chars in" not in result.stderr  # nothing generated
    assert kept.read_text(encoding="utf-8") == "a poem kept\n"
    forced = invoke("sample", "--length", "30", "--seed", "1", "--output", str(kept), "--force")
    assert forced.exit_code == 0 and kept.read_text(encoding="utf-8") == forced.stdout
    (tmp_path / "empty.txt").touch()  # an empty file, or one that is no plain file, holds nothing to lose
    for target in (tmp_path / "empty.txt", Path(os.devnull)):
        assert invoke("sample", "--length", "30", "--output", str(target)).exit_code == 0
    for alone in (["--force"], ["--interactive", "--force"]):  # a flag that would do nothing is refused (a review)
        fails(2, "sample", *alone, message="--force lets --output replace a file: give --output FILE too")


def test_prime_file(in_cli_root, tmp_path):
    prime = tmp_path / "prime.txt"
    prime.write_text("the quick\nbrown ", encoding="utf-8")
    from_file = invoke("sample", "--prime-file", str(prime), "--length", "20", "--seed", "1")
    inline = invoke("sample", "--prime", "the quick\nbrown ", "--length", "20", "--seed", "1")
    assert from_file.exit_code == 0 and from_file.stdout == inline.stdout
    prime.write_bytes("the quick\nbrown ".encode("utf-8-sig"))  # a byte-order mark (Notepad) is not part of the prime
    assert invoke("sample", "--prime-file", str(prime), "--length", "20", "--seed", "1").stdout == inline.stdout
    missing = invoke("sample", "--prime-file", str(tmp_path / "nope.txt"))
    assert missing.exit_code == 1 and "cannot read --prime-file" in missing.stderr
    assert "No such file or directory" in missing.stderr and "Errno" not in missing.stderr
    # A new-user trial: an empty file went by without a word (stdin's did not), and Latin-1 had no offset or fix.
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    empty = invoke("sample", "--prime-file", str(tmp_path / "empty.txt"), "--length", "5")
    assert empty.exit_code == 0 and "empty.txt is empty, so there is no prime" in empty.stderr
    (tmp_path / "latin1.txt").write_bytes("the café".encode("latin-1"))
    latin = invoke("sample", "--prime-file", str(tmp_path / "latin1.txt"), "--length", "5")
    assert latin.exit_code == 1 and "not UTF-8 text (byte offset 7) — save it as UTF-8" in latin.stderr


def test_a_prime_skipped_away_entirely_is_said_to_be(in_cli_root):
    result = invoke("sample", "--prime", "日本", "--unknown", "skip", "--length", "5")
    assert result.exit_code == 0 and "nothing of the prime is left" in result.stderr
    partly = invoke("sample", "--prime", "the 日本", "--unknown", "skip", "--length", "5")
    assert partly.exit_code == 0 and "nothing of the prime" not in partly.stderr


@pytest.mark.parametrize("flags", [["--top-k", "0"], ["--length", "-5"], ["--temperature", "nan"],
                                   ["--top-p", "0"], ["--num-samples", "0"], ["--style", "fancy"],
                                   ["--format", "pdf"], ["--stop", ""]])
def test_sample_more_bad_usage(in_cli_root, flags):
    fails(2, "sample", *flags)


@pytest.mark.parametrize("arguments, message", [
    (["sample", "--top-k", "0"], "error: --top-k: must be 1 or more — see 'charnn sample --help'"),
    (["sample", "--length", "abc"], "error: --length: must be a whole number — see 'charnn sample --help'"),
    (["sample", "--length"], "error: option '--length' requires an argument — see 'charnn sample --help'"),
    (["sample", "--temperature", "warm"], "error: --temperature: must be a number"),
    (["sample", "--bogus"], "error: no such option"),  # then --bogus, or '--bogus' (click 8.5)
    (["sample", "--bogus"], "--bogus"),
    (["trian"], "error: no such command 'trian'"),  # Typer ≥ 0.20 adds "Did you mean 'train'?"
    (["train"], "error: missing argument 'CORPUS' — see 'charnn train --help'"),
    (["train", "corpus.txt", "--time", "10"], "'10' has no unit — say 10s or 10m"),
    (["eval", "corpus.txt", "--split", "test"], "error: --split: must be val, train or all — see 'charnn eval"),
])
def test_usage_errors_are_one_line_in_charnns_words(arguments, message):
    """As every other error: Typer drew five lines or more (a usage line, a hint, a box), and said "Input should be
    greater than or equal to 1" where charnn's own checks say "must be … or more"; a new-user trial found one with no
    hint (`--length` without its value) and Typer's capitals and full stops beside charnn's style. Typer before 0.29
    (click's checks) also names the value given, ", not 0"; Typer 0.29 (pydantic's) does not: either passes."""
    result = CliRunner().invoke(app, arguments, prog_name="charnn")
    assert result.exit_code == 2 and result.stdout == ""
    said = re.sub(r", not \S+(?= — see)", "", result.stderr)
    assert len(said.splitlines()) == 1 and message in said, result.stderr
    assert re.search(r" — see 'charnn( \w+)? --help'$", said.rstrip("\n")), result.stderr


def test_a_mistyped_option_gets_the_closest_one():
    """A songwriter trial: `--temprature` got "(Possible options: --interactive, --temperature)"."""
    said = CliRunner().invoke(app, ["sample", "--temprature", "0.5"], prog_name="charnn").stderr
    assert "--temperature" in said and "--interactive" not in said and len(said.splitlines()) == 1


def test_commands_alone_still_show_their_help():
    """`charnn` with no command: its help, exit 2 (Typer's), and no error line added."""
    result = CliRunner().invoke(app, [], prog_name="charnn")
    assert result.exit_code == 2 and "Usage: charnn" in result.output and "error" not in result.output
    assert invoke("--version").exit_code == 0 and invoke("sample", "--help").exit_code == 0
    for command in ([], ["train"], ["sample"], ["eval"], ["info"]):  # a trial's `-h` was "no such option"
        short = invoke(*command, "-h")
        assert short.exit_code == 0 and short.stdout == invoke(*command, "--help").stdout, short.output


def test_help_shows_the_defaults():
    """Help strings are Rich markup: an unescaped "[default: …]" would be swallowed as a tag."""
    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    output = " ".join(result.output.split())
    for shown in ("[default: lstm]", "in [0, 1) [default: preset]", "[default: 16 on CPU, 32 on GPU",
                  "[default: 0.003]", "[default: 1337]", "[default: 0.01]"):
        assert shown in output


@pytest.mark.parametrize("command", ["train", "sample", "eval", "info"])
def test_every_options_help_is_shown_whole(command):
    """A trial: `--format`'s help ended at "(a screenplay file)": its unescaped "[default: …]" was read as a tag."""
    import typer.main

    click_command = typer.main.get_command(app).commands[command]
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "400"})
    output = " ".join(result.output.replace("│", " ").split())
    for parameter in click_command.params:
        help_text = " ".join((getattr(parameter, "help", None) or "").replace("\\[", "[").split())
        assert help_text in output, (parameter.name, help_text)


@pytest.mark.parametrize("command", [[], ["train"], ["sample"], ["eval"], ["info"]])
def test_help_gives_flags_no_value_type(command):
    """Typer 0.29 wrote `--json <bool>` and even `--help <bool>`, as if they took a value."""
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "--help" in result.output and "<bool>" not in result.output
    # Nor `{corpus}` for a required argument (Typer 0.29), nor --seed's range, 0<=x<=9223372036854775807.
    assert "{" not in result.output and "<=" not in result.output
    argument = {"train": " CORPUS", "eval": " CORPUS", "info": r" \[PATH\]"}.get(command[0] if command else "", "")
    assert re.search(rf"Usage: .*\[OPTIONS\]{argument}(\s|$)", result.output, re.M)


def test_an_output_is_written_whole_or_left_as_it_was(tmp_path, monkeypatch):
    """A trial's full disk cut --output at 12,288 bytes of 20,000 (and left an empty file at 0 bytes free)."""
    import pathlib

    from charnn.cli.stopping import write_output

    output = tmp_path / "out.txt"
    output.write_text("an earlier sample\n", encoding="utf-8")
    output.chmod(0o600)
    write_output(output, "new text\n")
    assert output.read_text(encoding="utf-8") == "new text\n" and output.stat().st_mode & 0o777 == 0o600
    real = pathlib.Path.write_text

    def fills_up(self, text, *args, **kwargs):
        real(self, text[: len(text) // 2], *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(pathlib.Path, "write_text", fills_up)
        with pytest.raises(CharnnError, match=r"cannot write --output .*out.txt: No space left on device — it is "
                                              r"as it was; free space there or choose another path$"):
            write_output(output, "x" * 20_000)
        assert output.read_text(encoding="utf-8") == "new text\n"
        assert sorted(path.name for path in tmp_path.iterdir()) == ["out.txt"]  # no temp file left
        with pytest.raises(CharnnError):
            write_output(tmp_path / "new.txt", "x" * 20_000)
        assert not (tmp_path / "new.txt").exists()


def test_an_output_that_is_not_a_plain_file_is_written_in_place(tmp_path):
    """A rename would break a pipe (`--output /dev/stdout | cat`, `>(gzip > x.gz)`) or put a new file in place of a
    link or of a file with other names (a review)."""
    from charnn.cli.stopping import write_output

    target = tmp_path / "target.txt"
    target.write_text("old\n", encoding="utf-8")
    link, other_name = tmp_path / "link.txt", tmp_path / "other-name.txt"
    link.symlink_to(target)
    write_output(link, "through the link\n")
    assert link.is_symlink() and target.read_text(encoding="utf-8") == "through the link\n"
    os.link(target, other_name)
    write_output(target, "both names\n")
    assert other_name.read_text(encoding="utf-8") == "both names\n"
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    got = []
    reader = threading.Thread(target=lambda: got.append(pipe.read_text(encoding="utf-8")))
    reader.start()
    write_output(pipe, "down the pipe\n")
    reader.join(10)
    assert got == ["down the pipe\n"]
    code = "import sys; from pathlib import Path; from charnn.cli.stopping import write_output; " \
           "write_output(Path('/dev/stdout'), 'to stdout\\n')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout == "to stdout\n", result.stderr
