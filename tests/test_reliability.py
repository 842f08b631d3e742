"""Issue-5 guarantees end to end: full disks, locked folders, big alphabets, odd encodings."""

from __future__ import annotations

import errno
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import MIXED, REPETITIVE, tiny_model_config, tiny_train_config, train_run
from typer.testing import CliRunner

from charnn import checkpoint
from charnn.cli import app
from charnn.errors import CharnnError

TINY = ["--layers", "1", "--hidden-size", "16", "--embed-dim", "8", "--seq-len", "16", "--batch-size", "4",
        "--device", "cpu", "--precision", "fp32", "--steps", "20", "--eval-every", "10"]


def cli(*args, input=None):
    result = CliRunner().invoke(app, list(args), input=input)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result


def snapshot(folder):
    return {path.name: path.read_bytes() for path in folder.iterdir() if path.suffix in (".pt", ".jsonl")}


def test_full_disk_keeps_previous_checkpoints(tmp_path, write_corpus, monkeypatch):
    corpus = write_corpus(REPETITIVE)
    run = train_run(tmp_path / "run", corpus, config=tiny_train_config(steps=20))
    before = snapshot(run.run_dir)
    real_save = torch.save

    def full_disk(obj, file, *args, **kwargs):
        real_save(obj, file, *args, **kwargs)  # part of the bytes land in the temp file ...
        raise OSError(errno.ENOSPC, "No space left on device")  # ... then the disk is full

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CharnnError, match="No space left on device"):
        train_run(run.run_dir, corpus, config=tiny_train_config(steps=40), resume=True)
    after = snapshot(run.run_dir)
    assert {k: v for k, v in after.items() if k.endswith(".pt")} == {
        k: v for k, v in before.items() if k.endswith(".pt")}  # every checkpoint byte-identical
    # metrics.jsonl keeps its earlier lines; the line of the failed eval goes at the next resume
    assert after["metrics.jsonl"].startswith(before["metrics.jsonl"])
    assert not list(run.run_dir.glob(".*.tmp-*"))  # no half-written temp files left behind


def test_a_metrics_line_the_disk_cut_short_is_taken_back(tmp_path, write_corpus, monkeypatch):
    """A new-user trial filled a disk while a metrics line was written: half a line stayed, and every later
    --resume failed on it with a traceback."""
    from charnn import recorder

    run = train_run(tmp_path / "run", write_corpus(REPETITIVE), config=tiny_train_config(steps=20))
    metrics = run.run_dir / "metrics.jsonl"
    before = metrics.read_bytes()
    real_write, calls = os.write, []

    def fills_up(fd, data):
        calls.append(len(data))
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data[: len(data) // 2])  # the first write lands in part

    monkeypatch.setattr(recorder.os, "write", fills_up)
    with pytest.raises(CharnnError, match="cannot write .*metrics.jsonl: No space left on device"):
        recorder.append_metrics(metrics, {"step": 30, "val_loss": 1.5})
    assert len(calls) == 2 and metrics.read_bytes() == before


def test_a_torn_metrics_line_does_not_stop_a_resume(tmp_path, write_corpus):
    """What a kill in the middle of that write leaves (or a charnn from before the fix): the resume drops it."""
    corpus = write_corpus(REPETITIVE)
    run = train_run(tmp_path / "run", corpus, config=tiny_train_config(steps=20))
    metrics = run.run_dir / "metrics.jsonl"
    with open(metrics, "a", encoding="utf-8") as file:
        file.write('{"step": 30, "val_loss": 1.96')
    train_run(run.run_dir, corpus, config=tiny_train_config(steps=30), resume=True)
    steps = [json.loads(line)["step"] for line in metrics.read_text(encoding="utf-8").splitlines()]
    assert steps == [10, 20, 30]


def test_a_first_save_that_fails_leaves_no_files_so_the_same_command_runs_again(tmp_path, write_corpus, monkeypatch):
    """A trial's disk filled during a new run's first latest.pt: best.pt, a step file and metrics stayed without it,
    and the folder could be neither resumed nor trained into again."""
    corpus = write_corpus(REPETITIVE)
    real_save = checkpoint.save

    def no_room_for_latest(payload, path):
        if path.name == "latest.pt":
            raise CharnnError(f"cannot write checkpoint {path}: No space left on device — free disk space or choose "
                              "another --out; earlier checkpoints there are intact")
        real_save(payload, path)

    monkeypatch.setattr(checkpoint, "save", no_room_for_latest)
    with pytest.raises(CharnnError, match=r"latest.pt: No space left on device — free disk space or choose another "
                                          r"--out; this run had saved nothing before, so it left no files there$"):
        train_run(tmp_path / "runs" / "run", corpus, config=tiny_train_config(steps=20))
    assert not (tmp_path / "runs").exists()  # the folders it made went with its files
    def interrupted_at_latest(payload, path):
        if path.name == "latest.pt":
            raise KeyboardInterrupt  # a second Ctrl-C during the first save
        real_save(payload, path)

    monkeypatch.setattr(checkpoint, "save", interrupted_at_latest)
    with pytest.raises(KeyboardInterrupt):
        train_run(tmp_path / "runs" / "run", corpus, config=tiny_train_config(steps=20))
    assert not (tmp_path / "runs").exists()
    monkeypatch.setattr(checkpoint, "save", real_save)
    train_run(tmp_path / "runs" / "run", corpus, config=tiny_train_config(steps=20))  # the same run, now whole


def test_a_run_cleans_up_temp_files_that_killed_saves_left(tmp_path, write_corpus):
    corpus = write_corpus(REPETITIVE)
    run = train_run(tmp_path / "run", corpus, config=tiny_train_config(steps=10))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()  # a process id that has ended
    for name in (f".latest.pt.tmp-{gone}", f".step-00000010.pt.tmp-{gone}"):
        (run.run_dir / name).write_bytes(b"x" * 1000)  # what a kill -9 during a save leaves
    kept = [f".latest.pt.tmp-{os.getppid()}",  # a process still running (a save under way)
            f".notes.txt.tmp-{gone}", ".latest.pt.tmp-abc"]  # not charnn's
    for name in kept:
        (run.run_dir / name).write_bytes(b"y")
    train_run(run.run_dir, corpus, config=tiny_train_config(steps=20), resume=True)
    assert sorted(path.name for path in run.run_dir.glob(".*.tmp-*")) == sorted(kept)


def test_a_resume_keeps_a_better_best_pt_than_latest_knows_of(tmp_path, write_corpus):
    """A crash between best.pt and latest.pt (a full disk in a trial): best.pt holds a model latest.pt never heard
    of, and a resumed run wrote a worse model over it."""
    corpus = write_corpus(REPETITIVE)
    run = train_run(tmp_path / "run", corpus, config=tiny_train_config(steps=20))
    best = run.run_dir / "best.pt"
    payload = checkpoint.load(best)
    payload["metrics"]["val_loss"] = 0.0001  # better than anything this run will score
    checkpoint.save(payload, best)
    saved = best.read_bytes()
    resumed = train_run(run.run_dir, corpus, config=tiny_train_config(steps=40), resume=True)
    assert best.read_bytes() == saved
    assert checkpoint.load(run.run_dir / "latest.pt")["metrics"]["best_val_loss"] == 0.0001
    assert not any(getattr(event, "is_best", False) for event in resumed.events)
    # A best.pt of another run (another model) says nothing of this one's best.
    other = train_run(tmp_path / "other", corpus, config=tiny_train_config(steps=20))
    payload["model_config"] = dict(payload["model_config"], hidden_size=payload["model_config"]["hidden_size"] + 1)
    checkpoint.save(payload, other.run_dir / "best.pt")
    train_run(other.run_dir, corpus, config=tiny_train_config(steps=40), resume=True)
    assert checkpoint.load(other.run_dir / "best.pt")["metrics"]["val_loss"] > 0.0001  # this run's own best


def test_best_saved_counts_a_best_pt_from_before_digests(tmp_path, write_corpus):
    """best.pt saved by a charnn that kept no corpus digest, latest.pt by one that does (the run's first resume since):
    the same run, whose better best.pt still counts (a review). Another digest is another corpus's run."""
    from charnn.runs import best_saved

    run = train_run(tmp_path / "run", write_corpus(REPETITIVE), config=tiny_train_config(steps=20))
    latest, best = checkpoint.load(run.run_dir / "latest.pt"), checkpoint.load(run.run_dir / "best.pt")
    assert latest["corpus_digest"] == best["corpus_digest"] is not None
    own = best["metrics"]["val_loss"]
    best["corpus_digest"] = None
    checkpoint.save(best, run.run_dir / "best.pt")
    assert best_saved(run.run_dir, latest) == own
    best["corpus_digest"] = "0" * 32
    checkpoint.save(best, run.run_dir / "best.pt")
    assert best_saved(run.run_dir, latest) == math.inf


def test_a_cache_entry_from_before_digests_gets_one(tmp_path, write_corpus):
    """An entry written before digests were kept: its runs would never have been checked on resume (a review)."""
    import json

    from charnn import corpus_cache
    from charnn.data import load_corpus

    corpus = write_corpus(REPETITIVE)
    first = load_corpus(corpus)
    (meta_path,) = corpus_cache.cache_dir().glob("*.json")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    del meta["digest"]
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    again = load_corpus(corpus)
    assert again.digest == first.digest is not None
    assert json.loads(meta_path.read_text(encoding="utf-8"))["digest"] == first.digest  # kept for the next read


def test_unwritable_run_folder_is_one_line(tmp_path, write_corpus, monkeypatch):
    corpus = write_corpus(REPETITIVE)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.chdir(tmp_path)
    result = cli("train", str(corpus), "--out", str(blocker / "run"), *TINY)
    assert result.exit_code == 1
    assert "cannot create run folder" in result.stderr and len(result.stderr.strip().splitlines()) == 1


HOLD_LOCK = """
import sys, time
from pathlib import Path
from charnn.run_lock import RunLock
with RunLock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_second_trainer_on_a_folder_is_refused_and_a_dead_one_does_not_block(tmp_path, write_corpus, monkeypatch):
    corpus = write_corpus(REPETITIVE)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    monkeypatch.chdir(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run_dir), "60"], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = cli("train", str(corpus), "--out", str(run_dir), *TINY)
        assert result.exit_code == 1
        assert "another charnn process is training in" in result.stderr
        assert not (run_dir / "latest.pt").exists()
    finally:
        holder.kill()  # dies holding the lock: the OS releases it
        holder.wait()
    started = time.monotonic()
    result = cli("train", str(corpus), "--out", str(run_dir), *TINY)
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 60  # did not wait for a stale lock to expire
    assert (run_dir / "latest.pt").exists()


def test_a_second_run_of_a_corpus_moves_on_from_a_folder_another_is_training_in(tmp_path, write_corpus, monkeypatch):
    """Before its first save a run's folder holds only its lock: a trial's second `charnn train` of the same corpus
    (no --out) was refused there ("use another --out") instead of going on to `-2` as the README says."""
    corpus = write_corpus(REPETITIVE)
    monkeypatch.chdir(tmp_path)
    first = tmp_path / "checkpoints" / corpus.stem
    first.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(first), "60"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = cli("train", str(corpus), *TINY)
        assert result.exit_code == 0, result.output
        assert f"this one goes to {Path('checkpoints') / (corpus.stem + '-2')}" in result.stderr
        assert (first.parent / f"{corpus.stem}-2" / "latest.pt").exists() and not (first / "latest.pt").exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_run_holds_its_folder_from_before_the_preset(tmp_path, write_corpus, monkeypatch):
    """Two `charnn train` of one corpus started a second apart both chose checkpoints/corpus, free then, and the second
    was refused there once the first took its lock (a new-user trial). The folder is now locked as it is chosen, so
    during the first run's preset a second one moves on to corpus-2; and a run that ends before training leaves none."""
    from charnn import planning
    from charnn.run_lock import RunLock
    from charnn.runs import claim_new_run_folder

    corpus = write_corpus(REPETITIVE)
    monkeypatch.chdir(tmp_path)
    base = Path("checkpoints") / corpus.stem
    seen = {}
    plan_run = planning.plan_run

    def planning_while_another_starts(*args, **kwargs):
        second = claim_new_run_folder(base)  # what a second `charnn train` of the corpus does meanwhile
        seen["second"], seen["free"] = second.path.parent, RunLock(base).take()
        second.release()
        return plan_run(*args, **kwargs)

    monkeypatch.setattr(planning, "plan_run", planning_while_another_starts)
    result = cli("train", str(corpus), *TINY)
    assert result.exit_code == 0, result.output
    assert seen == {"second": base.with_name(f"{corpus.stem}-2"), "free": False}
    assert (base / "latest.pt").exists() and not base.with_name(f"{corpus.stem}-2").exists()  # made, then removed

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(planning, "plan_run", interrupted)
    result = cli("train", str(corpus), *TINY)
    assert result.exit_code == 130 and "nothing was saved" in result.stderr
    assert sorted(path.name for path in base.parent.iterdir()) == [corpus.stem]  # corpus-2 was made and removed


def test_sigterm_during_the_preset_leaves_no_folder(tmp_path, write_corpus, monkeypatch):
    """The folder is made before the preset's speed test now; a SIGTERM there killed the process and left it behind
    (a review). The signal asks to stop, as in training: nothing is trained, the folder goes, exit 143."""
    import signal

    from charnn import planning

    corpus = write_corpus(REPETITIVE)
    monkeypatch.chdir(tmp_path)
    plan_run = planning.plan_run

    def terminated_while_planning(*args, **kwargs):
        signal.raise_signal(signal.SIGTERM)
        return plan_run(*args, **kwargs)

    monkeypatch.setattr(planning, "plan_run", terminated_while_planning)
    result = cli("train", str(corpus), *TINY)
    assert result.exit_code == 143, result.output
    assert "stopped (terminated) before the first step; nothing was saved" in " ".join(result.stderr.split())
    assert not (tmp_path / "checkpoints").exists()


def test_ctrl_c_during_the_preset_ends_at_once_and_leaves_no_folder(tmp_path, write_corpus, monkeypatch):
    """With Ctrl-C's handler installed from the folder's claim on (for SIGTERM's sake), a Ctrl-C during the preset
    went on through the speed tests, the start line and an empty panel. During set-up it ends at once, as before."""
    import signal

    from charnn import planning

    corpus = write_corpus(REPETITIVE)
    monkeypatch.chdir(tmp_path)

    def pressed_while_planning(*args, **kwargs):
        signal.raise_signal(signal.SIGINT)
        raise AssertionError("planning went on after a Ctrl-C")

    monkeypatch.setattr(planning, "plan_run", pressed_while_planning)
    result = cli("train", str(corpus), *TINY)
    assert result.exit_code == 130, result.output
    assert "interrupted before training began; nothing was saved" in result.stderr
    assert "training 1×" not in result.stderr  # no start line: it did not go on to train
    assert not (tmp_path / "checkpoints").exists()


def test_claimed_folders_skip_runs_and_locked_ones(tmp_path):
    from charnn.runs import claim_new_run_folder

    base = tmp_path / "runs" / "corpus"
    first = claim_new_run_folder(base)
    second = claim_new_run_folder(base)  # the first holds its lock, no run yet
    (base.with_name("corpus-3")).mkdir()
    (base.with_name("corpus-3") / "metrics.jsonl").write_text("{}\n")  # a run's file
    third = claim_new_run_folder(base)
    assert [lock.path.parent.name for lock in (first, second, third)] == ["corpus", "corpus-2", "corpus-4"]
    for lock in (first, second, third):
        lock.release()
    assert sorted(path.name for path in base.parent.iterdir()) == ["corpus-3"]  # the made folders went with no run


def test_a_lock_on_a_lock_file_removed_meanwhile_is_not_taken(tmp_path, monkeypatch):
    """A run that leaves without a run removes its lock file, then lets go; a process that had opened that file before
    then got its lock, on a file no longer there, and a third could lock a new one: two holders (a review)."""
    import fcntl

    from charnn import run_lock

    real_flock = fcntl.flock
    folder = tmp_path / "run"
    folder.mkdir()

    def replaced_first(file, operation):  # the holder removes the file, another run makes a new one
        (folder / ".lock").unlink()
        (folder / ".lock").write_text("")
        monkeypatch.setattr(run_lock.fcntl, "flock", real_flock)
        return real_flock(file, operation)

    monkeypatch.setattr(run_lock.fcntl, "flock", replaced_first)
    assert not run_lock.RunLock(folder).take()
    with run_lock.RunLock(folder) as lock:  # the file at the path now
        assert lock.holds_the_lock_file()


def test_a_lock_that_cannot_be_opened_removes_the_folder_it_made(tmp_path, monkeypatch):
    from charnn import run_lock

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(run_lock, "open", refused, raising=False)
    with pytest.raises(CharnnError, match="cannot write in run folder .*Permission denied"):
        run_lock.RunLock(tmp_path / "a" / "b", run_lock.make_run_folder(tmp_path / "a" / "b")).take()
    assert not (tmp_path / "a").exists()


def test_large_alphabet_trains_and_samples(tmp_path, write_corpus, monkeypatch):
    alphabet = "".join(chr(0x4E00 + i) for i in range(3000))  # 3,000 distinct CJK characters
    text = "".join(alphabet[(i * 7919) % 3000] + ("。\n" if i % 40 == 39 else "") for i in range(12_000))
    corpus = write_corpus(text)
    run = train_run(tmp_path / "run", corpus, config=tiny_train_config(steps=4, eval_every=4))
    assert len(run.corpus.vocab) > 256 and run.corpus.ids.dtype.itemsize == 2
    monkeypatch.chdir(tmp_path)
    result = cli("sample", "--checkpoint", str(run.run_dir), "--length", "50", "--seed", "1",
                 "--prime", alphabet[:5])
    assert result.exit_code == 0, result.output
    assert len(result.stdout) == 50 and set(result.stdout) <= set(run.corpus.vocab.chars)


def test_latin1_corpus_with_encoding_flag_and_errors_replace(tmp_path, monkeypatch):
    corpus = tmp_path / "latin.txt"
    corpus.write_bytes(("Café crème, señor. " * 300).encode("latin-1"))
    monkeypatch.chdir(tmp_path)
    refused = cli("train", str(corpus), *TINY)
    assert refused.exit_code == 1 and "byte offset 3" in refused.stderr and "--encoding" in refused.stderr
    assert cli("train", str(corpus), "--encoding", "latin-1", "--out", "a", *TINY).exit_code == 0
    assert checkpoint.load(tmp_path / "a" / "latest.pt")["vocab"].count("é") == 1
    assert cli("train", str(corpus), "--errors", "replace", "--out", "b", *TINY).exit_code == 0
    assert "\ufffd" in checkpoint.load(tmp_path / "b" / "latest.pt")["vocab"]


def test_a_windows_1252_corpus_is_named_as_one(tmp_path, monkeypatch):
    """A new-user trial followed the advice `--encoding latin-1` for a Windows "ANSI" file: it trained without a word,
    on invisible control characters where the text had € ’ “ ” —. The refusal now names cp1252 where the bytes read
    as it, and a latin-1 read that gets such characters says so."""
    corpus = tmp_path / "windows.txt"
    corpus.write_bytes(("It’s “5€” — isn’t it?\r\n" * 200).encode("cp1252"))
    monkeypatch.chdir(tmp_path)
    refused = cli("train", str(corpus), *TINY)
    assert refused.exit_code == 1 and "reads as Windows-1252" in refused.stderr
    assert "--encoding cp1252" in refused.stderr
    latin = cli("train", str(corpus), "--encoding", "latin-1", "--out", "latin", *TINY)
    assert latin.exit_code == 0 and "holds control characters U+0080–U+009F" in latin.stderr
    windows = cli("train", str(corpus), "--encoding", "cp1252", "--out", "windows", *TINY)
    assert windows.exit_code == 0 and "control characters" not in windows.stderr
    assert set("’“”€—") <= set(checkpoint.load(tmp_path / "windows" / "latest.pt")["vocab"])
    plain_latin = tmp_path / "latin.txt"  # no bytes 0x80–0x9F: latin-1 is as good a guess as cp1252
    plain_latin.write_bytes(("Café crème, señor. " * 300).encode("latin-1"))
    refused = cli("train", str(plain_latin), *TINY)
    assert "use --encoding cp1252 (Windows) or latin-1" in refused.stderr
    undefined = tmp_path / "undefined.txt"  # 0x81 is no character in cp1252: only latin-1 reads it
    undefined.write_bytes(b"abc \x81 def " * 300)
    assert "use --encoding latin-1 or --errors replace" in cli("train", str(undefined), *TINY).stderr
    # UTF-8 with a stray byte reads as cp1252 too, which would garble its ’ and — in turn (a review).
    stray = tmp_path / "stray.txt"
    stray.write_bytes(("It’s here — the café. " * 100).encode() + b"caf\xe9 " + ("Again’s — " * 100).encode())
    refused = cli("train", str(stray), *TINY)
    assert "the rest reads as UTF-8, so --errors replace" in refused.stderr and "cp1252" not in refused.stderr
    # Control characters U+0080–U+009F in a file read as UTF-8 are not a Windows file's: nothing said.
    controls = tmp_path / "controls.txt"
    controls.write_text("line one\x85line two " * 200, encoding="utf-8")
    result = cli("train", str(controls), "--out", "controls", *TINY)
    assert result.exit_code == 0 and "control characters" not in result.stderr


RUSSIAN = ("Элегия. Ветер листает старый календарь — и снег ложится на крыши. «Где ты?» — спросила она, и никто не "
           "ответил. Мы шли по тёмной улице, и фонари горели тускло, как в детстве.\n")
JAPANESE = ("雪が降る　窓の向こうに、静かな夜が広がっている。君の声を思い出して、私は一人で歩いた。"
            "春の風が吹くころ、また会えるだろうか。\n")


def test_a_file_in_another_languages_encoding_is_named_by_it(tmp_path, monkeypatch):
    """A new-user trial: a Russian poem file saved as Windows-1251 was called Windows-1252 (its — is 0x97 in both),
    and `--encoding cp1252`, as advised, trained without a word on `Ýëåãèÿ` for `Элегия`."""
    monkeypatch.chdir(tmp_path)
    russian = tmp_path / "russian.txt"
    russian.write_bytes((RUSSIAN * 40).encode("cp1251"))
    refused = cli("train", str(russian), *TINY)
    assert refused.exit_code == 1 and "reads as Windows-1251 (Cyrillic) text: use --encoding cp1251" in refused.stderr
    assert "1252" not in refused.stderr
    right = cli("train", str(russian), "--encoding", "cp1251", "--out", "right", *TINY)
    assert right.exit_code == 0 and "reads more like" not in right.stderr
    assert set("Элегия") <= set(checkpoint.load(tmp_path / "right" / "latest.pt")["vocab"])
    wrong = cli("train", str(russian), "--encoding", "cp1252", "--out", "wrong", *TINY)  # it trains, and says so
    assert wrong.exit_code == 0
    assert "reads more like Windows-1251 (Cyrillic) text than cp1252: if its samples look garbled, use --encoding " \
           "cp1251" in " ".join(wrong.stderr.split())
    japanese = tmp_path / "japanese.txt"  # Shift JIS, which cp1252 cannot read at all
    japanese.write_bytes((JAPANESE * 40).encode("shift_jis"))
    assert "reads as Shift JIS (Japanese) text: use --encoding cp932" in cli("train", str(japanese), *TINY).stderr


SPANISH = ("En un lugar de la Mancha, de cuyo nombre no quiero acordarme, no ha mucho tiempo que vivía un hidalgo "
           "de los de lanza en astillero, adarga antigua, rocín flaco y galgo corredor. ¿Qué más? ¡Señor!\n")
GREEK = "Η Ιθάκη σ' έδωσε τ' ωραίο ταξίδι. Χωρίς αυτήν δεν θα 'βγαινες στον δρόμο. Άλλα δεν έχει να σε δώσει πια.\n"


def test_the_detector_is_not_asked_among_latin_code_pages_nor_over_a_split_character(tmp_path):
    """A review: Spanish in latin-1 was named cp1250 (ñ read as ń), French cp1257, and a Spanish file read right as
    cp1252 got a note; Greek read right as cp1253 was told iso8859_7; and a sample cut inside a two-byte character
    found nothing in half the cuts, or Cyrillic for Korean."""
    from charnn.encodings import misread_note, other_encoding

    def note(data: bytes, encoding: str, chars: str = "") -> str | None:
        (tmp_path / "c.txt").write_bytes(data)
        return misread_note(tmp_path / "c.txt", encoding, chars)

    spanish = (SPANISH * 20).encode("latin-1")
    assert other_encoding(spanish, "utf-8") == ("convert it to UTF-8, or use --encoding cp1252 (Windows) or latin-1, "
                                                "or --errors replace")
    assert note(spanish, "cp1252", SPANISH) is None
    assert note((GREEK * 20).encode("cp1253"), "cp1253", GREEK) is None
    assert "than cp1252" in note((RUSSIAN * 20).encode("cp1251"), "cp1252")
    # A second review: both Cyrillic, KOI8-R read as cp1251 is garbled all the same; Polish in cp1250, which
    # Windows-1252 reads badly, is named (it had been told latin-1, which makes its ś a control character).
    plain = RUSSIAN.replace("—", "-").replace("«", '"').replace("»", '"')  # KOI8-R has no — « »
    assert "more like KOI8-R (Russian) text than cp1251" in note((plain * 20).encode("koi8_r"), "cp1251")
    polish = ("Zażółć gęślą jaźń. Litwo! Ojczyzno moja! ty jesteś jak zdrowie; ile cię trzeba cenić, ten tylko się "
              "dowie.\n")
    assert "reads as Windows-1250 (Central European) text" in other_encoding((polish * 20).encode("cp1250"), "utf-8")
    for shift in range(4):  # two of them split a character at the end of the 1 MiB the detector reads
        japanese = ("x" * shift + JAPANESE * 20_000).encode("shift_jis")
        assert "Shift JIS (Japanese)" in other_encoding(japanese, "utf-8")


CHINESE = "第一章 雨夜\n「你来了。」他说。雨下得很大，街上没有一个人。她回头看了一眼，什么也没说，就走进了黑暗里。\n"


def test_utf8_read_as_another_and_a_legacy_chapter_in_utf8_are_named(tmp_path, monkeypatch):
    """A trial's UTF-8 novel read with --encoding gb18030 was told `--encoding latin-1` (mojibake); and with a GBK
    chapter appended, it was told the rest reads as UTF-8, so that --errors replace turned the chapter into � without
    a word. Now: "reads as UTF-8"; the tail named; and what --errors replace did, counted."""
    monkeypatch.chdir(tmp_path)
    novel = tmp_path / "novel.txt"
    novel.write_text(CHINESE * 300, encoding="utf-8")
    said = cli("train", str(novel), "--encoding", "gb18030", *TINY).stderr
    assert "it reads as UTF-8: leave out --encoding" in said and "latin-1" not in said
    joined = tmp_path / "all.txt"
    joined.write_bytes((CHINESE * 300).encode() + (CHINESE * 40).encode("gb18030"))
    said = " ".join(cli("train", str(joined), *TINY).stderr.split())
    assert ("it reads as UTF-8 up to there, and from there as GB18030 (Chinese) text: convert that part to UTF-8 "
            "(e.g. iconv -f gb18030 -t utf-8)") in said
    replaced = cli("train", str(joined), "--errors", "replace", "--out", "replaced", *TINY)
    count = checkpoint.load(tmp_path / "replaced" / "latest.pt")["vocab"].count("\ufffd")
    assert replaced.exit_code == 0 and count == 1
    expected = joined.read_bytes().decode("utf-8", errors="replace").count("\ufffd")
    assert expected > 100 and re.search(rf"--errors replace: \S+ holds {expected:,} U\+FFFD \(�\) characters for "
                                        "bytes that were not utf-8", " ".join(replaced.stderr.split()))


@pytest.mark.parametrize("shift", range(4))
def test_what_a_bad_byte_is_said_to_be_does_not_depend_on_where_the_files_pieces_are_cut(tmp_path, monkeypatch,
                                                                                       shift):
    """A review, with the file read in 64 KiB pieces: UTF-8 read as gb18030 was told latin-1 where a piece began
    inside a character; a GBK chapter after UTF-8 that began in a later piece was not named, or named as the whole
    file's encoding, which then sent the user back ("it reads as UTF-8")."""
    from charnn import reading
    from charnn.data import ReadOptions, load_corpus

    monkeypatch.setattr(reading, "CHUNK_BYTES", 1 << 16)
    russian = tmp_path / "russian.txt"
    russian.write_bytes(b"x" * shift + (RUSSIAN * 2000).encode())
    with pytest.raises(CharnnError, match="it reads as UTF-8: leave out --encoding"):
        load_corpus(russian, ReadOptions(encoding="gb18030"))
    joined = tmp_path / "joined.txt"
    joined.write_bytes(b"x" * shift + (CHINESE * 1000).encode() + (CHINESE * 40).encode("gb18030"))
    with pytest.raises(CharnnError, match=r"reads as UTF-8 up to there, and from there as GB18030 \(Chinese\)"):
        load_corpus(joined)


def test_crlf_normalised_unless_kept(tmp_path, monkeypatch):
    corpus = tmp_path / "dos.txt"
    corpus.write_bytes(("HAMLET: words\r\n" * 300).encode())
    monkeypatch.chdir(tmp_path)
    assert cli("train", str(corpus), "--out", "lf", *TINY).exit_code == 0
    assert "\r" not in checkpoint.load(tmp_path / "lf" / "latest.pt")["vocab"]
    assert cli("train", str(corpus), "--out", "crlf", "--keep-crlf", *TINY).exit_code == 0
    assert "\r" in checkpoint.load(tmp_path / "crlf" / "latest.pt")["vocab"]


def test_short_corpus_adapts_without_flags(tmp_path, monkeypatch):
    corpus = tmp_path / "short.txt"
    corpus.write_text("To be or not to be. " * 12, encoding="utf-8")  # 240 chars: less than one 32 × 64 window
    monkeypatch.chdir(tmp_path)
    result = cli("train", str(corpus), "--steps", "3", "--layers", "1", "--hidden-size", "8", "--device", "cpu")
    assert result.exit_code == 0, result.output
    stuck = cli("train", str(corpus), "--steps", "3", "--batch-size", "32", "--seq-len", "64", "--out", "x")
    assert stuck.exit_code == 1 and "--batch-size or --seq-len" in stuck.stderr


def test_resume_with_incompatible_flags_says_what_differs(tmp_path, write_corpus, monkeypatch):
    corpus = write_corpus(REPETITIVE)
    monkeypatch.chdir(tmp_path)
    assert cli("train", str(corpus), "--out", "run", *TINY).exit_code == 0
    changed = [a if a != "16" else "32" for a in TINY]  # hidden size and seq len both 16 → 32
    result = cli("train", str(corpus), "--out", "run", "--resume", *changed)
    assert result.exit_code == 1 and "--hidden-size 16 → 32" in result.stderr
    more = [a if a != "20" else "30" for a in TINY]
    extended = cli("train", str(corpus), "--out", "run", "--resume", *more)
    assert extended.exit_code == 0, extended.output
    assert checkpoint.load(tmp_path / "run" / "latest.pt")["step"] == 30


@pytest.mark.parametrize("flags", [["--time", "0s"], ["--time", "ten minutes"], ["--time", "10"], ["--steps", "0"],
                                   ["--batch-size", "0"], ["--dropout", "1"], ["--lr", "0"], ["--lr", "nan"],
                                   ["--cell", "transformer"], ["--device", "tpu"], ["--keep", "-1"]])
def test_every_train_option_is_validated(tmp_path, write_corpus, flags):
    corpus = write_corpus(REPETITIVE)
    result = cli("train", str(corpus), *flags)
    assert result.exit_code == 2, (flags, result.output)


def test_model_config_mismatch_on_resume_lists_fields(tmp_path, write_corpus):
    corpus = write_corpus(REPETITIVE)
    run = train_run(tmp_path / "run", corpus)
    other = tiny_model_config(len(run.corpus.vocab), num_layers=1)
    with pytest.raises(CharnnError, match="--layers 2 → 1"):
        train_run(run.run_dir, corpus, model_config=other, config=tiny_train_config(steps=30), resume=True)


def test_resume_takes_the_runs_settings_and_refuses_a_finished_run(tmp_path, write_corpus, monkeypatch):
    corpus = write_corpus(REPETITIVE)
    monkeypatch.chdir(tmp_path)
    first = cli("train", str(corpus), "--out", "run", "--cell", "gru", "--lr", "0.01", "--seed", "3", *TINY)
    assert first.exit_code == 0, first.output
    from charnn import ui

    with monkeypatch.context() as patched:  # refused before the training panel: a trial saw an empty one first
        patched.setattr(ui, "TrainView", lambda: pytest.fail("the training panel was drawn"))
        done = cli("train", str(corpus), "--out", "run", "--resume")  # no flags: the run's own target, reached
    assert done.exit_code == 1 and "already at its target" in done.stderr
    fewer = cli("train", str(corpus), "--out", "run", "--resume", "--steps", "5")  # a trial: it spoke of --time
    assert fewer.exit_code == 1 and "already at its target, --steps 5: it is at step" in fewer.stderr
    assert "pass a larger --steps" in fewer.stderr
    more = cli("train", str(corpus), "--out", "run", "--resume", "--steps", "30")
    assert more.exit_code == 0, more.output
    payload = checkpoint.load(tmp_path / "run" / "latest.pt")
    assert payload["step"] == 30 and payload["model_config"]["cell"] == "gru"
    assert payload["train_config"]["lr"] == 0.01 and payload["train_config"]["seed"] == 3
    steps = [line for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(steps) == len(set(steps)) == 3  # evals at 10, 20, 30: none twice


def test_a_corpus_too_short_to_train_leaves_no_run_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.txt").write_text("hello world", encoding="utf-8")
    result = cli("train", "tiny.txt", "--steps", "20")
    assert result.exit_code == 1 and "(11 chars, 20 needed)" in result.stderr
    assert not (tmp_path / "checkpoints").exists()


def test_resume_drops_metrics_lines_past_the_checkpoint(tmp_path, write_corpus):
    corpus = write_corpus(REPETITIVE)
    run = train_run(tmp_path / "run", corpus, config=tiny_train_config(steps=20))
    metrics = run.run_dir / "metrics.jsonl"
    metrics.write_text(metrics.read_text() + '{"step": 30, "val_loss": 1.0}\n')  # as if killed after it
    train_run(run.run_dir, corpus, config=tiny_train_config(steps=30), resume=True)
    assert [__import__("json").loads(line)["step"] for line in metrics.read_text().splitlines()] == [10, 20, 30]


def test_resume_on_a_corpus_of_another_length_is_refused(tmp_path, write_corpus):
    corpus = write_corpus(REPETITIVE)
    run = train_run(tmp_path / "run", corpus)
    longer = write_corpus(REPETITIVE + "the lazy dog.\n", name="longer.txt")
    with pytest.raises(CharnnError, match="differs from the one the run was trained on"):
        train_run(run.run_dir, longer, config=tiny_train_config(steps=30), resume=True)


def test_resume_on_another_shorter_corpus_says_it_is_another_corpus(tmp_path, write_corpus):
    """A new-user trial resumed a run with a tiny file by mistake and was told to lower --batch-size: the corpus is
    checked against the run's before its length is checked against the run's batch, and the run's corpus is named."""
    corpus = write_corpus(REPETITIVE)
    run = train_run(tmp_path / "run", corpus)
    tiny = write_corpus("abc " * 15, name="tiny.txt")
    with pytest.raises(CharnnError, match=r"different set of characters than the run was trained on \(corpus.txt;"):
        train_run(run.run_dir, tiny, config=tiny_train_config(steps=30), resume=True)
    # Which characters: a trial added a line with one 🌻 to its poems and was not told what differed.
    flower = write_corpus(REPETITIVE + "🌻\n", name="flower.txt")
    with pytest.raises(CharnnError, match=r"\(corpus.txt; new: '🌻'\), and a model's characters are fixed"):
        train_run(run.run_dir, flower, config=tiny_train_config(steps=30), resume=True)
    fewer = write_corpus(REPETITIVE.replace("q", "") + "\u0301\n", name="fewer.txt")
    with pytest.raises(CharnnError, match=r"new: U\+0301 COMBINING ACUTE ACCENT; missing: 'q'"):
        train_run(run.run_dir, fewer, config=tiny_train_config(steps=30), resume=True)


def test_resume_on_an_edit_of_the_corpus_that_keeps_its_length_is_refused(tmp_path, write_corpus):
    """The same characters and length, other text (an edited corpus, or another file of that name): it was taken for
    the run's own, and its split and data position silently meant other text. The corpus's digest tells them apart;
    the same text under another name (a copy) resumes."""
    corpus = write_corpus(REPETITIVE)
    run = train_run(tmp_path / "run", corpus)
    assert checkpoint.load(run.run_dir / "latest.pt")["corpus_digest"] == run.corpus.digest is not None
    edited = write_corpus(REPETITIVE.replace("quick brown", "brown quick", 1), name="edited.txt")
    with pytest.raises(CharnnError, match="text differs from the one the run was trained on .* as many characters"):
        train_run(run.run_dir, edited, config=tiny_train_config(steps=30), resume=True)
    copy = write_corpus(REPETITIVE, name="copy.txt")
    assert train_run(run.run_dir, copy, config=tiny_train_config(steps=30), resume=True).events[-1].step == 30


def test_a_corpus_digest_is_the_same_from_the_cache_and_in_memory(tmp_path, write_corpus, monkeypatch):
    """Read back from the cache, or encoded in memory where the cache cannot be written: one digest per text."""
    from charnn import corpus_cache
    from charnn.data import load_corpus

    corpus = write_corpus(MIXED * 3)
    written = load_corpus(corpus)
    again = load_corpus(corpus)  # from the cache
    monkeypatch.setenv("CHARNN_CACHE", str(tmp_path / "another cache"))  # no entry there
    monkeypatch.setattr(corpus_cache, "write", lambda *args: (_ for _ in ()).throw(PermissionError(13, "denied")))
    in_memory = load_corpus(corpus, vocab=written.vocab)  # eval's read, which falls back to memory
    assert not isinstance(in_memory.ids, np.memmap) and isinstance(again.ids, np.memmap)
    assert written.digest == again.digest == corpus_cache.digest([again.ids]) is not None
    assert in_memory.digest == written.digest


def test_eval_reads_the_text_as_the_run_did(tmp_path, monkeypatch):
    corpus = tmp_path / "dos.txt"
    corpus.write_bytes(("HAMLET: words\r\n" * 300).encode())
    monkeypatch.chdir(tmp_path)
    assert cli("train", str(corpus), "--out", "crlf", "--keep-crlf", *TINY).exit_code == 0
    result = cli("eval", str(corpus), "--checkpoint", "crlf", "--json")
    assert result.exit_code == 0, result.output
    assert __import__("json").loads(result.stdout)["chars"] == int(len("HAMLET: words\r\n" * 300) * 0.1) - 1


def test_explicit_bf16_where_unsupported_is_one_line(tmp_path, write_corpus, monkeypatch):
    from charnn.precision import bf16_runs

    if bf16_runs(torch.device("cpu")):
        pytest.skip("this CPU runs bf16 (natively or emulated)")
    corpus = write_corpus(REPETITIVE)
    monkeypatch.chdir(tmp_path)
    result = cli("train", str(corpus), *[a if a != "fp32" else "bf16" for a in TINY])
    assert result.exit_code == 1 and "--precision fp32" in result.stderr
