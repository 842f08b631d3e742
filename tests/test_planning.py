"""The settings of a run: flags over a resumed run's own settings over the preset (charnn/planning.py)."""

from __future__ import annotations

import shutil

import pytest
import torch

from charnn import planning
from charnn.config import WARMUP_STEPS, TrainConfig
from charnn.errors import CharnnError

CPU = torch.device("cpu")
NOTHING_GIVEN = dict.fromkeys(("cell", "num_layers", "hidden_size", "embed_dim", "dropout", "weight_dropout",
                               "batch_size", "seq_len", "lr", "weight_decay", "eval_every", "keep_checkpoints", "seed"))


def test_a_new_run_gets_ten_minutes_and_the_preset(trained_run):
    plan = planning.plan_run(trained_run.corpus, None, NOTHING_GIVEN, None, None, CPU, "fp32")
    assert plan.config.time_budget == planning.DEFAULT_BUDGET and plan.config.steps is None
    assert plan.preset_reason and plan.config.eval_seconds is not None  # the preset's evals go by the clock
    assert plan.model_config.vocab_size == len(trained_run.corpus.vocab)
    sized = planning.plan_run(trained_run.corpus, None, {**NOTHING_GIVEN, "num_layers": 1, "hidden_size": 24,
                                                         "eval_every": 7}, 50, None, CPU, "fp32")
    assert sized.preset_reason is None  # the user chose the size: nothing to explain
    assert (sized.model_config.num_layers, sized.model_config.hidden_size) == (1, 24)
    assert sized.config.steps == 50 and sized.config.eval_every == 7 and sized.config.eval_seconds is None
    # A --steps run warms up over at most its first tenth (a trial's --steps 20 ended in its 30-step warmup); a
    # --time run, and a --steps run of 300 or more, over TrainConfig's 30 steps.
    assert sized.config.warmup_steps == 5
    assert plan.config.warmup_steps == WARMUP_STEPS == 30
    assert planning.plan_run(trained_run.corpus, None, NOTHING_GIVEN, 2000, None, CPU, "fp32").config.warmup_steps == 30


def test_the_presets_dropout_for_a_size_given_is_said(trained_run):
    """A trial's `--layers 1 --hidden-size 32`, meant to underfit, trained with dropout 0.25 and weight dropout 0.5
    without a word on where they came from."""
    sized = {**NOTHING_GIVEN, "num_layers": 1, "hidden_size": 16}
    many = planning.plan_run(trained_run.corpus, None, sized, 20_000, None, CPU, "fp32")  # hundreds of passes
    model = many.model_config
    assert model.dropout > 0 and model.weight_dropout > 0
    assert many.dropout_reason.startswith(f"dropout {model.dropout:g} and weight dropout {model.weight_dropout:g} "
                                          "from the preset, for ")
    assert many.dropout_reason.endswith("passes over the corpus (--dropout 0 --weight-dropout 0 for none)")
    one = planning.plan_run(trained_run.corpus, None, {**sized, "weight_dropout": 0.0}, 20_000, None, CPU, "fp32")
    assert one.dropout_reason.endswith("(--dropout 0 for none)") and "weight" not in one.dropout_reason
    # From 2 to 12 passes there is dropout and no weight dropout: the line names only the one (a review).
    some = next(plan for steps in range(20, 2000, 20)
                if (plan := planning.plan_run(trained_run.corpus, None, sized, steps, None, CPU, "fp32"))
                .model_config.dropout > 0)
    assert some.model_config.weight_dropout == 0 and some.dropout_reason.endswith("(--dropout 0 for none)")
    assert "weight" not in some.dropout_reason
    given = planning.plan_run(trained_run.corpus, None, {**sized, "dropout": 0.0, "weight_dropout": 0.0}, 20_000,
                              None, CPU, "fp32")
    few = planning.plan_run(trained_run.corpus, None, sized, 2, None, CPU, "fp32")  # under 2 passes: no dropout
    preset = planning.plan_run(trained_run.corpus, None, NOTHING_GIVEN, 20_000, None, CPU, "fp32")  # said with its size
    assert given.dropout_reason is few.dropout_reason is preset.dropout_reason is None


def test_a_resumed_run_keeps_its_settings_unless_a_flag_is_given(trained_run):
    kept = planning.plan_run(trained_run.corpus, trained_run.run_dir, NOTHING_GIVEN, None, None, CPU, "auto")
    assert kept.preset_reason is None
    assert kept.model_config == trained_run.model_config
    saved = trained_run.config
    for name in ("steps", "time_budget", "batch_size", "seq_len", "lr", "eval_every", "seed", "warmup_steps",
                 "precision"):
        assert getattr(kept.config, name) == getattr(saved, name), name
    changed = planning.plan_run(trained_run.corpus, trained_run.run_dir, {**NOTHING_GIVEN, "lr": 0.5}, None, 30.0,
                                CPU, "auto")
    assert changed.config.lr == 0.5 and changed.config.time_budget == 30.0 and changed.config.steps is None
    assert changed.config.eval_seconds == 30.0 / 8  # a new --time plans its evals
    assert changed.config.batch_size == saved.batch_size != TrainConfig.batch_size
    # A --steps run's warmup is saved with it: a resume to a larger --steps does not warm up again.
    assert planning.plan_run(trained_run.corpus, trained_run.run_dir, NOTHING_GIVEN, 5000, None, CPU,
                             "auto").config.warmup_steps == saved.warmup_steps


def test_a_corrupt_latest_pt_says_the_run_cannot_be_resumed(trained_run, tmp_path):
    """A new-user trial: '… truncated or corrupt — use another one', which no --resume can follow."""
    run_dir = tmp_path / "copy"
    shutil.copytree(trained_run.run_dir, run_dir)
    latest = run_dir / "latest.pt"
    latest.write_bytes(latest.read_bytes()[:1000])
    with pytest.raises(CharnnError, match=r"latest.pt is not a readable checkpoint \(truncated or corrupt[^)]*\), "
                                          r"so .*copy cannot be resumed — train into another --out$"):
        planning.saved_settings(run_dir)


def test_the_api_names_a_setting_it_does_not_know_and_takes_a_device_by_name(trained_run):
    """A student's `plan_run(corpus, None, {"layers": 3}, …)`, the flag's name, trained one layer without a word, and
    `device="cpu"` failed with `'str' object has no attribute 'type'` (`train` takes the name)."""
    with pytest.raises(CharnnError, match="no setting 'layers' — `given` takes the config field names: cell, num_l"):
        planning.plan_run(trained_run.corpus, None, {"layers": 3}, 100, None, CPU, "fp32")
    with pytest.raises(CharnnError, match="plan_run: no device 'auto' — give cpu, cuda, mps or a torch.device"):
        planning.plan_run(trained_run.corpus, None, {}, 100, None, "auto", "fp32")
    plan = planning.plan_run(trained_run.corpus, None, {"num_layers": 3, "hidden_size": 8}, 100, None, "cpu", "fp32")
    assert (plan.model_config.num_layers, plan.model_config.hidden_size, plan.config.precision) == (3, 8, "fp32")
