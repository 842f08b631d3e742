"""Drawing the next character from logits: temperature, top-k, top-p, and the Gumbel-max draw (or, for a large
vocabulary, one uniform number a character).

All randomness comes from the generator passed in, so the same seed draws the same characters: a `torch.Generator`,
or a `MersenneTwister` (charnn/mersenne.py), which draws the same numbers without torch (None: torch's global one).
A batch may have one generator per sample (`batch_noise`). This module loads torch only for a torch generator.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from charnn.config import SAMPLING_PRECISIONS
from charnn.errors import CharnnError
from charnn.mersenne import MersenneTwister

if TYPE_CHECKING:
    import torch

    Generator = MersenneTwister | torch.Generator
    Generators = Generator | Sequence[Generator] | None  # one for a whole batch, or one per sample


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
    generator: Generator | None = None,
) -> torch.Tensor:
    """Next ids (B,) from logits (B, V). Temperature 0 is argmax; top-k/top-p trim the tail first."""
    import torch  # loaded already: the logits are a tensor

    check_controls(temperature, top_k, top_p)
    rows = logits.detach().float().cpu().numpy()  # (B, V)
    return torch.from_numpy(draw(rows, temperature, top_k, top_p, batch_noise(1, *rows.shape, generator)[0]))


def gumbel_noise(shape: tuple[int, ...], generator: Generator | None) -> np.ndarray:
    """Gumbel(0, 1) noise from the caller's generator (the one source of randomness here).

    Gumbel-max trick: argmax(logits / T + noise) is an exact draw from softmax(logits / T), so a
    draw costs an add and an argmax: no softmax, cumsum or search per character.
    """
    uniform = uniform_noise(shape, generator)
    with np.errstate(divide="ignore"):  # u = 0 gives -inf noise: that character is not drawn, as it should be
        return (-np.log(-np.log(uniform))).astype(np.float32)


# Above this many characters a draw takes one uniform number (`uniform_draw`), not V Gumbel numbers: the noise of a
# Chinese corpus's 5,478 characters took ~1 ms of a batch of 8's step, and 8 samples came out no faster than one
# (a new-user trial). Smaller vocabularies keep the Gumbel draw, and each seed the text it gave before.
GUMBEL_MAX_VOCAB = 1024


def numbers_per_draw(vocab_size: int) -> int:
    """Random numbers one character's draw takes: one per character of the vocabulary, or one."""
    return vocab_size if vocab_size <= GUMBEL_MAX_VOCAB else 1


def draw(logits: np.ndarray, temperature: float, top_k: int | None, top_p: float | None,
         noise: np.ndarray) -> np.ndarray:
    """`sample_next` on NumPy logits (B, V) with Gumbel noise (B, V), or one uniform number each (B, 1) for a large
    vocabulary (`numbers_per_draw`): the per-character path.

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
    if noise.shape[-1] == 1 and vocab_size > 1:
        return uniform_draw(scaled, noise[:, 0])
    scaled += noise  # trimmed characters stay at -inf whatever the noise
    return scaled.argmax(axis=-1)


def uniform_draw(scaled: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """An exact draw from softmax(scaled) (B, V) by one uniform number in [0, 1) a row (B,): the first character
    whose cumulative weight passes it. Trimmed characters (-inf) weigh 0 and are never drawn."""
    weights = np.exp(scaled - scaled.max(axis=-1, keepdims=True))  # (B, V), the likeliest 1
    cumulative = np.cumsum(weights, axis=-1, dtype=np.float64)  # (B, V)
    passed = (cumulative <= (uniform * cumulative[:, -1])[:, None]).sum(axis=-1)  # (B,)
    return np.minimum(passed, scaled.shape[-1] - 1)


def sample_seeds(seed: int, count: int) -> list[int]:
    """A seed for each of `count` samples of a batch: the first is `seed` itself (so sample 1 of a batch is the text
    `seed` gives alone), the others derived from it (not seed + 1, …, so that batches of nearby seeds do not share
    samples), each below 2**32 like a random seed (the CLI shows them: any one of them alone makes its sample)."""
    def derived(number: int) -> int:
        return int.from_bytes(hashlib.blake2b(f"charnn {seed} {number}".encode(), digest_size=4).digest(), "little")

    return [seed] + [derived(number) for number in range(1, count)]


def batch_noise(steps: int, num_samples: int, vocab_size: int, generator: Generators) -> np.ndarray:
    """The random numbers of `steps` draws (steps, B, N), N = `numbers_per_draw`: Gumbel noise, or uniform numbers
    for a large vocabulary. From one generator for the whole batch, or row b from the b-th generator alone, drawn
    as that generator draws it for a single stream ((steps, 1, N) holds the numbers of (steps, N))."""
    numbers = numbers_per_draw(vocab_size)
    noise = gumbel_noise if numbers > 1 else uniform_noise
    if generator is None or is_generator(generator):
        return noise((steps, num_samples, numbers), generator)
    return np.stack([noise((steps, numbers), one) for one in generator], axis=1)


def uniform_noise(shape: tuple[int, ...], generator: Generator | None) -> np.ndarray:
    """Uniform numbers in [0, 1), float64, from the caller's generator."""
    if isinstance(generator, MersenneTwister):
        return generator.uniform(shape)
    import torch  # a torch.Generator's numbers (loaded already, where one was made), or torch's global generator's

    return torch.rand(shape, generator=generator, dtype=torch.float64).numpy()


def is_generator(value) -> bool:
    """Whether `value` is one generator: a MersenneTwister, or a torch.Generator (torch loaded, since one exists)."""
    torch = sys.modules.get("torch")
    return isinstance(value, MersenneTwister) or (torch is not None and isinstance(value, torch.Generator))


def check_sampling(num_samples: int, temperature: float, top_k: int | None, top_p: float | None,
                   generator: Generators, precision: str, length: int = 0) -> None:
    """Raise CharnnError for what sampling cannot take, when it is asked for (not at the first character)."""
    check_controls(temperature, top_k, top_p)
    if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 0:
        raise CharnnError(f"length must be a whole number, 0 or more, not {length!r}")  # -5 yielded nothing, silently
    if isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Integral) or num_samples < 1:
        raise CharnnError(f"num_samples must be a whole number, at least 1, not {num_samples!r}")
    if precision not in SAMPLING_PRECISIONS:
        raise CharnnError(f"precision must be one of {', '.join(SAMPLING_PRECISIONS)}, not {precision!r}")
    several = isinstance(generator, Sequence) and all(map(is_generator, generator))
    if not (generator is None or is_generator(generator) or several):
        raise CharnnError(f"generator must be a torch.Generator or a MersenneTwister, or a list of one per sample, "
                          f"not {generator!r}")
    if several and len(generator) != num_samples:
        raise CharnnError(f"{len(generator)} generators for {num_samples} samples: give one per sample")
