"""The settings of a training run: flags given on the command line win over a resumed run's own settings,
and those over the preset (charnn/presets.py) and the config defaults.

- A new run without `--steps` or `--time` trains for 10 minutes; a resumed one keeps its own target.
- A resumed run keeps its size, batch, seed, precision and schedule, even where a newer charnn changed a
  default; only flags given change them.
- Evals: an explicit `--eval-every` counts steps only; the preset's cadence of a time run goes by the clock
  (its speed estimate can be far off); a resume with a new `--time` plans 8 evals in it. A validation split too
  long for the preset's share of a budget for evals is sampled (`TrainConfig.eval_chars`); a resumed run keeps its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from charnn import checkpoint
from charnn.config import ModelConfig, TrainConfig
from charnn.data import EncodedCorpus
from charnn.errors import CharnnError
from charnn.precision import check_precision, chosen_precision
from charnn.presets import choose

DEFAULT_BUDGET = 600.0  # seconds: a new run given neither --steps nor --time
# Schedule settings (weight decay is the only one with a flag): a resumed run keeps the run's own, even where
# a newer charnn changed the default.
SCHEDULE = ("warmup_steps", "min_lr_fraction", "weight_decay", "grad_clip", "val_fraction")
MODEL_KEYS = ("cell", "num_layers", "hidden_size", "embed_dim", "dropout", "weight_dropout")
TRAIN_KEYS = ("batch_size", "seq_len", "lr", "eval_every", "eval_seconds", "eval_chars", "keep_checkpoints", "seed",
              *SCHEDULE)


@dataclass(frozen=True)
class Plan:
    model_config: ModelConfig
    config: TrainConfig
    preset_reason: str | None  # why the preset chose this size, where it chose it; else None
    precision_reason: str | None = None  # why auto chose this precision, where it timed bf16 against fp32
    # The preset's dropout for a size the user gave, where it is not none: a trial's `--layers 1 --hidden-size 32`,
    # meant to underfit, trained with dropout 0.25 and weight dropout 0.5 without a word on where they came from.
    dropout_reason: str | None = None


def saved_settings(run_dir: Path) -> dict:
    """The model and training settings of the run in `run_dir`, the defaults of a --resume ({} without latest.pt:
    training then says there is nothing to resume)."""
    latest = Path(run_dir) / "latest.pt"
    if not latest.exists():
        return {}
    try:
        payload = checkpoint.load(latest)
    except CharnnError as problem:  # its "— use another one" cannot be followed by a --resume, which reads latest.pt
        raise CharnnError(f"{str(problem).split(' — ')[0]}, so {run_dir} cannot be resumed — train into another "
                          "--out") from None
    model, train = payload["model_config"], payload["train_config"]
    keys = ("steps", "time_budget", "precision", *TRAIN_KEYS)
    return {**{k: v for k, v in model.items() if k != "vocab_size"}, **{k: train[k] for k in keys if k in train}}


def plan_run(corpus: EncodedCorpus, resumed: Path | None, given: dict, steps: int | None, budget: float | None,
             device: torch.device | str, precision: str, spent: float = 0.0) -> Plan:
    """The configs for training `corpus`, continuing the run in `resumed` if given.

    `given`: the flags given, by config field name (MODEL_KEYS and TRAIN_KEYS, e.g. {"num_layers": 3}; None where
    not given). `budget`: seconds from --time, or None. `device`: a torch.device or its name ("cpu", "cuda").
    `precision`: auto, fp32 or bf16. `spent`: seconds of the budget gone before training (a big corpus's first
    read): the preset plans for the rest.
    """
    unknown = sorted(set(given) - set(MODEL_KEYS) - set(TRAIN_KEYS))
    if unknown:  # a student's {"layers": 3}, the flag's name, was ignored without a word
        raise CharnnError(f"plan_run: no setting {', '.join(map(repr, unknown))} — `given` takes the config field "
                          f"names: {', '.join(MODEL_KEYS + TRAIN_KEYS)}")
    try:
        device = torch.device(device)  # a name, as `train` takes one (a student's "cpu" met `.type`)
    except RuntimeError:  # "auto" is the CLI's word, which it resolves first
        raise CharnnError(f"plan_run: no device {device!r} — give cpu, cuda, mps or a torch.device") from None
    run = saved_settings(resumed) if resumed is not None else {}
    if precision == "auto" and run.get("precision"):  # a resumed run goes on as it started
        precision = run["precision"]
    precision, precision_reason = (chosen_precision(device) if precision == "auto"
                                   else (check_precision(device, precision), None))
    new_budget = budget is not None
    if steps is None and budget is None:
        steps, budget = (run["steps"], run["time_budget"]) if run else (None, DEFAULT_BUDGET)
    settings = {**run, **{name: value for name, value in given.items() if value is not None}}
    reason = dropout_reason = None
    if given.get("eval_every") is not None:  # the user's cadence, by steps only
        settings["eval_seconds"] = None
    elif run and new_budget:  # a resume with a new --time: 8 evals in it
        settings["eval_seconds"] = budget / 8
    if not run:
        val_chars = int(len(corpus.ids) * TrainConfig.val_fraction)
        layers, hidden_size = given.get("num_layers"), given.get("hidden_size")
        left = max(1.0, budget - spent) if budget else budget  # a 2 GB corpus's first read took 2 minutes (a trial)
        preset = choose(len(corpus.ids) - val_chars, val_chars, left, steps, device, precision, len(corpus.vocab),
                        given.get("batch_size"), given.get("seq_len") or TrainConfig.seq_len, layers, hidden_size,
                        settings.get("cell", ModelConfig.cell), settings.get("embed_dim", ModelConfig.embed_dim))
        if layers is None or hidden_size is None:
            reason = preset.reason
        chosen = {name: getattr(preset, name) for name in ("dropout", "weight_dropout")
                  if given.get(name) is None and getattr(preset, name)}  # a zero named was noise (a review)
        if reason is None and chosen:
            dropout_reason = (" and ".join(f"{name.replace('_', ' ')} {value:g}" for name, value in chosen.items())
                              + f" from the preset, for {preset.passes} passes over the corpus"
                              + f" ({' '.join(f'--{name} 0' for name in chosen).replace('_', '-')} for none)")
        settings = {"num_layers": preset.num_layers, "hidden_size": preset.hidden_size, "dropout": preset.dropout,
                    "weight_dropout": preset.weight_dropout, "batch_size": preset.batch_size,
                    "seq_len": preset.seq_len, "eval_every": preset.eval_every, "eval_chars": preset.eval_chars,
                    **settings}
        if given.get("eval_every") is None:  # the preset's cadence: by steps, and for a time run by the clock instead
            settings["eval_seconds"] = preset.eval_seconds
    model_config = ModelConfig(len(corpus.vocab), **{k: settings[k] for k in MODEL_KEYS if k in settings})
    config = TrainConfig(steps=steps, time_budget=budget, precision=precision,
                         **{k: settings[k] for k in TRAIN_KEYS if k in settings})
    return Plan(model_config, config, reason, precision_reason, dropout_reason)
