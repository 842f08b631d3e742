"""Sampling's start for a torch model (a CharRNN): its prime read, then a step per character.

On a CPU each step is a NumPy stepper (charnn/recurrence.py) on the model's weights, with this torch's
products (charnn/products.py: int8 where the CPU has int8 dot products, else NumPy's fp32 for one stream
and oneDNN's for a batch); an LSTM in int8 has a step of its own (charnn/lstm_int8.py). One stream's prime
in fp32 of up to `STEPPED_PRIME` ids is read by its stepper too, as sampling without torch reads it, so that a
seed gives the same text either way. A longer prime, a batch's and int8's go through the sequence kernel,
several times faster per character (a batch's products round as oneDNN's do, int8's as int8, not as NumPy's
fp32: their texts could not be the same to the last bit anyway). An accelerator runs the model's own kernels.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from charnn import threads
from charnn.config import SAMPLING_PRECISIONS
from charnn.lstm_int8 import Int8LSTMStepper
from charnn.model import CharRNN
from charnn.products import Product, sampling_precision
from charnn.recurrence import STEPPED_PRIME, STEPPERS, read_prime
from charnn.threads import tuned_blas_threads, tuned_threads

PRIME_PIECE = 8192  # characters of a prime read per call of the sequence kernel (`prime_state`)


def weights_of(model: CharRNN) -> dict[str, np.ndarray]:
    """The model's state dict as fp32 NumPy arrays (views of its CPU tensors where it is on the CPU in fp32)."""
    return {name: tensor.detach().cpu().float().numpy() for name, tensor in model.state_dict().items()}


def make_stepper(model: CharRNN, batch_size: int, precision: str):
    """The CPU stepper for this model's cell: an LSTM in int8 gets its own (charnn/lstm_int8.py), unless this
    torch lacks an op it uses; then, like other cells, int8 products where they pass their probe."""
    if model.config.cell == "lstm" and precision == "int8":
        try:
            return Int8LSTMStepper(model, batch_size)
        except (AttributeError, RuntimeError, TypeError, ValueError):  # an op missing, changed or wrong
            pass
    return STEPPERS[model.config.cell](model.config, weights_of(model), batch_size, precision, Product)


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
        stepper = make_stepper(model, batch_size, cpu_precision(precision))
        return stepper.step, stepper.start(state)

    def step(ids: np.ndarray, state):  # an accelerator: the model's own kernels, one sync per character
        with torch.inference_mode():
            logits, state = model(torch.from_numpy(ids).to(device).unsqueeze(1), state)  # (B, 1, V)
            return logits[:, -1].float().cpu().numpy(), state

    return step, state


def cpu_precision(precision: str) -> str:
    """The products' precision on this CPU for sampling's 'auto' or 'fp32'."""
    return sampling_precision() if precision == "auto" else "fp32"


@contextlib.contextmanager
def sampling(model: CharRNN, prime_ids: list[int], num_samples: int, precision: str,
             most_threads: int | None) -> Iterator[tuple]:
    """(logits after the prime (B, V) NumPy, step, its state, the thread tuner or None), B = `num_samples`, the
    model in eval mode until the end. `most_threads`: on a CPU, the thread count follows the speed it gives, up to
    this (threads.py): NumPy's BLAS's for one stream in fp32, whose products are NumPy's, else torch's."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        numpy_products = device.type == "cpu" and num_samples == 1 and cpu_precision(precision) == "fp32"
        if numpy_products and len(prime_ids) <= STEPPED_PRIME:
            stepper = make_stepper(model, 1, "fp32")
            logits, state = read_prime(stepper.step, model.config, prime_ids, 1)
            step = stepper.step
        else:
            with torch.inference_mode():
                logits, state = prime_state(model, prime_ids, num_samples, device)
            step, state = stepper_for(model, state, precision)
            logits = logits.float().cpu().numpy()  # (B, V)
        tuned = tuned_blas_threads if numpy_products else tuned_threads
        with tuned(most_threads if device.type == "cpu" else None, window_seconds=threads.SAMPLING_WINDOW) as tuner:
            yield logits, step, state, tuner
    finally:
        model.train(was_training)


def prime_state(model: CharRNN, prime_ids: list[int], num_samples: int, device: torch.device):
    """(logits after the prime (B, V), the state it leaves, per layer (L, B, H)), for B = `num_samples` streams.

    The prime goes through the sequence kernel once, for one stream, whose state every stream then starts from, and
    in pieces of PRIME_PIECE characters with the state carried, so that memory does not grow with it: read whole, a
    600,000-character `--prime-file` failed in oneDNN (`could not create a primitive`), and 300,000 took 3.5 GB (a
    new-user trial), `--num-samples` times over."""
    if not prime_ids:
        raise ValueError("the prime must have at least one id (prime_ids_for gives a default)")
    state = None
    for start in range(0, len(prime_ids), PRIME_PIECE):
        piece = torch.tensor(prime_ids[start : start + PRIME_PIECE], dtype=torch.long, device=device)  # (P,)
        logits, state = model(piece.unsqueeze(0), state)  # (1, P, V)

    def spread(one: torch.Tensor) -> torch.Tensor:  # (L, 1, H) or (1, V) → B rows, each its own memory
        return one.expand(*one.shape[:-2], num_samples, one.shape[-1]).contiguous()

    state = tuple(map(spread, state)) if isinstance(state, tuple) else spread(state)  # (h, c) or h
    return spread(logits[:, -1]), state
