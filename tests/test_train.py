"""Training: files and events of a run, learning, exact resume, refusing bad resumes, stopping."""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace

import pytest
import torch
from conftest import MIXED, REPETITIVE, tiny_model_config, tiny_train_config, train_run

import charnn.train as train_module
from charnn import optimization
from charnn.checkpoint import load
from charnn.data import load_corpus
from charnn.errors import CharnnError
from charnn.evaluation import LN2
from charnn.events import Evaluated, Evaluating, Finished, Saved, Started, Step
from charnn.model import CharRNN
from charnn.optimization import learning_rate
from charnn.precision import bf16_runs
from charnn.run_lock import RunLock

SHORT = MIXED[:700]  # ~8 steps per epoch at batch 4 × 16: 20 steps cross two epoch boundaries


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs"


def assert_same_nested(a, b, where="") -> None:
    """Equal structure, equal plain values, bit-identical tensors."""
    if torch.is_tensor(a):
        assert torch.is_tensor(b) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_same_nested(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_nested(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


# --- a finished run --------------------------------------------------------------------------------


def test_run_folder_contents(trained_run):
    run = trained_run.run_dir
    names = sorted(p.name for p in run.iterdir())
    assert names == [".lock", "best.pt", "latest.pt", "metrics.jsonl", "step-00000040.pt", "step-00000060.pt"]
    latest = load(run / "latest.pt")
    assert latest["step"] == 60
    assert {"optimizer", "rng", "carry_state", "train_config"} <= latest.keys()
    assert latest["vocab"] == trained_run.corpus.vocab.chars
    assert len(latest["carry_state"]) == 2  # LSTM (h, c)
    assert load(run / "step-00000040.pt")["step"] == 40
    assert "optimizer" not in load(run / "step-00000060.pt")  # weights only


def test_metrics_lines(trained_run):
    lines = (trained_run.run_dir / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["step"] for r in records] == [20, 40, 60]
    best = math.inf
    for r in records:
        assert math.isfinite(r["val_loss"]) and r["val_loss"] > 0
        assert r["val_bpc"] == pytest.approx(r["val_loss"] / LN2)
        best = min(best, r["val_loss"])
        assert r["best_val_loss"] == best
        assert r["chars_seen"] == r["step"] * 4 * 16
    # The training loss since the previous eval: here two windows of 10 steps each (a TA's trial could not plot it).
    windows = {event.step: event.loss for event in trained_run.events if isinstance(event, Step)}
    for r in records:
        assert r["train_loss"] == pytest.approx((windows[r["step"] - 10] + windows[r["step"]]) / 2)
    # And each eval's event carries the same number, which its log line shows (a trial's line gave the last window's).
    evals = [event for event in trained_run.events if isinstance(event, Evaluated)]
    assert [event.train_loss for event in evals] == [r["train_loss"] for r in records]
    best_pt = load(trained_run.run_dir / "best.pt")
    assert best_pt["step"] == min(records, key=lambda r: r["val_loss"])["step"]
    assert best_pt["metrics"]["val_loss"] == best


def test_events_in_order(trained_run):
    events = trained_run.events
    assert isinstance(events[0], Started) and isinstance(events[-1], Finished)
    assert sum(isinstance(e, Started) for e in events) == 1 and sum(isinstance(e, Finished) for e in events) == 1
    started, finished = events[0], events[-1]
    assert started.start_step == 0 and started.num_parameters == trained_run.model.num_parameters()
    assert started.train_chars + started.val_chars == len(trained_run.corpus.ids)
    assert finished.reason == "steps" and finished.step == 60 and finished.run_dir == trained_run.run_dir
    steps = [e.step for e in events if isinstance(e, Step)]
    assert steps == [10, 20, 30, 40, 50, 60]
    assert all(0 <= e.progress <= 1 and e.lr > 0 for e in events if isinstance(e, Step))
    evals = [e for e in events if isinstance(e, Evaluated)]
    assert [e.step for e in evals] == [20, 40, 60]
    assert finished.best_val_loss == min(e.val_loss for e in evals)
    for e in evals:
        assert len(e.sample) == 20 and set(e.sample) <= set(trained_run.corpus.vocab.chars)
    # Each eval's checkpoint is saved before the eval is reported; event steps never go backwards.
    order = [(type(e).__name__, getattr(e, "step", None)) for e in events]
    for i, (kind, _) in enumerate(order):
        if kind == "Evaluated":
            assert order[i - 1][0] == "Saved"
    seen = [step for _, step in order if step is not None]
    assert seen == sorted(seen)
    # Every file an eval writes is announced: its step file, best.pt where it is the best, then latest.pt.
    saved = [e.path.name for e in events if isinstance(e, Saved)]
    best = [e.step for e in evals if e.is_best]
    assert saved[:2] == ["step-00000020.pt", "best.pt"] and saved.count("best.pt") == len(best)
    assert [name for name in saved if name.startswith("step-")] == [f"step-{e.step:08d}.pt" for e in evals]
    assert all(isinstance(e, Started | Step | Evaluating | Evaluated | Saved | Finished) for e in events)
    # Each eval is announced before it runs (the view says "evaluating…"), right after the step it follows.
    assert [e.step for e in events if isinstance(e, Evaluating)] == [20, 40, 60]
    for i, (kind, step) in enumerate(order):
        if kind == "Evaluating":
            assert order[i - 1] == ("Step", step) and ("Evaluated", step) in order[i:]


def test_loss_decreases(trained_run):
    losses = [e.loss for e in trained_run.events if isinstance(e, Step)]
    assert losses[-1] < losses[0] - 0.5
    vals = [e.val_loss for e in trained_run.events if isinstance(e, Evaluated)]
    assert vals[-1] < vals[0]
    assert vals[-1] < math.log(len(trained_run.corpus.vocab)) - 0.5  # better than uniform guessing


# --- determinism and exact resume -------------------------------------------------------------------


def resume_configs(**overrides):
    return tiny_train_config(**(dict(eval_every=5, log_every=2, warmup_steps=3, preview_chars=8) | overrides))


@pytest.fixture
def short_corpus(write_corpus):
    return write_corpus(SHORT, "short.txt")


def test_same_seed_same_weights_and_caller_rng_untouched(tmp_path, short_corpus):
    torch.manual_seed(1234)
    expected = torch.rand(4)
    torch.manual_seed(1234)
    config = resume_configs(steps=6)
    a = train_run(tmp_path / "a", short_corpus, config=config)
    assert torch.equal(torch.rand(4), expected)  # training used its own scoped RNG
    b = train_run(tmp_path / "b", short_corpus, config=config)
    assert_same_weights(a.model.state_dict(), b.model.state_dict())
    c = train_run(tmp_path / "c", short_corpus, config=resume_configs(steps=6, seed=8))
    assert not torch.equal(a.model.head.weight, c.model.head.weight)


@pytest.mark.parametrize("cell, dropout, weight_dropout", [("lstm", 0.0, 0.0), ("lstm", 0.3, 0.0), ("gru", 0.3, 0.0),
                                                           ("lstm", 0.0, 0.4), ("lstm", 0.2, 0.4)])
def test_resume_after_target_is_bit_identical(tmp_path, short_corpus, cell, dropout, weight_dropout):
    """Train 10 steps, resume to 20 == train 20 straight (constant lr after warmup, so targets don't matter)."""
    model_config = tiny_model_config(len(load_corpus(short_corpus).vocab), cell=cell, dropout=dropout,
                                     weight_dropout=weight_dropout)
    straight = train_run(tmp_path / "straight", short_corpus, model_config,
                         resume_configs(steps=20, min_lr_fraction=1.0))
    train_run(tmp_path / "resumed", short_corpus, model_config, resume_configs(steps=10, min_lr_fraction=1.0))
    first_leg = load(tmp_path / "resumed" / "latest.pt")["model"]
    resumed = train_run(tmp_path / "resumed", short_corpus, model_config,
                        resume_configs(steps=20, min_lr_fraction=1.0), resume=True)
    assert resumed.events[0].start_step == 10 and resumed.events[-1].step == 20
    assert_same_weights(resumed.model.state_dict(), straight.model.state_dict())
    assert not torch.equal(first_leg["head.weight"], straight.model.state_dict()["head.weight"])
    a, b = load(tmp_path / "straight" / "latest.pt"), load(tmp_path / "resumed" / "latest.pt")
    for key in ("model", "optimizer", "rng", "carry_state"):
        assert_same_nested(a[key], b[key], key)
    metrics = [json.loads(line)["step"] for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert metrics == [5, 10, 15, 20]


class StopAfter:
    def __init__(self, steps: int):
        self.calls, self.steps = 0, steps

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls > self.steps


def interrupted_then_resumed(tmp_path, corpus, model_config, stop_at=7, steps=20, precision="fp32"):
    config = resume_configs(steps=steps, precision=precision)
    run = train_run(tmp_path / "resumed", corpus, model_config, config, should_stop=StopAfter(stop_at))
    assert run.events[-1].reason == "interrupted" and run.events[-1].step == stop_at
    return train_run(tmp_path / "resumed", corpus, model_config, config, resume=True)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_interrupt_mid_window_then_resume_is_bit_identical(tmp_path, short_corpus, precision):
    """Stopped between evals (step 7, cosine schedule, dropout, mid-epoch carried state): still exact.
    In bf16 too, where the carried state is bf16 and is restored as fp32."""
    if precision == "bf16" and not bf16_runs(torch.device("cpu")):
        pytest.skip("bf16 does not run on this CPU")
    model_config = tiny_model_config(len(load_corpus(short_corpus).vocab), dropout=0.25)
    straight = train_run(tmp_path / "straight", short_corpus, model_config,
                         resume_configs(steps=20, precision=precision))
    resumed = interrupted_then_resumed(tmp_path, short_corpus, model_config, precision=precision)
    assert_same_weights(resumed.model.state_dict(), straight.model.state_dict())
    assert resumed.events[-1].best_val_loss == straight.events[-1].best_val_loss


def test_the_first_windows_speed_leaves_out_the_start_up(tmp_path, short_corpus, monkeypatch):
    """A trial: after --resume an eval's line said 49,098 chars/s where the panel then said 80,369: the first window
    timed the call's first step, which pays for start-up. Here that step takes 0.5 s more."""
    import time as clock

    real, calls = train_module.detach_state, []

    def slow_first(state):
        calls.append(1)
        if len(calls) == 1:
            clock.sleep(0.5)
        return real(state)

    monkeypatch.setattr(train_module, "detach_state", slow_first)
    model_config = tiny_model_config(len(load_corpus(short_corpus).vocab))
    run = train_run(tmp_path / "run", short_corpus, model_config, resume_configs(steps=8, log_every=4, eval_every=100))
    speeds = [event.chars_per_second for event in run.events if isinstance(event, Step)]
    assert len(speeds) >= 2 and speeds[0] > 0.3 * speeds[1], speeds  # 0.5 s in 4 steps would make it ~0.02×


def test_a_resumed_run_starts_with_its_last_eval_before_the_stop(tmp_path, short_corpus):
    """After --resume the panel showed `val loss –` until the first eval (a trial): Started carries the last eval
    kept in metrics.jsonl (step 5 of a run stopped at 7; a later one, dropped on resume, would not count)."""
    model_config = tiny_model_config(len(load_corpus(short_corpus).vocab))
    first = train_run(tmp_path / "resumed", short_corpus, model_config, resume_configs(steps=20),
                      should_stop=StopAfter(7))
    at_five = [event for event in first.events if isinstance(event, Evaluated) and event.step == 5]
    assert math.isnan(first.events[0].last_val_loss)  # a new run has none
    with open(tmp_path / "resumed" / "metrics.jsonl", "a") as metrics:  # as if an eval at 10 was written, then lost
        metrics.write('{"step": 10, "val_loss": 9.0}\n')
    resumed = train_run(tmp_path / "resumed", short_corpus, model_config, resume_configs(steps=20), resume=True)
    assert resumed.events[0].last_val_loss == pytest.approx(at_five[0].val_loss)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_run_with_both_dropouts_resumes_exactly_and_saves_cpu_weights(tmp_path, short_corpus, precision):
    """The GPU path: per-layer cuDNN calls with masked weights, its RNG state saved and restored, and
    weights and carried state saved as CPU tensors (the optimizer's moments may stay on the GPU:
    checkpoint.load maps every tensor to the CPU)."""
    cuda = torch.device("cuda")
    if precision == "bf16" and not bf16_runs(cuda):
        pytest.skip("bf16 does not run on this GPU")
    model_config = tiny_model_config(len(load_corpus(short_corpus).vocab), dropout=0.2, weight_dropout=0.4)
    config = resume_configs(steps=20, precision=precision)
    straight = train_run(tmp_path / "straight", short_corpus, model_config, config, device=cuda)
    train_run(tmp_path / "resumed", short_corpus, model_config, config, device=cuda, should_stop=StopAfter(7))
    resumed = train_run(tmp_path / "resumed", short_corpus, model_config, config, device=cuda, resume=True)
    assert resumed.events[0].start_step == 7 and resumed.events[-1].step == 20
    assert next(resumed.model.parameters()).device.type == "cuda"
    assert_same_weights(resumed.model.state_dict(), straight.model.state_dict())
    assert math.isfinite(resumed.events[-1].best_val_loss)
    saved = torch.load(tmp_path / "resumed" / "latest.pt", weights_only=True)  # each tensor where it was saved
    tensors = [*saved["model"].values(), *saved["carry_state"]]
    assert all(tensor.device.type == "cpu" for tensor in tensors)


def test_resume_exactness_depends_on_restored_rng(tmp_path, short_corpus, monkeypatch):
    """Guards the test above: skip the RNG restore (dropout on) and the weights come out different."""
    model_config = tiny_model_config(len(load_corpus(short_corpus).vocab), dropout=0.25)
    straight = train_run(tmp_path / "straight", short_corpus, model_config, resume_configs(steps=12))
    real = torch.set_rng_state
    calls = []

    def skip_first(state):
        calls.append(1)
        if len(calls) > 1:  # the first call is train's restore; later ones are fork_rng's
            real(state)

    train_run(tmp_path / "resumed", short_corpus, model_config, resume_configs(steps=12),
              should_stop=StopAfter(7))
    monkeypatch.setattr(torch, "set_rng_state", skip_first)
    resumed = train_run(tmp_path / "resumed", short_corpus, model_config, resume_configs(steps=12), resume=True)
    assert calls
    assert not torch.equal(resumed.model.head.weight, straight.model.head.weight)


def test_resume_exactness_depends_on_carried_state(tmp_path, short_corpus, monkeypatch):
    """Guards it too: drop the saved recurrent state at resume and the weights come out different."""
    model_config = tiny_model_config(len(load_corpus(short_corpus).vocab))
    straight = train_run(tmp_path / "straight", short_corpus, model_config, resume_configs(steps=12))
    train_run(tmp_path / "resumed", short_corpus, model_config, resume_configs(steps=12), should_stop=StopAfter(7))
    monkeypatch.setattr(train_module, "state_from_list", lambda tensors, cell, device: None)
    resumed = train_run(tmp_path / "resumed", short_corpus, model_config, resume_configs(steps=12), resume=True)
    assert not torch.equal(resumed.model.head.weight, straight.model.head.weight)


# --- refused resumes -------------------------------------------------------------------------------


@pytest.fixture
def stopped_run(tmp_path, short_corpus):
    model_config = tiny_model_config(len(load_corpus(short_corpus).vocab))
    train_run(tmp_path / "run", short_corpus, model_config, resume_configs(steps=6))
    return tmp_path / "run", model_config


def test_a_run_trained_with_byte_order_marks_is_told_why_it_cannot_resume(short_corpus, tmp_path):
    """A review: a run trained before BOMs were dropped inside a file was told `missing: U+FEFF … resume with the
    same corpus`, on the same corpus."""
    from charnn.resuming import check_resumable

    corpus = load_corpus(short_corpus)
    payload = {"vocab": "".join(sorted(corpus.vocab.chars + "\ufeff")), "corpus": short_corpus.name}
    with pytest.raises(CharnnError, match=r"missing: U\+FEFF.*; charnn now drops the byte-order marks \(U\+FEFF\) "
                                          r"inside a file, which this run learned\)"):
        check_resumable(payload, corpus, tiny_model_config(len(corpus.vocab)), resume_configs(steps=12), tmp_path)


def test_resume_with_other_vocab(stopped_run, write_corpus):
    run_dir, _ = stopped_run
    other = write_corpus(SHORT.replace("R", "Q"), "other.txt")
    with pytest.raises(CharnnError, match=r"cannot resume .*run: this corpus has a different set of characters"):
        train_run(run_dir, other, config=resume_configs(steps=12), resume=True)


@pytest.mark.parametrize("change, named", [(dict(hidden_size=32), "--hidden-size 16 → 32"),
                                           (dict(num_layers=1), "--layers 2 → 1"),
                                           (dict(cell="gru"), "--cell lstm → gru")])
def test_resume_with_other_model(stopped_run, short_corpus, change, named):
    run_dir, model_config = stopped_run
    other = tiny_model_config(model_config.vocab_size, **change)
    with pytest.raises(CharnnError, match="settings differ") as info:
        train_run(run_dir, short_corpus, other, resume_configs(steps=12), resume=True)
    assert named in str(info.value)


@pytest.mark.parametrize("change", [dict(seq_len=8), dict(batch_size=2), dict(seed=1)])
def test_resume_with_other_data_order(stopped_run, short_corpus, change):
    run_dir, model_config = stopped_run
    key = "--" + next(iter(change)).replace("_", "-")
    with pytest.raises(CharnnError, match=key):
        train_run(run_dir, short_corpus, model_config, resume_configs(steps=12, **change), resume=True)


def test_resume_names_every_setting_that_differs(stopped_run, short_corpus):
    """A new-user trial: `--resume --layers 3 --seq-len 32` named the layers; once they were dropped, the seq-len."""
    run_dir, model_config = stopped_run
    other = tiny_model_config(model_config.vocab_size, num_layers=1)
    with pytest.raises(CharnnError, match="settings differ") as info:
        train_run(run_dir, short_corpus, other, resume_configs(steps=12, seq_len=8), resume=True)
    assert "--layers 2 → 1" in str(info.value) and "--seq-len 16 → 8" in str(info.value)


def test_resume_without_latest(tmp_path, short_corpus):
    with pytest.raises(CharnnError, match="nothing to resume"):
        train_run(tmp_path / "fresh", short_corpus, config=resume_configs(steps=4), resume=True)


def test_refused_resume_leaves_run_intact(stopped_run, short_corpus):
    run_dir, model_config = stopped_run
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    with pytest.raises(CharnnError):
        train_run(run_dir, short_corpus, tiny_model_config(model_config.vocab_size, hidden_size=32),
                  resume_configs(steps=12), resume=True)
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


# --- stopping --------------------------------------------------------------------------------------


def test_should_stop_saves_latest(tmp_path, short_corpus):
    run = train_run(tmp_path / "run", short_corpus, config=resume_configs(steps=50), should_stop=StopAfter(3))
    finished = run.events[-1]
    assert isinstance(finished, Finished) and finished.reason == "interrupted" and finished.step == 3
    assert isinstance(run.events[-2], Saved) and run.events[-2].path == tmp_path / "run" / "latest.pt"
    latest = load(tmp_path / "run" / "latest.pt")
    assert latest["step"] == 3 and "optimizer" in latest
    assert not any(isinstance(e, Evaluated) for e in run.events)  # stopping does not wait for an eval
    # And it resumes from there (best_val_loss is still infinite: no eval happened yet).
    resumed = train_run(tmp_path / "run", short_corpus, config=resume_configs(steps=5), resume=True)
    assert resumed.events[0].start_step == 3 and resumed.events[-1].reason == "steps"


def test_a_stop_asked_for_as_the_target_is_reached_stops_without_the_final_eval(tmp_path, short_corpus):
    """A trial on a busy CPU pressed Ctrl-C during a step after which the budget was spent too: the final eval ran
    (17 s) and the run was recorded as finished by time. Asked for, the stop comes first."""
    run = train_run(tmp_path / "run", short_corpus, config=resume_configs(steps=3), should_stop=StopAfter(3))
    finished = run.events[-1]
    assert finished.reason == "interrupted" and finished.step == 3
    assert not any(isinstance(e, Evaluated) for e in run.events)
    assert load(tmp_path / "run" / "latest.pt")["metrics"]["stopped_by"] is None  # a --resume finishes it
    resumed = train_run(tmp_path / "run", short_corpus, config=resume_configs(steps=3), resume=True)
    assert resumed.events[-1].reason == "steps" and any(isinstance(e, Evaluated) for e in resumed.events)
    # Stopped after the last step's own eval: the run is through (a resume would evaluate it again).
    evaluated = train_run(tmp_path / "evaluated", short_corpus, config=resume_configs(steps=10, eval_every=5),
                          should_stop=StopAfter(10))
    assert evaluated.events[-1].reason == "steps"
    assert [e.step for e in evaluated.events if isinstance(e, Evaluated)] == [5, 10]
    assert load(tmp_path / "evaluated" / "latest.pt")["metrics"]["stopped_by"] == "steps"


def test_keep_0_writes_and_announces_no_step_file(tmp_path, short_corpus):
    """A review: with --keep 0 each step file was written, removed at once, and announced as saved."""
    run = train_run(tmp_path / "run", short_corpus, config=resume_configs(steps=20, keep_checkpoints=0))
    saved = [event.path.name for event in run.events if isinstance(event, Saved)]
    assert "best.pt" in saved and not any(name.startswith("step-") for name in saved)
    assert not list((tmp_path / "run").glob("step-*.pt"))


def test_a_stop_right_after_an_eval_keeps_its_val_loss_in_latest(tmp_path, short_corpus):
    """A new-user trial (the library): stopped by `should_stop` just after the eval at step 10, latest.pt said val_loss
    NaN, written over the eval's own save of that step."""
    run = train_run(tmp_path / "run", short_corpus, config=resume_configs(steps=50), should_stop=StopAfter(10))
    evaluated = [event for event in run.events if isinstance(event, Evaluated)]
    assert run.events[-1].reason == "interrupted" and run.events[-1].step == 10 and evaluated[-1].step == 10
    latest = load(tmp_path / "run" / "latest.pt")
    assert latest["step"] == 10 and latest["metrics"]["val_loss"] == evaluated[-1].val_loss
    assert not run.model.training  # returned in eval mode, as it was last left


def test_library_calls_take_a_device_name_and_refuse_a_vocab_size_that_is_not_the_corpus(tmp_path, short_corpus):
    """A new-user trial: `train(..., device="cpu")` failed with an AttributeError and left an empty folder; a model
    config with a smaller vocab_size, with an IndexError deep in the embedding."""
    from charnn.train import train

    corpus = load_corpus(short_corpus)
    model = train(corpus, tmp_path / "run", tiny_model_config(len(corpus.vocab)), tiny_train_config(steps=3), "cpu")
    assert (tmp_path / "run" / "latest.pt").exists() and not model.training
    with pytest.raises(CharnnError, match=f"vocab_size is 5, but the corpus has {len(corpus.vocab)} distinct"):
        train(corpus, tmp_path / "other", tiny_model_config(5), tiny_train_config(steps=3), "cpu")
    assert not (tmp_path / "other").exists()


def test_a_stop_before_the_first_step_writes_nothing(tmp_path, short_corpus):
    """A new run stopped before it trained a step leaves no folder (a step-0 latest.pt made it a run that a new one
    could not use); a resumed one keeps its files as they were."""
    run = train_run(tmp_path / "new", short_corpus, config=resume_configs(steps=50), should_stop=lambda: True)
    assert run.events[-1].reason == "interrupted" and run.events[-1].step == 0
    assert not any(isinstance(e, Saved) for e in run.events) and not (tmp_path / "new").exists()
    (tmp_path / "kept").mkdir()  # a folder the user made: it stays, empty
    train_run(tmp_path / "kept" / "deep" / "run", short_corpus, config=resume_configs(steps=50),
              should_stop=lambda: True)
    assert list((tmp_path / "kept").iterdir()) == []  # the folders the run made above its own are gone too

    def second_ctrl_c() -> bool:
        raise KeyboardInterrupt  # as the second Ctrl-C raises it from the signal handler, at any point

    with pytest.raises(KeyboardInterrupt):
        train_run(tmp_path / "quit", short_corpus, config=resume_configs(steps=50), should_stop=second_ctrl_c)
    assert not (tmp_path / "quit").exists()
    train_run(tmp_path / "run", short_corpus, config=resume_configs(steps=50), should_stop=StopAfter(3))
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.name != ".lock"}
    resumed = train_run(tmp_path / "run", short_corpus, config=resume_configs(steps=50), resume=True,
                        should_stop=lambda: True)
    assert resumed.events[-1].step == 3 and not any(isinstance(e, Saved) for e in resumed.events)
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.name != ".lock"} == before


def test_time_budget_stops_with_reason_time(tmp_path, short_corpus):
    config = tiny_train_config(steps=None, time_budget=1.0, eval_every=10_000, log_every=1, preview_chars=0)
    run = train_run(tmp_path / "run", short_corpus, config=config)
    finished = run.events[-1]
    assert finished.reason == "time"
    assert finished.step < 10_000
    assert load(tmp_path / "run" / "latest.pt")["step"] == finished.step
    assert any(isinstance(e, Evaluated) and e.step == finished.step for e in run.events)  # final eval done


@pytest.mark.parametrize("eval_every", [10_000, 1])  # the final save is an eval, or rewrites the last eval's
def test_a_run_through_its_time_is_not_run_again_by_resume(tmp_path, short_corpus, eval_every):
    """A time run stops a little before its budget ends (the final eval and save fit inside it). A --resume
    with the same budget must say the run is done, not run its final eval again; a longer one goes on."""
    config = tiny_train_config(steps=None, time_budget=1.0, eval_every=eval_every, log_every=1, preview_chars=0)
    run = train_run(tmp_path / "run", short_corpus, config=config)
    latest = load(tmp_path / "run" / "latest.pt")
    assert run.events[-1].reason == "time" and latest["metrics"]["stopped_by"] == "time"
    lines = (tmp_path / "run" / "metrics.jsonl").read_text()
    with pytest.raises(CharnnError, match=r"at its target, --time 1s: it (has trained|stopped for it at) .* a larger"):
        train_run(tmp_path / "run", short_corpus, config=config, resume=True)
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == lines
    longer = train_run(tmp_path / "run", short_corpus, config=replace(config, time_budget=1.5), resume=True)
    assert longer.events[-1].reason == "time" and longer.events[-1].step > run.events[-1].step


def test_a_budget_spent_before_the_first_step_writes_nothing(tmp_path, short_corpus):
    """A new-user trial: `--time 1s` left a step-0 run, so the same command with `--time 30s` was refused (the folder
    held a run); and a resume with seconds left of its --time trained nothing, yet wrote its last step's metrics
    record again and moved its clock on."""
    import time

    config = tiny_train_config(steps=None, time_budget=1.0, eval_every=10_000, log_every=1, preview_chars=0)
    new = train_run(tmp_path / "new", short_corpus, config=config, started_at=time.monotonic() - 5)
    assert new.events[-1].reason == "time" and new.events[-1].step == 0
    assert not (tmp_path / "new").exists() and not any(isinstance(e, (Saved, Evaluated)) for e in new.events)
    train_run(tmp_path / "run", short_corpus, config=resume_configs(steps=5))
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.name != ".lock"}
    spent = load(tmp_path / "run" / "latest.pt")["metrics"]["elapsed"]
    resumed = train_run(tmp_path / "run", short_corpus, config=replace(config, time_budget=spent + 0.5), resume=True,
                        started_at=time.monotonic() - 1)
    assert resumed.events[-1].reason == "time" and resumed.events[-1].step == 5
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.name != ".lock"} == before


def test_a_resume_with_no_time_left_runs_the_final_eval_its_stop_skipped(tmp_path, short_corpus):
    """A trial stopped a --time run a second before its end (no final eval), and every --resume spent what was left
    starting up: "give a longer --time". The missing eval now runs, and the run is through."""
    import time

    config = tiny_train_config(steps=None, time_budget=600.0, eval_every=4, log_every=1, preview_chars=0)
    train_run(tmp_path / "run", short_corpus, config=config, should_stop=StopAfter(6))  # evals at 4; stopped at 6
    spent = load(tmp_path / "run" / "latest.pt")["metrics"]["elapsed"]
    resumed = train_run(tmp_path / "run", short_corpus, config=replace(config, time_budget=spent + 0.5),
                        resume=True, started_at=time.monotonic() - 1)
    finished = resumed.events[-1]
    assert finished.reason == "time" and finished.step == 6 and finished.steps_trained == 0 and finished.final_eval_only
    assert [e.step for e in resumed.events if isinstance(e, Evaluated)] == [6]
    latest = load(tmp_path / "run" / "latest.pt")
    assert latest["step"] == 6 and latest["metrics"]["stopped_by"] == "time"
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [4, 6]
    again = train_run(tmp_path / "run", short_corpus, config=replace(config, time_budget=spent + 600), resume=True,
                      should_stop=lambda: True)  # a longer budget goes on; nothing written when stopped at once
    assert again.events[-1].reason == "interrupted" and not again.events[-1].final_eval_only


@pytest.fixture
def optimizer_imported():
    """torch's optimizers import torch._dynamo at their first use: 1.8–2.2 s on a slow CPU, which a run of a few
    seconds alone in its process spent on its first step (these tests passed in the whole suite, failed alone)."""
    import torch._dynamo  # noqa: F401


def test_a_time_run_evals_by_the_clock_when_its_steps_come_too_slowly(tmp_path, short_corpus, optimizer_imported):
    config = tiny_train_config(steps=None, time_budget=2.5, eval_every=1_000_000, eval_seconds=0.5, log_every=10_000,
                               preview_chars=0)
    run = train_run(tmp_path / "run", short_corpus, config=config)
    evals = [e for e in run.events if isinstance(e, Evaluated)]
    assert run.events[-1].reason == "time" and len(evals) >= 3  # by the clock, and the final one
    # Each eval closes the window of training steps before it: checked for divergence, and timed without it.
    logged = {e.step for e in run.events if isinstance(e, Step)}
    assert all(e.step in logged for e in evals[:-1])  # the last is the final one, after the loop
    # By the clock instead of by steps, not as well: a step count that comes due often adds no evals.
    often = train_run(tmp_path / "often", short_corpus, config=replace(config, eval_every=5))
    assert len([e for e in often.events if isinstance(e, Evaluated)]) <= 2.5 / 0.5 + 1
    by_steps = train_run(tmp_path / "steps", short_corpus, config=replace(config, eval_seconds=None))
    assert [e.step for e in by_steps.events if isinstance(e, Evaluated)] == [by_steps.events[-1].step]


def test_one_slow_eval_does_not_put_the_next_ones_off(tmp_path, short_corpus, monkeypatch, optimizer_imported):
    """Evals are never closer than 20 evals' time, so that they take ≤ 5% of a run: timed by the last eval, one
    slowed by another program (7.4 s in a new-user trial) put the next 148 s off, the rest of a 3-minute run. The
    fastest eval sets the gap now."""
    import charnn.recorder

    real, calls = charnn.recorder.evaluate, []

    def evaluate(*args, **kwargs):
        calls.append(time.monotonic())
        if len(calls) == 2:
            time.sleep(0.3)  # 20 × 0.3 s: past the end of the run
        return real(*args, **kwargs)

    monkeypatch.setattr(charnn.recorder, "evaluate", evaluate)
    config = tiny_train_config(steps=None, time_budget=3.0, eval_every=1_000_000, eval_seconds=0.3, log_every=10_000,
                               preview_chars=0)
    train_run(tmp_path / "run", short_corpus, config=config)
    assert len(calls) >= 4, calls  # two before the slow one's gap would have ended the run, and the final one


def test_the_first_eval_by_the_clock_is_timed_from_trainings_start(tmp_path, short_corpus, optimizer_imported):
    """A 40-second run on a slow machine evaluated at step 1: its start-up (`import torch`, the preset) took longer than
    an eval's interval, which was timed from the command's start."""
    config = tiny_train_config(steps=None, time_budget=4.0, eval_every=1_000_000, eval_seconds=0.5, log_every=10_000,
                               preview_chars=0)
    run = train_run(tmp_path / "run", short_corpus, config=config, started_at=time.monotonic() - 1.5)
    evals = [e.step for e in run.events if isinstance(e, Evaluated)]
    assert len(evals) >= 3 and evals[0] > 1, evals


def test_no_clock_eval_comes_just_before_the_final_one(tmp_path, short_corpus, monkeypatch, optimizer_imported):
    """A 40-second run evaluated at steps 969 and 983: its last eval by the clock came a moment before the final eval.
    One is left out where the final one comes sooner than half the gap between evals."""
    import charnn.recorder

    real, calls, took = charnn.recorder.evaluate, [], []

    def evaluate(*args, **kwargs):
        calls.append(time.monotonic())
        try:
            return real(*args, **kwargs)
        finally:
            took.append(time.monotonic() - calls[-1])

    monkeypatch.setattr(charnn.recorder, "evaluate", evaluate)
    config = tiny_train_config(steps=None, time_budget=3.0, eval_every=1_000_000, eval_seconds=1.0, log_every=10_000,
                               preview_chars=0)
    # Training starts ~0.6 s into the budget: clock evals ~1.6 s and ~2.6 s in, the final one at ~2.97 s.
    train_run(tmp_path / "run", short_corpus, config=config, started_at=time.monotonic() - 0.55)
    if min(took) * 20 > config.eval_seconds:  # evals 20× their time apart: the gap is not the one this test sets
        pytest.skip(f"evals took {min(took):.3f} s here: too slow for this test's timing")
    assert len(calls) >= 2, calls
    gaps = [later - earlier for earlier, later in zip(calls, calls[1:], strict=False)]
    assert min(gaps) >= 0.4, gaps


def test_the_steps_left_are_timed_by_the_last_window(tmp_path, short_corpus):
    """With a --steps target, a clock eval is left out where the steps left come within half a gap. Timed at the
    fastest window's speed, a CPU slowed since then read the end as near, and evals were left out for longer (a
    review)."""
    from charnn.recorder import Recorder

    config = tiny_train_config(steps=1000, time_budget=None, eval_seconds=10.0)
    run = Recorder(None, None, None, tmp_path, config, None, lambda event: None, math.inf)
    # 100 steps left: at the fastest window's 0.01 s a step, 1 s (< 5 s, half the gap); at the last one's 0.2 s, 20 s.
    assert not run.clock_eval_due(30.0, 15.0, 900, 0.01, 0.01, 1000)
    assert run.clock_eval_due(30.0, 15.0, 900, 0.01, 0.2, 1000)
    assert not run.clock_eval_due(20.0, 15.0, 900, 0.01, 0.2, 1000)  # only 5 s since the last: not yet


def test_steps_and_budget_both_given_steps_win(tmp_path, short_corpus):
    run = train_run(tmp_path / "run", short_corpus, config=resume_configs(steps=4, time_budget=3600.0))
    assert run.events[-1].reason == "steps" and run.events[-1].step == 4


def test_diverging_loss_is_a_charnn_error(tmp_path, short_corpus):
    config = resume_configs(steps=30, lr=1e30, warmup_steps=0, log_every=1)
    with pytest.raises(CharnnError, match="training loss became"):
        train_run(tmp_path / "run", short_corpus, config=config)


@pytest.mark.parametrize("preview_chars", [8, 0])
def test_divergence_after_the_last_check(tmp_path, short_corpus, preview_chars):
    config = resume_configs(steps=7, lr=1e30, warmup_steps=0, log_every=1000, eval_every=1000,
                            preview_chars=preview_chars)
    with pytest.raises(CharnnError, match="training loss became"):
        train_run(tmp_path / "run", short_corpus, config=config)
    for path in (tmp_path / "run").glob("*.pt"):
        assert all(torch.isfinite(t).all() for t in load(path)["model"].values()), path.name


def test_locked_run_folder(tmp_path, short_corpus):
    (tmp_path / "run").mkdir()
    with RunLock(tmp_path / "run"):
        with pytest.raises(CharnnError, match="another charnn process"):
            train_run(tmp_path / "run", short_corpus, config=resume_configs(steps=2))


def test_too_short_corpora(tmp_path, write_corpus):
    with pytest.raises(CharnnError, match="too short"):  # no room for batch 4 × 16
        train_run(tmp_path / "a", write_corpus("abcdefghij" * 6, "a.txt"), config=resume_configs(steps=2))
    with pytest.raises(CharnnError, match="validation"):  # 10% of 15 chars is 1 char
        train_run(tmp_path / "b", write_corpus("abcdefghijklmno", "b.txt"),
                  config=resume_configs(steps=2, batch_size=1, seq_len=2))


def test_unwritable_run_folder(tmp_path, short_corpus):
    (tmp_path / "file").write_text("x")
    with pytest.raises(CharnnError, match="cannot create run folder"):
        train_run(tmp_path / "file" / "run", short_corpus, config=resume_configs(steps=2))


# --- schedule and config ---------------------------------------------------------------------------


def test_learning_rate_schedule():
    config = tiny_train_config(steps=100, lr=1.0, warmup_steps=10, min_lr_fraction=0.1)
    warmup = [learning_rate(config, s, s / 100) for s in range(10)]
    assert warmup == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert learning_rate(config, 10, 0.0) == pytest.approx(1.0)
    assert learning_rate(config, 55, 0.5) == pytest.approx(0.55)
    assert learning_rate(config, 100, 1.0) == pytest.approx(0.1)
    assert learning_rate(config, 200, 2.0) == pytest.approx(0.1)
    decay = [learning_rate(config, s, s / 100) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(decay, decay[1:], strict=False))


@pytest.mark.parametrize("bad", [dict(steps=None), dict(batch_size=0), dict(seq_len=0), dict(eval_every=0),
                                 dict(val_fraction=0.0), dict(val_fraction=1.0), dict(lr=0.0), dict(lr=math.inf),
                                 dict(lr=math.nan), dict(precision="fp8"), dict(keep_checkpoints=-1)])
def test_train_config_validation(bad):
    with pytest.raises(CharnnError):
        tiny_train_config(**bad)


def test_repetitive_corpus_constant(tmp_path):
    assert len(REPETITIVE) > 1500 and len(set(REPETITIVE)) < 40


def adamw_after_one_step(model, fused: bool) -> torch.optim.AdamW:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=fused or None)
    model(torch.zeros(2, 3, dtype=torch.long))[0].sum().backward()
    optimizer.step()
    return optimizer


def fused_adamw_runs_here() -> bool:
    try:
        torch.optim.AdamW([torch.zeros(1, requires_grad=True)], fused=True)
        return True
    except RuntimeError:
        return False


def test_optimizer_uses_the_fused_kernel_where_torch_has_one():
    optimizer = optimization.make_optimizer(CharRNN(tiny_model_config(10)), tiny_train_config())
    assert all(bool(group.get("fused")) == fused_adamw_runs_here() for group in optimizer.param_groups)


def test_optimizer_falls_back_to_the_unfused_update(monkeypatch):
    real = torch.optim.AdamW

    def no_fused(*args, fused=None, **kwargs):
        if fused:
            raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of supported devices")
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.optim, "AdamW", no_fused)
    optimizer = optimization.make_optimizer(CharRNN(tiny_model_config(10)), tiny_train_config())
    assert not any(group.get("fused") for group in optimizer.param_groups)


@pytest.mark.parametrize("saved_fused", [False, True])
def test_resumed_optimizer_keeps_this_runs_kernel_and_the_saved_moments(saved_fused):
    """A state saved by the other kind of AdamW (an older run, another torch) resumes with this one's."""
    if not fused_adamw_runs_here():
        pytest.skip("no fused AdamW in this torch")
    torch.manual_seed(0)
    source = CharRNN(tiny_model_config(10))
    saved = adamw_after_one_step(source, saved_fused).state_dict()
    target = CharRNN(tiny_model_config(10))
    target.load_state_dict(source.state_dict())
    optimizer = torch.optim.AdamW(target.parameters(), lr=1e-2, fused=(not saved_fused) or None)
    optimization.load_optimizer_state(optimizer, saved)
    assert all(bool(group["fused"]) is not saved_fused for group in optimizer.param_groups)
    first = next(iter(optimizer.state.values()))
    assert float(first["step"]) == 1.0 and first["exp_avg"].abs().sum() > 0
    target(torch.zeros(2, 3, dtype=torch.long))[0].sum().backward()
    optimizer.step()  # the other kernel accepts the restored state
    assert float(next(iter(optimizer.state.values()))["step"]) == 2.0


def test_a_run_shorter_than_its_log_window_still_reports_its_steps(tmp_path, short_corpus):
    """A new-user trial: `--steps 5` (log every 10) showed `train –` and `speed –` to the end."""
    config = tiny_train_config(steps=5, log_every=10, eval_every=1_000, preview_chars=0)
    run = train_run(tmp_path / "run", short_corpus, config=config)
    steps = [e for e in run.events if isinstance(e, Step)]
    assert [e.step for e in steps] == [5] and math.isfinite(steps[0].loss) and steps[0].chars_per_second > 0
    kinds = [type(e).__name__ for e in run.events]
    assert kinds.index("Step") < kinds.index("Evaluated")  # the final eval's line shows the train loss


def test_the_reserve_for_the_last_eval_follows_the_fastest_eval_unless_the_last_would_overrun(tmp_path):
    """One eval slowed by another program (3.4 s against ~1 s) made the reserve for the final eval and save 3× too
    large, and a 45 s run stopped at 41 s. The reserve now follows the fastest eval, unless the last one was so slow
    that a final eval as slow would run over the budget by more than 3% of it."""
    from charnn.recorder import Recorder

    def reserve_after(evals: list[float], budget: float | None) -> float:
        config = tiny_train_config(steps=None, time_budget=budget) if budget else tiny_train_config()
        recorder = Recorder(None, None, None, tmp_path, config, torch.device("cpu"), lambda event: None, math.inf)
        for seconds in evals:
            recorder.timed_eval(seconds)
        return recorder.reserve(1000, 0.05)

    assert reserve_after([1.0, 3.4], 600) == pytest.approx(1.1 + 0.1)  # 600 s: 18 s of 3% cover the slow one
    assert reserve_after([1.0, 3.4], 45) == pytest.approx(3.4 - 1.35 + 0.1)  # 45 s: only 1.35 s do
    assert reserve_after([1.0, 1.2, 1.1], 45) == pytest.approx(1.1 + 0.1)
    assert reserve_after([2.0], None) == pytest.approx(2.2 + 0.1)  # a --steps run: no budget to overrun
