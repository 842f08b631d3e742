"""The CPU's feature flags as Linux lists them, read without torch: `charnn sample` asks whether the CPU has int8
dot products before it decides to load torch (charnn/precision.py asks torch first, then these)."""

from __future__ import annotations

from pathlib import Path

INT8_DOT_PRODUCTS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})  # AVX-512 VNNI, AVX-VNNI, AMX


def linux_cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux lists them (empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return set(line.partition(":")[2].split())
