"""What training reports to its `on_event` callback: small frozen dataclasses, free of torch.

Kept apart from train.py so that the UI can render them (and the CLI can print an error) without
importing torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from charnn.config import ModelConfig, TrainConfig


@dataclass(frozen=True)
class Started:
    run_dir: Path
    device: str
    precision: str
    num_parameters: int
    model_config: ModelConfig
    config: TrainConfig
    train_chars: int
    val_chars: int
    start_step: int  # > 0 when resumed
    best_val_loss: float = float("inf")  # a resumed run's best so far (inf: none yet)
    threads: int | None = None  # CPU threads at most, where their count follows the speed (threads.py)
    last_val_loss: float = float("nan")  # a resumed run's last eval before it (nan: none): shown until its first here


@dataclass(frozen=True)
class Step:
    step: int
    loss: float  # mean training loss (nats) since the last Step event
    lr: float
    chars_per_second: float
    elapsed: float  # seconds of training in this run, resumed time included
    progress: float  # 0..1 toward the step target or the time budget
    threads: int | None = None  # CPU threads in use (not counting a short try), where tuned (threads.py)


@dataclass(frozen=True)
class Evaluating:
    step: int  # an eval (and checkpoint) begins after this step: seconds with no Step events


@dataclass(frozen=True)
class Evaluated:
    step: int
    val_loss: float  # nats per character over the validation split (or TrainConfig.eval_chars of it)
    val_bpc: float
    best_val_loss: float
    is_best: bool
    sample: str
    seconds: float  # time the eval took
    # Mean training loss (dropout on) over the steps since the eval before, as metrics.jsonl records it; nan if none.
    train_loss: float = math.nan


@dataclass(frozen=True)
class Saved:
    path: Path  # a file the run has just written: step-NNNNNNNN.pt, best.pt or latest.pt


@dataclass(frozen=True)
class Finished:
    step: int
    elapsed: float
    best_val_loss: float
    reason: str  # 'steps', 'time' or 'interrupted'
    run_dir: Path
    steps_trained: int  # by this call; 0: nothing was written (a new run has no files, a resumed one is as it was)
    final_eval_only: bool = False  # no step trained, but a resumed run's missing final eval and save ran


Event = Started | Step | Evaluating | Evaluated | Saved | Finished
