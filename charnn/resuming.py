"""What a `--resume` must keep (the corpus, the model, the batch, the seed) and when a saved run has nothing left to
do: the checks `train` makes on `latest.pt` before it loads anything from it."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from charnn.config import ModelConfig, TrainConfig
from charnn.data import EncodedCorpus
from charnn.errors import CharnnError
from charnn.vocab import listed

# The command-line flags of the settings a resume must keep, by config field (the message says "drop those flags").
FLAGS = {"cell": "--cell", "num_layers": "--layers", "hidden_size": "--hidden-size", "embed_dim": "--embed-dim",
         "dropout": "--dropout", "weight_dropout": "--weight-dropout", "batch_size": "--batch-size",
         "seq_len": "--seq-len", "seed": "--seed"}


def check_resumable(payload: dict, corpus: EncodedCorpus, model_config: ModelConfig, config: TrainConfig,
                    run_dir: Path) -> None:
    """Refuse to resume the run saved in `payload` (from `run_dir`) with another corpus or other settings, or when
    `config` gives it nothing more to do."""
    # The run is named: `--resume` without --out finds it by the corpus's name alone (a trial's other ts.txt).
    if payload["vocab"] != corpus.vocab.chars:  # which ones: a trial's one new 🌻 in a long poem was not named
        new = [char for char in corpus.vocab.chars if char not in payload["vocab"]]
        gone = [char for char in payload["vocab"] if char not in corpus.vocab.chars]
        which = "; ".join(part for part in (new and f"new: {listed(new)}", gone and f"missing: {listed(gone)}") if part
                          ) or "the same characters in another order"
        if "\ufeff" in gone:  # the same file: charnn reads it without them since 2026-11-28 (a review)
            which += "; charnn now drops the byte-order marks (U+FEFF) inside a file, which this run learned"
        raise CharnnError(f"cannot resume {run_dir}: this corpus has a different set of characters than the run was "
                          f"trained on ({payload.get('corpus', '?')}; {which}), and a model's characters are fixed "
                          "when it starts — resume with the same corpus, or train into a new --out")
    if payload.get("corpus_chars", len(corpus.ids)) != len(corpus.ids):
        raise CharnnError(f"cannot resume {run_dir}: this corpus differs from the one the run was trained on "
                          f"({payload.get('corpus', '?')}, {payload['corpus_chars']:,} chars; this one "
                          f"{len(corpus.ids):,}) — resume with the same corpus, or train into a new --out")
    if None not in (payload.get("corpus_digest"), corpus.digest) and payload["corpus_digest"] != corpus.digest:
        raise CharnnError(f"cannot resume {run_dir}: this corpus's text differs from the one the run was trained on "
                          f"({payload.get('corpus', '?')}), though it has as many characters — resume with the same "
                          "text, or train into a new --out")
    # Every difference at once: a new-user trial fixed --layers, and then --seq-len was refused.
    saved_model, saved = ModelConfig(**payload["model_config"]), payload["train_config"]
    differ = [f"{FLAGS.get(k, k)} {v} → {getattr(model_config, k)}" for k, v in asdict(saved_model).items()
              if getattr(model_config, k) != v]
    differ += [f"{FLAGS.get(k, k)} {saved[k]} → {getattr(config, k)}"
               for k in ("batch_size", "seq_len", "val_fraction", "seed") if saved[k] != getattr(config, k)]
    if differ:
        raise CharnnError(f"cannot resume {run_dir}: these settings differ from the run's ({', '.join(differ)}) — "
                          "drop those flags to resume, or train into a new --out")
    if at_target(payload, config):  # in terms of the target that stops it (a trial: `--steps 100` was told --time)
        elapsed = payload["metrics"]["elapsed"]
        if config.steps is not None and payload["step"] >= config.steps:  # as the flag is typed: no comma
            limit, target = "--steps", f"--steps {config.steps}: it is at step {payload['step']:,}"
        elif elapsed >= config.time_budget:
            limit, target = "--time", f"--time {clock(config.time_budget)}: it has trained {clock(elapsed)}"
        else:  # it stopped a little early, as a time run does: its final eval and save fit in the budget
            limit, target = "--time", (f"--time {clock(config.time_budget)}: it stopped for it at {clock(elapsed)}, "
                                       "leaving the rest for its final eval and save")
        raise CharnnError(f"the run in {run_dir} is already at its target, {target} — pass a larger {limit} to "
                          "train further")



def at_target(payload: dict, config: TrainConfig) -> bool:
    """Whether the run saved in `payload` has nothing left to do under `config`: its steps are done, or its
    time is. A run stops a little before its time budget ends (the final eval and save are planned into it),
    so a time target counts as reached when the run stopped for it and the budget has not grown since. A run
    stopped (Ctrl-C) after its last step has its final eval and save left: a resume does them."""
    if config.steps is not None and payload["step"] >= config.steps:
        return payload["metrics"].get("stopped_by") is not None or payload["step"] > config.steps
    if config.time_budget is None:
        return False
    metrics, saved_budget = payload["metrics"], payload["train_config"].get("time_budget")
    return metrics["elapsed"] >= config.time_budget or (
        metrics.get("stopped_by") == "time" and saved_budget is not None and config.time_budget <= saved_budget)


def clock(seconds: float) -> str:
    """Seconds as --time takes them: 45s, 10m00s, 1h30m00s."""
    minutes, second = divmod(round(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}h{minute:02d}m{second:02d}s" if hours else f"{minute}m{second:02d}s" if minute else f"{second}s"
