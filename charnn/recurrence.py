"""One recurrent step at a time, fast, in NumPy: what sampling on a CPU runs for every character it writes.

PyTorch's LSTM/GRU/RNN run one time step through a general sequence kernel (oneDNN on CPU) whose
set-up dwarfs the work of a (B, H) step, and each small torch op costs ~5–10 µs of dispatch;
NumPy's cost 1–2 µs. So on CPU each cell is written out in NumPy on weights prepared once:
each layer is one or two matrix products, and the first layer's input projection is folded into a
(V, G·H) table looked up by id (G gates), so the embedding and one product disappear. The state and
every nonlinearity are fp32.

This module needs no torch: it takes a model's weights as NumPy arrays (its state dict's names), and its
products from a factory. `NumpyProduct`, NumPy's fp32, is the default; with torch loaded,
charnn/stepper.py passes charnn/products.py's (int8 where the CPU has int8 dot products, oneDNN's fp32
for a batch), and an LSTM in int8 has a step of its own (charnn/lstm_int8.py). So `charnn sample` on a
CPU can write its first character before torch would have loaded (~2–3 s on a 2-core machine).

Shapes: B streams, H hidden size, V vocab size, L layers. Gate order is PyTorch's:
LSTM input, forget, cell, output; GRU reset, update, new.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from charnn.config import ModelConfig

STEPPED_PRIME = 1000  # ids of a prime (its lead included) read one step at a time on a CPU (`read_prime`)


class NumpyProduct:
    """x (B, K) fp32 → x @ weight + bias (B, N) fp32 with NumPy's BLAS, as a new array the caller may overwrite."""

    precision = "fp32"

    def __init__(self, weight: np.ndarray, bias: np.ndarray | None, batch_size: int = 1, precision: str = "fp32",
                 small: bool = False):
        """Any `batch_size` (B); `small` changes nothing here (products.Product's arguments)."""
        if precision != "fp32":
            raise ValueError(f"NumPy's products are fp32, not {precision}: charnn/products.py has int8")
        self.weight, self.bias = weight, bias  # (K, N), (1, N) or None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = x @ self.weight
        if self.bias is not None:
            out += self.bias
        return out


ProductFactory = Callable[..., NumpyProduct]  # (weight (K, N), bias (1, N) or None, batch_size, precision, small=)


class Stepper:
    """Weights of a trained CharRNN as (K, G·H) products, gate columns scaled by `column_scale`.

    `weights`: the model's state dict as arrays (any float dtype); `product` makes each product (`NumpyProduct`'s
    arguments), for `batch_size` rows in `precision`."""

    fuse_layers = True  # layers above the first: one product of [below, h] with [input; recurrent] weights

    def __init__(self, config: ModelConfig, weights: dict[str, np.ndarray], batch_size: int = 1,
                 precision: str = "fp32", product: ProductFactory = NumpyProduct):
        hidden, layers = config.hidden_size, config.num_layers
        weight = {name: np.asarray(array, dtype=np.float64) for name, array in weights.items()}
        scale = self.column_scale(hidden)  # (G·H,)

        def columns(matrix: np.ndarray) -> np.ndarray:  # (G·H, K) → (K, G·H), gates scaled, fp32
            return np.ascontiguousarray((matrix.T * scale).astype(np.float32))

        input_bias, hidden_bias = [], []
        for i in range(layers):
            split = self.split_biases(weight[f"rnn.bias_ih_l{i}"], weight[f"rnn.bias_hh_l{i}"], hidden)
            input_bias.append(split[0][:, None])  # (G·H, 1)
            hidden_bias.append(None if split[1] is None else columns(split[1][:, None]))  # (1, G·H)
        # (V, G·H): embedding → layer-0 input projection + its bias, one row per character.
        self.table = columns(weight["rnn.weight_ih_l0"] @ weight["embedding.weight"].T + input_bias[0])
        # Layer 0 and unfused layers: h (B, H) → (B, G·H). Fused layers: [below, h] (B, 2H) → (B, G·H).
        self.recurrent, self.input = [], [None]
        for i in range(layers):
            recurrent = columns(weight[f"rnn.weight_hh_l{i}"])  # (H, G·H)
            if i > 0 and self.fuse_layers:
                stacked = np.concatenate([columns(weight[f"rnn.weight_ih_l{i}"]), recurrent])  # (2H, G·H)
                self.recurrent.append(product(stacked, columns(input_bias[i]), batch_size, precision))
                continue
            self.recurrent.append(product(recurrent, hidden_bias[i], batch_size, precision))
            if i > 0:
                self.input.append(product(columns(weight[f"rnn.weight_ih_l{i}"]), columns(input_bias[i]), batch_size,
                                          precision))
        # The head, (B, H) → (B, V) logits, fp32: too small to gain from int8 or packing (products.py).
        self.head = product(np.ascontiguousarray(weights["head.weight"].T.astype(np.float32)),
                            np.asarray(weights["head.bias"], dtype=np.float32)[None], batch_size, small=True)
        self.hidden = hidden

    @staticmethod
    def column_scale(hidden: int) -> np.ndarray:
        return np.ones(hidden)

    @staticmethod
    def split_biases(bias_ih: np.ndarray, bias_hh: np.ndarray, hidden: int):
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
        """The model's h (L, B, H), a tensor or an array, as this stepper's per-layer list of (B, H) arrays."""
        return list(as_array(state))

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


def as_array(state) -> np.ndarray:
    """A state tensor (on any device) or array, as an fp32 array."""
    if hasattr(state, "detach"):  # a torch tensor
        state = state.detach().cpu().float().numpy()
    return np.asarray(state, dtype=np.float32)


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
    def column_scale(hidden: int) -> np.ndarray:
        scale = np.full(4 * hidden, -1.0)
        scale[2 * hidden : 3 * hidden] = -2.0
        return scale

    def start(self, state) -> tuple[list[np.ndarray], list[np.ndarray]]:
        h, c = map(as_array, state)  # (L, B, H) each
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
    def column_scale(hidden: int) -> np.ndarray:
        scale = np.full(3 * hidden, -1.0)
        scale[2 * hidden :] = 1.0
        return scale

    @staticmethod
    def split_biases(bias_ih: np.ndarray, bias_hh: np.ndarray, hidden: int):
        reset_update = np.zeros_like(bias_hh)
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


def zero_state(config: ModelConfig, batch_size: int):
    """The state a model starts from, in the form every stepper of its cell carries: per-layer lists of (B, H)."""
    def zeros() -> list[np.ndarray]:
        return [np.zeros((batch_size, config.hidden_size), dtype=np.float32) for _ in range(config.num_layers)]

    return (zeros(), zeros()) if config.cell == "lstm" else zeros()


def read_prime(step, config: ModelConfig, prime_ids: list[int], num_samples: int):
    """(logits after the prime (B, V), the state it leaves), B = `num_samples`, from the zero state, one stream's
    `step` (a stepper's, for one row) per id: with the arithmetic every character after it gets, so a seed's text
    is the same whichever path read the prime. Each of the B rows is its own copy."""
    if not prime_ids:
        raise ValueError("the prime must have at least one id (prime_ids_for gives a default)")
    state = zero_state(config, 1)
    for index in prime_ids:
        logits, state = step(np.array([index]), state)  # (1, V)

    def spread(one: np.ndarray) -> np.ndarray:  # (1, N) → (B, N)
        return np.repeat(one, num_samples, axis=0)

    state = tuple(list(map(spread, part)) for part in state) if config.cell == "lstm" else list(map(spread, state))
    return spread(logits), state
