"""The NumPy steppers used for sampling on CPU give the model's own logits, step after step, for every cell."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from conftest import tiny_model_config

from charnn import products
from charnn.model import CharRNN
from charnn.stepper import GRUStepper, LSTMStepper, Stepper, stepper_for

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


@pytest.fixture
def fp32_batches(monkeypatch):
    """Batches in fp32 whatever this CPU has, so that they can be held to fp32 tolerances."""
    monkeypatch.setattr(products, "native_int8", lambda: False)


def recurrent_products(model: CharRNN, batch: int) -> list[products.Product]:
    with torch.no_grad():
        _, state = model(torch.zeros(batch, 1, dtype=torch.long))
    step, _ = stepper_for(model, state)
    return [p for p in step.__self__.recurrent + step.__self__.input if p is not None]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("batch", [1, 4])  # one stream: NumPy's BLAS; a batch: oneDNN's packed weights
def test_stepper_matches_model(cell, layers, batch, fp32_batches):
    assert_stepper_matches_model(make_model(cell, layers), batch=batch, steps=12, tolerance=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_int8_batches_match_model_within_int8_rounding(cell, monkeypatch):
    """On CPUs with int8 dot products a batch multiplies in int8, each input row and weight column on its
    own scale: step after step, the logits stay within that rounding of the fp32 model's. (int8 runs on
    any CPU, only more slowly without the instructions, so this holds everywhere.)"""
    monkeypatch.setattr(products, "native_int8", lambda: True)
    model = make_model(cell, 2)
    # If a torch upgrade drops `torch._int_mm` on CPU, say so here rather than let batches quietly lose it.
    assert all(p.precision == "int8" and p.packed is None for p in recurrent_products(model, 3))
    assert_stepper_matches_model(model, batch=3, steps=40, tolerance=2e-2)


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="this torch build has no oneDNN")
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_fp32_batches_use_packed_weights_and_one_stream_does_not(cell, fp32_batches):
    """The batched speed depends on the packed path: if a torch upgrade drops its ops, say so here
    rather than let sampling quietly fall back to the slow BLAS path."""
    model = make_model(cell, 2)
    for batch, packed in ((1, False), (5, True)):
        found = recurrent_products(model, batch)
        assert found and all((p.packed is not None) == packed and p.precision == "fp32" for p in found)


def test_one_stream_stays_fp32_numpy_on_int8_cpus(monkeypatch):
    monkeypatch.setattr(products, "native_int8", lambda: True)
    found = recurrent_products(make_model("lstm", 2), 1)
    assert all(p.precision == "fp32" and p.packed is None for p in found)


def test_packing_probe_accepts_onednn_and_refuses_a_wrong_product(monkeypatch):
    if not torch.backends.mkldnn.is_available():
        pytest.skip("this torch build has no oneDNN")
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((48, 96), dtype=np.float32)
    bias = rng.standard_normal((1, 96), dtype=np.float32)
    assert products.pack_for_onednn(weight, bias, 4) is not None
    real = torch.ops.mkldnn._linear_pointwise
    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", lambda *args: real(*args) * 1.1)
    assert products.pack_for_onednn(weight, bias, 4) is None


@pytest.mark.parametrize("size", [(48, 96), (7, 9)])
def test_int8_probe_accepts_int_mm_and_refuses_a_wrong_product(size, monkeypatch):
    rng = np.random.default_rng(1)
    weight = rng.standard_normal(size, dtype=np.float32)
    weight[:, 0] = 0  # a column of zeros has no scale of its own
    quantized, scale = products.quantize_for_int_mm(weight, None, 4)
    assert quantized.dtype == torch.int8 and scale.shape == (1, size[1])
    x = rng.uniform(-1, 1, (4, size[0])).astype(np.float32)
    x[1] = 0  # an all-zero row, likewise
    got = products.int8_product(x, quantized, scale)
    assert got.dtype == np.float32 and not got[1].any() and not got[:, 0].any()
    # Each input moves by at most 1/254 of its row's largest, each weight by 1/254 of its column's: twice that.
    x_size, w_size = np.abs(x), np.abs(weight)
    bound = (x_size.max(axis=1, keepdims=True) * w_size.sum(axis=0) + x_size.sum(axis=1, keepdims=True)
             * w_size.max(axis=0)) / 127
    assert np.all(np.abs(got - x @ weight) <= bound)
    real = torch._int_mm
    monkeypatch.setattr(torch, "_int_mm", lambda a, b: real(a, b) * 2)  # a broken op
    assert products.quantize_for_int_mm(weight, None, 4) is None


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_batches_fall_back_from_int8_to_onednn_to_numpy(cell, monkeypatch):
    monkeypatch.setattr(products, "native_int8", lambda: True)
    monkeypatch.setattr(products, "quantize_for_int_mm", lambda weight, bias, batch_size: None)  # no _int_mm
    model = make_model(cell, 2)
    if torch.backends.mkldnn.is_available():
        assert all(p.packed is not None for p in recurrent_products(model, 3))
    assert_stepper_matches_model(model, batch=3, steps=8, tolerance=1e-5)
    monkeypatch.setattr(products, "pack_for_onednn", lambda weight, bias, batch_size: None)  # no oneDNN either
    assert all(p.packed is None and p.quantized is None for p in recurrent_products(model, 3))
    assert_stepper_matches_model(model, batch=3, steps=8, tolerance=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_saturated_gates_match_without_warnings(cell, fp32_batches):
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


@pytest.mark.parametrize(("cell", "kind"), [("lstm", LSTMStepper), ("gru", GRUStepper), ("rnn", Stepper)])
def test_each_cell_gets_its_stepper_on_cpu(cell, kind):
    model = make_model(cell, 2)
    with torch.no_grad():
        _, state = model(torch.zeros(1, 1, dtype=torch.long))
    step, _ = stepper_for(model, state)
    assert type(step.__self__) is kind


def test_stepper_does_not_change_the_model(fp32_batches):
    model = make_model("gru", 2)
    before = {name: p.clone() for name, p in model.state_dict().items()}
    assert_stepper_matches_model(model, batch=2, steps=4, tolerance=1e-5)
    assert all(torch.equal(before[name], p) for name, p in model.state_dict().items())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_accelerator_uses_the_model_and_returns_numpy():
    assert_stepper_matches_model(make_model("lstm", 2).cuda(), batch=2, steps=6, tolerance=1e-4)
