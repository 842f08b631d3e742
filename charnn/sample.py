"""Sampling: stream text one character at a time (or a batch of samples side by side) from a model.

`generate` feeds the prime once, then carries the recurrent state: each new character costs one
step of the network (O(1) in the length of the text so far), never a re-read of the history.
Each character is drawn by `drawing`; all randomness comes from the generator passed in (a `torch.Generator`, or a
`MersenneTwister`, which draws the same numbers), so the same seed gives the same text. A batch may take one
generator per sample: each sample's text is then the one its generator gives alone (`drawing.sample_seeds`), so a
favourite from a batch can be made again on its own.

The model is a CharRNN, or its weights as NumPy arrays (`checkpoint_arrays.ModelArrays`), which sample on a CPU in
fp32 without torch: `charnn sample` writes its first character before torch would have loaded. Both give a seed
the same text (charnn/stepper.py). The CLI seeds each stream's generator with `seed_with_prime`: the same seed after
two primes then draws different numbers (one stream of numbers made every prime's text converge on the same text).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from charnn import script, threads
from charnn.batch_rows import BatchRows
from charnn.checkpoint_arrays import ModelArrays
from charnn.drawing import batch_noise, check_sampling, draw, numbers_per_draw
from charnn.drawing import sample_next as sample_next  # importable from here too, its home until 2026-11-27
from charnn.mersenne import MersenneTwister
from charnn.recurrence import STEPPERS, read_prime
from charnn.threads import tuned_blas_threads
from charnn.vocab import Vocab

if TYPE_CHECKING:
    from charnn.drawing import Generator, Generators
    from charnn.model import CharRNN

NOISE_BLOCK = 2**18  # most random numbers drawn from the generator at once (float64; blocks also stop at 1,024 steps)
TRIAL_SAMPLES = (8, 200)  # streams × characters that `writes_script` has the model write, unseen
TRIAL_PRIME = 1000  # at most this much of the prime is read before them: enough for the style it sets


def default_prime(vocab: Vocab) -> str:
    """What the model reads before any prime: a blank line, as the corpus writes one (CRLF or LF).

    Training carries the state from window to window, so a model almost never sees the zero state
    and may do anything from it. The bundled model, given `RO` from zero, writes `3` for ever; after
    a blank line it writes `ROMEO:` and a speech. A blank line is also where a speech, a scene, a
    paragraph or a function begins. A corpus without line breaks gets a space (or its first character): before a
    prime too where it is a space and the prime starts a word (from zero, a trial's one-line Shakespeare read `ROMEO:`
    and wrote `EyHZEK$QZ&PGQ$$…`; after a space, a speech), and no other character before a prime, which would
    change what the prime says."""
    if "\n" in vocab.index:
        return "\r\n\r\n" if "\r" in vocab.index else "\n\n"
    return next((c for c in " ." if c in vocab.index), vocab.chars[0])


def generate_ids(
    model: CharRNN | ModelArrays,
    prime_ids: list[int],
    length: int,
    num_samples: int = 1,
    temperature: float = 0.8,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: Generators = None,
    precision: str = "auto",
    most_threads: int | None = None,
) -> Iterator[np.ndarray]:
    """Yield `length` arrays of next ids (num_samples,), carrying the state between steps (on a CPU in
    `precision`, 'auto' or 'fp32': `stepper.stepper_for`; ModelArrays compute in fp32). `most_threads`: on a CPU,
    the thread count (torch's, or NumPy's BLAS's for one stream in fp32) follows the speed it gives, up to this
    (threads.py; the steppers' text is the same at any count). `generator`: one for
    the batch, or one per sample, each of which then draws what it draws for that sample alone; a sample's text is
    then the same in a batch as alone, bar a rare near-tie between two characters (a batch's products may round
    differently from one stream's); None draws from torch's global generator. Bad arguments raise CharnnError
    here, not at the first character."""
    check_sampling(num_samples, temperature, top_k, top_p, generator, precision, length)
    return stream_ids(model, prime_ids, length, num_samples, temperature, top_k, top_p, generator, precision,
                      most_threads)


def stream_ids(model: CharRNN | ModelArrays, prime_ids: list[int], length: int, num_samples: int,
               temperature: float, top_k: int | None, top_p: float | None, generator: Generators, precision: str,
               most_threads: int | None) -> Iterator[np.ndarray]:
    """`generate_ids`, its arguments checked."""
    with started(model, prime_ids, num_samples, precision, most_threads) as (logits, step, state, tuner):
        block_steps = max(1, min(1024, NOISE_BLOCK // (len(logits) * numbers_per_draw(logits.shape[1]))))
        for position in range(length):
            if position % block_steps == 0:  # one generator call per block of characters
                noise = batch_noise(min(block_steps, length - position), *logits.shape, generator)  # (S, B, N)
            next_ids = draw(logits, temperature, top_k, top_p, noise[position % block_steps])  # (B,)
            yield next_ids
            if position + 1 < length and tuner is None:  # no step after the last character
                logits, state = step(next_ids, state)
            elif position + 1 < length:  # timed: the step's own time, not a reader's (`| less`) between yields
                begun = time.perf_counter()
                logits, state = step(next_ids, state)
                tuner.step_done(time.perf_counter() - begun)


def started(model: CharRNN | ModelArrays, prime_ids: list[int], num_samples: int, precision: str,
            most_threads: int | None):
    """A context giving (logits after the prime (B, V), step, its state, thread tuner or None): for a CharRNN,
    charnn/stepper.py's; for ModelArrays, a NumPy fp32 stepper (charnn/recurrence.py), which reads the prime on
    one row, as a CharRNN's one stream does on a CPU, and the BLAS's threads tuned up to `most_threads`."""
    if not isinstance(model, ModelArrays):
        from charnn.stepper import sampling  # torch, loaded already: the model is a CharRNN

        return sampling(model, prime_ids, num_samples, precision, most_threads)
    return arrays_sampling(model, prime_ids, num_samples, most_threads)


@contextlib.contextmanager
def arrays_sampling(model: ModelArrays, prime_ids: list[int], num_samples: int, most_threads: int | None):
    """`started` for ModelArrays. NumPy's products take any number of rows: one stepper reads the prime on one."""
    stepper = STEPPERS[model.config.cell](model.config, model.weights, num_samples)
    logits, state = read_prime(stepper.step, model.config, prime_ids, num_samples)
    with tuned_blas_threads(most_threads, window_seconds=threads.SAMPLING_WINDOW) as tuner:
        yield logits, stepper.step, state, tuner


def prime_ids_for(vocab: Vocab, prime: str, unknown: str = "error") -> list[int]:
    r"""Ids to feed before generating: `default_prime`, then the prime. The prime's own leading line
    breaks count towards the blank line, so that `\nROMEO:` does not become three line breaks."""
    ids = vocab.encode(prime, unknown=unknown).tolist() if prime else []
    lead, kept = default_prime(vocab), vocab.decode(ids)
    if not lead.endswith("\n"):  # no line breaks in this corpus: a space before a prime that starts a word
        return (vocab.encode(lead).tolist() if not kept or (lead == " " and not kept[0].isspace()) else []) + ids
    breaks = kept[: len(kept) - len(kept.lstrip("\r\n"))].count("\n")  # line breaks, LF or CRLF alike
    line_break = lead[: len(lead) // 2]  # the blank line is two of them
    return vocab.encode(line_break * max(0, 2 - breaks)).tolist() + ids


def seed_with_prime(seed: int, vocab: Vocab, prime: str = "", unknown: str = "error") -> int:
    """The seed of the random numbers that continue `prime`, as `charnn sample --seed SEED` draws them: `seed` itself
    where the model reads no prime (none, or only the blank line it starts from), else a 32-bit mix of the two.

    Every draw takes the next numbers of its generator, whatever the text so far. With one stream of numbers after
    any prime, a model soon forgets the prime, and its text, drawn with the same numbers, falls into step with
    another prime's and stays there: a new-user trial's `--seed 2` wrote the same 1,000 characters after
    `ROMEO:\nI love thee.` and after `KING HENRY VI:\nWhere is my crown?`. So the numbers depend on the prime: the
    same seed and prime give the same text, another prime another text."""
    return seeds_with_prime([seed], vocab, prime, unknown)[0]


def seeds_with_prime(seeds: list[int], vocab: Vocab, prime: str = "", unknown: str = "error") -> list[int]:
    """`seed_with_prime` of each of `seeds` (a batch's, `drawing.sample_seeds`), the prime read once."""
    ids = prime_ids_for(vocab, prime, unknown)
    if ids == prime_ids_for(vocab, ""):
        return list(seeds)
    read = vocab.decode(ids).encode("utf-8", "surrogatepass")  # what the model reads, whatever its vocabulary's order
    return [int.from_bytes(hashlib.blake2b(f"charnn prime {seed} ".encode() + read, digest_size=4).digest(), "little")
            for seed in seeds]


def generate(
    model: CharRNN | ModelArrays,
    vocab: Vocab,
    prime: str = "",
    length: int = 500,
    temperature: float = 0.8,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: Generator | None = None,
    unknown: str = "error",
    stop: str | None = None,
    precision: str = "auto",
    most_threads: int | None = None,
) -> Iterator[str]:
    """Stream up to `length` characters that continue `prime` (not yielded), ending early after `stop`. Bad
    arguments, and a prime with characters the model never saw (`unknown` 'error'), raise CharnnError here."""
    steps = generate_ids(model, prime_ids_for(vocab, prime, unknown), length, 1, temperature, top_k, top_p, generator,
                         precision, most_threads)
    return stream_chars(vocab, steps, stop)


def stream_chars(vocab: Vocab, steps: Iterator[np.ndarray], stop: str | None) -> Iterator[str]:
    """`generate`'s characters from one stream's ids, up to and including `stop`."""
    tail = ""
    with contextlib.closing(steps):  # at `stop`, or when the caller closes this: its thread tuning ends now
        for next_ids in steps:
            char = vocab.chars[int(next_ids[0])]
            yield char
            if stop:
                tail = (tail + char)[-len(stop):]
                if tail == stop:
                    return


def generate_batch(
    model: CharRNN | ModelArrays,
    vocab: Vocab,
    prime: str = "",
    length: int = 500,
    num_samples: int = 2,
    temperature: float = 0.8,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: Generators = None,
    unknown: str = "error",
    stop: str | None = None,
    on_progress=None,
    rows: BatchRows | None = None,
    precision: str = "auto",
    most_threads: int | None = None,
) -> list[str]:
    """`num_samples` continuations generated side by side in one batch; each ends at its own `stop`. With a
    generator per sample (`generator`, a list), each is the text its generator gives alone (`generate_ids`).

    `rows`, a `BatchRows(vocab, num_samples, stop)` of the caller's, grows as the batch does: a caller cut short
    (Ctrl-C) still has the text made so far."""
    rows = rows if rows is not None else BatchRows(vocab, num_samples, stop)
    ids = prime_ids_for(vocab, prime, unknown)
    # Closed here, not whenever it is collected: `on_progress` may raise (a reader of stdout that has gone).
    steps = generate_ids(model, ids, length, num_samples, temperature, top_k, top_p, generator, precision,
                         most_threads)
    with contextlib.closing(steps):
        for position, next_ids in enumerate(steps):
            ended = rows.add(next_ids)
            if on_progress is not None:
                on_progress(position + 1)
            if ended:
                break
    return rows.texts()


def writes_script(model: CharRNN | ModelArrays, vocab: Vocab, prime: str = "", temperature: float = 0.8,
                  top_k: int | None = None, top_p: float | None = None, unknown: str = "error", precision: str = "auto",
                  most_threads: int | None = None) -> bool:
    """Whether the model, from this prime and with these controls, writes text that reads as a play or screenplay.

    A stream cannot be styled back once written, and its own text needs a few speaker lines before it reads
    as a script: the first speaker, or all of a short sample, would stay plain. So the model first writes a
    few short samples that nobody sees (one batch, `TRIAL_SAMPLES`; ~0.1 s for the bundled model on a CPU),
    with a generator of their own: the user's sample, its seed and its text stay exactly as they would be.
    """
    streams, length = TRIAL_SAMPLES
    prime = prime[-TRIAL_PRIME:]  # read before them: a long prime would cost its full read again
    # Greedy text tends to loop on one line ("the state of the state …") and would never read as a script, though
    # its speaker lines are styled like any other: a greedy run asks what the model writes at 0.8.
    texts = generate_batch(model, vocab, prime, length, streams, temperature or 0.8, top_k, top_p,
                           MersenneTwister(0), unknown, precision=precision, most_threads=most_threads)
    # Each without its unfinished last line: a lyric model's `VERS`, cut there, read as a second speaker beside
    # `CHORUS` (a trial); and each after the prime's last line, which it goes on (`--prime "JO"`: `NAH` is no name).
    texts = [text[:text.rfind("\n") + 1] for text in texts]
    last_line = prime.rpartition("\n")[2]
    return script.looks_like_script("\n\n".join([prime + texts[0], *(last_line + text for text in texts[1:] if text)]))
