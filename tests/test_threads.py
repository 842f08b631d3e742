"""The training thread count follows the speed it gives (charnn/threads.py), on a simulated clock.

Step times are machine C's for a 2×384 training step (benchmarks/RESULTS.md, seventeenth session): alone,
65 ms with 2 threads and 115 ms with 1; beside another training, seconds with 2 threads and ~120 ms with 1.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
import torch

from charnn import threads
from charnn.threads import ThreadTuner, tuned_threads

ALONE = {2: 0.065, 1: 0.115}
SHARED = {2: 5.0, 1: 0.12}


def simulate(seconds: float, cost, start: int = 2) -> tuple[ThreadTuner, list[tuple[float, int]], dict[int, float]]:
    """Steps for `seconds` of simulated time, each taking cost(threads, now); (the tuner, its changes as
    (time, count), the time spent at each count)."""
    now = 0.0
    changes: list[tuple[float, int]] = []
    tuner = ThreadTuner(2, lambda count: changes.append((now, count)), clock=lambda: now, threads=start)
    spent = {1: 0.0, 2: 0.0}
    while now < seconds:
        step = cost(tuner.threads, now)
        now += step
        spent[tuner.threads] += step
        tuner.step_done()
    return tuner, changes, spent


def test_alone_it_tries_one_thread_once_and_keeps_all():
    tuner, changes, spent = simulate(600, lambda count, now: ALONE[count])
    assert [count for _, count in changes] == [1, 2]  # the one look at a CPU shared from the start
    assert tuner.threads == 2 and spent[1] < 2.5  # about one window of a second


def test_shared_from_the_start_it_goes_to_one_thread_and_tries_two_less_and_less_often():
    tuner, changes, spent = simulate(1200, lambda count, now: SHARED[count])
    assert tuner.threads == 1
    assert changes[0][1] == 1 and changes[0][0] < 11  # after two slow steps (the first is not timed)
    tries = [when for when, count in changes if count == 2]
    gaps = [later - earlier for earlier, later in pairwise(tries)]
    assert len(tries) >= 3 and all(later > 1.8 * earlier for earlier, later in pairwise(gaps))
    assert spent[2] < 0.1 * 1200  # each try costs a slow step, less often each time


def test_a_start_on_one_thread_tries_two_after_a_while():
    """threads.faster_count chose one thread at the start, but the other program has gone since."""
    tuner, changes, _ = simulate(120, lambda count, now: ALONE[count], start=1)
    assert changes[0] == (pytest.approx(threads.RETRY_SECONDS, abs=1), 2) and tuner.threads == 2
    tuner, changes, _ = simulate(80, lambda count, now: SHARED[count], start=1)  # the next try is at ~95 s
    assert tuner.threads == 1 and [count for _, count in changes] == [2, 1]


def test_it_follows_a_second_program_that_comes_and_goes():
    busy = (120, 400)

    def cost(count, now):
        return (SHARED if busy[0] <= now < busy[1] else ALONE)[count]

    tuner, changes, _ = simulate(900, cost)
    to_one = [when for when, count in changes if count == 1 and when >= busy[0]]
    assert to_one and to_one[0] < busy[0] + 12  # noticed within a couple of slow steps
    back = [when for when, count in changes if count == 2 and when >= busy[1]]
    assert back and back[0] < busy[1] + threads.LONGEST_WAIT + 10  # tried again once it was free
    assert tuner.threads == 2
    # And once free it stays with two: no more tries of one thread (the CPU is not slower than it was alone).
    assert [count for when, count in changes if when > back[0] + 5] == []


def test_a_slowdown_both_counts_share_is_not_chased():
    """A CPU that runs everything at half speed (another VM, heat): one try of one thread, then rarely."""
    tuner, changes, _ = simulate(900, lambda count, now: ALONE[count] * (2 if now > 100 else 1))
    assert tuner.threads == 2
    tries = [when for when, count in changes if count == 1 and when > 100]
    assert 1 <= len(tries) <= 5
    assert all(later - earlier >= threads.RETRY_SECONDS for earlier, later in pairwise(tries))


def test_the_count_is_put_back_and_a_run_without_tuning_keeps_its_own():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with tuned_threads(2) as tuner:
            assert tuner is not None and tuner.most == tuner.threads == 2
            tuner.change(1)
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with tuned_threads(None) as tuner:
            assert tuner is None
        torch.set_num_threads(1)
        with tuned_threads(1) as tuner:
            assert tuner is None  # nothing to choose from
        with tuned_threads(2) as tuner:  # a start on one thread (threads.faster_count)
            assert tuner is not None and (tuner.most, tuner.threads) == (2, 1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("seconds", [0.5, 3.0])
def test_steps_longer_than_a_window_each_count(seconds):
    """A step of seconds (a big model, or a shared CPU) is a window on its own: no division by zero steps."""
    tuner, changes, _ = simulate(40 * seconds, lambda count, now: seconds * (1.2 if count == 1 else 1.0))
    assert tuner.threads == 2 and [count for _, count in changes] == [1, 2]


def test_a_run_starts_on_one_thread_where_that_multiplied_faster_just_now():
    before = torch.get_num_threads()
    try:
        assert threads.faster_count(2, rate={2: 900.0, 1: 500.0}.__getitem__) == 2 == torch.get_num_threads()
        assert threads.faster_count(2, rate={2: 30.0, 1: 500.0}.__getitem__) == 1 == torch.get_num_threads()
        calls = []
        # One burst of another program (the first try of two threads) does not decide alone.
        threads.faster_count(2, rate=lambda count: calls.append(count) or (30.0 if calls == [2] else
                                                                           {2: 900.0, 1: 500.0}[count]))
        assert calls == [2, 1, 2, 1] and torch.get_num_threads() == 2
        assert threads.matmul_rate(1, seconds=0.01) > 0
    finally:
        torch.set_num_threads(before)


def test_a_tuned_run_reports_its_threads_and_leaves_the_count_as_it_was(tmp_path, monkeypatch):
    from conftest import REPETITIVE, tiny_train_config, train_run

    from charnn.events import Started, Step

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(REPETITIVE, encoding="utf-8")
    monkeypatch.setattr(threads, "WINDOW_SECONDS", 0.0)  # a window a step: the tuner acts within a short run
    before, real = torch.get_num_threads(), torch.set_num_threads
    changes = []
    monkeypatch.setattr(torch, "set_num_threads", lambda count: changes.append(count) or real(count))
    try:
        real(2)
        run = train_run(tmp_path / "run", corpus, config=tiny_train_config(steps=30, log_every=1, eval_every=2),
                        most_threads=2)
        assert torch.get_num_threads() == 2  # as it was before the run
    finally:
        real(before)
    started = next(event for event in run.events if isinstance(event, Started))
    counts = [event.threads for event in run.events if isinstance(event, Step)]
    assert started.threads == 2 and counts[0] == 2
    assert changes[0] == 1 and changes[-1] == 2  # the one look at one thread; the count put back at the end
    untuned = train_run(tmp_path / "plain", corpus, config=tiny_train_config(steps=3))
    assert next(event for event in untuned.events if isinstance(event, Started)).threads is None
    assert {event.threads for event in untuned.events if isinstance(event, Step)} == {None}


def test_evals_tune_their_own_count_and_training_goes_on_at_its_own(tmp_path, monkeypatch):
    """A trial: beside another program's start, evals of ~1 s on training's 2 threads took 30–42 s, and a 50 s run
    92 s. Evals have a tuner of their own, timing their windows of columns; training goes on at its count after."""
    from conftest import REPETITIVE, tiny_train_config, train_run

    import charnn.train
    from charnn.events import Step

    seen = []  # torch's count at each eval window

    class BusyEvalTuner(ThreadTuner):  # each eval finds fewer threads faster, as one beside a busy program would
        def step_done(self, seconds=None):
            seen.append(torch.get_num_threads())
            if self.threads > 1:
                self.change(1)

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(REPETITIVE * 4, encoding="utf-8")
    monkeypatch.setattr(threads, "WINDOW_SECONDS", 1e9)  # training's tuner never tries another count here
    monkeypatch.setattr(charnn.train, "ThreadTuner", BusyEvalTuner)
    counts, loss = [], torch.nn.functional.cross_entropy

    def counted(*args, **kwargs):  # torch's count at each training step's loss (an eval's is in inference mode)
        if not torch.is_inference_mode_enabled():
            counts.append(torch.get_num_threads())
        return loss(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "cross_entropy", counted)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        run = train_run(tmp_path / "run", corpus, most_threads=2,
                        config=tiny_train_config(steps=12, log_every=1, eval_every=4))
    finally:
        torch.set_num_threads(before)
    assert counts == [2] * 12  # training's own count, after each eval too
    assert {event.threads for event in run.events if isinstance(event, Step)} == {2}
    assert seen[0] == 2 and set(seen[1:]) == {1} and len(seen) > 3  # the eval's own, from its second window on


def test_the_cli_fixes_the_count_where_asked_and_else_tunes_it_on_a_cpu(monkeypatch):
    from charnn.cli.command import set_threads

    before = torch.get_num_threads()
    cpu = torch.device("cpu")
    try:
        assert set_threads(3, cpu) is None and torch.get_num_threads() == 3  # --threads 3
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert set_threads(None, cpu) is None  # the environment fixed it
        monkeypatch.delenv("OMP_NUM_THREADS")
        chosen = []
        monkeypatch.setattr(threads, "faster_count", lambda most: chosen.append(most) or 1)
        torch.set_num_threads(2)
        assert set_threads(None, cpu) == 2 and chosen == [2]
        assert set_threads(None, torch.device("cuda")) is None and chosen == [2]  # a GPU's steps: not tuned
        torch.set_num_threads(1)
        assert set_threads(None, cpu) is None  # one core: nothing to choose
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("precision", ["auto", "fp32"])
def test_a_sample_whose_threads_change_as_it_goes_is_the_same_text(trained_run, monkeypatch, precision):
    """The steppers' sums come out the same at any count (int8's are exact; checked on the bundled model too,
    benchmarks/RESULTS.md, seventeenth session), so a seed's text does not depend on a busy CPU."""
    from charnn import sample

    model, vocab = trained_run.model, trained_run.corpus.vocab

    def texts(most):
        seeded = torch.Generator().manual_seed(5)
        one = "".join(sample.generate(model, vocab, "the", 300, 1.0, generator=seeded, precision=precision,
                                      most_threads=most))
        return one, sample.generate_batch(model, vocab, "the", 200, 3, 1.0, generator=seeded, precision=precision,
                                          most_threads=most)

    before = torch.get_num_threads()
    real = torch.set_num_threads
    try:
        real(2)
        expected = texts(None)
        counts = []
        monkeypatch.setattr(torch, "set_num_threads", lambda count: counts.append(count) or real(count))
        monkeypatch.setattr(threads, "SAMPLING_WINDOW", 1e-9)  # a window a step: the tuner acts within a sample
        assert texts(2) == expected
        assert counts[0] == 1 and torch.get_num_threads() == 2  # tried one thread, and put the count back
    finally:
        real(before)


def test_an_eval_runs_at_the_settled_count_not_one_on_trial():
    """An eval timed at a count on trial (seconds with two threads on a shared CPU) would set how much of a budget
    is kept for the last eval, and how far apart evals are (a review)."""
    now, changes = 0.0, []
    tuner = ThreadTuner(2, changes.append, clock=lambda: now)
    for _ in range(60):  # alone: the one look at one thread starts after the warm-up window
        now += ALONE[tuner.threads]
        tuner.step_done()
        if tuner.trial:
            break
    assert tuner.trial and tuner.threads == 1 and tuner.settled == 2
    tuner.settle()
    assert tuner.threads == 2 and tuner.trial is None and changes == [1, 2]
    tuner.settle()  # nothing on trial: nothing changes
    assert changes == [1, 2]


def test_a_sampler_times_its_steps_not_its_reader():
    """A reader that is slow between characters (`| less`, a slow terminal) is not a slow step."""
    now, changes = 0.0, []
    tuner = ThreadTuner(2, changes.append, clock=lambda: now, window_seconds=0.1)
    for position in range(20_000):
        now += 0.5 if position % 1000 == 999 else 0.0001  # the reader stalls now and then
        tuner.step_done(0.00007 if tuner.threads == 2 else 0.00011)
    assert changes == [1, 2]  # the first look at one thread, then back, and nothing since


def test_one_slow_window_is_not_enough_to_try_fewer():
    """A burst of another program one window long is not a shared CPU (a review: 25% of an hour at half speed)."""
    def cost(count, now):  # from a minute on, half a second in every twenty: 2 threads 3× slower
        return ALONE[count] * (3 if count == 2 and now > 60 and now % 20 < 0.5 else 1)

    _, changes, spent = simulate(600, cost)
    assert [count for _, count in changes] == [1, 2] and spent[1] < 2.5


def test_a_long_prime_gets_the_start_probe_and_a_short_one_does_not(tmp_path, monkeypatch, trained_run):
    from typer.testing import CliRunner

    from charnn.cli import app
    from charnn.cli.sampling import LONG_PRIME

    probed = []
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(threads, "faster_count", lambda most: probed.append(most) or most)
    before = torch.get_num_threads()
    try:
        for length, expected in ((10, []), (LONG_PRIME + 1, [2])):
            torch.set_num_threads(2)
            prime = tmp_path / "prime.txt"
            prime.write_text(("the quick brown fox " * (length // 20 + 1))[:length], encoding="utf-8")
            result = CliRunner().invoke(app, ["sample", "--checkpoint", str(trained_run.run_dir), "--length", "5",
                                              "--prime-file", str(prime), "--seed", "1"])
            assert result.exit_code == 0, result.output
            assert probed == expected
    finally:
        torch.set_num_threads(before)


def blas_counts() -> list[int]:
    return [library.num_threads for library in threads.blas_libraries()]


@pytest.fixture
def two_blas_threads(monkeypatch):
    """NumPy's BLAS on 2 threads for the test (conftest's OMP_NUM_THREADS=1 set it to one), no count fixed by the
    environment; put back after."""
    for name in threads.FIXED_BY:
        monkeypatch.delenv(name, raising=False)
    libraries = threads.blas_libraries()
    before = [library.num_threads for library in libraries]
    for library in libraries:
        library.set_num_threads(2)
    if not libraries or min(blas_counts()) < 2:
        pytest.skip("NumPy's BLAS here has no thread count to tune")
    yield
    for library, count in zip(libraries, before, strict=True):
        library.set_num_threads(count)


def test_the_blas_count_is_tuned_and_put_back(two_blas_threads, monkeypatch):
    """One stream's products are NumPy's: their BLAS's threads wait for each other beside a busy program as torch's
    do (885–1,102 chars/s on 2 threads, ~4,000 on one, machine D), so the same tuner sets their count."""
    before = blas_counts()
    with threads.tuned_blas_threads(2, window_seconds=0.1) as tuner:
        assert tuner is not None and tuner.most == 2
        tuner.change(1)
        assert set(blas_counts()) == {1}
    assert blas_counts() == before
    with threads.tuned_blas_threads(None) as tuner:
        assert tuner is None
    assert threads.set_blas_threads(None) == 2  # the most a tuner may use: the count now
    assert threads.set_blas_threads(1) is None and set(blas_counts()) == {1}  # --threads 1
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    assert threads.set_blas_threads(None) is None  # a count the user set: not tuned, on either path
    with threads.tuned_blas_threads(2) as tuner:
        assert tuner is None


def test_sampling_without_torch_tunes_the_blas(trained_run, two_blas_threads, monkeypatch):
    from charnn import checkpoint_arrays, sample
    from charnn.mersenne import MersenneTwister

    _, arrays = checkpoint_arrays.load(trained_run.run_dir / "best.pt")
    made = []
    real = threads.ThreadTuner.__init__
    monkeypatch.setattr(threads.ThreadTuner, "__init__", lambda self, *args, **kwargs: made.append(args[1])
                        or real(self, *args, **kwargs))
    monkeypatch.setattr(threads, "SAMPLING_WINDOW", 1e-9)  # a window a step: the tuner tries one thread at once
    before = blas_counts()
    text = "".join(sample.generate(arrays, trained_run.corpus.vocab, "the", 50, generator=MersenneTwister(3),
                                   most_threads=2))
    assert len(text) == 50 and len(made) == 1 and made[0] is not torch.set_num_threads
    assert blas_counts() == before
