"""One recurrent step at a time, fast: what sampling runs for every character it writes.

PyTorch's LSTM/GRU/RNN run one time step through a general sequence kernel (oneDNN on CPU) whose
set-up dwarfs the work of a (B, H) step, and each small torch op costs ~5–10 µs of dispatch;
NumPy's cost 1–2 µs. So on CPU each cell is written out in NumPy on weights prepared once:
each layer is one or two matrix products (charnn/products.py: int8 where the CPU has int8 dot
products, else NumPy's fp32 for one stream and oneDNN's for a batch), and the first layer's input
projection is folded into a (V, G·H) table looked up by id (G gates), so the embedding and one
product disappear. The state and every nonlinearity are fp32. An LSTM on a CPU with int8 dot
products has a step of its own (charnn/lstm_int8.py), mixing torch and NumPy calls by which is
cheaper for each operation.

Shapes: B streams, H hidden size, V vocab size, L layers. Gate order is PyTorch's:
LSTM input, forget, cell, output; GRU reset, update, new.
"""

from __future__ import annotations

import numpy as np
import torch

from charnn.config import SAMPLING_PRECISIONS
from charnn.lstm_int8 import Int8LSTMStepper
from charnn.model import CharRNN
from charnn.products import Product, head_product, sampling_precision


class Stepper:
    """Weights of a trained CharRNN as (K, G·H) products (charnn/products.py: int8 where
    `precision` says), gate columns scaled by `column_scale`."""

    fuse_layers = True  # layers above the first: one product of [below, h] with [input; recurrent] weights

    def __init__(self, model: CharRNN, batch_size: int = 1, precision: str = "fp32"):
        config = model.config
        hidden, layers = config.hidden_size, config.num_layers
        weight = {name: param.detach().cpu().double() for name, param in model.rnn.named_parameters()}
        scale = self.column_scale(hidden)  # (G·H,)

        def columns(matrix: torch.Tensor) -> np.ndarray:  # (G·H, K) → (K, G·H), gates scaled, fp32
            return np.ascontiguousarray((matrix.t() * scale).float().numpy())

        input_bias, hidden_bias = [], []
        for i in range(layers):
            split = self.split_biases(weight[f"bias_ih_l{i}"], weight[f"bias_hh_l{i}"], hidden)
            input_bias.append(split[0].unsqueeze(1))  # (G·H, 1)
            hidden_bias.append(None if split[1] is None else columns(split[1].unsqueeze(1)))  # (1, G·H)
        embedding = model.embedding.weight.detach().cpu().double()  # (V, E)
        # (V, G·H): embedding → layer-0 input projection + its bias, one row per character.
        self.table = columns(weight["weight_ih_l0"] @ embedding.t() + input_bias[0])
        # Layer 0 and unfused layers: h (B, H) → (B, G·H). Fused layers: [below, h] (B, 2H) → (B, G·H).
        self.recurrent, self.input = [], [None]
        for i in range(layers):
            recurrent = columns(weight[f"weight_hh_l{i}"])  # (H, G·H)
            if i > 0 and self.fuse_layers:
                stacked = np.concatenate([columns(weight[f"weight_ih_l{i}"]), recurrent])  # (2H, G·H)
                self.recurrent.append(Product(stacked, columns(input_bias[i]), batch_size, precision))
                continue
            self.recurrent.append(Product(recurrent, hidden_bias[i], batch_size, precision))
            if i > 0:
                self.input.append(Product(columns(weight[f"weight_ih_l{i}"]), columns(input_bias[i]), batch_size,
                                          precision))
        self.head = head_product(model.head, batch_size)
        self.hidden = hidden

    @staticmethod
    def column_scale(hidden: int) -> torch.Tensor:
        return torch.ones(hidden, dtype=torch.float64)

    @staticmethod
    def split_biases(bias_ih: torch.Tensor, bias_hh: torch.Tensor, hidden: int):
        """(bias added with the input projection, bias added with the recurrent one, or None)."""
        return bias_ih + bias_hh, None

    def gates(self, layer: int, ids: np.ndarray, below: np.ndarray | None, h: np.ndarray) -> np.ndarray:
        """Input side + recurrent side of a fused layer's gates (or layer 0's), (B, G·H), a new array."""
        if layer == 0:
            gates = self.table[ids]  # fancy indexing copies
            gates += self.recurrent[0](h)
            return gates
        return self.recurrent[layer](np.concatenate([below, h], axis=1))

    def logits(self, top: np.ndarray) -> np.ndarray:
        return self.head(top)  # (B, V)

    def start(self, state) -> list[np.ndarray]:
        """The model's h (L, B, H) as this stepper's per-layer list of (B, H) arrays."""
        return list(state.detach().cpu().float().numpy())

    def step(self, ids: np.ndarray, state):
        """ids (B,), state from `start` or `step` → logits (B, V), new state."""
        with np.errstate(over="ignore"):  # e^(large) = inf gives σ = 0, the right limit: no warning
            return self.run_layers(ids, state)

    def run_layers(self, ids: np.ndarray, h: list[np.ndarray]):  # vanilla RNN: h' = tanh(W x + U h + b)
        below, new_h = None, []
        for layer in range(len(h)):
            below = np.tanh(self.gates(layer, ids, below, h[layer]))  # (B, H)
            new_h.append(below)
        return self.logits(below), new_h


def sigmoid_of_negated(gates: np.ndarray) -> np.ndarray:
    """σ(x) in place, given −x: 1 / (1 + e^(−x))."""
    np.exp(gates, out=gates)
    gates += 1
    return np.reciprocal(gates, out=gates)


class LSTMStepper(Stepper):
    """The gate columns are pre-scaled so that one exp over all four gates gives every nonlinearity:
    σ(x) = 1 / (1 + e^(−x)) for the input, forget and output gates (scale −1), and
    tanh(x) = 2σ(2x) − 1 for the cell gate (scale −2)."""

    @staticmethod
    def column_scale(hidden: int) -> torch.Tensor:
        scale = torch.full((4 * hidden,), -1.0, dtype=torch.float64)
        scale[2 * hidden : 3 * hidden] = -2.0
        return scale

    def start(self, state) -> tuple[list[np.ndarray], list[np.ndarray]]:
        h, c = (s.detach().cpu().float().numpy() for s in state)  # (L, B, H) each
        return list(h), list(c)

    def run_layers(self, ids: np.ndarray, state):
        (h, c), hidden = state, self.hidden
        below, new_h, new_c = None, [], []
        for layer in range(len(h)):
            gates = self.gates(layer, ids, below, h[layer])  # (B, 4H)
            sigmoid_of_negated(gates)  # σ of every gate (of 2x for the cell gate)
            cell_input = gates[:, 2 * hidden : 3 * hidden] * 2
            cell_input -= 1  # tanh of the cell gate, (B, H)
            cell_input *= gates[:, :hidden]
            cell = gates[:, hidden : 2 * hidden] * c[layer]
            cell += cell_input
            below = np.tanh(cell)
            below *= gates[:, 3 * hidden :]  # (B, H)
            new_h.append(below)
            new_c.append(cell)
        return self.logits(below), (new_h, new_c)


class GRUStepper(Stepper):
    """r, z = σ(...) via one exp (columns scaled by −1); n = tanh(W_n x + b_in + r ⊙ (U_n h + b_hn))
    keeps its recurrent bias apart, since r multiplies it; h' = n + z ⊙ (h − n). So the input and
    recurrent products stay apart too."""

    fuse_layers = False

    @staticmethod
    def column_scale(hidden: int) -> torch.Tensor:
        scale = torch.full((3 * hidden,), -1.0, dtype=torch.float64)
        scale[2 * hidden :] = 1.0
        return scale

    @staticmethod
    def split_biases(bias_ih: torch.Tensor, bias_hh: torch.Tensor, hidden: int):
        reset_update = torch.zeros_like(bias_hh)
        reset_update[: 2 * hidden] = bias_hh[: 2 * hidden]
        return bias_ih + reset_update, bias_hh - reset_update

    def run_layers(self, ids: np.ndarray, h: list[np.ndarray]):
        hidden = self.hidden
        below, new_h = None, []
        for layer in range(len(h)):
            gates = self.table[ids] if layer == 0 else self.input[layer](below)  # (B, 3H), a copy
            recurrent = self.recurrent[layer](h[layer])  # (B, 3H), its bias included
            gates[:, : 2 * hidden] += recurrent[:, : 2 * hidden]
            reset_update = sigmoid_of_negated(gates[:, : 2 * hidden])  # a view: σ written into gates
            new = recurrent[:, 2 * hidden :] * reset_update[:, :hidden]
            new += gates[:, 2 * hidden :]
            np.tanh(new, out=new)  # (B, H)
            below = h[layer] - new
            below *= reset_update[:, hidden:]
            below += new  # (B, H)
            new_h.append(below)
        return self.logits(below), new_h


STEPPERS = {"lstm": LSTMStepper, "gru": GRUStepper, "rnn": Stepper}  # by ModelConfig.cell


def make_stepper(model: CharRNN, batch_size: int, precision: str):
    """The CPU stepper for this model's cell: an LSTM in int8 gets its own (charnn/lstm_int8.py), unless this
    torch lacks an op it uses; then, like other cells, int8 products where they pass their probe."""
    if model.config.cell == "lstm" and precision == "int8":
        try:
            return Int8LSTMStepper(model, batch_size)
        except (AttributeError, RuntimeError, TypeError, ValueError):  # an op missing, changed or wrong
            pass
    return STEPPERS[model.config.cell](model, batch_size, precision)


def stepper_for(model: CharRNN, state, precision: str = "auto"):
    """(step, state): step maps (ids (B,), state) → (logits (B, V) NumPy, state), as fast as this model allows.

    `state` is what the model's forward returned for the prime; it comes back in the form `step` carries.
    `precision` 'fp32' keeps a CPU with int8 dot products to fp32 products, as other CPUs compute, so a seed gives
    the text it gives there (bar a near-tie that their BLAS rounds the other way). An accelerator runs the model's
    own kernels either way.
    """
    if precision not in SAMPLING_PRECISIONS:
        raise ValueError(f"precision must be one of {SAMPLING_PRECISIONS}, not {precision!r}")
    device = next(model.parameters()).device
    if device.type == "cpu":
        batch_size = (state[0] if isinstance(state, tuple) else state).size(1)  # state: (L, B, H)
        stepper = make_stepper(model, batch_size, sampling_precision() if precision == "auto" else "fp32")
        return stepper.step, stepper.start(state)

    def step(ids: np.ndarray, state):  # an accelerator: the model's own kernels, one sync per character
        logits, state = model(torch.from_numpy(ids).to(device).unsqueeze(1), state)  # (B, 1, V)
        return logits[:, -1].float().cpu().numpy(), state

    return step, state
