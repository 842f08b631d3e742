"""A batch's samples (`--num-samples`) on stdout: streamed while the batch is made, or as one Fountain document."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager

from charnn import documents, script
from charnn.ui.sampling import SampleStatus, open_stream, sample_header, show_text


class BatchStream:
    """`--num-samples N` on stdout while the batch is made, in exactly the bytes of its samples shown one after
    another under their headers (what `--output` writes), and on a colour terminal each on the prime's last line.

    The samples grow side by side, one character each per step of the batch. Sample 1 streams under its header;
    once it has ended (its `--stop`), the next one's text so far is written at once and that one streams on. The
    samples still open when the batch ends are written then. So text shows from the first step, not after the
    last one (a batch of 8 × 1,000 took 1.5 s to show anything, and minutes for long samples).

    `rows` is the batch's `batch_rows.BatchRows`: `update` reads it as it grows.
    """

    def __init__(self, rows, style: str, prime: str, writes_script: Callable[[], bool] | None, label: str,
                 temperature: float, length: int, guard: AbstractContextManager | None = None):
        self.rows, self.style, self.prime = rows, style, prime
        # Held around each piece of text written and counted, so that a Ctrl-C cannot fall between the two: `finish`
        # then goes on from exactly where stdout ended (the caller's, which defers a Ctrl-C to its end).
        self.guard = guard or contextlib.nullcontext()
        self.total = rows.num_samples
        self.current = 0  # the sample being written
        self.written = 0  # its characters on stdout so far
        self.headed = False  # its header is on stdout
        self.previous = ""  # the sample before it, whole: whether a blank line goes before the header depends on it
        # The first sample's style, decided as a single stream's is (the prime, or a few unseen trial samples).
        self.stream = open_stream(style, sys.stdout, context=prime, writes_script=writes_script)
        self.status = SampleStatus(self.stream, label, temperature, length, samples=self.total)

    def __enter__(self) -> BatchStream:
        self.status.__enter__()
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.status.__exit__(kind, value, traceback)  # closes the stream being written; a Ctrl-C cuts it

    def update(self, position: int) -> None:
        """The batch has made `position` characters of each sample (generate_batch's `on_progress`)."""
        self.status.tick()
        while self.current < self.total:
            ended = self.rows.ends[self.current] is not None  # it has written its --stop
            self.write(self.rows.text(self.current, self.written), empty=ended)
            if not ended:
                return
            self.next_sample(self.rows.text(self.current))

    def finish(self, texts: list[str]) -> None:
        """The rest of every sample, from the batch's final `texts`."""
        while self.current < self.total:
            text = texts[self.current]
            self.write(text[self.written:], empty=True)
            self.next_sample(text)

    def write(self, text: str, empty: bool = False) -> None:
        """More of the current sample; its header first (`empty`: even with no text, as a finished sample gets)."""
        with self.guard:
            if not self.headed and (text or empty):
                seed = self.rows.seeds[self.current] if self.rows.seeds else None
                sample_header(self.current + 1, self.total, self.style, self.previous, seed)
                self.headed = True
                self.stream.show_context()
            for char in text:
                self.stream.write(char)
            self.written += len(text)

    def next_sample(self, text: str) -> None:
        """End the current sample (whole: `text`) and open the next one's stream."""
        with self.guard:  # its closing line break and the move to the next sample: both or neither
            self.stream.close()
            if not text.endswith("\n") if text else self.stream.context_shown:
                sys.stdout.write("\n")
            sys.stdout.flush()
            self.previous, self.current, self.written, self.headed = text, self.current + 1, 0, False
        if self.current < self.total:
            # A later sample is styled if the first was (or its text so far reads as a script). It begins on the
            # prime's last line, as the first did.
            styled = getattr(self.stream, "active", False)
            self.stream = open_stream(self.style, sys.stdout, context=self.previous[-4000:] + "\n\n" + self.prime,
                                      writes_script=lambda: styled, prime=self.prime)
            self.status.stream = self.stream


def show_fountain(texts: list[str], prime: str, style: str, seeds: list[int] | None = None) -> None:
    """The samples as the Fountain document --output writes, on stdout once the batch is done (a Fountain
    document is made from the whole text)."""
    document = documents.output_text(texts, prime, True, seeds)
    show_text(document, style, script.looks_like_script(document))
