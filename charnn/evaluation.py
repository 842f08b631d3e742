"""Cross-entropy of a model over a whole split, every character scored exactly once.

The N-1 next-character predictions of an N-character split are cut into B contiguous streams run
side by side, carrying the recurrent state through each stream. So that a stream does not start
cold, it first reads the `burn_in` characters before its span without scoring them:

    split:     |------ stream 0 ------|------ stream 1 ------|--- stream 2 ---|
    stream 1:                  [burn-in]scored ...............|

With burn-in ≥ the model's useful memory this equals one single-stream pass, at batch speed.

With `max_chars` below the split's length (training's evals of a long split: charnn/presets.py), the streams
score exactly `max_chars` predictions, in B ≥ 8 (or `max_chars`) spans spread evenly over the split, each after
its burn-in.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from charnn.errors import CharnnError
from charnn.model import CharRNN
from charnn.precision import autocast

LN2 = math.log(2)
# Logits held at once, at most (B × T × V floats: 64 MB, and ~1.5× that again for the loss's copies): a trial's
# 3,083-character Chinese vocabulary at 128 streams × 256 columns took 1.3 GB for `charnn eval` (0.5 GB while
# training), so a large vocabulary is scored in shorter windows.
LOGITS_AT_ONCE = 1 << 24
BURN_IN = 256  # characters each stream reads before its span, unscored: its state then is the text's
# Columns a window where a thread tuner times the windows (`on_progress`; the default is 256): tiny shakespeare's
# split is 6 windows of 256 (~0.2 s each on 2 cores), too few for a tuner to act on within an eval.
TUNED_SEQ_LEN = 64


def lead_before(ids: np.ndarray, start: int, blank: list[int]) -> np.ndarray:
    """What to read before scoring `ids[start:]` (`evaluate`'s `lead`): the BURN_IN characters before it, where the
    text has any (a validation split's start: the end of the training text), else `blank` (a text's own start:
    sample.default_prime's blank line). A 311-character validation split that starts mid-line scored 0.1150 nats
    from the zero state, 0.1227 after a blank line (the model expected a line to begin)."""
    return np.asarray(ids[max(0, start - BURN_IN):start]) if start > 0 else np.asarray(blank, dtype=np.int64)


def read(ids: np.ndarray, lead: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """ids[positions] as int64, where a position below 0 is in `lead` (read before the text)."""
    out = ids[np.maximum(positions, 0)].astype(np.int64)
    before = positions < 0
    if before.any():
        out[before] = lead[positions[before] + len(lead)]
    return out


@torch.inference_mode()
def evaluate(
    model: CharRNN,
    ids: np.ndarray,
    precision: str = "fp32",
    batch_size: int | None = None,
    seq_len: int = 256,
    burn_in: int = BURN_IN,
    max_chars: int | None = None,
    on_progress: Callable[[float, int, float], None] | None = None,
    lead: np.ndarray | None = None,
) -> tuple[float, int]:
    """(mean loss in nats per character, number of characters scored) over `ids` (N,), or over `max_chars` of
    them where that is fewer. `on_progress(fraction done, characters scored so far, their summed loss)` after each
    window of `seq_len` columns (one wait for an accelerator a window): what is scored so far is the start of every
    stream's span, spread over the split, a score of its own (what `charnn eval` gives when stopped). `lead`: ids read
    before the text's start, unscored (`lead_before`): from the zero state, which training almost never shows it,
    the bundled model scored a 36-character speech at 8.53 nats a character, 1.40 after a blank line (its first
    characters cost 24–38 nats each). `ids`: a NumPy array (`vocab.encode`'s), a tensor or a list."""
    if torch.is_tensor(ids):  # a student's tensor met `.astype`, and a list "only integer scalar arrays"
        ids = ids.cpu().numpy()
    ids = ids if isinstance(ids, np.ndarray) else np.asarray(ids)
    if ids.ndim != 1 or not (np.issubdtype(ids.dtype, np.integer) or len(ids) == 0):
        raise CharnnError(f"evaluate: ids must be one row of character ids (vocab.encode(text)), not an array of "
                          f"shape {tuple(ids.shape)} and type {ids.dtype}")
    n_targets = len(ids) - 1
    if n_targets < 1:
        return float("nan"), 0
    device = next(model.parameters()).device
    wanted = n_targets if max_chars is None else max(1, min(n_targets, max_chars))
    sampled = wanted < n_targets
    if batch_size is None:
        batch_size = max(min(8, wanted) if sampled else 1, min(128, wanted // 1024))
    batch_size = min(batch_size, wanted)  # no stream without a character to score
    if sampled:  # spans of wanted // B or one more, spread over the whole split
        lengths = wanted // batch_size + (np.arange(batch_size) < wanted % batch_size)
        starts = np.arange(batch_size) * (n_targets // batch_size)  # first scored input position of each stream
    else:  # contiguous spans that cover it
        span = math.ceil(n_targets / batch_size)
        starts = np.arange(batch_size) * span
        lengths = np.clip(n_targets - starts, 0, span)  # the last streams' may be short, or empty
    ends = starts + lengths
    seq_len = max(8, min(seq_len, LOGITS_AT_ONCE // (batch_size * model.config.vocab_size)))
    n_scored = int(lengths.sum())
    span = int(lengths.max())  # scored predictions of the longest stream
    lead = np.zeros(0, dtype=np.int64) if lead is None else np.asarray(lead, dtype=np.int64)
    origins = np.maximum(-len(lead), starts - burn_in)  # where each stream begins reading: before 0, in the lead
    width = int((starts - origins).max()) + span  # columns every stream walks through
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    state, done = None, 0
    for column in range(0, width, seq_len):
        positions = origins[:, None] + np.arange(column, min(column + seq_len, width))[None, :]  # (B, T)
        scored = (positions >= starts[:, None]) & (positions < ends[:, None])
        safe = np.minimum(positions, n_targets - 1)
        inputs = torch.from_numpy(read(ids, lead, safe)).to(device)  # (B, T)
        targets = torch.from_numpy(read(ids, lead, safe + 1)).to(device)  # (B, T)
        mask = torch.from_numpy(scored).to(device)
        with autocast(device, precision):
            logits, state = model(inputs, state)  # (B, T, V)
        # Over the last dim, contiguous: a (B, V, T) transpose made log-softmax stride over V, 1.8× slower in all
        # for a Chinese corpus's 5,478 characters (a new-user trial).
        losses = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none")  # (B·T,)
        losses = losses.view(targets.shape)  # (B, T)
        total += (losses * mask).sum(dtype=torch.float64)
        done += int(scored.sum())
        if on_progress is not None:
            on_progress(min(1.0, (column + seq_len) / width), done, float(total))
    model.train(was_training)
    return float(total) / n_scored, n_scored
