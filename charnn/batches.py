"""Training batches: contiguous streams read side by side, so that the recurrent state carries over."""

from __future__ import annotations

import numpy as np

from charnn.errors import CharnnError


class StreamBatcher:
    """Contiguous streams for truncated BPTT, char-rnn style, so state can be carried across steps.

    The training ids are cut into B equal streams; step i of an epoch reads columns [iT, iT+T]:

        stream 0: a b c d | e f g h | ...      inputs  = ids[s_b + iT     : s_b + iT + T]
        stream 1: m n o p | q r s t | ...      targets = ids[s_b + iT + 1 : s_b + iT + T + 1]

    Each epoch starts the streams at a different offset (from the seed and the epoch number), so
    the model does not see the same window boundaries every time. Position = global step: nothing
    else is needed to resume exactly.
    """

    def __init__(self, ids: np.ndarray, batch_size: int, seq_len: int, seed: int):
        self.ids, self.batch_size, self.seq_len, self.seed = ids, batch_size, seq_len, seed
        self.stream_len = (len(ids) - 1) // batch_size
        self.steps_per_epoch = self.stream_len // seq_len
        if self.steps_per_epoch < 1:
            need = batch_size * seq_len + 1
            raise CharnnError(
                f"training text is too short ({len(ids):,} chars) for batch {batch_size} × sequence "
                f"{seq_len} (needs {need:,}) — use a smaller --batch-size or --seq-len"
            )
        self.slack = self.stream_len - self.steps_per_epoch * seq_len  # room for a per-epoch shift

    def epoch_offset(self, epoch: int) -> int:
        if epoch == 0 or self.slack == 0:
            return 0
        return int(np.random.default_rng([self.seed, epoch]).integers(0, self.slack + 1))

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray, bool]:
        """(inputs (B, T), targets (B, T), starts_epoch) for a global step."""
        epoch, i = divmod(step, self.steps_per_epoch)
        start = self.epoch_offset(epoch) + i * self.seq_len
        rows = np.stack([self.ids[b * self.stream_len + start : b * self.stream_len + start + self.seq_len + 1]
                         for b in range(self.batch_size)]).astype(np.int64)  # (B, T+1)
        return rows[:, :-1], rows[:, 1:], i == 0
