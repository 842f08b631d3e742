"""What a training run leaves behind at each eval: the validation loss, a preview, checkpoints and a metrics line."""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import asdict
from pathlib import Path

import torch

from charnn import checkpoint, run_lock
from charnn.errors import CharnnError
from charnn.evaluation import LN2, TUNED_SEQ_LEN, evaluate, lead_before
from charnn.events import Evaluated, Evaluating, Saved
from charnn.model import state_to_list
from charnn.sample import default_prime, generate


def drop_metrics_after(path: Path, step: int) -> dict | None:
    """On resume: remove lines of evals later than the checkpoint resumed from, and any line that is not whole
    JSON (atomic rewrite). A write cut short by a full disk left half a line that made every resume fail (a
    new-user trial); `append_metrics` now takes such a write back, but a kill during it still leaves one.
    Returns the last eval's record kept (None: none), whose val loss the resumed run shows until its first eval."""
    if not path.exists():
        return None
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    kept = [line for line in lines if line.endswith("\n") and (record := whole_record(line)) is not None
            and record["step"] <= step]
    if len(kept) != len(lines):
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text("".join(kept), encoding="utf-8")
        os.replace(tmp, path)
    return whole_record(kept[-1]) if kept else None


def whole_record(line: str) -> dict | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and isinstance(record.get("step"), int) else None


def append_metrics(path: Path, record: dict) -> None:
    """One JSON line, fsynced, so a line reported is a line kept; a line that could not be written whole is taken
    back (a full disk)."""
    data = (json.dumps(record) + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            size = os.fstat(fd).st_size
            try:
                done = 0
                while done < len(data):  # a full disk may take part of it first
                    done += os.write(fd, data[done:])
                os.fsync(fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
                raise
        finally:
            os.close(fd)
    except OSError as error:
        raise CharnnError(f"cannot write {path}: {error.strerror} — free disk space or choose another --out; "
                          "checkpoints already written are intact") from None


class Recorder:
    """The checkpointing side of one training run: eval, preview, files, metrics."""

    def __init__(self, model, optimizer, corpus, run_dir, config, device, on_event, best):
        self.model, self.optimizer, self.corpus, self.run_dir = model, optimizer, corpus, run_dir
        self.config, self.device, self.on_event, self.best = config, device, on_event, best
        self.eval_seconds: float | None = None  # measured cost of one eval + save, the last
        self.fastest_eval = math.inf  # and the least of them
        self.last_val_loss = math.nan
        self.stopped_by: str | None = None  # "steps" or "time" once the run has reached its target
        self.saved = (run_dir / "latest.pt").exists()  # a latest.pt of this run is on disk (a resumed run's is)
        # Evals' own thread tuner (threads.ThreadTuner, set by `train` on a CPU it tunes), by their windows: beside
        # another program's start, a trial's evals of ~1 s on training's 2 threads took 30–42 s, and a 50 s run 92 s.
        self.eval_tuner = None

    def reserve(self, val_chars: int, step_seconds: float) -> float:
        """Seconds to keep free at the end of a time budget for the final eval and save."""
        if self.eval_seconds is not None:
            # The fastest eval, as the fastest window gives step_seconds: one eval slowed by another program made
            # the reserve 3× too large, and a 45 s run stopped at 41 s. Unless the last one was so slow that the
            # final one, as slow, would run over the budget by more than 3% of it.
            slow_last = self.eval_seconds - 0.03 * (self.config.time_budget or 0.0)
            return max(1.1 * self.fastest_eval, slow_last) + 2 * step_seconds
        if step_seconds == 0:
            return 0.0
        # Before the first eval: a forward pass costs about a third of a training step per char.
        chars_per_second = self.config.batch_size * self.config.seq_len / step_seconds
        scored = min(val_chars, self.config.eval_chars or val_chars)
        return 1.5 * scored / (3 * chars_per_second) + 2 * step_seconds + 1.0

    def clock_eval_due(self, now: float, evaluated_when: float, step: int, step_seconds: float,
                       recent_seconds: float, val_chars: int) -> bool:
        """Whether an eval by the clock (config.eval_seconds) is due at `now` (the run's elapsed seconds), the last
        having been at `evaluated_when`. Evals are never closer than 20 evals' time, so that they take ≤ 5% of the
        run: the fastest eval's (one slowed by another program put the next 20× its time off, the rest of a 3-minute
        run in a new-user trial). None is due where the final eval comes sooner than half that gap (a 40 s run
        evaluated at steps 969 and 983): by the time left, or by the steps left at the last window's seconds a step,
        `recent_seconds` (not the fastest window's `step_seconds`: on a slowed CPU that skipped evals for longer)."""
        config = self.config
        gap = max(config.eval_seconds, 20 * self.fastest_eval if math.isfinite(self.fastest_eval) else 0.0)
        left = min(config.time_budget - now - self.reserve(val_chars, step_seconds)
                   if config.time_budget is not None else math.inf,
                   (config.steps - step) * recent_seconds if config.steps and recent_seconds else math.inf)
        return now - evaluated_when >= gap and left >= gap / 2

    def timed_eval(self, seconds: float) -> None:
        self.eval_seconds, self.fastest_eval = seconds, min(self.fastest_eval, seconds)

    def weights_payload(self, step: int, elapsed: float, val_loss: float) -> dict:
        return {
            "format": checkpoint.FORMAT,
            "model": {name: tensor.detach().cpu() for name, tensor in self.model.state_dict().items()},
            "model_config": self.model.config.to_dict(),
            "train_config": asdict(self.config),
            "vocab": self.corpus.vocab.chars,
            "step": step,
            "metrics": {"val_loss": val_loss, "best_val_loss": self.best, "elapsed": elapsed,
                        "chars_seen": step * self.config.batch_size * self.config.seq_len,
                        "stopped_by": self.stopped_by},
            "corpus": self.corpus.path.name,
            "corpus_chars": len(self.corpus.ids),
            "corpus_digest": self.corpus.digest,  # what a resume compares (a run saved before it kept none)
            "read_options": dict(self.corpus.options.__dict__),
        }

    def save_latest(self, step: int, elapsed: float, state, val_loss: float) -> None:
        payload = self.weights_payload(step, elapsed, val_loss)
        payload["optimizer"] = self.optimizer.state_dict()
        payload["rng"] = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            payload["rng"]["cuda"] = torch.cuda.get_rng_state(self.device)
        payload["carry_state"] = state_to_list(state)
        payload["data_position"] = step
        checkpoint.save(payload, self.run_dir / "latest.pt")
        self.saved = True
        self.on_event(Saved(self.run_dir / "latest.pt"))

    def checkpoint(self, step: int, elapsed: float, state, val_ids, train_loss: float = math.nan) -> None:
        """Evaluate, then write the metrics line (with `train_loss`, the mean since the last eval) and checkpoints."""
        started = time.monotonic()
        self.on_event(Evaluating(step))
        vocab, start = self.corpus.vocab, len(self.corpus.ids) - len(val_ids)  # the split's start follows its text
        tuner = self.eval_tuner
        if tuner is not None:
            tuner.change(tuner.threads)  # its own count, not training's
        val_loss, scored = evaluate(self.model, val_ids, self.config.precision, max_chars=self.config.eval_chars,
                                    lead=lead_before(self.corpus.ids, start, vocab.encode(default_prime(vocab))),
                                    **({} if tuner is None else dict(on_progress=lambda *done: tuner.step_done(),
                                                                     seq_len=TUNED_SEQ_LEN)))
        if tuner is not None:
            tuner.settle()  # the next eval starts at a count it has measured, not one on trial
        if not math.isfinite(val_loss):  # diverged since the last check: keep the good files as they are
            raise CharnnError(f"validation loss became {val_loss} at step {step}; nothing was saved after it — "
                              f"lower --lr (was {self.config.lr}) and --resume from {self.run_dir}")
        sample = self.preview()
        is_best = val_loss < self.best
        self.best, self.last_val_loss = min(self.best, val_loss), val_loss
        weights = self.weights_payload(step, elapsed, val_loss)
        try:
            # The metrics line first: a kill before latest.pt is written leaves a line past latest's step,
            # which a resume drops; the other order could lose the line for good.
            append_metrics(self.run_dir / "metrics.jsonl", {
                "step": step, "val_loss": val_loss, "val_bpc": val_loss / LN2, "val_chars": scored,
                "best_val_loss": self.best, "elapsed": round(elapsed, 3),
                "chars_seen": weights["metrics"]["chars_seen"], "lr": self.optimizer.param_groups[0]["lr"],
                # A TA's trial could not plot training against validation loss from the files.
                "train_loss": train_loss if math.isfinite(train_loss) else None})
            if self.config.keep_checkpoints:  # --keep 0: none, not one written and removed at once (a review)
                checkpoint.save(weights, self.run_dir / f"step-{step:08d}.pt")
            run_lock.prune_steps(self.run_dir, self.config.keep_checkpoints)
            if self.config.keep_checkpoints:  # each file announced as it is written (a trial found only latest.pt)
                self.on_event(Saved(self.run_dir / f"step-{step:08d}.pt"))
            if is_best:
                checkpoint.save(weights, self.run_dir / "best.pt")
                self.on_event(Saved(self.run_dir / "best.pt"))
            self.save_latest(step, elapsed, state, val_loss)
        except BaseException as problem:  # a full disk (CharnnError), or a second Ctrl-C mid-save
            if self.saved:
                raise
            # A run's first save failed: its files without latest.pt would make a folder that can be neither resumed
            # nor trained into again (a new-user trial), so it leaves none.
            run_lock.remove_run_files(self.run_dir)
            if not isinstance(problem, CharnnError):
                raise
            reason = str(problem).rpartition("; ")[0] or str(problem)
            raise CharnnError(f"{reason}; this run had saved nothing before, so it left no files there") from None
        self.timed_eval(time.monotonic() - started)
        self.on_event(Evaluated(step, val_loss, val_loss / LN2, self.best, is_best, sample, self.eval_seconds,
                                train_loss))

    def preview(self) -> str:
        if not self.config.preview_chars:
            return ""
        self.model.eval()
        generator = torch.Generator().manual_seed(self.config.seed)
        text = "".join(generate(self.model, self.corpus.vocab, "", self.config.preview_chars, 0.8,
                                generator=generator))
        self.model.train()
        return text
