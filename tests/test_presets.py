"""Default sizes from corpus, budget and device speed."""

from __future__ import annotations

import re

import pytest
import torch

from charnn import presets

CPU = torch.device("cpu")
MEASURE = presets.measured_chars_per_second  # before the fixture below replaces it


@pytest.fixture(autouse=True)
def fixed_speed(monkeypatch):
    """A fixed 60 GFLOP/s device, so the choices do not depend on the machine running the tests; GRUs and
    RNNs train at 40% of the LSTM estimate, and the sizes measured are recorded in `fixed_speed.measured`."""
    monkeypatch.setattr(presets, "matmul_flops", lambda device, precision, seconds=0.25: 60e9)
    measured = []

    def measure(cell, layers, hidden, embed_dim, vocab, batch_size, seq_len, device, precision):
        measured.append((cell, layers, hidden))
        return 0.4 * 60e9 * presets.EFFICIENCY[device.type] / presets.train_flops_per_char(layers, hidden, vocab=vocab)

    monkeypatch.setattr(presets, "measured_chars_per_second", measure)
    return measured


def size(preset) -> int:
    return presets.model_parameters(preset.num_layers, preset.hidden_size)


def test_bigger_budget_bigger_model():
    sizes = [size(presets.choose(5_000_000, 500_000, seconds, None, CPU, "fp32", 65)) for seconds in
             (60, 600, 3600, 36_000)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


@pytest.mark.parametrize("seconds", [600, 3600, 36_000])
def test_an_lstm_gets_the_largest_size_that_trains_on_4_5_chars_per_parameter(seconds):
    """An hour of machine C trained 3×512 on 3.5 chars per parameter and did worse than 2×512 on 8.7."""
    preset = presets.choose(5_000_000, 500_000, seconds, None, CPU, "fp32", 65)
    rung = presets.LADDER.index((preset.num_layers, preset.hidden_size))

    def chars_per_parameter(layers, hidden):  # the fixture's speed; 15% of a budget goes to start-up and evals
        rate = 60e9 * presets.EFFICIENCY["cpu"] / presets.train_flops_per_char(layers, hidden, vocab=65)
        return rate * 0.85 * seconds / presets.model_parameters(layers, hidden, 64, 65)

    assert chars_per_parameter(*presets.LADDER[rung]) >= 4.5 > chars_per_parameter(*presets.LADDER[rung + 1])


def test_small_corpus_small_model_with_dropout():
    small = presets.choose(40_000, 4_000, 3600, None, CPU, "fp32", 70)
    big = presets.choose(50_000_000, 5_000_000, 3600, None, CPU, "fp32", 70)
    assert size(small) < size(big)
    assert small.dropout > 0 and small.weight_dropout == 0.5  # ~hundreds of passes
    assert big.dropout == 0 and big.weight_dropout == 0


def test_tiny_corpus_shrinks_the_batch_window():
    preset = presets.choose(300, 30, 60, None, CPU, "fp32", 20)
    assert (300 - 1) // preset.batch_size >= preset.seq_len
    # No ladder size is small enough: the smallest is planned for the real budget (read many times over).
    assert (preset.num_layers, preset.hidden_size) == presets.LADDER[0] and preset.dropout == 0.4
    # Thousands of passes read as a count (a trial saw "9005.1 passes").
    assert re.search(r"\(\d{1,3}(,\d{3})+ passes over the corpus\)", preset.reason), preset.reason
    assert "(1.7 passes over the corpus)" in presets.choose(1_000_000, 100_000, 60, None, CPU, "fp32", 65).reason


def test_batch_and_speed_depend_on_the_device_and_precision():
    cpu, cpu_bf16 = (presets.choose(1_000_000, 100_000, 600, None, CPU, p, 65) for p in ("fp32", "bf16"))
    gpu = presets.choose(1_000_000, 100_000, 600, None, torch.device("cuda"), "bf16", 65)
    assert cpu.batch_size == 16 and gpu.batch_size == 32
    assert presets.choose(1_000_000, 100_000, 600, None, CPU, "fp32", 65, batch_size=8).batch_size == 8
    # Same measured matmul speed (the fixture): bf16 LSTM training gets less of it on a CPU than fp32.
    def achieved(preset):  # FLOP/s the preset expects LSTM training to reach
        return preset.estimated_chars_per_second * presets.train_flops_per_char(preset.num_layers,
                                                                                preset.hidden_size, vocab=65)

    assert achieved(cpu_bf16) == pytest.approx(0.75 * achieved(cpu))


def test_steps_instead_of_time():
    preset = presets.choose(1_000_000, 100_000, None, 200, CPU, "fp32", 65)
    assert preset.eval_every == 200 // 8 and preset.eval_seconds is None
    # Rounded up: 300 steps evaluated at 296 and, finally, at 300 (a student read the two as one).
    assert presets.choose(1_000_000, 100_000, None, 300, CPU, "fp32", 65).eval_every == 38


def test_a_time_run_also_evals_by_the_clock():
    """The speed estimate can be far off (a GRU, a small model), and evals by steps alone would then come late."""
    preset = presets.choose(1_000_000, 100_000, 600, None, CPU, "fp32", 65)
    evals = 600 / preset.eval_seconds  # as many as planned by steps: 8, fewer where they would cost > 5%
    assert evals == pytest.approx(round(evals)) and 2 <= round(evals) <= 8
    assert preset.eval_every == pytest.approx(preset.estimated_chars_per_second * 0.85 * 600 / (16 * 64) / evals,
                                              rel=0.01)


def test_a_few_steps_are_described_in_characters_not_zero_millions():
    preset = presets.choose(1_000_000, 100_000, None, 3, CPU, "fp32", 65)
    assert "about 3,072 training chars" in preset.reason and "(0.0031 passes" in preset.reason


def test_evals_take_a_small_share_of_a_budget():
    preset = presets.choose(1_000_000, 110_000, 600, None, CPU, "fp32", 65)
    steps = preset.estimated_chars_per_second * 0.85 * 600 / (preset.batch_size * preset.seq_len)
    evals = steps / preset.eval_every
    eval_seconds = 110_000 / (3 * preset.estimated_chars_per_second)
    assert evals * eval_seconds <= 0.06 * 600


def test_a_one_minute_run_on_a_small_corpus_plans_eight_evals():
    """A TA's trial: `--time 1m` on ~300 KB gave 3 evals, planned at 0.5 s each besides scoring; they took 0.2 s
    (machine C, 2×128, ~61,000 chars/s)."""
    presets.matmul_flops = lambda device, precision, seconds=0.25: 250e9  # the fixture's is undone at the test's end
    preset = presets.choose(270_000, 30_000, 60, None, CPU, "fp32", 62)
    assert 60 / preset.eval_seconds == pytest.approx(8)


def test_a_split_too_long_for_the_evals_share_of_a_budget_is_sampled():
    """A new-user trial: a 50 MB corpus, `--time 1m`, had 2 evals of its 5M val chars, 42 s each, and 10 steps. Its
    evals now score a sample, about what the budget's 5% allows for 8, and no fewer than EVAL_MIN_CHARS."""
    for budget in (30, 60, 600):  # tiny shakespeare's split: whole, as before (a sample would not halve it)
        assert presets.choose(1_000_000, 110_000, budget, None, CPU, "fp32", 65).eval_chars is None
    for budget in (60, 600, 3600):
        big = presets.choose(45_000_000, 5_000_000, budget, None, CPU, "fp32", 65)
        assert big.eval_chars in presets.EVAL_SIZES and big.eval_chars <= 2_500_000  # same spans on any machine
        eval_seconds = big.eval_chars / (3 * big.estimated_chars_per_second) + presets.EVAL_FIXED_SECONDS
        assert (big.eval_chars == presets.EVAL_MIN_CHARS or 8 * eval_seconds <= 0.051 * budget), budget
        assert budget / big.eval_seconds * eval_seconds <= max(0.051 * budget, 2 * eval_seconds)
    steps_run = presets.choose(45_000_000, 5_000_000, None, 1000, CPU, "fp32", 65)
    assert steps_run.eval_chars == presets.EVAL_MAX_CHARS


def test_parameter_formula_matches_the_model():
    from charnn.config import ModelConfig
    from charnn.model import CharRNN

    for cell in ("lstm", "gru", "rnn"):
        model = CharRNN(ModelConfig(96, cell, 3, 40, 64))
        assert presets.model_parameters(3, 40, 64, 96, cell) == model.num_parameters()
    # And the preset's reason counts the model that will be trained.
    gru = presets.choose(1_000_000, 100_000, 600, None, CPU, "fp32", 65, cell="gru", embed_dim=32)
    trained = CharRNN(ModelConfig(65, "gru", gru.num_layers, gru.hidden_size, 32)).num_parameters()
    assert f"({trained / 1e6:.2f}M params)" in gru.reason


def test_dropout_grows_smoothly_with_the_passes():
    assert presets.dropout_for(1) == presets.dropout_for(2) == 0
    assert presets.dropout_for(4) == 0.1 and presets.dropout_for(10) == presets.dropout_for(100) == 0.25
    # A small corpus read hundreds of times (the bundled screenplay in 3 minutes: 275 passes) gets more.
    assert presets.dropout_for(175) == 0.325 and presets.dropout_for(275) == presets.dropout_for(1000) == 0.4
    values = [presets.dropout_for(p / 10) for p in range(0, 4000)]
    assert values == sorted(values)
    assert max(b - a for a, b in zip(values, values[1:], strict=False)) < 0.01  # no step for noise to flip across


def test_a_vanilla_rnn_gets_no_dropout_up_to_six_passes():
    """It did better without at 3.3 and 5.8 passes on tiny shakespeare (benchmarks/RESULTS.md)."""
    assert presets.dropout_for(3.3, "rnn") == presets.dropout_for(6, "rnn") == 0 < presets.dropout_for(3.3, "gru")
    assert presets.dropout_for(20, "rnn") == presets.dropout_for(300, "rnn") == 0.25  # small corpora, read often
    values = [presets.dropout_for(p / 10, "rnn") for p in range(0, 400)]
    assert values == sorted(values) and max(b - a for a, b in zip(values, values[1:], strict=False)) < 0.01
    # 3,000 steps of 16 × 64 on 1M characters: 3.1 passes, by steps, so nothing is measured.
    rnn = presets.choose(1_000_000, 100_000, None, 3000, CPU, "fp32", 65, cell="rnn")
    lstm = presets.choose(1_000_000, 100_000, None, 3000, CPU, "fp32", 65)
    assert rnn.dropout == 0 < lstm.dropout == presets.dropout_for(3.072)  # the preset passes the cell on


def test_weight_dropout_only_for_corpora_read_many_times():
    assert presets.weight_dropout_for(1) == presets.weight_dropout_for(12) == 0  # tiny shakespeare in 10 minutes
    assert presets.weight_dropout_for(25) == 0.25 and presets.weight_dropout_for(100) == presets.weight_dropout_for(
        1000) == 0.5
    values = [presets.weight_dropout_for(p / 10) for p in range(0, 2000)]
    assert values == sorted(values)
    assert max(b - a for a, b in zip(values, values[1:], strict=False)) < 0.005  # no step for noise to flip across


def test_a_gru_or_rnn_time_run_is_planned_on_its_measured_speed(fixed_speed):
    """The matmul tells an LSTM's speed (oneDNN's kernel), not a GRU's or an RNN's: those are measured."""
    lstm = presets.choose(1_000_000, 100_000, 3600, None, CPU, "fp32", 65)
    assert fixed_speed == []
    gru = presets.choose(1_000_000, 100_000, 3600, None, CPU, "fp32", 65, cell="gru")
    assert fixed_speed[-1] == ("gru", gru.num_layers, gru.hidden_size)  # the choice is measured
    assert len(fixed_speed) == len(set(fixed_speed)) >= 2  # came down the ladder, each size measured once
    # Below the size first considered, which the LSTM's estimated speed chose.
    assert presets.LADDER.index((gru.num_layers, gru.hidden_size)) < presets.LADDER.index(fixed_speed[0][1:])
    assert gru.estimated_chars_per_second == pytest.approx(0.4 * 60e9 * 0.8 / presets.train_flops_per_char(
        gru.num_layers, gru.hidden_size, vocab=65))
    assert "at a measured" in gru.reason and "at a measured" not in lstm.reason
    fixed_speed.clear()
    presets.choose(1_000_000, 100_000, None, 500, CPU, "fp32", 65, cell="rnn")  # steps: speed plans nothing
    presets.choose(1_000_000, 100_000, 600, None, CPU, "fp32", 65, cell="rnn", num_layers=2, hidden_size=64)
    assert fixed_speed == [("rnn", 2, 64)]  # the user's size: measured once, nothing else


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_measured_speed_is_a_real_training_step_and_leaves_the_random_state(cell):
    torch.manual_seed(3)
    expected = torch.rand(2)
    torch.manual_seed(3)
    rate = MEASURE(cell, 1, 16, 8, 20, 4, 16, CPU, "fp32")
    assert rate > 0 and torch.equal(torch.rand(2), expected)


def test_one_size_given_the_other_is_the_presets(fixed_speed):
    """The other dimension is the one the ladder chooses: for a GRU, on its measured speed."""
    lstm = presets.choose(1_000_000, 100_000, 3600, None, CPU, "fp32", 65)
    assert (presets.choose(1_000_000, 100_000, 3600, None, CPU, "fp32", 65, num_layers=3).hidden_size
            == lstm.hidden_size)
    gru = presets.choose(1_000_000, 100_000, 3600, None, CPU, "fp32", 65, cell="gru")
    estimated = fixed_speed[0][1:]  # the size first considered: the LSTM's estimated speed chose it
    assert presets.LADDER.index((gru.num_layers, gru.hidden_size)) < presets.LADDER.index(estimated)
    fixed_speed.clear()
    three = presets.choose(1_000_000, 100_000, 3600, None, CPU, "fp32", 65, cell="gru", num_layers=3)
    assert (three.num_layers, three.hidden_size) == (3, gru.hidden_size)
    assert fixed_speed[-1] == ("gru", 3, gru.hidden_size)  # the size trained is measured, for its plan
    assert "at a measured" in three.reason
    fixed_speed.clear()
    huge = presets.choose(1_000_000, 100_000, 600, None, CPU, "fp32", 65, hidden_size=2048)
    assert "more parameters than it trains well" in huge.reason  # the user's size, but the user is told
    fixed_speed.clear()
    both = presets.choose(1_000_000, 100_000, 3600, None, CPU, "fp32", 65, cell="gru", num_layers=1, hidden_size=2048)
    assert (both.num_layers, both.hidden_size) == (1, 2048) and fixed_speed == [("gru", 1, 2048)]


def test_a_size_that_cannot_be_measured_is_not_chosen(monkeypatch, fixed_speed):
    def measure(cell, layers, hidden, *rest):
        fixed_speed.append((cell, layers, hidden))
        if hidden >= 384:
            raise RuntimeError("out of memory")
        return 1e6

    monkeypatch.setattr(presets, "measured_chars_per_second", measure)
    preset = presets.choose(50_000_000, 100_000, 3600, None, CPU, "fp32", 65, cell="gru")
    assert preset.hidden_size < 384 and "at a measured 1,000,000 chars/s" in preset.reason


def test_a_steps_run_on_a_tiny_corpus_plans_its_evals_for_the_batch_it_gets():
    preset = presets.choose(300, 30, None, 500, CPU, "fp32", 20)
    assert preset.batch_size < 16 and preset.eval_every == 63  # ⌈500 / 8⌉; was planned for 16 × 64: 4 evals, not 8
