"""Sampling: seeds, greedy paths, top-k/top-p, control checks, primes and multi-byte vocabularies."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import tiny_model_config

from charnn import checkpoint, drawing, products, runs
from charnn.drawing import check_controls, sample_next, sample_seeds
from charnn.errors import CharnnError
from charnn.model import CharRNN
from charnn.sample import (
    default_prime,
    generate,
    generate_batch,
    generate_ids,
    prime_ids_for,
    seed_with_prime,
    writes_script,
)
from charnn.vocab import Vocab

VOCAB = Vocab("\n !,.abcdefghijklmnopqrstuvwxyzé日本🙂")


def make_model(cell="lstm", layers=2, seed=0) -> CharRNN:
    torch.manual_seed(seed)
    model = CharRNN(tiny_model_config(len(VOCAB), cell=cell, num_layers=layers))
    with torch.no_grad():  # sharper logits than a fresh init, so sampling is far from uniform
        model.head.weight.mul_(8)
    return model.eval()


def text(model, seed, length=60, **kwargs) -> str:
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return "".join(generate(model, VOCAB, "the ", length, generator=generator, **kwargs))


def greedy_reference(model: CharRNN, prime: str, length: int) -> str:
    """Argmax decoding with plain full forwards (no stepper, no sampler), after the blank line every prime
    follows."""
    with torch.no_grad():
        logits, state = model(torch.tensor([VOCAB.encode("\n\n" + prime).tolist()]))
        out = []
        for _ in range(length):
            next_id = int(logits[0, -1].argmax())
            out.append(VOCAB.chars[next_id])
            logits, state = model(torch.tensor([[next_id]]), state)
    return "".join(out)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_same_seed_same_text(cell):
    model = make_model(cell)
    first = text(model, 123, temperature=1.0)
    assert len(first) == 60
    assert text(model, 123, temperature=1.0) == first
    assert text(model, 124, temperature=1.0) != first


def test_generation_does_not_touch_global_rng():
    model = make_model()
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    text(model, 1, temperature=1.0)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("cell, layers", [("lstm", 1), ("lstm", 2), ("gru", 2), ("rnn", 1)])
def test_temperature_zero_is_greedy(cell, layers, monkeypatch):
    monkeypatch.setattr(products, "native_int8", lambda: False)  # the reference is fp32: int8 may break near-ties
    model = make_model(cell, layers)
    expected = greedy_reference(model, "the ", 40)
    assert text(model, 1, length=40, temperature=0) == expected
    assert text(model, 999, length=40, temperature=0) == expected  # the seed plays no part


@pytest.mark.parametrize("controls", [dict(top_k=1), dict(top_p=1e-6), dict(top_k=1, top_p=0.5)])
def test_top_k_1_and_tiny_top_p_are_greedy(controls, monkeypatch):
    monkeypatch.setattr(products, "native_int8", lambda: False)  # the reference is fp32: int8 may break near-ties
    model = make_model()
    expected = greedy_reference(model, "the ", 40)
    assert text(model, 7, length=40, temperature=1.3, **controls) == expected


def test_sample_next_greedy_and_trimming():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0], [5.0, 0.0, 0.0, 4.9]])
    assert sample_next(logits, temperature=0).tolist() == [1, 0]
    generator = torch.Generator().manual_seed(0)
    draws = torch.stack([sample_next(logits, 1.0, top_k=2, generator=generator) for _ in range(300)])
    assert set(draws[:, 0].tolist()) == {1, 3}  # only the 2 likeliest ever come out
    assert set(draws[:, 1].tolist()) == {0, 3}
    # top_p=0.6 keeps the smallest prefix covering 0.6: for row 0 the top one has p≈0.64 → only it.
    draws = torch.stack([sample_next(logits, 1.0, top_p=0.6, generator=generator) for _ in range(100)])
    assert set(draws[:, 0].tolist()) == {1}
    assert set(draws[:, 1].tolist()) == {0, 3}  # 0.52 < 0.6, so the second one stays
    # top_k larger than the vocabulary is no trimming at all.
    draws = torch.stack([sample_next(logits, 5.0, top_k=10, generator=generator) for _ in range(300)])
    assert set(draws[:, 0].tolist()) == {0, 1, 2, 3}


def test_sample_next_follows_the_distribution():
    probs = torch.tensor([0.7, 0.2, 0.1])
    generator = torch.Generator().manual_seed(1)
    draws = sample_next(probs.log().expand(10000, 3), 1.0, generator=generator)
    freq = torch.bincount(draws, minlength=3).double() / 10000
    torch.testing.assert_close(freq, probs.double(), atol=0.02, rtol=0)


@pytest.mark.parametrize("controls", [dict(temperature=-0.5), dict(temperature=math.nan), dict(top_k=0),
                                      dict(top_k=-3), dict(top_p=0.0), dict(top_p=2.0), dict(top_p=-0.1),
                                      dict(top_p=math.nan)])
def test_bad_controls_are_refused(controls):
    full = dict(temperature=0.8, top_k=None, top_p=None) | controls
    with pytest.raises(CharnnError):
        check_controls(**full)
    with pytest.raises(CharnnError):  # before any output
        next(generate(make_model(), VOCAB, "a", 5, generator=torch.Generator(), **controls))


@pytest.mark.parametrize("controls", [dict(temperature=-0.5), dict(temperature=math.nan), dict(top_k=0),
                                      dict(top_p=0.0), dict(top_p=2.0)])
def test_sample_next_refuses_bad_controls(controls):
    with pytest.raises(CharnnError):
        sample_next(torch.randn(2, 5), **({"temperature": 1.0} | controls))


@pytest.mark.parametrize("controls", [dict(temperature=0), dict(top_k=1), dict(top_p=1.0), dict(top_p=1e-9),
                                      dict(temperature=1e-3), dict(temperature=100.0)])
def test_good_edge_controls_are_accepted(controls):
    check_controls(**(dict(temperature=0.8, top_k=None, top_p=None) | controls))
    assert len(text(make_model(), 3, length=10, **controls)) == 10


def test_unknown_prime_policies():
    model = make_model()
    with pytest.raises(CharnnError, match="'X'") as info:
        text_with_prime(model, "the XQ")
    assert "'Q'" in str(info.value)
    assert prime_ids_for(VOCAB, "aXb", "skip") == VOCAB.encode("\n\nab").tolist()
    assert prime_ids_for(VOCAB, "aXb", "replace") == VOCAB.encode("\n\na b").tolist()
    assert len(text_with_prime(model, "the XQ", unknown="skip")) == 20
    assert text_with_prime(model, "tXe", unknown="replace", temperature=0) == text_with_prime(
        model, "t e", temperature=0)


def text_with_prime(model, prime, **kwargs):
    return "".join(generate(model, VOCAB, prime, 20, generator=torch.Generator().manual_seed(0), **kwargs))


def test_every_prime_follows_a_blank_line():
    assert default_prime(VOCAB) == "\n\n"
    assert default_prime(Vocab("ab .")) == " "
    assert default_prime(Vocab("xy")) == "x"
    assert prime_ids_for(VOCAB, "") == VOCAB.encode("\n\n").tolist()
    assert prime_ids_for(VOCAB, "XYZ", "skip") == VOCAB.encode("\n\n").tolist()  # all skipped: the blank line
    assert prime_ids_for(VOCAB, "ab") == VOCAB.encode("\n\nab").tolist()
    # A prime's own line breaks count towards the blank line: none are stacked on top of them.
    assert prime_ids_for(VOCAB, "\nab") == VOCAB.encode("\n\nab").tolist()
    assert prime_ids_for(VOCAB, "\n\n\nab") == VOCAB.encode("\n\n\nab").tolist()
    # A corpus written with CRLF gets its own blank line; one without line breaks gets nothing before a prime.
    crlf = Vocab("\r\n ab")
    assert prime_ids_for(crlf, "ab") == crlf.encode("\r\n\r\nab").tolist()
    assert prime_ids_for(crlf, "\r\nab") == crlf.encode("\r\n\r\nab").tolist()
    assert prime_ids_for(crlf, "\nab") == crlf.encode("\r\n\nab").tolist()  # a --prime-file reads LF
    assert prime_ids_for(Vocab("ACGT"), "GATTACA") == Vocab("ACGT").encode("GATTACA").tolist()
    assert prime_ids_for(Vocab("ab ."), "") == Vocab("ab .").encode(" ").tolist()
    # No line breaks: a space before a prime that starts a word (from zero, a trial's one-line model read `ROMEO:`
    # and wrote `EyHZEK$QZ&…`), none before one that starts with a space, and no other character.
    assert prime_ids_for(Vocab("ab ."), "ab") == Vocab("ab .").encode(" ab").tolist()
    assert prime_ids_for(Vocab("ab ."), " ab") == Vocab("ab .").encode(" ab").tolist()
    assert prime_ids_for(Vocab("ab."), "ab") == Vocab("ab.").encode("ab").tolist()
    model = make_model()
    assert len("".join(generate(model, VOCAB, "", 15, generator=torch.Generator().manual_seed(0)))) == 15


def test_generated_chars_are_in_vocab_multibyte():
    model = make_model()
    out = text(model, 11, length=400, temperature=2.0)
    assert len(out) == 400
    assert set(out) <= set(VOCAB.chars)
    assert set(out) & set("é日本🙂")  # at a high temperature the multi-byte characters show up


def test_stop_string_ends_generation():
    model = make_model()
    full = text(model, 5, length=300, temperature=1.5)
    stop = full[40:42]
    cut = text(model, 5, length=300, temperature=1.5, stop=stop)
    assert cut.endswith(stop) and full.startswith(cut)
    assert stop not in cut[:-1]


def test_length_zero():
    assert text(make_model(), 1, length=0) == ""


def test_shorter_sample_is_a_prefix_of_a_longer_one():
    """Same seed, different --length: the random draws come in blocks of 1024, and cutting a block
    short must not change the text (40 chars vs 1,100 crosses a block boundary)."""
    model = make_model()
    long = text(model, 4, length=1100, temperature=1.0)
    assert text(model, 4, length=40, temperature=1.0) == long[:40]
    assert text(model, 4, length=1030, temperature=1.0) == long[:1030]


@pytest.mark.parametrize("call", [
    lambda model: generate(model, VOCAB, "a", 5, temperature=-1),
    lambda model: generate(model, VOCAB, "aQ", 5),  # Q: unseen
    lambda model: generate(model, VOCAB, "a", 5, generator=42),
    lambda model: generate(model, VOCAB, "a", 5, precision="bf16"),
    lambda model: generate_ids(model, [1], 5, num_samples=0),
    lambda model: generate_batch(model, VOCAB, "a", 5, num_samples=0),
    lambda model: generate_batch(model, VOCAB, "a", 5, num_samples=2, generator=[torch.Generator(), 3]),
    lambda model: generate(model, VOCAB, "a", -5),  # yielded nothing, without a word (a student)
    lambda model: generate_batch(model, VOCAB, "a", 2.5, num_samples=2),
])
def test_sampling_refuses_bad_arguments_when_called(call):
    """A new-user trial (the library): `generate(..., temperature=-1)` returned a generator, and the error came at the
    first character, far from the call; `num_samples=0` was a ZeroDivisionError, `generator=42` a torch TypeError."""
    with pytest.raises(CharnnError):
        call(make_model())


def test_generate_restores_training_mode():
    model = make_model().train()
    list(generate(model, VOCAB, "a", 5, generator=torch.Generator()))
    assert model.training


def test_generate_ids_shapes():
    model = make_model()
    batches = list(generate_ids(model, VOCAB.encode("ab").tolist(), 7, num_samples=3,
                                generator=torch.Generator().manual_seed(0)))
    assert len(batches) == 7 and all(b.shape == (3,) for b in batches)


def test_generate_batch_greedy_rows_match_single(monkeypatch):
    monkeypatch.setattr(products, "native_int8", lambda: False)  # int8 batches may break near-ties otherwise
    model = make_model()
    single = text(model, 0, length=30, temperature=0)
    batch = generate_batch(model, VOCAB, "the ", 30, num_samples=3, temperature=0,
                           generator=torch.Generator().manual_seed(0))
    assert batch == [single] * 3


def test_generate_batch_is_seeded_and_each_row_stops():
    model = make_model()
    run = lambda: generate_batch(model, VOCAB, "a", 200, num_samples=4, temperature=1.5,  # noqa: E731
                                 generator=torch.Generator().manual_seed(9), stop=" ")
    texts = run()
    assert texts == run()
    assert len(set(texts)) > 1
    for t in texts:
        assert set(t) <= set(VOCAB.chars)
        assert len(t) == 200 or (t.endswith(" ") and " " not in t[:-1])


def test_sample_seeds_start_with_the_seed_and_batches_of_nearby_seeds_share_none():
    seeds = sample_seeds(7, 8)
    assert seeds[0] == 7 and len(set(seeds)) == 8 and all(0 <= seed < 2**32 for seed in seeds)
    assert sample_seeds(7, 8) == seeds and sample_seeds(7, 3) == seeds[:3] and sample_seeds(7, 1) == [7]
    assert not set(seeds) & set(sample_seeds(8, 8))  # not seed + 1, …: `--seed 8` gives 8 new samples


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("precision", ["auto", "fp32"])
def test_a_sample_with_its_own_generator_is_its_text_alone(cell, precision):
    """A favourite from a batch could not be made again on its own (a new-user trial). With a generator per
    sample, each sample is the text its seed gives alone, through the batch's stepper and the single stream's
    (their products round alike here; a near-tie could split them, as the docstring says)."""
    model = make_model(cell)
    seeds = sample_seeds(11, 4)
    texts = generate_batch(model, VOCAB, "th", 300, 4, temperature=1.2, precision=precision,
                           generator=[torch.Generator().manual_seed(seed) for seed in seeds])
    alone = ["".join(generate(model, VOCAB, "th", 300, 1.2, generator=torch.Generator().manual_seed(seed),
                              precision=precision)) for seed in seeds]
    assert texts == alone and len(set(texts)) == 4
    shared = generate_batch(model, VOCAB, "th", 300, 4, temperature=1.2, precision=precision,
                            generator=torch.Generator().manual_seed(11))  # one generator for the batch, as before
    assert shared[1:] != alone[1:]
    with pytest.raises(CharnnError, match="one per sample"):
        generate_batch(model, VOCAB, "th", 5, 4, generator=[torch.Generator()] * 3)


def test_a_sample_is_its_text_alone_across_the_noise_blocks():
    """8 streams draw their noise in blocks of 936 steps here (NOISE_BLOCK // (B·V)), one stream in blocks of 1,024:
    past both, each sample is still the text its seed gives alone (a review)."""
    model = make_model()
    seeds = sample_seeds(5, 8)
    texts = generate_batch(model, VOCAB, "th", 2100, 8, temperature=1.0,
                           generator=[torch.Generator().manual_seed(seed) for seed in seeds])
    for seed, batched in zip(seeds[::3], texts[::3], strict=True):
        alone = generate(model, VOCAB, "th", 2100, 1.0, generator=torch.Generator().manual_seed(seed))
        assert "".join(alone) == batched


@pytest.mark.parametrize("stop", ["e ", "o."])
def test_generate_batch_multichar_stop_ends_each_row_at_its_first_stop(stop):
    model = make_model()
    texts = generate_batch(model, VOCAB, "a", 300, num_samples=5, temperature=1.5,
                           generator=torch.Generator().manual_seed(3), stop=stop)
    assert any(len(t) < 300 for t in texts)  # the stop does come up
    for t in texts:
        cut = t.find(stop)
        assert (cut == -1 and len(t) == 300) or len(t) == cut + len(stop)
    # Each row is the same text as an unstopped batch with the same seed, cut at its stop.
    full = generate_batch(model, VOCAB, "a", 300, num_samples=5, temperature=1.5,
                          generator=torch.Generator().manual_seed(3))
    assert all(f.startswith(t) for f, t in zip(full, texts, strict=True))


@pytest.mark.skipif(not runs.BUNDLED.exists(), reason="the bundled model is not in this checkout")
@pytest.mark.parametrize("prime", ["RO", "Q", "ROMEO:", "3"])
def test_bundled_model_continues_a_prime_instead_of_looping(prime):
    """From the zero state the bundled model wrote `333…` after these primes (a training run carries its
    state, so it hardly ever starts from zero). Read after a blank line, they continue as a play."""
    payload = checkpoint.load(runs.BUNDLED)
    model, vocab = checkpoint.build_model(payload), Vocab(payload["vocab"])
    continuation = "".join(generate(model, vocab, prime, 60, temperature=0))
    assert "333" not in continuation and len(set(continuation)) > 10


@pytest.mark.skipif(not runs.BUNDLED.exists(), reason="the bundled model is not in this checkout")
def test_writes_script_says_what_the_model_writes_and_draws_from_its_own_generator():
    """The bundled model writes a play whatever the prime; a model whose vocabulary has no capitals never
    writes a speaker line. The trial samples must leave the user's randomness alone."""
    payload = checkpoint.load(runs.BUNDLED)
    model, vocab = checkpoint.build_model(payload), Vocab(payload["vocab"])
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    assert writes_script(model, vocab)
    assert writes_script(model, vocab, "Once upon a time, in a land far away, there lived", temperature=1.0)
    assert torch.equal(torch.rand(3), expected)
    assert not writes_script(make_model(), VOCAB, "the ", temperature=1.0)


def test_writes_script_reads_a_long_prime_once_and_short(monkeypatch):
    """Each trial stream reads the prime: a long --prime-file would cost 8× its full read. Greedy text loops
    and would never read as a script: the trial of a greedy run samples."""
    import charnn.sample as sample

    calls = []
    monkeypatch.setattr(sample, "generate_batch", lambda model, vocab, prime, length, streams, temperature, *rest,
                        **options: calls.append((len(prime), streams, temperature)) or [""] * streams)
    writes_script(make_model(), VOCAB, "the cat " * 10_000, temperature=1.1)
    writes_script(make_model(), VOCAB, "the cat", temperature=0)
    assert calls == [(sample.TRIAL_PRIME, sample.TRIAL_SAMPLES[0], 1.1), (7, sample.TRIAL_SAMPLES[0], 0.8)]


def test_writes_script_does_not_read_the_lines_its_samples_cut(monkeypatch):
    """A trial's lyric model: a trial sample cut at `VERS` read as a second speaker beside `CHORUS`, and its lyric
    sheet was styled as a screenplay. A sample's unfinished last line is not read; a whole one is."""
    import charnn.sample as sample

    def batch(ending):
        return lambda model, vocab, prime, length, streams, *rest, **options: [
            f"Hold on to me\n\nCHORUS\nHold on, hold on\n\n{ending}"] * streams

    monkeypatch.setattr(sample, "generate_batch", batch("VERS"))
    assert not writes_script(make_model(), VOCAB)
    monkeypatch.setattr(sample, "generate_batch", batch("JONAH\nHold on.\n"))
    assert writes_script(make_model(), VOCAB)

    # Each sample goes on the prime's last line: `--prime "JO"` and `NAH` after it is no second name (a review).
    monkeypatch.setattr(sample, "generate_batch", lambda model, vocab, prime, length, streams, *rest, **options: [
        "NAH\nWe sail at dawn.\nCAPTAIN\nWe do.\n"] * streams)
    assert writes_script(make_model(), VOCAB, "JONAH\nHold on.\nJO")  # JONAH and CAPTAIN
    assert not writes_script(make_model(), VOCAB, "a quiet harbour, and JO")  # JONAH? no: NAH is half a word


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_long_prime_is_read_in_pieces_with_the_state_carried(cell, monkeypatch):
    """A new-user trial: a 600,000-character --prime-file, read in one call, failed in oneDNN, and 300,000 took
    3.5 GB. Read in pieces, the state carried from one to the next, it leaves what one pass would, in every row."""
    import charnn.stepper as sampling

    model = make_model(cell)
    ids = prime_ids_for(VOCAB, "the fox, the é 日本 and 🙂. " * 9)  # 227 ids
    lengths = []
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda idx, state=None: lengths.append(idx.shape[1]) or forward(idx, state))
    with torch.inference_mode():
        whole_logits, whole_state = model(torch.tensor([ids]))  # (1, P, V): one pass, as before
        lengths.clear()
        monkeypatch.setattr(sampling, "PRIME_PIECE", 100)
        logits, state = sampling.prime_state(model, ids, 3, torch.device("cpu"))
    assert lengths == [100, 100, 27]
    assert logits.shape == (3, len(VOCAB)) and logits.is_contiguous()
    torch.testing.assert_close(logits, whole_logits[:, -1].expand(3, -1), rtol=1e-5, atol=1e-5)
    for got, expected in zip(state if isinstance(state, tuple) else [state],
                             whole_state if isinstance(whole_state, tuple) else [whole_state], strict=True):
        assert got.shape == (2, 3, 16) and got.is_contiguous()  # (L, B, H), each row its own
        torch.testing.assert_close(got, expected.expand(-1, 3, -1), rtol=1e-5, atol=1e-5)


BIG_VOCAB = Vocab("\n " + "".join(chr(0x4E00 + i) for i in range(1200)))  # a Chinese corpus's size of alphabet


def test_a_large_vocabulary_draws_one_number_a_character_and_a_sample_is_its_text_alone():
    """A Chinese corpus's 5,478 characters: a batch of 8 drew 8 × 5,478 Gumbel numbers a step, ~1 ms, and came out no
    faster than one stream (a new-user trial). Above GUMBEL_MAX_VOCAB a draw takes one uniform number; a batch's
    sample is still the text its seed gives alone, and a seed still gives one text."""
    assert drawing.numbers_per_draw(len(VOCAB)) == len(VOCAB) and drawing.numbers_per_draw(len(BIG_VOCAB)) == 1
    torch.manual_seed(0)
    model = CharRNN(tiny_model_config(len(BIG_VOCAB))).eval()
    with torch.no_grad():
        model.head.weight.mul_(8)
    seeds = sample_seeds(3, 4)
    texts = generate_batch(model, BIG_VOCAB, " ", 300, 4, temperature=1.0,
                           generator=[torch.Generator().manual_seed(seed) for seed in seeds])
    alone = ["".join(generate(model, BIG_VOCAB, " ", 300, 1.0, generator=torch.Generator().manual_seed(seed)))
             for seed in seeds]
    assert texts == alone and len(set(texts)) == 4 and len(set("".join(texts))) > 100
    again = "".join(generate(model, BIG_VOCAB, " ", 300, 1.0, generator=torch.Generator().manual_seed(seeds[0])))
    assert again == alone[0]
    ids = sample_next(torch.zeros(2, len(BIG_VOCAB)), 1.0, generator=torch.Generator().manual_seed(1))
    assert ids.shape == (2,) and 0 <= int(ids.min()) and int(ids.max()) < len(BIG_VOCAB)


def test_the_one_number_draw_follows_the_softmax_and_never_draws_a_trimmed_character():
    probabilities = np.array([0.5, 0.3, 0.15, 0.05])
    rows = np.tile(np.log(probabilities).astype(np.float32), (200_000, 1))  # (N, 4)
    uniform = np.random.default_rng(0).random((len(rows), 1))
    counts = np.bincount(drawing.draw(rows, 1.0, None, None, uniform), minlength=4) / len(rows)
    assert np.allclose(counts, probabilities, atol=0.005)
    kept = np.bincount(drawing.draw(rows, 1.0, 2, None, uniform), minlength=4) / len(rows)  # top-k 2
    assert np.allclose(kept, [0.5 / 0.8, 0.3 / 0.8, 0, 0], atol=0.005) and kept[2:].sum() == 0
    edges = drawing.draw(rows[:2], 1.0, 3, None, np.array([[0.0], [np.nextafter(1.0, 0)]]))
    assert edges.tolist() == [0, 2]  # the first character, and the last one kept


def test_the_prime_is_mixed_into_the_seed_so_that_two_primes_do_not_write_one_text():
    """A new-user trial: with `--seed 2`, `ROMEO:\nI love thee.` and `KING HENRY VI:\nWhere is my crown?` wrote the
    same 1,000 characters. Drawn with one stream of numbers, the texts after the two primes fell into step at once
    (the bundled model, below); with the prime mixed into the seed, they are two texts."""
    from charnn import checkpoint_arrays
    from charnn.mersenne import MersenneTwister

    payload, model = checkpoint_arrays.load(runs.BUNDLED)
    if model is None:
        pytest.skip("no bundled model")
    vocab = Vocab(payload["vocab"])
    primes = ["ROMEO:\nI love thee.", "KING HENRY VI:\nWhere is my crown?"]

    def texts(seed_of) -> list[str]:
        return ["".join(generate(model, vocab, prime, 300, generator=MersenneTwister(seed_of(prime))))
                for prime in primes]

    shared = texts(lambda prime: 2)
    assert shared[0] == shared[1]  # the trial's case
    mixed = texts(lambda prime: seed_with_prime(2, vocab, prime))
    assert sum(a == b for a, b in zip(mixed[0][-100:], mixed[1][-100:], strict=True)) < 50
    # No prime, or one the model reads as none (its blank line), keeps the seed: those texts are as they were.
    assert seed_with_prime(5, vocab, "") == seed_with_prime(5, vocab, "\n") == seed_with_prime(5, vocab, "\n\n") == 5
    mixes = {seed_with_prime(seed, vocab, prime) for seed in (5, 6) for prime in ("ROMEO:", "ROMEO: ")}
    assert len(mixes) == 4 and all(0 <= mix < 2**32 for mix in mixes)
    # The text the model reads decides: a character skipped by --unknown skip mixes as the prime without it.
    assert seed_with_prime(5, vocab, "ROM~EO:", "skip") == seed_with_prime(5, vocab, "ROMEO:")
