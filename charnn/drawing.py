"""Drawing the next character from logits: temperature, top-k, top-p, and the Gumbel-max draw.

All randomness comes from the `torch.Generator` passed in, so the same seed draws the same characters.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from charnn.errors import CharnnError


def check_controls(temperature: float, top_k: int | None, top_p: float | None) -> None:
    if not math.isfinite(temperature) or temperature < 0:
        raise CharnnError(f"temperature must be 0 (greedy) or more, and finite, not {temperature}")
    if top_k is not None and top_k < 1:
        raise CharnnError(f"top-k must be at least 1, not {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise CharnnError(f"top-p must be in (0, 1], not {top_p}")


def sample_next(
    logits: torch.Tensor,
    temperature: float = 0.8,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Next ids (B,) from logits (B, V). Temperature 0 is argmax; top-k/top-p trim the tail first."""
    check_controls(temperature, top_k, top_p)
    rows = logits.detach().float().cpu().numpy()  # (B, V)
    return torch.from_numpy(draw(rows, temperature, top_k, top_p, gumbel_noise(rows.shape, generator)))


def gumbel_noise(shape: tuple[int, ...], generator: torch.Generator | None) -> np.ndarray:
    """Gumbel(0, 1) noise from the caller's generator (the one source of randomness here).

    Gumbel-max trick: argmax(logits / T + noise) is an exact draw from softmax(logits / T), so a
    draw costs an add and an argmax: no softmax, cumsum or search per character.
    """
    uniform = torch.rand(shape, generator=generator, dtype=torch.float64).numpy()
    with np.errstate(divide="ignore"):  # u = 0 gives -inf noise: that character is not drawn, as it should be
        return (-np.log(-np.log(uniform))).astype(np.float32)


def draw(logits: np.ndarray, temperature: float, top_k: int | None, top_p: float | None,
         noise: np.ndarray) -> np.ndarray:
    """`sample_next` on NumPy logits (B, V) with Gumbel noise (B, V): the per-character path.

    NumPy, not torch: at V≈100 every op is dispatch overhead, and NumPy's is several times smaller.
    """
    if temperature < 1e-6:  # 0, or so close that dividing by it would overflow: greedy
        return logits.argmax(axis=-1)
    scaled = np.multiply(logits, 1 / temperature, dtype=np.float32)  # (B, V), a new array
    vocab_size = scaled.shape[-1]
    if top_k is not None and top_k < vocab_size:
        kth = np.partition(scaled, vocab_size - top_k, axis=-1)[:, vocab_size - top_k, None]  # (B, 1)
        scaled[scaled < kth] = -np.inf
    if top_p is not None and top_p < 1:
        order = np.argsort(-scaled, axis=-1, kind="stable")  # (B, V), likeliest first
        ordered = np.take_along_axis(scaled, order, axis=-1)
        probs = np.exp(ordered - ordered[:, :1])
        probs /= probs.sum(axis=-1, keepdims=True)
        # Drop a character when the ones before it already cover top_p (the first one always stays).
        ordered[np.cumsum(probs, axis=-1) - probs >= top_p] = -np.inf
        np.put_along_axis(scaled, order, ordered, axis=-1)
    scaled += noise  # trimmed characters stay at -inf whatever the noise
    return scaled.argmax(axis=-1)
