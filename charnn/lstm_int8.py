"""The LSTM step for sampling on a CPU with int8 dot products (charnn/products.py), one stream or a batch.

`stepper.LSTMStepper` with int8 products spent 205 µs on a step of 8 streams of the bundled 2×384
model, of which ~90 µs in `torch._int_mm` and the rest in ~50 small NumPy operations (benchmarks/
RESULTS.md, seventh and eighth sessions). Three of those cost 3–4× what torch's take on the same data:
int32 → fp32 rescaling (NumPy casts through a buffer), the gather of the embedding rows, and σ over a
strided block of gates. So this step:
- keeps each layer's h as int8 on a fixed scale, 127 steps per unit: an LSTM's h = o·tanh(c) lies in
  [−1, 1], so no per-row scale is needed, and each new h is rounded once, straight into the int8 inputs
  of the two products that read it (its layer's next step, the layer above now);
- rescales and adds the bias (or the embedding rows) in one torch call, `addcmul`;
- orders the gate columns input, forget, output, cell, so σ is one torch call on the first 3H columns
  and tanh one NumPy call on the last H.
It changed the teacher-forced loss of the bundled model by 0.0003 nats or less (RESULTS.md, thirteenth session).

Shapes: B streams, H hidden size, V vocab size. The state it carries is `LSTMStepper`'s: per-layer lists
of h and c, fp32 (B, H). The int8 copies of h live in this object; a state other than the one the last
step returned is rounded again on the way in, so any state may be passed; but a returned state must
not be changed in place (its int8 copy would not follow).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import torch

from charnn.model import CharRNN
from charnn.products import head_product, quantize_columns, torch_product

STEPS_PER_UNIT = 127  # int8 steps in h ∈ [-1, 1]


class Int8LSTMStepper:
    def __init__(self, model: CharRNN, batch_size: int):
        """Raises where `torch._int_mm` is missing here (AttributeError, RuntimeError) or wrong (ValueError)."""
        hidden, layers = model.config.hidden_size, model.config.num_layers
        # PyTorch's gate order is input, forget, cell, output; this step's is input, forget, output, cell.
        order = torch.cat([torch.arange(2 * hidden), torch.arange(3 * hidden, 4 * hidden),
                           torch.arange(2 * hidden, 3 * hidden)])
        parameters = dict(model.rnn.named_parameters())

        def reordered(name: str) -> torch.Tensor:  # (4H, ...) → this step's gate order, fp32 on the CPU
            return parameters[name].detach().cpu().float()[order]

        bias = [reordered(f"bias_ih_l{i}") + reordered(f"bias_hh_l{i}") for i in range(layers)]  # (4H,) each
        # (V, 4H): embedding → layer-0 input projection + its bias, one row per character.
        embedding = model.embedding.weight.detach().cpu().double()  # (V, E)
        self.table = (embedding @ reordered("weight_ih_l0").double().t() + bias[0].double()).float()
        prepared = []  # per layer: int8 weight (K, 4H), scale from int32 sums to fp32 (1, 4H), bias (1, 4H)
        for i in range(layers):
            # Layer 0: h (B, H) → (B, 4H). Above: [h below, h] (B, 2H) → (B, 4H).
            names = [f"weight_hh_l{i}"] if i == 0 else [f"weight_ih_l{i}", f"weight_hh_l{i}"]
            matrix = torch.cat([reordered(name) for name in names], dim=1).t()  # (K, 4H)
            quantized, scale = quantize_columns(matrix.numpy())  # checked in use by check_products below
            prepared.append((quantized, torch.from_numpy(scale / STEPS_PER_UNIT), bias[i][None]))
        self.head = head_product(model.head, batch_size)  # fp32, through torch (products.py)
        # Every layer's h in int8 side by side, (B, L·H): layer 0 reads its h, each layer above reads
        # [h below, its h] as one (B, 2H) view. This and the other buffers written at every step are made
        # outside inference mode even when sampling builds the stepper inside it, so either mode may step it.
        with torch.inference_mode(False):
            self.held = torch.zeros(batch_size, layers * hidden, dtype=torch.int8)
            self.rounded = np.empty((batch_size, hidden), dtype=np.float32)
            self.layers = []
            for i, (weight, scale, layer_bias) in enumerate(prepared):
                gates = torch.empty(batch_size, 4 * hidden)  # reused every step, like the sums
                values = gates.numpy()
                self.layers.append(Layer(
                    self.held[:, max(0, i - 1) * hidden : (i + 1) * hidden], weight, scale, layer_bias,
                    torch.empty(batch_size, 4 * hidden, dtype=torch.int32), gates, gates[:, : 3 * hidden],
                    *(values[:, k * hidden : (k + 1) * hidden] for k in range(4)),
                    self.held.numpy()[:, i * hidden : (i + 1) * hidden]))
        self.check_products()
        self.carried = None  # the h list the int8 inputs hold
        self.step(np.zeros(batch_size, dtype=np.int64), self.start(  # the other ops exist and agree on shapes
            (torch.zeros(layers, batch_size, hidden), torch.zeros(layers, batch_size, hidden))))

    def check_products(self) -> None:
        """`torch._int_mm` as the step calls it (strided views of `held`, `out=`) must be exact and silent:
        wrong without int8 instructions (products.py), and new in how this step calls it. Raises `ValueError`
        otherwise."""
        held = self.held.numpy()
        held[...] = np.random.default_rng(0).integers(-127, 128, held.shape)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # e.g. a slow fallback announced by a warning
                for layer in self.layers:
                    torch._int_mm(layer.inputs, layer.weight, out=layer.sums)
                    exact = torch_product(layer.inputs.numpy(), layer.weight.numpy())  # float64: exact here
                    if not np.array_equal(layer.sums.numpy(), exact):
                        raise ValueError("torch._int_mm gave wrong sums on strided inputs")
        except Warning as warning:
            raise ValueError(f"torch._int_mm warned: {warning}") from None
        finally:
            held[...] = 0

    def start(self, state) -> tuple[list[np.ndarray], list[np.ndarray]]:
        h, c = (s.detach().cpu().float().numpy() for s in state)  # (L, B, H) each
        return list(h), list(c)

    def hold(self, layer: Layer, h: np.ndarray) -> None:
        """Round h (B, H) to int8, where this layer's next step and the layer above read it."""
        rounded = self.rounded
        np.rint(np.multiply(h, STEPS_PER_UNIT, out=rounded), out=rounded)
        layer.held[...] = rounded  # exact: whole numbers in [-127, 127]

    def step(self, ids: np.ndarray, state):
        """ids (B,), state from `start` or `step` → logits (B, V), new state."""
        h, c = state
        carried, self.carried = self.carried, None  # until this step is through (an interrupt may stop it)
        if h is not carried:
            for layer, below in zip(self.layers, h, strict=True):
                self.hold(layer, below)
        new_h, new_c = [], []
        for index, layer in enumerate(self.layers):
            torch._int_mm(layer.inputs, layer.weight, out=layer.sums)  # exact
            if index == 0:
                rows = torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64))  # (B,)
                torch.index_select(self.table, 0, rows, out=layer.gates)
                layer.gates.addcmul_(layer.sums, layer.scale)  # (B, 4H)
            else:
                torch.addcmul(layer.bias, layer.sums, layer.scale, out=layer.gates)
            layer.gated.sigmoid_()  # input, forget and output gates
            cell_input = np.tanh(layer.cell_gate, out=layer.cell_gate)
            cell_input *= layer.input_gate
            cell = layer.forget_gate * c[index]  # (B, H), new
            cell += cell_input
            below = np.tanh(cell)
            below *= layer.output_gate  # (B, H), new
            self.hold(layer, below)
            new_h.append(below)
            new_c.append(cell)
        self.carried = new_h
        return self.head(below), (new_h, new_c)


class Layer(NamedTuple):
    """What one layer's step touches, prepared once: slicing a tensor costs ~1 µs of Python."""

    inputs: torch.Tensor  # (B, K) int8 view of `held`
    weight: torch.Tensor  # (K, 4H) int8, a view of (4H, K) (charnn/products.py)
    scale: torch.Tensor  # (1, 4H): int32 sums → fp32
    bias: torch.Tensor  # (1, 4H); layer 0's is in the table
    sums: torch.Tensor  # (B, 4H) int32
    gates: torch.Tensor  # (B, 4H) fp32
    gated: torch.Tensor  # (B, 3H) view of `gates`: the σ gates
    input_gate: np.ndarray  # (B, H) views of `gates`
    forget_gate: np.ndarray
    output_gate: np.ndarray
    cell_gate: np.ndarray
    held: np.ndarray  # (B, H) view of the int8 h this layer writes
