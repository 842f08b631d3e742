"""torch's CPU random numbers, made by NumPy: sampling without torch draws what a `torch.Generator` would.

A `torch.Generator` on the CPU is the 32-bit Mersenne Twister (MT19937), seeded by the standard `init_genrand`
with the seed's low 32 bits. `torch.rand(shape, generator=..., dtype=torch.float64)` takes two 32-bit outputs a
number, the first as the high word, keeps the low 53 bits of the 64 and scales them by 2^-53, one number after
another in the order of the shape. NumPy's MT19937 is the same generator: put in the same state, its raw outputs
make the same numbers, bit for bit (tests/test_without_torch.py checks them against torch). So a seed gives the same
text whether `charnn sample` loaded torch or not.
"""

from __future__ import annotations

import math

import numpy as np

STATE_WORDS = 624  # MT19937's state: 624 32-bit words


class MersenneTwister:
    """A source of random numbers for `charnn.drawing` that draws what `torch.Generator().manual_seed(seed)` draws."""

    def __init__(self, seed: int):
        self.seed = seed
        words = [seed & 0xFFFFFFFF]  # init_genrand, as torch's mt19937 runs it on manual_seed
        for index in range(1, STATE_WORDS):
            previous = words[-1]
            words.append((1812433253 * (previous ^ (previous >> 30)) + index) & 0xFFFFFFFF)
        self.bits = np.random.MT19937(0)  # its seed is replaced at once: no draw from the system's entropy
        self.bits.state = {"bit_generator": "MT19937",
                           "state": {"key": np.array(words, dtype=np.uint32), "pos": STATE_WORDS}}

    def uniform(self, shape: tuple[int, ...]) -> np.ndarray:
        """Numbers in [0, 1) of `shape`, float64: those of torch.rand(shape, generator=..., dtype=torch.float64)."""
        count = math.prod(shape)
        raw = self.bits.random_raw(2 * count).reshape(count, 2)  # (count, 2) 32-bit outputs, held in uint64
        words = (raw[:, 0] << np.uint64(32)) | raw[:, 1]  # (count,): the first output is the high word
        return ((words & np.uint64(2**53 - 1)).astype(np.float64) * 2.0**-53).reshape(shape)

    def __repr__(self) -> str:
        return f"MersenneTwister({self.seed})"
