"""The sampling stepper's matrix products: x (B, K) fp32 → x @ weight + bias (B, N) fp32.

Where the CPU has int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI, AMX), products multiply in int8,
for one stream and a batch alike:
- Only there. On a CPU without those instructions `torch._int_mm` came out wrong (oneDNN held to AVX2 or
  plain AVX-512 on machine B: 19–20% off), and without oneDNN it is a plain loop, ~60× slower.
- Each weight column is rounded to int8 once, on its own scale. Each input row is rounded to int8 at every
  step, on its own scale. The sums are exact in int32 (`torch._int_mm`), then scaled back to fp32, and the
  bias is added in fp32. The state and every nonlinearity stay fp32.
- On the bundled model this changed the next-character loss by 0.0003 nats or less (benchmarks/RESULTS.md).
- A batch is bound by arithmetic: eight streams sampled 1.17–1.36× faster than with the bf16 products int8
  replaced. One stream is bound by reading the weights, which int8 makes a quarter of fp32's.
- The int8 weights are stored (N, K) and multiplied as a (K, N) view: for one row oneDNN then runs a
  matrix-vector kernel. On machine C the bundled model's two products took 8 / 11 µs that way against
  17 / 33 stored (K, N), and a step ~52 µs against NumPy fp32's ~159; batches of 8 were no slower
  (benchmarks/RESULTS.md, thirteenth session).
Elsewhere:
- One stream multiplies in fp32 with NumPy's BLAS (`recurrence.NumpyProduct`, which sampling without torch uses).
- A batch multiplies in fp32 through oneDNN, with the weights packed once into its blocked layout. A BLAS
  packs the (K, N) matrix again on every call, which made 8 rows cost 5–8× one row.
- The head (V columns) is too small for oneDNN's fixed cost (~20 µs): NumPy for one stream, a plain
  torch product for a batch.
- A batch never calls NumPy's BLAS, not even to check a path: its threads spin for a while after each
  product, and with torch's own threads that is three busy threads on a machine with two cores. Eight
  streams on machine B sampled 26,300 chars/s that way and 36,800 with NumPy's BLAS held to one thread
  (benchmarks/RESULTS.md, eighth session).

Both fast paths use private torch ops (torch ≥ 2.3 for `_int_mm` on CPU). So each is checked on a
probe when the weights are prepared, at the number of rows it will be called with, and a torch without
them (or whose ops disagree) falls back to the next path.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from charnn.precision import native_int8
from charnn.recurrence import NumpyProduct

PRECISIONS = ("fp32", "int8")


def onednn_enabled() -> bool:
    return torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled


def sampling_precision() -> str:
    """'int8' on a CPU with int8 dot products (and oneDNN, which `torch._int_mm` needs to be fast), else 'fp32'."""
    return "int8" if native_int8() and onednn_enabled() else "fp32"


def torch_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b in float64 through torch, not NumPy's BLAS (module docstring): for the probes' expected values."""
    return (torch.from_numpy(a).double() @ torch.from_numpy(b).double()).numpy()


def probe_rows(batch_size: int, size: int) -> np.ndarray:
    """(B, K) inputs like an RNN's hidden states, in [-1, 1], with an all-+1 row (the largest sums); one
    stream's probe also has two rows, checked one at a time."""
    rows = np.tanh(2 * np.random.default_rng(0).standard_normal((max(batch_size, 2), size), dtype=np.float32))
    rows[0] = 1
    return rows


def pack_for_onednn(weight: np.ndarray, bias: np.ndarray | None, batch_size: int):
    """(`weight` (K, N) in oneDNN's blocked layout for (batch_size, K) fp32 inputs, `bias` (N,) as a tensor),
    or None where this torch build lacks the (private, inductor-internal) ops or they disagree with NumPy."""
    if not onednn_enabled():
        return None
    bias_tensor = None if bias is None else torch.from_numpy(np.ascontiguousarray(bias[0]))
    probe = probe_rows(batch_size, weight.shape[0])
    try:
        packed = torch.ops.mkldnn._reorder_linear_weight(torch.from_numpy(np.ascontiguousarray(weight.T)), batch_size)
        got = torch.ops.mkldnn._linear_pointwise(torch.from_numpy(probe), packed, bias_tensor, "none", [], "").numpy()
    except (AttributeError, RuntimeError, TypeError):  # ops gone or changed in this torch version
        return None
    expected = torch_product(probe, weight) + (0 if bias is None else bias)  # (B, N)
    return (packed, bias_tensor) if np.allclose(got, expected, rtol=1e-4, atol=1e-4) else None


def int8_product(x: np.ndarray, weight: torch.Tensor, scale: np.ndarray) -> np.ndarray:
    """x (B, K) fp32 @ the int8 `weight` (K, N) with column scales `scale` (1, N): (B, N) fp32, no bias."""
    row = np.abs(x).max(axis=1, keepdims=True)  # (B, 1)
    np.maximum(row, 1e-30, out=row)  # an all-zero row: any scale will do
    scaled = x * (127 / row)
    ints = np.rint(scaled, out=scaled).astype(np.int8)  # (B, K), |x| ≤ 127
    out = torch._int_mm(torch.from_numpy(ints), weight).numpy().astype(np.float32)  # exact int32 sums
    out *= scale
    out *= row * (1 / 127)
    return out


def quantize_columns(weight: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """`weight` (K, N) rounded to int8, each column on its own scale: (int8 (K, N), scales (1, N) fp32).
    The int8 matrix is a view of one stored (N, K), as `torch._int_mm` is fastest with it (module docstring)."""
    scale = np.abs(weight).max(axis=0, keepdims=True) / 127  # (1, N)
    scale[scale == 0] = 1
    rounded = np.rint(weight / scale).astype(np.int8)  # (K, N)
    return torch.from_numpy(np.ascontiguousarray(rounded.T)).t(), scale


def quantize_for_int_mm(weight: np.ndarray, batch_size: int):
    """`quantize_columns(weight)`, or None where `torch._int_mm` is missing on this CPU build, warns (a user
    would see it), or its products leave the bound of int8 rounding on a probe."""
    quantized, scale = quantize_columns(weight)
    magnitude = np.abs(weight)  # (K, N)
    probe = probe_rows(batch_size, weight.shape[0])
    rows = [probe[i : i + 1] for i in range(len(probe))] if batch_size == 1 else [probe]  # as it will be called
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = np.concatenate([int8_product(row, quantized, scale) for row in rows])
    except (AttributeError, RuntimeError, TypeError, Warning):  # missing, NotImplementedError, or a warning
        return None
    # Rounding moves each input by at most half its row's step, each weight by half its column's:
    # no sum may be off by more than the sum of those moves times the other factor.
    row_step = np.abs(probe).max(axis=1, keepdims=True) / 127  # (B, 1)
    bound = 0.5 * (row_step * (magnitude.sum(axis=0, keepdims=True) + weight.shape[0] * scale / 2)
                   + np.abs(probe).sum(axis=1, keepdims=True) * scale)  # (B, 1) * (1, N): outer products
    bound = bound * 1.01 + 1e-5 * torch_product(np.abs(probe), magnitude)  # and fp32's own rounding
    return (quantized, scale) if np.all(np.abs(got - torch_product(probe, weight)) <= bound) else None


class Product(NumpyProduct):
    """x (B, K) fp32 → x @ weight + bias (B, N) fp32, as a new array the caller may overwrite.

    `precision` 'int8' asks for int8 products (module docstring), unless `small`. Otherwise, or where int8
    fails its probe: a batch gets oneDNN's fp32; a batch oneDNN cannot pack for, or any batch with `small`,
    gets a plain torch product; one row gets NumPy's."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray | None, batch_size: int, precision: str = "fp32",
                 small: bool = False):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
        super().__init__(weight, bias)  # (K, N), (1, N) or None
        self.quantized = self.scale = self.packed = self.packed_bias = None
        if precision == "int8" and not small:
            self.quantized, self.scale = quantize_for_int_mm(weight, batch_size) or (None, None)
        if batch_size > 1 and self.quantized is None and not small:
            self.packed, self.packed_bias = pack_for_onednn(weight, bias, batch_size) or (None, None)
        # A batch on neither path: torch's fp32 (module docstring: no NumPy BLAS in a batch).
        self.tensors = (torch.from_numpy(weight), None if bias is None else torch.from_numpy(bias[0])) \
            if batch_size > 1 and self.quantized is None and self.packed is None else None

    @property
    def precision(self) -> str:
        return "int8" if self.quantized is not None else "fp32"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.packed is not None:
            return torch.ops.mkldnn._linear_pointwise(torch.from_numpy(x), self.packed, self.packed_bias, "none",
                                                      [], "").numpy()
        if self.tensors is not None:
            weight, bias = self.tensors
            x = torch.from_numpy(x)
            return (x @ weight if bias is None else torch.addmm(bias, x, weight)).numpy()
        if self.quantized is None:
            return super().__call__(x)  # one row, fp32: NumPy's
        out = int8_product(x, self.quantized, self.scale)
        if self.bias is not None:
            out += self.bias
        return out


def head_product(head: torch.nn.Linear, batch_size: int) -> Product:
    """The model's head, (B, H) → (B, V) logits, fp32: too small to gain from int8 or packing."""
    return Product(np.ascontiguousarray(head.weight.detach().cpu().float().t().numpy()),
                   head.bias.detach().cpu().float().numpy()[None], batch_size, small=True)
