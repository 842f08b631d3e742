"""Checkpoints: round trip, atomic writes, refusing code, every way a file can be broken, resolve, prune, lock."""

from __future__ import annotations

import errno
import math
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import pytest
import torch
from conftest import MIXED, locked_by_another_process, tiny_train_config, train_run

from charnn import checkpoint, runs
from charnn.checkpoint import build_model, load, save
from charnn.errors import CharnnError
from charnn.run_lock import RunLock, prune_steps
from charnn.runs import resolve


class PlantsMarker:
    """Unpickling this creates a folder: the stand-in for a checkpoint that runs code when loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def logits_of(model, seed=0):
    ids = torch.randint(0, model.config.vocab_size, (2, 20), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return model(ids)[0]


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if ".tmp" in p.name]


@pytest.fixture
def payload(trained_run):
    return load(trained_run.run_dir / "best.pt")


# --- round trip ------------------------------------------------------------------------------------


def test_latest_rebuilds_the_trained_model_exactly(trained_run):
    model = build_model(load(trained_run.run_dir / "latest.pt"))
    assert not model.training
    trained = trained_run.model.eval()
    assert torch.equal(logits_of(model), logits_of(trained))
    for name, tensor in trained.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name


def test_save_load_build_round_trip(payload, tmp_path):
    original = build_model(payload)
    save(payload, tmp_path / "copy.pt")
    again = load(tmp_path / "copy.pt")
    assert again["vocab"] == payload["vocab"] and again["model_config"] == payload["model_config"]
    assert torch.equal(logits_of(build_model(again)), logits_of(original))
    assert no_temp_files(tmp_path)


def test_save_replaces_atomically(payload, tmp_path):
    path = tmp_path / "x.pt"
    path.write_bytes(b"old")
    save(payload, path)
    assert load(path)["step"] == payload["step"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.pt"]


def test_failed_save_keeps_previous_file(payload, tmp_path, monkeypatch):
    path = tmp_path / "best.pt"
    save(payload, path)
    before = path.read_bytes()
    real_save = torch.save

    def save_then_fail(obj, file, *args, **kwargs):
        real_save(obj, file, *args, **kwargs)
        file.seek(len(before) // 3)
        file.truncate()
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", save_then_fail)
    changed = dict(payload, step=payload["step"] + 1)
    with pytest.raises(CharnnError, match="No space left"):
        save(changed, path)
    assert path.read_bytes() == before
    assert no_temp_files(tmp_path)


class FillsUp:
    """A file whose writes fail with ENOSPC after `room` bytes, like a disk that fills up."""

    def __init__(self, file, room: int):
        self.file, self.room = file, room

    def write(self, data) -> int:
        self.room -= len(data)
        if self.room < 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.file.write(data)

    def __getattr__(self, name):
        return getattr(self.file, name)


def test_disk_full_inside_torch_save(payload, tmp_path, monkeypatch):
    path = tmp_path / "best.pt"
    save(payload, path)
    before = path.read_bytes()
    real_save = torch.save
    monkeypatch.setattr(torch, "save", lambda obj, file, *a, **k: real_save(obj, FillsUp(file, 2000), *a, **k))
    # In the system's words: torch's own were `unexpected pos 1113472 vs 1113360` (a new-user trial).
    with pytest.raises(CharnnError, match="cannot write checkpoint .*best.pt: No space left on device — free disk"):
        save(payload, path)
    assert path.read_bytes() == before
    assert no_temp_files(tmp_path)


@pytest.mark.parametrize("where", [
    "missing-folder",
    pytest.param("parent-is-a-file"),
])
def test_unwritable_destination(payload, tmp_path, where):
    if where == "missing-folder":
        path = tmp_path / "no" / "such" / "best.pt"
    else:
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "best.pt"
    with pytest.raises(CharnnError, match="cannot write checkpoint"):
        save(payload, path)
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["file"])


# --- refusing code ---------------------------------------------------------------------------------


def test_marker_payload_really_runs_code_when_unpickled(tmp_path):
    """Guards the next test: a plain unpickle of the object does create the marker."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(PlantsMarker(marker)))
    assert marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_checkpoint_with_code_is_refused_without_running_it(payload, tmp_path, writer):
    marker = tmp_path / "ran"
    evil = dict(payload, model_config=PlantsMarker(marker))
    path = tmp_path / "evil.pt"
    if writer == "torch.save":
        torch.save(evil, path)
    else:
        with open(path, "wb") as file:
            pickle.dump(evil, file)
    with pytest.raises(CharnnError, match="refused"):
        load(path)
    assert not marker.exists()


# --- broken files ----------------------------------------------------------------------------------


def broken(kind: str, good: Path, tmp_path: Path) -> Path:
    path = tmp_path / f"{kind}.pt"
    data = good.read_bytes()
    if kind == "zero-bytes":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "head-only":
        path.write_bytes(data[:100])
    elif kind == "random-bytes":
        path.write_bytes(os.urandom(4096))
    elif kind == "text":
        path.write_text("this is not a checkpoint\n")
    elif kind == "zip-header-then-garbage":
        path.write_bytes(b"PK\x03\x04" + os.urandom(2000))
    elif kind == "flipped-bytes":
        middle = bytearray(data)
        for i in range(len(middle) // 3, len(middle) // 3 + 64):
            middle[i] ^= 0xFF
        path.write_bytes(bytes(middle))
    return path


@pytest.mark.parametrize("kind", ["zero-bytes", "truncated", "head-only", "random-bytes", "text",
                                  "zip-header-then-garbage"])
def test_broken_files_are_charnn_errors(trained_run, tmp_path, kind):
    path = broken(kind, trained_run.run_dir / "best.pt", tmp_path)
    with pytest.raises(CharnnError) as info:
        load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("content", [b"this is not a checkpoint\n", bytes(range(7, 256)) * 8])
def test_unreadable_files_are_not_called_code(tmp_path, content):
    """A damaged file is refused, but the user is not told it holds code (fixed bytes: a random first
    byte could be a pickle GLOBAL opcode, which is then rightly reported as code)."""
    path = tmp_path / "damaged.pt"
    path.write_bytes(content)
    with pytest.raises(CharnnError, match="is a text file, not a checkpoint|not a readable checkpoint") as info:
        load(path)
    assert "code" not in str(info.value)


def test_flipped_bytes_never_escape_as_other_errors(trained_run, tmp_path):
    path = broken("flipped-bytes", trained_run.run_dir / "best.pt", tmp_path)
    try:
        build_model(load(path))
    except CharnnError:
        pass


def test_missing_and_folder(tmp_path):
    with pytest.raises(CharnnError, match="does not exist"):
        load(tmp_path / "nope.pt")
    with pytest.raises(CharnnError, match="folder"):
        load(tmp_path)


@pytest.mark.parametrize("content", [[1, 2, 3], "a string", torch.zeros(3), {"format": 1, "model": {}}, {}])
def test_not_a_charnn_dict(tmp_path, content):
    path = tmp_path / "other.pt"
    torch.save(content, path)
    with pytest.raises(CharnnError, match="not a charnn checkpoint"):
        load(path)


def test_wrong_format_version(payload, tmp_path):
    path = tmp_path / "future.pt"
    torch.save(dict(payload, format=checkpoint.FORMAT + 1), path)
    with pytest.raises(CharnnError, match="format"):
        load(path)


def test_wrong_shape_weights(payload, tmp_path):
    weights = dict(payload["model"])
    weights["head.weight"] = torch.zeros(3, 3)
    path = tmp_path / "bad-shape.pt"
    torch.save(dict(payload, model=weights), path)
    with pytest.raises(CharnnError, match="weights do not fit"):
        build_model(load(path), path)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_weights_that_are_not_finite_are_refused(payload, value):
    """A new-user trial: a checkpoint of NaN weights sampled 80 line breaks and exited 0."""
    weights = dict(payload["model"])
    weights["head.bias"] = weights["head.bias"].clone()
    weights["head.bias"][1] = value
    with pytest.raises(CharnnError, match="head.bias holds NaN or infinite values"):
        build_model(dict(payload, model=weights), "x.pt")


def test_missing_weight(payload):
    weights = {k: v for k, v in payload["model"].items() if k != "head.bias"}
    with pytest.raises(CharnnError, match="weights do not fit"):
        build_model(dict(payload, model=weights))


def test_config_mismatches(payload):
    with pytest.raises(CharnnError, match="inconsistent"):
        build_model(dict(payload, vocab=payload["vocab"] + "\x00"))
    with pytest.raises(CharnnError, match="does not understand"):
        build_model(dict(payload, model_config=dict(payload["model_config"], attention_heads=4)))
    with pytest.raises(CharnnError):
        build_model(dict(payload, model_config=dict(payload["model_config"], hidden_size=32)))
    with pytest.raises(CharnnError):
        build_model(dict(payload, model_config=dict(payload["model_config"], cell="lstmm")))


def test_half_precision_weights_load(payload):
    halved = dict(payload, model={k: v.to(torch.bfloat16) for k, v in payload["model"].items()})
    model = build_model(halved)
    assert all(p.dtype == torch.float32 for p in model.parameters())


# --- resolve ---------------------------------------------------------------------------------------


def touch_run(folder: Path, names=("best.pt", "latest.pt"), mtime: float | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")
        if mtime is not None:
            os.utime(folder / name, (mtime, mtime))


def test_resolve_file_and_folder(tmp_path):
    touch_run(tmp_path / "run")
    assert resolve(tmp_path / "run" / "latest.pt") == tmp_path / "run" / "latest.pt"
    assert resolve(str(tmp_path / "run")) == tmp_path / "run" / "best.pt"
    touch_run(tmp_path / "only-latest", names=("latest.pt",))
    assert resolve(tmp_path / "only-latest") == tmp_path / "only-latest" / "latest.pt"
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "step-00000010.pt").write_bytes(b"x")
    with pytest.raises(CharnnError, match="no best.pt or latest.pt"):
        resolve(tmp_path / "empty")


def test_resolve_none_picks_newest_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    touch_run(tmp_path / "checkpoints" / "old", mtime=1_000_000)
    touch_run(tmp_path / "checkpoints" / "new", mtime=3_000_000)
    touch_run(tmp_path / "checkpoints" / "middle", mtime=2_000_000)
    touch_run(tmp_path / "checkpoints" / "bundled", mtime=9_000_000)  # never a user run
    assert resolve(None) == Path("checkpoints") / "new" / "best.pt"
    touch_run(tmp_path / "checkpoints" / "newest", names=("latest.pt",), mtime=4_000_000)
    assert resolve(None) == Path("checkpoints") / "newest" / "latest.pt"


def test_resolve_none_without_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runs, "BUNDLED", tmp_path / "bundled" / "best.pt")
    with pytest.raises(CharnnError, match="no checkpoint found"):
        resolve(None)
    touch_run(tmp_path / "bundled", names=("best.pt",))
    assert resolve(None) == tmp_path / "bundled" / "best.pt"


# --- prune_steps -----------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0, 1, 3, 10])
def test_prune_keeps_newest(tmp_path, keep):
    steps = [5, 10, 99, 100, 1000, 25000]
    for step in steps:
        (tmp_path / f"step-{step:08d}.pt").write_bytes(b"x")
    touch_run(tmp_path)
    prune_steps(tmp_path, keep)
    left = sorted(p.name for p in tmp_path.glob("step-*.pt"))
    assert left == [f"step-{s:08d}.pt" for s in steps[len(steps) - min(keep, len(steps)):]]
    assert (tmp_path / "best.pt").exists() and (tmp_path / "latest.pt").exists()


# --- RunLock ---------------------------------------------------------------------------------------


def test_run_lock_is_exclusive_and_released(tmp_path):
    with RunLock(tmp_path):
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())
        with pytest.raises(CharnnError, match="another charnn process"):
            with RunLock(tmp_path):
                pass
        other = tmp_path / "other"
        other.mkdir()
        with RunLock(other):  # another folder is independent
            pass
    with RunLock(tmp_path):
        pass
    with RunLock(tmp_path):
        with pytest.raises(CharnnError):
            RunLock(tmp_path).__enter__()


def test_run_lock_released_on_error(tmp_path):
    with pytest.raises(ValueError):
        with RunLock(tmp_path):
            raise ValueError("boom")
    with RunLock(tmp_path):
        pass


def test_lock_held_by_another_process(tmp_path):
    with locked_by_another_process(tmp_path):
        with pytest.raises(CharnnError):
            with RunLock(tmp_path):
                pass
        with pytest.raises(CharnnError, match="another charnn process"):
            RunLock(tmp_path).__enter__()
        assert not RunLock(tmp_path).take()
    with RunLock(tmp_path):  # the OS dropped the lock with the process
        pass


def test_copy_of_run_folder_loads(trained_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(trained_run.run_dir, copy)
    assert resolve(copy) == copy / "best.pt"
    assert build_model(load(resolve(copy))).config.vocab_size == len(trained_run.corpus.vocab)


def as_if_saved_on_cuda(path: Path) -> None:
    """Rewrite a CPU checkpoint so every storage says it lives on cuda:0, as a GPU-trained file does.

    torch.save records each storage's device as a string in data.pkl (BINUNICODE, protocol 2);
    swapping 'cpu' for 'cuda:0' there gives the file a GPU run writes, without needing a GPU.
    """
    cpu, cuda = b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0"
    with zipfile.ZipFile(path) as source:
        entries = [(info, source.read(info)) for info in source.infolist()]
    assert any(info.filename.endswith("data.pkl") and cpu in data for info, data in entries)
    rewritten = path.with_suffix(".rewritten")
    with zipfile.ZipFile(rewritten, "w", zipfile.ZIP_STORED) as target:
        for info, data in entries:
            target.writestr(info, data.replace(cpu, cuda) if info.filename.endswith("data.pkl") else data)
    os.replace(rewritten, path)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks resuming without CUDA")
def test_run_saved_on_cuda_resumes_on_cpu(tmp_path, write_corpus):
    """A GPU run's latest.pt (optimizer moments and RNG states on cuda:0, plus the CUDA generator's state)
    goes on training on a machine without CUDA."""
    corpus = write_corpus(MIXED[:700], "short.txt")
    run = tmp_path / "run"
    train_run(run, corpus, config=tiny_train_config(steps=10, eval_every=5))
    latest = load(run / "latest.pt")
    latest["rng"]["cuda"] = torch.get_rng_state()  # a GPU run saves its generator's state too (a byte tensor)
    save(latest, run / "latest.pt")
    as_if_saved_on_cuda(run / "latest.pt")
    with pytest.raises(RuntimeError, match="CUDA"):  # the file really asks for a GPU
        torch.load(run / "latest.pt", weights_only=True)
    resumed = train_run(run, corpus, config=tiny_train_config(steps=20, eval_every=5), resume=True)
    assert resumed.events[0].start_step == 10 and resumed.events[-1].step == 20
    assert math.isfinite(resumed.events[-1].best_val_loss)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks loading without CUDA")
def test_checkpoint_saved_on_cuda_loads_on_cpu(payload, tmp_path):
    path = tmp_path / "gpu.pt"
    save(payload, path)
    as_if_saved_on_cuda(path)
    with pytest.raises(RuntimeError, match="CUDA"):  # the file really asks for a GPU...
        torch.load(path, weights_only=True)
    loaded = load(path)  # ...and charnn's loader maps it to the CPU
    model = build_model(loaded)
    assert torch.equal(logits_of(model), logits_of(build_model(payload)))
