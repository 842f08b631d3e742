"""The NumPy steppers used for sampling on CPU give the model's own logits, step after step, for every cell."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from conftest import tiny_model_config

from charnn import products
from charnn import stepper as stepper_module
from charnn.lstm_int8 import Int8LSTMStepper
from charnn.model import CharRNN
from charnn.recurrence import GRUStepper, LSTMStepper, Stepper
from charnn.sample import generate_batch
from charnn.stepper import stepper_for
from charnn.vocab import Vocab

VOCAB_SIZE = 23


def make_model(cell: str, layers: int, seed: int = 0) -> CharRNN:
    torch.manual_seed(seed)
    return CharRNN(tiny_model_config(VOCAB_SIZE, cell=cell, num_layers=layers)).eval()


def assert_stepper_matches_model(model: CharRNN, batch: int, steps: int, tolerance: float) -> None:
    """Fed one id at a time after a 1-char prime, the stepper gives the full forward's logits."""
    ids = torch.randint(0, VOCAB_SIZE, (batch, steps), generator=torch.Generator().manual_seed(0))
    device = next(model.parameters()).device
    with torch.no_grad():
        full, _ = model(ids.to(device))  # (B, T, V)
        full = full.cpu()
        _, prime_state = model(ids[:, :1].to(device))
        step, state = stepper_for(model, prime_state)
        for t in range(1, steps):
            logits, state = step(ids[:, t].numpy(), state)
            assert isinstance(logits, np.ndarray) and logits.dtype == np.float32
            torch.testing.assert_close(torch.from_numpy(logits), full[:, t], rtol=tolerance, atol=tolerance)


def sampling_stepper(model: CharRNN, batch: int):
    """The stepper `stepper_for` picks for `batch` streams of `model`."""
    with torch.no_grad():
        _, state = model(torch.zeros(batch, 1, dtype=torch.long))
    return stepper_for(model, state)[0].__self__


def recurrent_products(model: CharRNN, batch: int) -> list[products.Product]:
    found = sampling_stepper(model, batch)
    return [p for p in found.recurrent + found.input if p is not None]


def head_product(model: CharRNN, batch: int) -> products.Product:
    return sampling_stepper(model, batch).head


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("batch", [1, 4])  # one stream: NumPy's BLAS; a batch: oneDNN's packed weights
def test_stepper_matches_model(cell, layers, batch, fp32_sampling):
    assert_stepper_matches_model(make_model(cell, layers), batch=batch, steps=12, tolerance=1e-5)


@pytest.mark.parametrize("cell", ["gru", "rnn"])
@pytest.mark.parametrize("batch", [1, 3])
def test_int8_products_match_model_within_int8_rounding(cell, batch, int8_sampling):
    """With int8 products, step after step, the logits stay within int8 rounding of the fp32 model's
    (the tiny model's are off by up to ~5e-3)."""
    model = make_model(cell, 2)
    # If a torch upgrade drops `torch._int_mm` on CPU, say so here rather than let sampling quietly lose it.
    assert all(p.precision == "int8" and p.packed is None for p in recurrent_products(model, batch))
    assert_stepper_matches_model(model, batch=batch, steps=40, tolerance=1e-2)


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("batch", [1, 3])
def test_int8_lstm_matches_model_within_int8_rounding(layers, batch, int8_sampling):
    """The LSTM's own int8 step (charnn/lstm_int8.py), h held in int8 on a fixed scale."""
    model = make_model("lstm", layers)
    # If a torch upgrade breaks an op it uses, say so here rather than let sampling quietly fall back.
    assert type(sampling_stepper(model, batch)) is Int8LSTMStepper
    assert_stepper_matches_model(model, batch=batch, steps=40, tolerance=1e-2)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("batch", [1, 3])
def test_int8_weights_are_stored_for_a_matrix_vector_kernel(cell, batch, int8_sampling):
    """One row is multiplied 2–3× as fast by int8 weights stored (N, K) (charnn/products.py), a batch no slower."""
    model = make_model(cell, 2)
    found = sampling_stepper(model, batch)
    weights = [layer.weight for layer in found.layers] if type(found) is Int8LSTMStepper \
        else [product.quantized for product in recurrent_products(model, batch)]
    assert weights and all(weight.dtype == torch.int8 and weight.t().is_contiguous() for weight in weights)


def test_int8_lstm_int8_takes_any_state_not_only_the_last_one(int8_sampling):
    """It keeps h in int8 between steps; a state it did not just return must be read afresh."""
    model = make_model("lstm", 2)
    with torch.no_grad():
        _, prime_state = model(torch.randint(0, VOCAB_SIZE, (3, 5), generator=torch.Generator().manual_seed(1)))
    stepper = Int8LSTMStepper(model, 3)
    start, ids = stepper.start(prime_state), np.array([1, 2, 3])
    first, after = stepper.step(ids, start)
    stepper.step(ids, after)  # the int8 copies now hold a later state
    again, _ = stepper.step(ids, start)
    np.testing.assert_array_equal(again, first)
    fresh, _ = Int8LSTMStepper(model, 3).step(ids, stepper.start(prime_state))
    np.testing.assert_array_equal(fresh, first)


def test_int8_lstm_int8_steps_inside_and_outside_inference_mode(int8_sampling):
    """Sampling builds the stepper inside `torch.inference_mode()`; its buffers are written in place at every
    step, and must not become inference tensors that only that mode may write."""
    model = make_model("lstm", 2)
    with torch.inference_mode():
        _, state = model(torch.zeros(3, 1, dtype=torch.long))
        stepper = Int8LSTMStepper(model, 3)
        inside, _ = stepper.step(np.array([1, 2, 3]), stepper.start(state))
    outside, _ = stepper.step(np.array([1, 2, 3]), stepper.start(state))
    np.testing.assert_array_equal(outside, inside)


def test_int8_lstm_int8_takes_ids_of_any_layout(int8_sampling):
    model = make_model("lstm", 2)
    with torch.no_grad():
        _, state = model(torch.zeros(3, 1, dtype=torch.long))
    stepper = Int8LSTMStepper(model, 3)
    expected, _ = stepper.step(np.array([3, 2, 1]), stepper.start(state))
    for ids in (np.array([1, 2, 3])[::-1], np.array([3, 2, 1], dtype=np.int32), [3, 2, 1]):
        got, _ = stepper.step(ids, stepper.start(state))
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(("broken", "batch"), [("wrong on strided inputs", 3), ("wrong on (N, K) weights", 1),
                                                ("warns", 3), ("warns", 1)])
def test_int8_lstm_refuses_an_int_mm_wrong_as_it_calls_it(broken, batch, int8_sampling, monkeypatch):
    """The step multiplies strided views of one buffer, with `out=`, and one stream's weights stored (N, K).
    A torch that gets those wrong, or warns about them, must not sample with this step; nor with the shared
    int8 products, where they would be as wrong."""
    real = torch._int_mm

    def int_mm(a, b, out=None):
        if broken == "warns":
            warnings.warn("falling back to a slow path", UserWarning, stacklevel=2)
        if broken == "wrong on strided inputs":
            wrong = not a.is_contiguous()
        else:
            wrong = broken != "warns" and not b.is_contiguous()
        product = real(a, b) * (2 if wrong else 1)  # as far off as oneDNN without int8 instructions
        return product if out is None else out.copy_(product)

    monkeypatch.setattr(torch, "_int_mm", int_mm)
    with pytest.raises(ValueError, match="_int_mm"):
        Int8LSTMStepper(make_model("lstm", 2), batch)
    with warnings.catch_warnings():
        warnings.simplefilter("error" if broken != "warns" else "ignore")
        found = sampling_stepper(make_model("lstm", 2), batch)
    assert type(found) is LSTMStepper
    expected = "int8" if broken == "wrong on strided inputs" else "fp32"  # the products' inputs are contiguous
    assert all(p.precision == expected for p in found.recurrent)


def test_int8_lstm_int8_samples_through_generate_batch(int8_sampling, monkeypatch):
    """End to end, as `charnn sample --num-samples` runs it: inside inference mode, same seed, same text."""
    made = []
    make_stepper = stepper_module.make_stepper
    monkeypatch.setattr(stepper_module, "make_stepper", lambda *args: made.append(make_stepper(*args)) or made[-1])
    model, vocab = make_model("lstm", 2), Vocab("abcdefghijklmnopqrstuvw")
    texts = [generate_batch(model, vocab, "ab", 60, 4, 0.8, generator=torch.Generator().manual_seed(5))
             for _ in range(2)]
    assert [type(found) for found in made] == [Int8LSTMStepper] * 2
    assert texts[0] == texts[1] and [len(text) for text in texts[0]] == [60] * 4 and len(set(texts[0])) > 1


def test_int8_lstm_int8_falls_back_where_an_op_it_uses_is_missing(int8_sampling, monkeypatch):
    """A torch whose `_int_mm` has no `out=` (or lacks another op of the LSTM step) still samples in int8,
    through the products every cell uses."""
    exact = torch._int_mm

    def without_out(a, b):
        return exact(a, b)

    monkeypatch.setattr(torch, "_int_mm", without_out)
    model = make_model("lstm", 2)
    found = sampling_stepper(model, 3)
    assert type(found) is LSTMStepper and all(p.precision == "int8" for p in recurrent_products(model, 3))
    assert_stepper_matches_model(model, batch=3, steps=12, tolerance=1e-2)


@pytest.mark.skipif(not products.onednn_enabled(), reason="this torch build has no oneDNN")
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_fp32_batches_use_packed_weights_and_one_stream_does_not(cell, fp32_sampling):
    """The batched speed depends on the packed path: if a torch upgrade drops its ops, say so here
    rather than let sampling quietly fall back to the slow BLAS path."""
    model = make_model(cell, 2)
    for batch, packed in ((1, False), (5, True)):
        found = recurrent_products(model, batch)
        assert found and all((p.packed is not None) == packed and p.precision == "fp32" for p in found)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_every_head_stays_fp32_on_int8_cpus(cell, int8_sampling):
    model = make_model(cell, 2)
    one_stream_head = head_product(model, 1)  # NumPy's
    assert one_stream_head.quantized is None and one_stream_head.packed is None and one_stream_head.tensors is None
    batch_head = head_product(model, 4)
    assert batch_head.quantized is None and batch_head.packed is None and batch_head.tensors is not None


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_no_batch_product_goes_to_numpys_blas(cell, precision, int8_sampling, monkeypatch):
    """NumPy's BLAS threads would compete with torch's for the cores (charnn/products.py). This checks the
    path each batch product takes; a NumPy `@` in a probe would not show here (benchmarks/RESULTS.md,
    eighth session, has the per-thread CPU time that does)."""
    if precision == "fp32":
        monkeypatch.setattr(products, "native_int8", lambda: False)
    model = make_model(cell, 2)
    found = sampling_stepper(model, 4)
    assert (type(found) is Int8LSTMStepper) == (cell == "lstm" and precision == "int8")
    # The LSTM's int8 step multiplies its layers with `torch._int_mm` itself: only its head is a Product.
    found = [found.head] if type(found) is Int8LSTMStepper else [found.head, *recurrent_products(model, 4)]
    for product in found:
        assert any(path is not None for path in (product.quantized, product.packed, product.tensors))


def test_no_int8_without_onednn_where_int_mm_is_a_slow_loop(monkeypatch):
    monkeypatch.setattr(products, "native_int8", lambda: True)
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)
    assert products.sampling_precision() == "fp32"
    assert all(p.quantized is None and p.packed is None for p in recurrent_products(make_model("lstm", 2), 3))


def test_packing_probe_accepts_onednn_and_refuses_a_wrong_product(monkeypatch):
    if not products.onednn_enabled():
        pytest.skip("this torch build has no oneDNN")
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((48, 96), dtype=np.float32)
    bias = rng.standard_normal((1, 96), dtype=np.float32)
    assert products.pack_for_onednn(weight, bias, 4) is not None
    real = torch.ops.mkldnn._linear_pointwise
    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", lambda *args: real(*args) * 1.1)
    assert products.pack_for_onednn(weight, bias, 4) is None


def uneven(rows: int, columns: int, seed: int) -> np.ndarray:
    """Values whose rows and columns differ in size by up to 10⁶, so that one shared scale would fail."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((rows, columns), dtype=np.float32)
    return values * np.logspace(-3, 0, rows, dtype=np.float32)[:, None] * np.logspace(0, 3, columns,
                                                                                       dtype=np.float32)


@pytest.mark.parametrize("size", [(48, 96), (7, 9)])
def test_int8_product_rounds_each_row_and_column_on_its_own_scale(size, int8_sampling):
    inputs, weight = uneven(4, size[0], 1), uneven(size[0], size[1], 2)
    weight[:, 0] = 0  # a column of zeros, and below a row of zeros: neither has a scale of its own
    inputs[1] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quantized, scale = products.quantize_for_int_mm(weight, 4)
        got = products.int8_product(inputs, quantized, scale)
    assert quantized.dtype == torch.int8 and scale.shape == (1, size[1]) and got.dtype == np.float32
    assert not got[1].any() and not got[:, 0].any()
    # The scheme itself, in float64: round each row to 127 steps of its largest entry, each column likewise.
    row_step = np.abs(inputs).max(axis=1, keepdims=True) / 127
    row_step[row_step == 0] = 1
    column_step = np.abs(weight).max(axis=0, keepdims=True) / 127
    column_step[column_step == 0] = 1
    expected = (np.rint(inputs / row_step) @ np.rint(weight / column_step)) * row_step * column_step
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    # And it is within int8 rounding of the true product: half a step on each side, times the other factor.
    input_sizes, weight_sizes = np.abs(inputs), np.abs(weight)
    bound = 0.5 * (row_step * (weight_sizes.sum(axis=0) + size[0] * column_step / 2)
                   + input_sizes.sum(axis=1, keepdims=True) * column_step)
    assert np.all(np.abs(got - inputs @ weight) <= bound * 1.01)


@pytest.mark.parametrize("broken", ["20% off", "missing", "not implemented", "warns"])
def test_int8_probe_refuses_a_wrong_or_missing_int_mm(broken, int8_sampling, monkeypatch):
    weight = uneven(48, 96, 3)
    assert products.quantize_for_int_mm(weight, 4) is not None
    if broken == "missing":
        monkeypatch.delattr(torch, "_int_mm")
    else:
        real = torch._int_mm

        def int_mm(a, b):
            if broken == "not implemented":  # torch 2.2 on CPU
                raise NotImplementedError("Could not run 'aten::_int_mm' with arguments from the 'CPU' backend")
            if broken == "warns":  # e.g. a slow fallback announced to the user
                warnings.warn("falling back to a slow path", UserWarning, stacklevel=2)
                return real(a, b)
            return real(a, b) * 6 // 5  # as wrong as oneDNN's held to AVX2 (19%)

        monkeypatch.setattr(torch, "_int_mm", int_mm)
    assert products.quantize_for_int_mm(weight, 4) is None


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_batches_fall_back_from_int8_to_onednn_to_plain_torch(cell, int8_sampling, monkeypatch):
    monkeypatch.delattr(torch, "_int_mm")
    model = make_model(cell, 2)
    if torch.backends.mkldnn.is_available():
        assert all(p.packed is not None for p in recurrent_products(model, 3))
    assert_stepper_matches_model(model, batch=3, steps=8, tolerance=1e-5)
    monkeypatch.setattr(products, "pack_for_onednn", lambda weight, bias, batch_size: None)  # no oneDNN either
    assert all(p.packed is None and p.quantized is None and p.tensors is not None for p in recurrent_products(model, 3))
    assert_stepper_matches_model(model, batch=3, steps=8, tolerance=1e-5)


def test_products_refuse_an_unknown_precision():
    with pytest.raises(ValueError, match="precision"):
        products.Product(np.ones((2, 3), dtype=np.float32), None, 4, "bf16")


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_saturated_gates_match_without_warnings(cell, fp32_sampling):
    """Huge pre-activations overflow e^x inside the LSTM and GRU steppers; the limits must come out
    right, silently. (The RNN stepper is a plain tanh, which cannot overflow: for it this checks the
    saturated values only.)"""
    model = make_model(cell, 2)
    with torch.no_grad():
        for parameter in model.rnn.parameters():
            parameter.mul_(300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_stepper_matches_model(model, batch=3, steps=6, tolerance=1e-4)


def test_int8_lstm_int8_saturates_without_warnings(int8_sampling):
    """Huge pre-activations give σ = 0 or 1 and tanh = ±1, silently. (Against the model the logits drift
    here by up to 0.2 within 6 steps, as they do with the int8 products of the other cells: int8 rounding
    of 300× weights in the gates short of saturation, carried through the recurrence.)"""
    model = make_model("lstm", 2)
    with torch.no_grad():
        for parameter in model.rnn.parameters():
            parameter.mul_(300)
        _, state = model(torch.zeros(3, 1, dtype=torch.long))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stepper = Int8LSTMStepper(model, 3)
        state = stepper.start(state)
        for t in range(6):
            logits, state = stepper.step(np.full(3, t), state)
            assert np.isfinite(logits).all()
            assert all(np.abs(h).max() <= 1 and np.isfinite(c).all() for h, c in zip(*state, strict=True))


@pytest.mark.parametrize(("cell", "kind"), [("lstm", LSTMStepper), ("gru", GRUStepper), ("rnn", Stepper)])
def test_each_cell_gets_its_stepper_on_cpu(cell, kind, fp32_sampling):
    model = make_model(cell, 2)
    with torch.no_grad():
        _, state = model(torch.zeros(1, 1, dtype=torch.long))
    step, _ = stepper_for(model, state)
    assert type(step.__self__) is kind


def test_stepper_does_not_change_the_model(fp32_sampling):
    model = make_model("gru", 2)
    before = {name: p.clone() for name, p in model.state_dict().items()}
    assert_stepper_matches_model(model, batch=2, steps=4, tolerance=1e-5)
    assert all(torch.equal(before[name], p) for name, p in model.state_dict().items())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_accelerator_uses_the_model_and_returns_numpy():
    assert_stepper_matches_model(make_model("lstm", 2).cuda(), batch=2, steps=6, tolerance=1e-4)


@pytest.mark.parametrize("batch", [1, 3])
def test_fp32_asked_for_keeps_an_int8_cpu_to_fp32_products(batch, int8_sampling):
    model = make_model("lstm", 2)
    with torch.no_grad():
        _, state = model(torch.zeros(batch, 1, dtype=torch.long))
    found = stepper_for(model, state, "fp32")[0].__self__
    assert type(found) is LSTMStepper and all(p.precision == "fp32" for p in found.recurrent)
    assert type(stepper_for(model, state, "auto")[0].__self__) is Int8LSTMStepper
    with pytest.raises(ValueError, match="precision"):
        stepper_for(model, state, "int8")  # wrong on a CPU without int8 dot products: never asked for by name
