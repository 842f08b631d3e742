"""How many threads torch's CPU ops, and NumPy's BLAS, get in training and sampling: all cores, or fewer while fewer
are faster.

torch splits each op over one thread a core (OpenMP), and those threads wait for each other at the op's end.
Next to another busy program (a second training, `charnn sample` from the run in another terminal, a build)
the system often deschedules one of them, and the others spin, waiting. On machine C (2 cores) a 2×384
training step ran ~80× slower with 2 threads each than alone when two such trainings ran at once, and 1 thread
each ran ~40× faster than that (benchmarks/RESULTS.md, seventeenth session); alone, 2 threads were 1.7× faster.
No setting of OpenMP's own fixes both cases.

So `ThreadTuner` times the steps in windows of a second or more (a tenth of one in sampling) and:
- tries half the threads for one window after the first (a CPU shared from the start), and whenever two windows
  in a row at some count are `SLOWER` than the fastest seen at that count;
- keeps the fewer threads only where they were at least `FASTER`, else goes back;
- with fewer threads than cores, tries twice as many again after `RETRY_SECONDS`, keeps them where they are
  no slower, and waits twice as long before the next try each time that fails (up to `LONGEST_WAIT`): a try
  beside a busy program costs a slow step.
Runs with a fixed count (`--threads`, or OMP_NUM_THREADS) are not tuned. Different counts sum in different
orders, so a tuned run is reproducible to the bit only where its counts were the same.

One stream sampled in fp32 multiplies with NumPy's BLAS (OpenBLAS in NumPy's wheels), whose threads wait for each
other the same way: beside a busy loop on machine D, one stream ran 885–1,102 chars/s on its 2 threads and
3,773–4,193 on one; alone, 2 threads were ~12% faster (benchmarks/RESULTS.md, twenty-fifth session). The same
tuner sets its count through threadpoolctl (`tuned_blas_threads`). This module loads torch only where torch's
count is asked for: sampling without torch tunes the BLAS alone.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

SLOWER = 1.5  # a window this many times the fastest at its count: the CPU may be shared
FASTER = 1.2  # fewer threads are kept where a step took at most 1/this of the time with more
WINDOW_SECONDS = 1.0  # whole steps over at least this long make one measurement
RETRY_SECONDS = 30.0  # the first wait before trying more threads again
LONGEST_WAIT = 480.0  # the wait doubles on each failed try, up to this
SAMPLING_WINDOW = 0.1  # seconds of steps a sampling tuner times at once: steps are ~0.1 ms, and samples short
EVAL_WINDOW = 0.2  # and an eval's tuner: a window of columns (~0.08 s each), in evals of ~1 s
FIXED_BY = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")  # a count the user set for the BLAS


class ThreadTuner:
    """Call `step_done()` after each step, `restart_window()` after time that is not a step, and `settle()` before
    it (an eval: not at a count on trial)."""

    def __init__(self, most: int, set_threads: Callable[[int], None], clock: Callable[[], float] = time.monotonic,
                 threads: int | None = None, window_seconds: float | None = None):
        """`most` threads at most, starting with `threads` (default `most`), already set."""
        self.most, self.threads = most, threads or most
        self.window_seconds = window_seconds or WINDOW_SECONDS
        self.set_threads, self.clock = set_threads, clock
        self.fastest: dict[int, float] = {}  # seconds per step, the fastest window at each count
        self.trial: tuple[int, float] | None = None  # (count, seconds per step) before the window now on trial
        self.more = Backoff(clock() + RETRY_SECONDS if self.threads < most else math.inf)  # when to try more again
        self.fewer = Backoff(0.0)  # when fewer may be tried again, after a try that was not faster
        self.slow = 0  # windows in a row `SLOWER` than the fastest: two, not one burst of another program, start a try
        self.warm = False  # the first window warms caches and oneDNN up: not counted (unless it is one step)
        self.last: float | None = None  # when the last step ended; the first is not timed: it began before the tuner
        self.window_seconds_so_far, self.window_steps = 0.0, 0

    @property
    def settled(self) -> int:
        """The count in use, or, during a one-window try of another, the count it was tried against."""
        return self.trial[0] if self.trial else self.threads

    def restart_window(self) -> None:
        self.last, self.window_seconds_so_far, self.window_steps = self.clock(), 0.0, 0

    def settle(self) -> None:
        """Back to the settled count, ending a try (an eval must not run, nor be timed, at a count on trial)."""
        if self.trial is not None:
            self.change(self.trial[0])
            self.trial = None

    def step_done(self, seconds: float | None = None) -> None:
        """After a step that took `seconds` (default: the time since the last step ended; sampling gives the
        stepper's own time, as what a reader of the text does between characters is not a step's)."""
        now = self.clock()
        if seconds is None:
            if self.last is None:
                self.last = now
                return
            seconds, self.last = now - self.last, now
        self.window_seconds_so_far += seconds
        self.window_steps += 1
        if self.window_seconds_so_far < self.window_seconds:
            return
        steps, per_step = self.window_steps, self.window_seconds_so_far / self.window_steps
        self.window_seconds_so_far, self.window_steps = 0.0, 0
        if self.warm or steps == 1:  # one step of a second or more: a warm-up would be a small part of it
            self.measured(per_step, now)
        self.warm = True

    def change(self, threads: int) -> None:
        self.threads = threads
        self.set_threads(threads)
        self.restart_window()  # a step after a change ran ~15% slower than the next ones (machine C): counted

    def measured(self, per_step: float, now: float) -> None:
        count = self.threads
        fastest = self.fastest[count] = min(self.fastest.get(count, math.inf), per_step)
        if self.trial is not None:
            before, before_per_step = self.trial
            self.trial, self.slow = None, 0
            if count < before:
                if per_step * FASTER <= before_per_step:  # fewer were faster: kept, more are tried again later
                    self.more.restart(now)
                else:
                    self.fewer.failed(now)
                    self.change(before)
            elif per_step <= before_per_step:  # more were as fast: the CPU is free again
                self.fewer.restart(now, delay=0.0)  # fewer may be tried as soon as it is shared again
                self.more.restart(now)
            else:  # more were slower: the CPU is still shared
                self.more.failed(now)
                self.change(before)
            return
        self.slow = self.slow + 1 if per_step > SLOWER * fastest else 0
        if count > 1 and now >= self.fewer.at and (count not in self.fewer.tried or self.slow >= 2):
            self.fewer.tried.add(count)
            self.trial = (count, per_step)
            self.change(count // 2)
        elif count < self.most and now >= self.more.at:
            self.trial = (count, per_step)
            self.change(min(self.most, 2 * count))


class Backoff:
    """When a kind of try is next due (`at`): `RETRY_SECONDS` after a restart, twice as long after each failure."""

    def __init__(self, first_at: float = math.inf):
        self.wait, self.at = RETRY_SECONDS, first_at
        self.tried: set[int] = set()  # counts tried at least once (fewer threads are tried once from each)

    def restart(self, now: float, delay: float = RETRY_SECONDS) -> None:
        self.wait, self.at = RETRY_SECONDS, now + delay

    def failed(self, now: float) -> None:
        self.wait = min(2 * self.wait, LONGEST_WAIT)
        self.at = now + self.wait


@contextmanager
def tuned_threads(most: int | None, window_seconds: float | None = None) -> Iterator[ThreadTuner | None]:
    """A tuner of torch's thread count, up to `most` threads, from the count set now; none where `most` is None
    or 1. torch's count is put back as it was on the way out."""
    import torch

    before = torch.get_num_threads()
    if not most or most < 2:
        yield None
        return
    try:
        yield ThreadTuner(most, torch.set_num_threads, threads=min(before, most), window_seconds=window_seconds)
    finally:
        torch.set_num_threads(before)


def blas_libraries() -> list:
    """threadpoolctl's controllers of the BLAS libraries loaded now (NumPy's OpenBLAS; MKL where torch brought it)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas").lib_controllers


def set_blas_threads(threads: int | None) -> int | None:
    """NumPy's BLAS thread count for one stream's products in fp32 (NumPy's, torch loaded or not): `--threads N`
    fixes it, and so does a count in `FIXED_BY` (None then). Else the most a tuner may use: its count now, a thread
    a core."""
    libraries = blas_libraries()
    if threads is not None:
        for library in libraries:
            library.set_num_threads(threads)
        return None
    if any(os.environ.get(name) for name in FIXED_BY):
        return None
    return max((library.num_threads for library in libraries), default=None)


@contextmanager
def tuned_blas_threads(most: int | None, window_seconds: float | None = None) -> Iterator[ThreadTuner | None]:
    """`tuned_threads` for the BLAS libraries' thread count (`blas_libraries`): what one stream's fp32 products
    run on (recurrence.NumpyProduct), not torch's; not where the user set a count (`FIXED_BY`). Put back as it was
    on the way out."""
    fixed = any(os.environ.get(name) for name in FIXED_BY)
    libraries = blas_libraries() if most and most >= 2 and not fixed else []
    before = [library.num_threads for library in libraries]
    if not libraries:
        yield None
        return

    def set_threads(count: int) -> None:
        for library in libraries:
            library.set_num_threads(count)

    try:
        yield ThreadTuner(most, set_threads, threads=min(min(before), most), window_seconds=window_seconds)
    finally:
        for library, count in zip(libraries, before, strict=True):
            library.set_num_threads(count)


def faster_count(most: int, rate: Callable[[int], float] | None = None) -> int:
    """`most`, or half as many where a matmul ran `FASTER` with those just now (a CPU shared with a busy program);
    torch is left with that count. For the start of a run: the preset's speed test and the first steps then run
    with it. `rate(count)`: matmuls a second with `count` threads (default: `matmul_rate`)."""
    import torch

    rate = rate or matmul_rate
    half = max(1, most // 2)  # the tuner's own step: on many cores, one busy neighbour does not call for one thread
    rates = {count: 0.0 for count in (most, half)}
    for _ in range(2):  # alternated: a burst of another program must not decide alone
        for count in rates:
            rates[count] = max(rates[count], rate(count))
    chosen = half if rates[half] > FASTER * rates[most] else most
    torch.set_num_threads(chosen)
    return chosen


def matmul_rate(count: int, seconds: float = 0.03) -> float:
    """(128, 512) @ (512, 512) products a second with `count` threads, over about `seconds`."""
    import torch

    a, b = torch.randn(128, 512), torch.randn(512, 512)  # ~67 MFLOP: well under a millisecond alone
    torch.set_num_threads(count)
    a @ b
    done, started = 0, time.perf_counter()
    while (spent := time.perf_counter() - started) < seconds:
        a @ b
        done += 1
    return done / spent
