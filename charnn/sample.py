"""Sampling: pick the next character from logits, and stream text one character at a time.

`generate` feeds the prime once, then carries the recurrent state: each new character costs one
step of the network (O(1) in the length of the text so far), never a re-read of the history.
All randomness comes from the `torch.Generator` passed in, so the same seed gives the same text.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from charnn.data import Vocab
from charnn.errors import CharnnError
from charnn.model import CharRNN


def check_controls(temperature: float, top_k: int | None, top_p: float | None) -> None:
    if math.isnan(temperature) or temperature < 0:
        raise CharnnError(f"temperature must be 0 (greedy) or more, not {temperature}")
    if top_k is not None and top_k < 1:
        raise CharnnError(f"top-k must be at least 1, not {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise CharnnError(f"top-p must be in (0, 1], not {top_p}")


def sample_next(
    logits: torch.Tensor,
    temperature: float = 0.8,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Next ids (B,) from logits (B, V). Temperature 0 is argmax; top-k/top-p trim the tail first."""
    check_controls(temperature, top_k, top_p)
    return draw(logits, temperature, top_k, top_p, generator)


def draw(logits, temperature, top_k, top_p, generator) -> torch.Tensor:
    """`sample_next` without the checks, for the per-character loop (checked once per run)."""
    logits = logits.float()
    if temperature < 1e-6:  # 0, or so close that dividing by it would overflow: greedy
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, V)
        probs = torch.softmax(sorted_logits, dim=-1)
        # Drop a token when the tokens before it already cover top_p (the first one always stays).
        drop = torch.cumsum(probs, dim=-1) - probs >= top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    # Inverse-CDF draw: one uniform per row against the running sum (4× cheaper than multinomial
    # for one row). right=True never lands on a zero-probability (masked) character.
    cumulative = torch.cumsum(torch.softmax(logits, dim=-1), dim=-1)  # (B, V)
    uniform = torch.rand(logits.size(0), 1, generator=generator) * cumulative[:, -1:]  # (B, 1)
    return torch.searchsorted(cumulative, uniform, right=True).squeeze(-1).clamp_(max=logits.size(-1) - 1)


def default_prime(vocab: Vocab) -> str:
    """What to condition on when the user gives no prime: a line break, as at the start of a text."""
    return next((c for c in "\n ." if c in vocab.index), vocab.chars[0])


class LSTMStepper:
    """One LSTM step for a few streams at a time, with the fixed costs of `nn.LSTM` taken out.

    PyTorch's LSTM runs one time step through a general sequence kernel (oneDNN on CPU) whose
    set-up dwarfs the work of a (B, H) step. Here each layer is one matmul on prepared weights,
    and the first layer's input projection is folded into a (V, 4H) table looked up by id, so the
    embedding and one of the matmuls disappear. Gate order is PyTorch's: input, forget, cell, output.
    """

    def __init__(self, model: CharRNN):
        rnn, layers = model.rnn, model.config.num_layers
        weight = {name: param.detach().float() for name, param in rnn.named_parameters()}
        bias = [weight[f"bias_ih_l{i}"] + weight[f"bias_hh_l{i}"] for i in range(layers)]  # (4H,)
        # (V, 4H): embedding → layer-0 input projection + both biases, one row per character.
        self.table = model.embedding.weight.detach().float() @ weight["weight_ih_l0"].t() + bias[0]
        self.recurrent0 = weight["weight_hh_l0"].t().contiguous()  # (H, 4H)
        # Layers ≥ 1: input and recurrent projections, each (H, 4H), applied as two chained addmm
        # (cheaper than concatenating [h_below, h] for one (2H, 4H) matmul at batch 1).
        self.input = [weight[f"weight_ih_l{i}"].t().contiguous() for i in range(1, layers)]
        self.recurrent = [weight[f"weight_hh_l{i}"].t().contiguous() for i in range(1, layers)]
        self.bias = bias
        self.head_weight = model.head.weight.detach().float().t().contiguous()  # (H, V)
        self.head_bias = model.head.bias.detach().float()

    def step(self, ids: torch.Tensor, state):
        """ids (B,), state (h, c) with h[l], c[l] (B, H) → logits (B, V), new state as per-layer lists.

        Lists, not (L, B, H) tensors: no stacking per character. `nn.LSTM`'s state indexes the same way.
        """
        h, c = state
        new_h, new_c = [], []
        below = None
        for layer in range(len(h)):
            if layer == 0:
                gates = torch.addmm(self.table[ids], h[0], self.recurrent0)  # (B, 4H)
            else:
                gates = torch.addmm(self.bias[layer], below, self.input[layer - 1])
                gates = torch.addmm(gates, h[layer], self.recurrent[layer - 1])  # (B, 4H)
            hidden = gates.size(1) // 4
            squashed = torch.sigmoid(gates)  # one call for all gates; the cell gate's slot is unused
            cell_input = torch.tanh(gates[:, 2 * hidden : 3 * hidden])
            cell = torch.addcmul(squashed[:, hidden : 2 * hidden] * c[layer], squashed[:, :hidden], cell_input)
            below = squashed[:, 3 * hidden :] * torch.tanh(cell)  # (B, H)
            new_h.append(below)
            new_c.append(cell)
        logits = torch.addmm(self.head_bias, below, self.head_weight)  # (B, V)
        return logits, (new_h, new_c)


def stepper_for(model: CharRNN):
    """A function (ids (B,), state) → (logits (B, V), state) for one step, as fast as this model allows."""
    if model.config.cell == "lstm" and next(model.parameters()).device.type == "cpu":
        return LSTMStepper(model).step

    def step(ids: torch.Tensor, state):
        logits, state = model(ids.unsqueeze(1), state)  # (B, 1, V)
        return logits[:, -1], state

    return step


@torch.inference_mode()
def generate_ids(
    model: CharRNN,
    prime_ids: list[int],
    length: int,
    num_samples: int = 1,
    temperature: float = 0.8,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[torch.Tensor]:
    """Yield `length` batches of next ids (num_samples,), carrying the state between steps."""
    check_controls(temperature, top_k, top_p)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    step = stepper_for(model)
    prime = torch.tensor(prime_ids, dtype=torch.long, device=device).unsqueeze(0)  # (1, P)
    # The prime goes through the sequence kernel in one pass; then one cheap step per character.
    logits, state = model(prime.expand(num_samples, -1).contiguous())  # (B, P, V)
    logits = logits[:, -1]  # (B, V)
    try:
        for position in range(length):
            next_ids = draw(logits.to("cpu"), temperature, top_k, top_p, generator)  # (B,)
            yield next_ids
            if position + 1 < length:  # no step after the last character
                logits, state = step(next_ids.to(device), state)
    finally:
        model.train(was_training)


def prime_ids_for(vocab: Vocab, prime: str, unknown: str = "error") -> list[int]:
    """Ids to feed before generating: the prime, or a line break when there is none."""
    ids = vocab.encode(prime, unknown=unknown).tolist() if prime else []
    return ids or vocab.encode(default_prime(vocab)).tolist()


def generate(
    model: CharRNN,
    vocab: Vocab,
    prime: str = "",
    length: int = 500,
    temperature: float = 0.8,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    unknown: str = "error",
    stop: str | None = None,
) -> Iterator[str]:
    """Stream up to `length` characters that continue `prime` (not yielded), ending early after `stop`."""
    tail = ""
    for next_ids in generate_ids(model, prime_ids_for(vocab, prime, unknown), length, 1, temperature, top_k,
                                 top_p, generator):
        char = vocab.chars[int(next_ids[0])]
        yield char
        if stop:
            tail = (tail + char)[-len(stop):]
            if tail == stop:
                return


def generate_batch(
    model: CharRNN,
    vocab: Vocab,
    prime: str = "",
    length: int = 500,
    num_samples: int = 2,
    temperature: float = 0.8,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    unknown: str = "error",
    stop: str | None = None,
    on_progress=None,
) -> list[str]:
    """`num_samples` continuations generated side by side in one batch; each ends at its own `stop`."""
    texts = [""] * num_samples
    done = [False] * num_samples
    ids = prime_ids_for(vocab, prime, unknown)
    for position, next_ids in enumerate(generate_ids(model, ids, length, num_samples, temperature, top_k, top_p,
                                                     generator)):
        for row, token in enumerate(next_ids.tolist()):
            if not done[row]:
                texts[row] += vocab.chars[token]
                done[row] = bool(stop) and texts[row].endswith(stop)
        if on_progress is not None:
            on_progress(position + 1)
        if all(done):
            break
    return texts
