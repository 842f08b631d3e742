"""The lines a training run prints about itself (ui/training.py draws them): what it trains, at its start; how it
ended; and where validation got worse at the end, what that means."""

from __future__ import annotations

import math

from charnn.events import Evaluated, Finished, Started
from charnn.ui.messages import duration, loss_text


def start_line(event: Started) -> str:
    m, c = event.model_config, event.config
    resumed = f", resumed at step {event.start_step:,}" if event.start_step else ""
    target = " and ".join(filter(None, [f"{c.steps:,} step{'s' * (c.steps != 1)}" if c.steps else "",
                                         duration(c.time_budget) if c.time_budget else ""]))
    sampled = (f" (each eval scores {c.eval_chars:,} of them, spread over the split; `charnn eval` scores all)"
               if c.eval_chars and c.eval_chars < event.val_chars else "")
    regularised = "".join([f", dropout {m.dropout:g}" if m.dropout else "",
                           f", weight dropout {m.weight_dropout:g}" if m.weight_dropout else ""])
    return (f"training {m.num_layers}×{m.hidden_size} {m.cell.upper()} ({event.num_parameters / 1e6:.2f}M "
            f"params, vocab {m.vocab_size}{regularised}) on {event.device}/{event.precision}, batch {c.batch_size}×"
            f"{c.seq_len}, {event.train_chars:,} train / {event.val_chars:,} val chars{sampled}, target {target}"
            f"{resumed} → {event.run_dir}")


def finish_line(event: Finished, stopped_by: str, overfitting: str) -> str:
    """`stopped_by`: how a stop is named ("interrupted" or "terminated"); `overfitting`: `overfitting_line`'s."""
    first = event.step  # nothing was trained by this call, so its first step is its last
    if event.reason == "interrupted" and not event.steps_trained:  # train.py saves nothing then
        return (f"stopped ({stopped_by}) before the first step; nothing was saved" if first == 0 else
                f"stopped ({stopped_by}) before a step was trained; the run is as it was at step {first:,}")
    if event.final_eval_only:  # a resumed run with no time left to train, whose last step had no eval
        return (f"finished ({event.reason}) at step {event.step:,} after {duration(event.elapsed)}: nothing was left "
                f"to train, so only its final eval ran; best val {loss_text(event.best_val_loss)}; run folder "
                f"{event.run_dir}")
    if event.reason == "time" and not event.steps_trained:  # nor then (a new-user trial: `--time 2s`)
        return ("finished (time) before the first step: starting up took the whole budget; nothing was saved — "
                "give a longer --time (30s or more)" if first == 0 else
                f"finished (time) before a step was trained: starting up took the time left; the run is as it "
                f"was at step {first:,} — give a longer --time")
    verb = f"stopped ({stopped_by})" if event.reason == "interrupted" else f"finished ({event.reason})"
    line = (f"{verb} at step {event.step:,} after {duration(event.elapsed)}; best val "
            f"{loss_text(event.best_val_loss)}; run folder {event.run_dir}")
    return line + overfitting


def overfitting_line(best_step: int | None, worse: list[float], last_eval: Evaluated | None,
                     started: Started | None, unlearnable: int = 0) -> str:
    """A word where validation got worse for the run's last evals (`worse`, after the best at `best_step`), the last 3%
    or more above the best (a trial's GRU bottomed at step 750 of 2,000 and rose 5% after it, and only the best loss
    was said): for a learner, what it means and what helps. Else "". `unlearnable`: validation characters the
    training text never has (said at the start), which a model that grows surer of the others scores ever worse."""
    if best_step is None or len(worse) < 2 or last_eval is None or not math.isfinite(last_eval.best_val_loss) or (
            worse[-1] < last_eval.best_val_loss * 1.03):  # the README's 3-minute screenplay: 2.4%, left quiet
        return ""
    # Where dropout is already high (the preset gives 0.4 to a corpus read hundreds of times), more of it is no
    # advice: a trial's 35 KB play overfit at 1×128, dropout 0.4 and weight dropout 0.5, and was told to add some.
    high = started is not None and started.model_config.dropout >= 0.4
    helps = "more text to train on would help most" if high else "more --dropout or a smaller model may score better"
    if unlearnable:  # they cost more as the model grows surer of the rest: part of the rise may be theirs
        helps += (f"; and {unlearnable:,} characters of the validation text are ones the training text never has "
                  "(said at the start): no model learns those, so put some of that text earlier in the file")
    return (f"\nvalidation was best at step {best_step:,}; the {len(worse)} evals after it were worse (last "
            f"{loss_text(worse[-1])}): the model began to fit its training text more than text like it "
            f"(overfitting). best.pt keeps the best, which `charnn sample` takes; latest.pt the last weights (what "
            f"it learnt by heart: --checkpoint {started.run_dir / 'latest.pt' if started else 'RUN/latest.pt'}); "
            f"{helps}")
