"""A batch's samples as they grow (`sample.generate_batch`), each cut after its own stop string."""

from __future__ import annotations

import numpy as np

from charnn.vocab import Vocab


class BatchRows:
    """A batch's texts as they grow, one row per sample, each cut after its own `stop`; `seeds`, where each sample has
    its own (`sample_seeds`), are shown with them."""

    def __init__(self, vocab: Vocab, num_samples: int, stop: str | None = None, seeds: list[int] | None = None):
        self.vocab, self.num_samples, self.stop, self.seeds = vocab, num_samples, stop, seeds
        self.columns: list[np.ndarray] = []  # next ids (B,) per position: decoded once, not grown per character
        self.ends: list[int | None] = [None] * num_samples  # characters kept per row, once it has written `stop`
        self.tails = [""] * num_samples  # each running row's last len(stop) characters

    def add(self, next_ids: np.ndarray) -> bool:
        """One more character per row, (B,) ids; whether every row has now written its stop."""
        self.columns.append(next_ids)
        if not self.stop:
            return False
        for row, token in enumerate(next_ids.tolist()):
            if self.ends[row] is None:
                self.tails[row] = (self.tails[row] + self.vocab.chars[token])[-len(self.stop):]
                self.ends[row] = len(self.columns) if self.tails[row] == self.stop else None
        return all(end is not None for end in self.ends)

    def made(self, row: int) -> int:
        """Characters of sample `row` so far: up to its stop, once written."""
        end = self.ends[row]
        return len(self.columns) if end is None else end

    def text(self, row: int, start: int = 0) -> str:
        """Sample `row` from character `start` on, as far as it has come."""
        return "".join(self.vocab.chars[int(ids[row])] for ids in self.columns[start:self.made(row)])

    def texts(self) -> list[str]:
        ids = np.stack(self.columns, axis=1) if self.columns else np.zeros((self.num_samples, 0), dtype=np.int64)
        return [self.vocab.decode(row[:end]) for row, end in zip(ids, self.ends, strict=True)]  # ids (B, S)
