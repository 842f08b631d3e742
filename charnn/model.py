"""The model: Embedding → stacked LSTM (or GRU / vanilla RNN) → Linear over the vocabulary.

Shapes: B batch, T time steps, V vocab size, E embedding size, H hidden size, L layers.
The recurrent state is returned from every forward so callers can carry it: across training
windows (truncated BPTT), through a validation split, and one character at a time when sampling.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from charnn.config import ModelConfig

# Training on CUDA in bf16 or with weight dropout hands cuDNN one layer's weights at a time; it warns that
# they are not one flat chunk (they cannot be: each cast or masked matrix is a new tensor every window).
warnings.filterwarnings("ignore", message="RNN module weights are not part", module=r"charnn\.model")

# LSTM: (h, c), each (L, B, H); GRU and RNN: h (L, B, H).
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class CharRNN(nn.Module):
    """Embedding → stacked LSTM, GRU or vanilla RNN → Linear over the vocabulary, shaped by a ModelConfig. Called on
    ids (B, T), it returns logits (B, T, V) and the recurrent state, to pass back in to carry on where it ended."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        rnn_class = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[config.cell]
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim)
        self.rnn = rnn_class(
            config.embed_dim,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.head = nn.Linear(config.hidden_size, config.vocab_size)
        if config.cell == "lstm":
            # Forget-gate bias 1 (Jozefowicz et al. 2015): remembers by default early in training.
            for name, bias in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    with torch.no_grad():
                        bias[config.hidden_size : 2 * config.hidden_size].fill_(1.0)
                elif name.startswith("bias_hh"):
                    with torch.no_grad():
                        bias[config.hidden_size : 2 * config.hidden_size].zero_()

    def forward(self, idx: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """(logits (B, T, V), state) for ids `idx` (B, T), from `state` (None: zeros). The state is (h, c) for an
        LSTM, h for a GRU or RNN, each (L, B, H)."""
        x = self.embedding(idx)  # (B, T, E)
        config = self.config
        if self.training and trains_per_layer(config, x.device.type, autocasting(x.device.type)):
            out, state = self._layer_by_layer(x, state)  # (B, T, H), dropout after every layer
        else:  # one call for the whole stack, nn.LSTM's own dropout between layers
            out, state = self.rnn(x, state)  # (B, T, H)
            out = F.dropout(out, config.dropout, self.training)  # before the head
        return self.head(out), state  # (B, T, V)

    def _layer_by_layer(self, x: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """Training with dropout on a CPU, with weight dropout, or in bf16 on CUDA: one kernel call per layer (the
        call nn.LSTM/GRU/RNN makes, with one layer). On a CPU the masks then come from `dropout` below:
        bernoulli_ took 23% of a 2×384 CPU step with dropout and weight dropout. On an H100 in bf16 a training
        step ran 1.35–1.65× faster as one cuDNN call per layer than as one call for the stack (an ad-hoc run
        of the loop now in benchmarks/lstm_calls.py; benchmarks/RESULTS.md). fp32 on a GPU was not measured.

        `dropout` masks each layer's output (between layers and before the head). `weight_dropout` masks each
        hidden-to-hidden matrix once per window (Merity et al. 2017, "weight drop"), so the recurrence itself
        is regularised while the kernel still runs the whole window.
        """
        config = self.config
        if state is None:
            zeros = x.new_zeros(config.num_layers, x.shape[0], config.hidden_size)  # (L, B, H)
            state = (zeros, zeros.clone()) if config.cell == "lstm" else zeros
        states = state if isinstance(state, tuple) else (state,)  # each (L, B, H)
        kernel = {"lstm": torch.lstm, "gru": torch.gru, "rnn": torch.rnn_tanh}[config.cell]
        new_states = []
        for layer, (weight_ih, weight_hh, *biases) in enumerate(self.rnn.all_weights):
            if config.weight_dropout > 0:
                weight_hh = dropout(weight_hh, config.weight_dropout)  # (G·H, H), G gates
            layer_state = [s[layer : layer + 1] for s in states]  # each (1, B, H)
            hx = layer_state if config.cell == "lstm" else layer_state[0]
            # Arguments as nn.LSTM passes them: has_biases, num_layers, dropout, train, bidirectional, batch_first.
            x, *layer_new = kernel(x, hx, [weight_ih, weight_hh, *biases], True, 1, 0.0, True, False, True)
            new_states.append(layer_new)  # x (B, T, H); layer_new: h (and c), each (1, B, H)
            if config.dropout > 0:
                x = dropout(x, config.dropout)  # (B, T, H)
        joined = tuple(torch.cat(parts) for parts in zip(*new_states, strict=True))  # each (L, B, H)
        return x, (joined if config.cell == "lstm" else joined[0])

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def trains_per_layer(config: ModelConfig, device: str, autocast: bool) -> bool:
    """Whether training runs `_layer_by_layer` (see there why) rather than one call for the whole stack."""
    return (config.weight_dropout > 0 or (device == "cuda" and autocast)
            or (config.dropout > 0 and device == "cpu"))


def autocasting(device: str) -> bool:
    """Whether autocast (charnn's bf16) is on for this device type here."""
    try:
        return torch.is_autocast_enabled(device)
    except TypeError:  # torch < 2.4 takes no argument and answers for CUDA
        return device == "cuda" and torch.is_autocast_enabled()


def dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Training dropout: each element zeroed with probability ≈ p, the others scaled by 1 / (1 - p).

    On a CPU the mask comes from random bytes, eight per 64-bit draw: 1.6 ms instead of 7.2 for F.dropout
    on a 1536×384 matrix, forward and backward (benchmarks/RESULTS.md). The drop probability is rounded
    to a multiple of 1/256 (0.25 exactly; 0.141 → 0.1406) and the scale is taken from the rounded value,
    so the expectation is exact (in bf16 up to one rounding per element). Elsewhere F.dropout (MPS makes
    64-bit integers from 32 random bits, so these bytes would be correlated).
    """
    if x.device.type != "cpu":
        return F.dropout(x, p)
    keep = max(1, round((1 - p) * 256))  # out of 256
    if keep >= 256:  # nothing to drop (and 256 does not fit the uint8 comparison below)
        return x
    words = torch.randint(-(2**63), 2**63 - 1, ((x.numel() + 7) // 8,), dtype=torch.int64)  # (⌈N/8⌉,)
    draws = words.view(torch.uint8)[: x.numel()].view(x.shape)  # x's shape, uniform bytes 0..255
    mask = (draws < keep).to(x.dtype)  # x's shape, 0 or 1
    if torch.finfo(x.dtype).bits >= 32:  # the scale folded into the mask, exact to fp32's precision
        return x * mask.mul_(256 / keep)
    return x * mask * (256 / keep)  # bf16: a mask holding the scale rounded to bf16 (1.3359 for 1.3333) biases all


def detach_state(state: State | None) -> State | None:
    """Cut the autograd graph at a window boundary while keeping the values (truncated BPTT)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def state_to_list(state: State | None) -> list[torch.Tensor]:
    """A state as a plain list of tensors (what a checkpoint can hold)."""
    if state is None:
        return []
    return [s.detach().cpu() for s in (state if isinstance(state, tuple) else (state,))]


def state_from_list(tensors: list[torch.Tensor], cell: str, device: torch.device) -> State | None:
    if not tensors:
        return None
    moved = [t.to(device) for t in tensors]
    return tuple(moved) if cell == "lstm" else moved[0]
