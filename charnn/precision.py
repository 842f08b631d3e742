"""Which number format the matmuls run in: fp32, or bf16 where this device multiplies it fast.

bf16 halves the bytes a matmul reads and, on hardware built for it, doubles its speed at no
loss of quality per character (benchmarks/RESULTS.md). But oneDNN also runs bf16 on AVX-512
CPUs that lack the bf16 instructions (Intel Skylake-SP to Ice Lake, most AVX-512 laptops) by
emulating them, and there charnn trains 2.4× slower in bf16 than in fp32 (3,171–3,248 vs
7,546–8,267 chars/s on machine B with oneDNN held to plain AVX-512, RESULTS.md). So `auto` asks for
the instructions themselves; an explicit bf16 only needs to run at all. GPUs likewise: torch counts
emulated bf16 on GPUs before Ampere as supported.

Nor do the instructions settle it: on machine C (2 cores of an Intel Xeon with AVX-512 BF16, no AMX
visible) an LSTM trains 0.6–0.7× as fast in bf16 as in fp32. So on a CPU `auto` times a training step in
both and takes bf16 only where it is clearly faster (`bf16_speedup`, `chosen_precision`).
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext

import torch

from charnn.cpu_flags import INT8_DOT_PRODUCTS, linux_cpu_flags
from charnn.errors import CharnnError


def native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX-512 BF16 or AMX); elsewhere oneDNN emulates it."""
    if not torch.backends.mkldnn.is_available():
        return False
    cpu = getattr(torch, "cpu", None)  # torch's own checks are private, and not all exist in every torch ≥ 2.2
    checks = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if any(check is not None and check() for check in checks):
        return True
    return bool({"avx512_bf16", "amx_bf16"} & linux_cpu_flags())


def native_int8() -> bool:
    """Whether this CPU has int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI or AMX), which make int8
    products 2× as fast as bf16 ones per instruction. Sampling batches use them (charnn/products.py)."""
    check = getattr(getattr(torch, "cpu", None), "_is_vnni_supported", None)  # private: AVX-512 VNNI only
    if check is not None and check():
        return True
    return bool(INT8_DOT_PRODUCTS & linux_cpu_flags())


def autocast(device: torch.device, precision: str):
    """A context that runs matmuls in `precision` ('fp32' or 'bf16') on `device`."""
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def onednn_bf16() -> bool:
    """Whether oneDNN offers bf16 on this CPU at all (with the instructions, or emulating them)."""
    supported = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return torch.backends.mkldnn.is_available() and supported is not None and supported()


def bf16_runs(device: torch.device) -> bool:
    """Whether this device can train our LSTM in bf16 at all (natively or emulated)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()  # emulated on GPUs before Ampere: it runs, slowly
    if device.type != "cpu" or not onednn_bf16():
        return False
    try:  # some oneDNN builds lack a bf16 LSTM primitive for this CPU: probe once
        with torch.inference_mode(), autocast(device, "bf16"):
            torch.nn.LSTM(8, 8)(torch.zeros(2, 1, 8))
        return True
    except RuntimeError:
        return False


def native_cuda_bf16() -> bool:
    """Whether this GPU has bf16 units (Ampere on); torch ≥ 2.4 otherwise also counts emulation as support."""
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # torch < 2.4: no emulation counted, and no argument to say so
        return torch.cuda.is_bf16_supported()


def auto_precision(device: torch.device) -> str:
    """bf16 where it is fast here (a GPU with bf16 units, or a CPU with them where a training step is measured
    faster in bf16), else fp32."""
    return chosen_precision(device)[0]


def chosen_precision(device: torch.device) -> tuple[str, str | None]:
    """`auto_precision`, and why where it timed the two (a line for the user), else None."""
    if (device.type == "cpu" and not native_bf16()) or (device.type == "cuda" and not native_cuda_bf16()):
        return "fp32", None
    if not bf16_runs(device):
        return "fp32", None
    if device.type != "cpu":
        return "bf16", None
    speedup = bf16_speedup(device)
    if speedup >= BF16_MARGIN:
        return "bf16", f"bf16: a training step ran {speedup:.2f}× as fast in it as in fp32 here"
    return "fp32", (f"fp32: this CPU has bf16, but a training step ran {speedup:.2f}× as fast in it as in fp32 "
                    "(--precision bf16 to use it anyway)")


PROBE = (2, 384, 16, 64)  # layers, hidden size, streams, characters: the CPU preset's usual model and batch
BF16_MARGIN = 1.1  # bf16 must be this much faster: at a near tie fp32 (exact, and no casts) wins


def bf16_speedup(device: torch.device) -> float:
    """How many times as fast an LSTM of `PROBE`'s size trains here in bf16 as in fp32 (forward and backward, best
    of 2 alternating rounds after one untimed step each: ~0.5 s on machine C). The random state is left as it
    was."""
    layers, hidden, streams, length = PROBE
    with torch.random.fork_rng(devices=[]):
        lstm = torch.nn.LSTM(64, hidden, layers, batch_first=True).to(device)
        inputs = torch.randn(streams, length, 64, device=device)  # (B, T, E)

    def step(precision: str) -> float:
        started = time.perf_counter()
        with autocast(device, precision):
            outputs, _ = lstm(inputs)  # (B, T, H)
        outputs.float().sum().backward()
        return time.perf_counter() - started

    best = {"fp32": math.inf, "bf16": math.inf}
    for precision in best:
        step(precision)  # allocations, kernel choice
    for _ in range(2):  # alternating: a slow moment of a shared machine hurts both alike
        for precision in best:
            best[precision] = min(best[precision], step(precision))
    return best["fp32"] / best["bf16"]


def check_precision(device: torch.device, precision: str) -> str:
    """An explicit --precision, refused with a line where this device cannot run it (slow is allowed)."""
    if precision == "bf16" and not bf16_runs(device):
        raise CharnnError(f"bf16 is not supported for this model on {device} here — use --precision fp32")
    return precision
