"""The model: Embedding → stacked LSTM (or GRU / vanilla RNN) → Linear over the vocabulary.

Shapes: B batch, T time steps, V vocab size, E embedding size, H hidden size, L layers.
The recurrent state is returned from every forward so callers can carry it: across training
windows (truncated BPTT), through a validation split, and one character at a time when sampling.
"""

from __future__ import annotations

import torch
from torch import nn

from charnn.config import ModelConfig

# LSTM: (h, c), each (L, B, H); GRU and RNN: h (L, B, H).
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class CharRNN(nn.Module):
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
        self.dropout = nn.Dropout(config.dropout)
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
        x = self.embedding(idx)  # (B, T, E)
        out, state = self.rnn(x, state)  # (B, T, H)
        logits = self.head(self.dropout(out))  # (B, T, V)
        return logits, state

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


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
