"""One recurrent step at a time, fast: what sampling runs for every character it writes.

PyTorch's LSTM/GRU/RNN run one time step through a general sequence kernel (oneDNN on CPU) whose
set-up dwarfs the work of a (B, H) step, and each small torch op costs ~5–10 µs of dispatch;
NumPy's cost 1–2 µs. So on CPU each cell is written out in NumPy on weights prepared once:
each layer is one or two BLAS matmuls, and the first layer's input projection is folded into a
(V, G·H) table looked up by id (G gates), so the embedding and one matmul disappear.

Shapes: B streams, H hidden size, V vocab size, L layers. Gate order is PyTorch's:
LSTM input, forget, cell, output; GRU reset, update, new.
"""

from __future__ import annotations

import numpy as np
import torch

from charnn.model import CharRNN


class Stepper:
    """Weights of a trained CharRNN as fp32 (K, G·H) arrays, gate columns scaled by `column_scale`."""

    def __init__(self, model: CharRNN):
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
        self.recurrent = [columns(weight[f"weight_hh_l{i}"]) for i in range(layers)]  # (H, G·H) each
        self.input = [None] + [columns(weight[f"weight_ih_l{i}"]) for i in range(1, layers)]  # (H, G·H)
        self.input_bias = [None] + [columns(b) for b in input_bias[1:]]  # (1, G·H)
        self.hidden_bias = hidden_bias
        self.head_weight = np.ascontiguousarray(model.head.weight.detach().cpu().float().t().numpy())  # (H, V)
        self.head_bias = model.head.bias.detach().cpu().float().numpy()  # (V,)
        self.hidden = hidden

    @staticmethod
    def column_scale(hidden: int) -> torch.Tensor:
        return torch.ones(hidden, dtype=torch.float64)

    @staticmethod
    def split_biases(bias_ih: torch.Tensor, bias_hh: torch.Tensor, hidden: int):
        """(bias added with the input projection, bias added with the recurrent one, or None)."""
        return bias_ih + bias_hh, None

    def gates_in(self, layer: int, ids: np.ndarray, below: np.ndarray | None) -> np.ndarray:
        """The input side of a layer's gates, (B, G·H), in a new array the caller may overwrite."""
        if layer == 0:
            return self.table[ids]  # fancy indexing copies
        gates = below @ self.input[layer]
        gates += self.input_bias[layer]
        return gates

    def logits(self, top: np.ndarray) -> np.ndarray:
        logits = top @ self.head_weight
        logits += self.head_bias
        return logits  # (B, V)

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
            below = self.gates_in(layer, ids, below)
            below += h[layer] @ self.recurrent[layer]
            np.tanh(below, out=below)  # (B, H)
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
            gates = self.gates_in(layer, ids, below)
            gates += h[layer] @ self.recurrent[layer]  # (B, 4H)
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
    keeps its recurrent bias apart, since r multiplies it; h' = n + z ⊙ (h − n)."""

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
            gates = self.gates_in(layer, ids, below)  # (B, 3H)
            recurrent = h[layer] @ self.recurrent[layer]
            recurrent += self.hidden_bias[layer]  # (B, 3H)
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


def stepper_for(model: CharRNN, state):
    """(step, state): step maps (ids (B,), state) → (logits (B, V) NumPy, state), as fast as this model allows.

    `state` is what the model's forward returned for the prime; it comes back in the form `step` carries.
    """
    device = next(model.parameters()).device
    if device.type == "cpu":
        stepper = {"lstm": LSTMStepper, "gru": GRUStepper, "rnn": Stepper}[model.config.cell](model)
        return stepper.step, stepper.start(state)

    def step(ids: np.ndarray, state):  # an accelerator: the model's own kernels, one sync per character
        logits, state = model(torch.from_numpy(ids).to(device).unsqueeze(1), state)  # (B, 1, V)
        return logits[:, -1].float().cpu().numpy(), state

    return step, state
