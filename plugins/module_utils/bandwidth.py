# Copyright: llama-herd developers
# Apache License 2.0
"""Memory bandwidth per device, and the decode speed it predicts.

Token generation reads every weight once per token, so it is bound by
memory bandwidth: tokens/s ~ bandwidth / bytes read per token (the model's
weights; the KV cache read grows with the context and is left out, so the
figure is an upper bound for short prompts). Figures are the vendors'
published peak bandwidths (GB/s, 10^9 bytes); a host overrides them with
``herd_memory_bandwidth_gbps: {gpu: 936, ram: 89}``. Pure Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# GPU name (a case-insensitive substring of herd_gpus[].name or what the
# driver reports) -> GB/s. Longer names first where one contains another.
GPU_GBPS: dict[str, float] = {
    "RTX 5090": 1792,
    "RTX 4090": 1008,
    "RTX 4080": 717,
    "RTX 4070 Ti": 504,
    "RTX 4060 Ti": 288,
    "RTX 3090 Ti": 1008,
    "RTX 3090": 936,
    "RTX 3080": 760,
    "RTX 3060": 360,
    "GTX 1080 Ti": 484,
    "A100": 1555,
    "H100": 3350,
    "V100": 900,
    "P40": 347,
    "RX 7900 XTX": 960,
    "RX 7900 XT": 800,
    "RX 6800 XT": 512,
    "MI100": 1229,
    # APUs: the GPU reads the same LPDDR5X as the CPU
    "Radeon 8060S": 256,  # Strix Halo (Ryzen AI Max+ 395), 256-bit LPDDR5X-8000
    "Radeon 890M": 120,  # Strix Point, 128-bit LPDDR5X-7500
    "Radeon 780M": 90,
    "Apple M4 Max": 546,
    "Apple M4 Pro": 273,
    "Apple M4": 120,
}
# A GPU the table does not know: a mid-range card.
DEFAULT_GPU_GBPS = 300.0
# CPU RAM by platform (a substring of herd_platform); without one, dual-channel DDR5.
RAM_GBPS: dict[str, float] = {
    "Raspberry Pi 5": 17,
    "DDR4": 45,
    "DDR5": 80,
    "EPYC": 460,  # 12-channel DDR5
    "Xeon": 300,
}
DEFAULT_RAM_GBPS = 80.0
BANDWIDTH_VAR = "herd_memory_bandwidth_gbps"


def _lookup(name: str, table: Mapping[str, float]) -> float | None:
    low = name.lower()
    for key in sorted(table, key=len, reverse=True):
        if key.lower() in low:
            return float(table[key])
    return None


def gpu_gbps(gpu: Mapping[str, Any]) -> float:
    return _lookup(str(gpu.get("name") or ""), GPU_GBPS) or DEFAULT_GPU_GBPS


def host_gbps(hv: Mapping[str, Any], gpus: Sequence[Mapping[str, Any]]) -> tuple[float, float, str]:
    """(GPU GB/s, RAM GB/s, where they came from) of a host. A model split by
    layers over several GPUs reads them one after another, so the slowest
    card bounds it; an APU's RAM is its GPU's memory."""
    over = hv.get(BANDWIDTH_VAR) if isinstance(hv.get(BANDWIDTH_VAR), Mapping) else {}
    gpu = min((gpu_gbps(g) for g in gpus), default=0.0)
    unified = any(g.get("unified_memory") for g in gpus)
    ram = gpu if unified and gpu else _lookup(str(hv.get("herd_platform") or ""), RAM_GBPS) or DEFAULT_RAM_GBPS
    source = "the bandwidth table"
    if over.get("gpu"):
        gpu, source = float(over["gpu"]), BANDWIDTH_VAR
    if over.get("ram"):
        ram, source = float(over["ram"]), BANDWIDTH_VAR
    return gpu, ram, source


def tokens_per_s(gpu_mib: float, ram_mib: float, gpu_gbps_: float, ram_gbps: float) -> float:
    """Predicted decode tokens/s of a model with ``gpu_mib`` of its weights on
    the GPU and ``ram_mib`` in RAM: one read of each per token."""
    seconds = 0.0
    if gpu_mib > 0 and gpu_gbps_ > 0:
        seconds += gpu_mib * 2**20 / (gpu_gbps_ * 1e9)
    if ram_mib > 0 and ram_gbps > 0:
        seconds += ram_mib * 2**20 / (ram_gbps * 1e9)
    return round(1 / seconds, 1) if seconds else 0.0
