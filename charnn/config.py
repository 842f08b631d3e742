"""Configuration: frozen dataclasses, one comment per field, checked on creation.

Kept free of torch so that the CLI can read its defaults (and `charnn --help` can answer) without
paying for importing torch.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass

from charnn.errors import CharnnError

CELLS = ("lstm", "gru", "rnn")
PRECISIONS = ("fp32", "bf16")  # no fp16: it would need loss scaling, and bf16 does not
# Sampling on a CPU: auto is int8 where the CPU has int8 dot products (charnn/products.py), fp32 what other CPUs run.
SAMPLING_PRECISIONS = ("auto", "fp32")
ACCELERATOR_BATCH_SIZE = 32  # the preset's batch on CUDA/MPS when none is given (GPUs want width)
WARMUP_STEPS = 30  # TrainConfig's warmup, where `steps` does not make it shorter


def shown(value) -> str:
    """A value in an error message: as written, where it is a short number or text; else only its type (a crafted
    checkpoint's `cell`, a list that nests itself, took a 50 MB line to write out: a review)."""
    if isinstance(value, (str, float, bool)) or isinstance(value, numbers.Integral) and abs(value) < 10**30:
        text = repr(value)
        if len(text) <= 40:
            return text
    return f"a value of type {type(value).__name__}"


def check_whole_numbers(config, names: tuple[str, ...]) -> None:
    """Each of `names` a whole number (or None): a library caller's `hidden_size=64.5` was accepted, `"64"` failed
    deep inside (a new-user trial)."""
    for name in names:
        value = getattr(config, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
            raise CharnnError(f"{name} must be a whole number, not {shown(value)}")
        if value is not None and type(value) is not int:  # e.g. NumPy's: a checkpoint holds plain data only
            object.__setattr__(config, name, int(value))


@dataclass(frozen=True)
class ModelConfig:
    """A model's shape: cell, layers, sizes and dropout (a comment on each field here says what it is)."""

    vocab_size: int  # number of distinct characters (V)
    cell: str = "lstm"  # recurrent cell: lstm, gru or rnn (tanh)
    num_layers: int = 2  # stacked recurrent layers (L)
    hidden_size: int = 512  # units per recurrent layer (H)
    embed_dim: int = 64  # size of the learned character embedding (E)
    dropout: float = 0.0  # dropout on each layer's output (between layers, before the head), training only
    weight_dropout: float = 0.0  # DropConnect on the recurrent (hidden-to-hidden) weights, training only

    def __post_init__(self):
        check_whole_numbers(self, ("vocab_size", "num_layers", "hidden_size", "embed_dim"))
        if self.cell not in CELLS:
            raise CharnnError(f"cell must be one of {', '.join(CELLS)}, not {shown(self.cell)}")
        for name in ("vocab_size", "num_layers", "hidden_size", "embed_dim"):
            if getattr(self, name) < 1:
                raise CharnnError(f"{name} must be at least 1, not {shown(getattr(self, name))}")
        for name in ("dropout", "weight_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise CharnnError(f"{name.replace('_', '-')} must be in [0, 1), not {shown(getattr(self, name))}")

    def to_dict(self) -> dict:
        values = asdict(self)
        if not self.weight_dropout:  # left out when unused, so that charnn before 2026-11-26 still loads the file
            del values["weight_dropout"]
        return values


@dataclass(frozen=True)
class TrainConfig:
    """How a run trains: its target, batch, schedule, evals and checkpoints (a comment on each field here says what
    it is). `charnn.plan_run` fills it in as the CLI does, from the corpus, the budget and the flags given."""

    steps: int | None = None  # optimizer steps to train to (None: only the time budget limits)
    time_budget: float | None = None  # wall-clock seconds for the whole run, final eval and save included
    batch_size: int = 16  # parallel streams per step (B); on CPUs as fast per char as 32, twice the updates
    seq_len: int = 64  # characters per stream per step; gradients flow this far back (T)
    lr: float = 3e-3  # peak learning rate of AdamW
    weight_decay: float = 0.01  # AdamW decay on weight matrices (not biases or embeddings)
    # Linear warmup from 0 to `lr` over this many steps (short: budgets are short). None: WARMUP_STEPS, or a tenth of
    # `steps` where that is fewer (a `--steps 20` run ended still warming up, never at its lr).
    warmup_steps: int | None = None
    min_lr_fraction: float = 0.01  # cosine decay ends at lr × this
    grad_clip: float = 1.0  # max global norm of the gradients
    eval_every: int = 250  # steps between validation evals (each also checkpoints)
    eval_seconds: float | None = None  # eval by the clock, this long apart, instead of every eval_every steps
    eval_chars: int | None = None  # validation chars each eval scores, in spans spread over the split (None: all)
    val_fraction: float = 0.1  # last fraction of the corpus held out for validation
    seed: int = 1337  # seeds initialisation, dropout and data order
    keep_checkpoints: int = 3  # step-NNNNNNNN.pt files to keep (best.pt and latest.pt always)
    preview_chars: int = 200  # characters of sample text shown at each eval (0: none)
    precision: str = "fp32"  # 'fp32' or 'bf16' matmuls (autocast); resolved by the caller
    log_every: int = 10  # steps between Step events

    def __post_init__(self):
        check_whole_numbers(self, ("batch_size", "seq_len", "eval_every", "warmup_steps", "log_every",
                                   "keep_checkpoints", "seed", "preview_chars", "steps", "eval_chars"))
        if self.warmup_steps is None:  # resolved here, so that the run saves the number it used
            short = max(1, self.steps // 10) if self.steps is not None else WARMUP_STEPS
            object.__setattr__(self, "warmup_steps", min(WARMUP_STEPS, short))
        if self.steps is None and self.time_budget is None:
            raise CharnnError("give a number of steps or a time budget")
        if self.steps is not None and self.steps < 1:
            raise CharnnError(f"steps must be at least 1, not {self.steps}")
        if self.time_budget is not None and not (self.time_budget > 0 and math.isfinite(self.time_budget)):
            raise CharnnError(f"time budget must be a positive number of seconds, not {self.time_budget}")
        if not (self.grad_clip > 0 and math.isfinite(self.grad_clip)):
            raise CharnnError(f"grad clip must be a positive number, not {self.grad_clip}")
        if not 0 <= self.min_lr_fraction <= 1:
            raise CharnnError(f"min lr fraction must be in [0, 1], not {self.min_lr_fraction}")
        for name in ("batch_size", "seq_len", "eval_every", "warmup_steps", "log_every", "keep_checkpoints"):
            if getattr(self, name) < (0 if name in ("warmup_steps", "keep_checkpoints") else 1):
                raise CharnnError(f"{name.replace('_', '-')} must be at least 1, not {getattr(self, name)}")
        if not 0 < self.val_fraction < 1:
            raise CharnnError(f"val fraction must be in (0, 1), not {self.val_fraction}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise CharnnError(f"learning rate must be a positive number, not {self.lr}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise CharnnError(f"weight decay must be a number ≥ 0, not {self.weight_decay}")
        if self.eval_chars is not None and self.eval_chars < 1:
            raise CharnnError(f"eval chars must be at least 1, not {self.eval_chars}")
        if self.eval_seconds is not None and not self.eval_seconds > 0:
            raise CharnnError(f"eval seconds must be positive, not {self.eval_seconds}")
        if self.precision not in PRECISIONS:
            raise CharnnError(f"precision must be fp32 or bf16, not {self.precision!r}")
