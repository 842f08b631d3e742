"""Training: truncated BPTT over contiguous streams, AdamW, warmup + cosine, clipping, checkpoints.

`train(...)` reports what happens through `on_event` (the dataclasses of events.py) and never prints; what a
run writes at each eval is recorder.py's, the optimizer and its schedule optimization.py's.
A run stops at `steps`, or before its `time_budget` ends (the final eval and save are planned
into the budget), or when `should_stop()` turns true (Ctrl-C): then it saves `latest.pt` first, if it has
trained a step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import ExitStack, nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F

from charnn import checkpoint, run_lock, runs
from charnn.batches import StreamBatcher
from charnn.config import ModelConfig, TrainConfig
from charnn.data import EncodedCorpus
from charnn.errors import CharnnError
from charnn.events import Event, Finished, Started, Step
from charnn.model import CharRNN, detach_state, state_from_list
from charnn.optimization import learning_rate, load_optimizer_state, make_optimizer
from charnn.precision import autocast
from charnn.recorder import Recorder, drop_metrics_after
from charnn.resuming import check_resumable
from charnn.threads import EVAL_WINDOW, ThreadTuner, tuned_threads


def check_finite(loss: float, step: int, config: TrainConfig, run_dir: Path) -> None:
    if not math.isfinite(loss):
        raise CharnnError(f"training loss became {loss} at step {step}; nothing was saved after it — "
                          f"lower --lr (was {config.lr}) and --resume from {run_dir}")



def train(
    corpus: EncodedCorpus,
    run_dir: Path,
    model_config: ModelConfig,
    config: TrainConfig,
    device: torch.device | str,
    on_event: Callable[[Event], None] = lambda event: None,
    resume: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    started_at: float | None = None,
    most_threads: int | None = None,
    lock: run_lock.RunLock | None = None,
) -> CharRNN:
    """Train into `run_dir` and return the model as its last step left it, in eval mode (best.pt holds the weights
    with the best validation loss). `started_at` (time.monotonic) starts the budget clock. `most_threads`: on a CPU,
    torch's thread count follows the speed it gives, up to this (threads.py); without it, the count is left as set
    (the CLI gives the number of cores). `lock`: `run_dir`'s lock, where the caller has taken it (and made the
    folder, and releases it); without it, the folder is made and locked here for the run."""
    started_at = time.monotonic() if started_at is None else started_at
    run_dir, device = Path(run_dir), torch.device(device)
    if model_config.vocab_size != len(corpus.vocab):  # an IndexError deep in the embedding otherwise (a trial)
        raise CharnnError(f"the model config's vocab_size is {model_config.vocab_size}, but the corpus has "
                          f"{len(corpus.vocab)} distinct characters — give vocab_size=len(corpus.vocab)")
    train_ids, val_ids = corpus.split(config.val_fraction)

    def batches() -> StreamBatcher:
        corpus.check_trainable(config.val_fraction)
        return StreamBatcher(train_ids, config.batch_size, config.seq_len, config.seed)

    batcher = None if resume else batches()  # a new run's: before its folder is made
    if lock is not None and lock.path.parent != run_dir:
        raise ValueError(f"the lock given is of {lock.path.parent}, not of {run_dir}")
    # The folders made here are removed again if no step is trained (RunLock).
    locked = nullcontext() if lock is not None else run_lock.RunLock(run_dir, run_lock.make_run_folder(run_dir))
    rng_devices = [device] if device.type == "cuda" else []
    with locked, torch.random.fork_rng(devices=rng_devices), ExitStack() as stack:
        if not resume:
            runs.check_can_start(run_dir)
        # Scoped seeding: initialisation and dropout are reproducible, the caller's RNG is untouched.
        torch.manual_seed(config.seed)
        model = CharRNN(model_config).to(device)
        optimizer = make_optimizer(model, config)
        step, spent, best, state, last_val_loss, evaluated_last = 0, 0.0, math.inf, None, math.nan, False
        if resume:
            runs.check_can_resume(run_dir)
            latest = run_dir / "latest.pt"
            payload = checkpoint.load(latest)
            if not all(key in payload for key in ("optimizer", "rng", "carry_state", "metrics", "train_config")):
                raise CharnnError(f"{latest} holds weights only, not a training state — it cannot be resumed")
            check_resumable(payload, corpus, model_config, config, run_dir)
            batcher = batches()  # after: a resume on another, shorter corpus was told to lower --batch-size (a trial)
            last_eval = drop_metrics_after(run_dir / "metrics.jsonl", payload["step"]) or {}
            evaluated_last = last_eval.get("step") == payload["step"]  # else stopped (Ctrl-C) after its last eval
            last_val_loss = last_eval.get("val_loss")
            last_val_loss = float(last_val_loss) if isinstance(last_val_loss, (int, float)) else math.nan
            model.load_state_dict(payload["model"])
            load_optimizer_state(optimizer, payload["optimizer"])
            step, spent = payload["step"], payload["metrics"]["elapsed"]
            # best.pt may hold a better model than latest.pt knows of: one saved after it, just before a crash (a
            # trial's full disk between the two saves). A resumed run that forgot it wrote a worse one over it.
            best = min(payload["metrics"]["best_val_loss"], runs.best_saved(run_dir, payload))
            torch.set_rng_state(payload["rng"]["torch"])
            if device.type == "cuda" and "cuda" in payload["rng"]:
                torch.cuda.set_rng_state(payload["rng"]["cuda"], device)
            # In fp32 whatever the run saved: a bf16 state makes oneDNN's fp32 LSTM fail (a bf16 run resumed
            # with --precision fp32), and fp32 holds bf16 values exactly, so a bf16 run resumes bit-identically.
            state = state_from_list([t.float() for t in payload["carry_state"]], model_config.cell, device)
        first_step = step
        run = Recorder(model, optimizer, corpus, run_dir, config, device, on_event, best)
        tuner = stack.enter_context(tuned_threads(most_threads if device.type == "cpu" else None))
        if tuner is not None:  # evals tune their own count: their windows are not training's steps
            run.eval_tuner = ThreadTuner(tuner.most, torch.set_num_threads, threads=tuner.threads,
                                         window_seconds=EVAL_WINDOW)
        on_event(Started(run_dir, str(device), config.precision, model.num_parameters(), model_config, config,
                         len(train_ids), len(val_ids), step, best, tuner.most if tuner else None, last_val_loss))

        def elapsed() -> float:
            return spent + time.monotonic() - started_at

        model.train()
        window_loss, window_steps, window_start = torch.zeros((), device=device), 0, time.monotonic()
        # Steps the window's clock covers: not this call's first, which pays for start-up (allocations, oneDNN's
        # kernels): after a --resume, an eval's line said 49,098 chars/s where the panel then said 80,369 (a trial).
        timed_steps, loop_start = 0, window_start
        since_eval = [0.0, 0]  # training loss summed over the steps since the last eval, and those steps: metrics.jsonl

        def train_loss() -> float:  # the mean since the last eval (dropout on), which the next eval records
            mean, since_eval[:] = since_eval[0] / since_eval[1] if since_eval[1] else math.nan, [0.0, 0]
            return mean
        # step_seconds: typical seconds per step, the fastest window so far (the fastest, not the last: one
        # window slowed by another program must not end a budget early). evaluated_when: elapsed() then, and at first
        # now, when training starts (from the command's start, a 40 s run on machine D evaluated at step 1: start-up
        # took longer than the 5 s between evals).
        step_seconds, evaluated_at, evaluated_when = 0.0, step if evaluated_last else None, elapsed()
        recent_seconds = 0.0  # the last window's seconds a step: how fast the steps left will come

        def report_window(progress: float) -> float:
            """The window's mean loss, checked, and its speed to the view; seconds a step in it, its timed steps'
            (else all of them). The only host sync, once per window."""
            mean, now = float(window_loss) / window_steps, time.monotonic()
            check_finite(mean, step, config, run_dir)
            seconds = (now - window_start) / timed_steps if timed_steps else (now - loop_start) / window_steps
            on_event(Step(step, mean, optimizer.param_groups[0]["lr"], chars_per_step / seconds, elapsed(),
                          min(1.0, progress), tuner.settled if tuner else None))
            since_eval[0], since_eval[1] = since_eval[0] + mean * window_steps, since_eval[1] + window_steps
            return seconds
        chars_per_step = config.batch_size * config.seq_len
        while True:
            progress = max(step / config.steps if config.steps else 0.0,
                           elapsed() / config.time_budget if config.time_budget else 0.0)
            # Ctrl-C first: a stop asked for during a step ends the run now, not after a final eval that a target
            # reached at the same step would run (a trial on a busy CPU waited 19 s for one of 17 s).
            if should_stop():
                reason = "interrupted"
                break
            if config.steps is not None and step >= config.steps:
                reason = "steps"
                break
            budget_left = config.time_budget - elapsed() if config.time_budget is not None else math.inf
            if budget_left <= run.reserve(len(val_ids), step_seconds):
                reason = "time"
                break
            inputs, targets, new_epoch = batcher.batch(step)
            if new_epoch:
                state = None  # streams jumped to new offsets: the carried state no longer applies
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, step, progress)
            inputs = torch.from_numpy(inputs).to(device, non_blocking=True)  # (B, T)
            targets = torch.from_numpy(targets).to(device, non_blocking=True)  # (B, T)
            with autocast(device, config.precision):
                logits, state = model(inputs, state)  # (B, T, V)
            loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            state = detach_state(state)
            step += 1
            if tuner is not None:
                tuner.step_done()
            window_loss += loss.detach()
            window_steps += 1
            if step == first_step + 1:
                window_start = time.monotonic()
            else:
                timed_steps += 1
            # An eval is due every eval_every steps, or, where the preset planned the run's evals by the clock,
            # every eval_seconds: the speed estimate behind a step count can be far off (never more often than 20
            # evals' time apart, nor just before the final eval: Recorder.clock_eval_due).
            if config.eval_seconds is None:
                eval_due = step % config.eval_every == 0
            else:
                eval_due = run.clock_eval_due(elapsed(), evaluated_when, step, step_seconds, recent_seconds,
                                              len(val_ids))
            if step % config.log_every == 0 or eval_due:  # an eval closes the window: checked, and timed apart
                recent_seconds = report_window(progress)
                step_seconds = min(step_seconds or math.inf, recent_seconds)
                window_loss.zero_()
                window_steps, timed_steps, window_start = 0, 0, time.monotonic()
            if eval_due:
                if tuner is not None:
                    tuner.settle()
                run.checkpoint(step, elapsed(), state, val_ids, train_loss())
                evaluated_at, evaluated_when = step, elapsed()
                window_start = time.monotonic()  # chars/s measures training, not evals
                if tuner is not None:
                    tuner.change(tuner.threads)  # training's count again, after the eval's own
        if tuner is not None:
            tuner.settle()  # the last eval and save at the settled count, not one on trial
        if window_steps:  # steps since the last check must not carry a divergence into the files
            report_window(progress)  # and the view gets them: a run shorter than log_every showed no train loss at all
        if reason == "interrupted" and config.steps is not None and step >= config.steps and evaluated_at == step:
            reason = "steps"  # stopped after its last eval: only the mark that it is through was left to save
        # A resumed run stopped (Ctrl-C) before its final eval, with its target reached now before a step: that eval.
        final_eval_only = step == first_step > 0 and reason != "interrupted" and evaluated_at != step
        if step == first_step and reason in ("interrupted", "time") and not final_eval_only:
            # Nothing trained, nothing written: a new run leaves no files (a step-0 latest.pt made its folder a run,
            # so the same command with a longer --time was refused), and a resumed one is as it was (a resume with
            # seconds left of its --time wrote its last step's record again, and moved its clock on: a new-user
            # trial). But a resumed run's missing final eval runs below: a trial's, stopped a second before its --time
            # ended, was told to give a longer --time on every resume.
            pass
        elif reason == "interrupted":
            if evaluated_at == step:  # the eval after this step saved latest.pt, with its val loss: nothing to add
                pass
            elif not all(torch.isfinite(p).all() for p in model.parameters()):
                raise CharnnError(f"the weights became non-finite at step {step}; nothing was saved after it — "
                                  f"lower --lr (was {config.lr}) and --resume from {run_dir}")
            else:
                run.save_latest(step, elapsed(), state, math.nan)
        else:  # the run is through: latest.pt says so, so that a --resume with the same target is refused
            run.stopped_by = reason
            if evaluated_at != step:
                run.checkpoint(step, elapsed(), state, val_ids, train_loss())
            else:
                run.save_latest(step, elapsed(), state, run.last_val_loss)
        on_event(Finished(step, elapsed(), run.best, reason, run_dir, step - first_step, final_eval_only))
    return model.eval()

