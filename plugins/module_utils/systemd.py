# Copyright: llama-herd developers
# Apache License 2.0
"""systemd settings every llama-herd unit shares: which devices a unit that
uses GPUs may open (DevicePolicy=closed plus these DeviceAllow lines)."""

from __future__ import annotations

from collections.abc import Iterable

# DeviceAllow values per GPU vendor. Device groups from /proc/devices cover
# every card of the vendor: nvidia-frontend is major 195 (/dev/nvidiactl and
# every /dev/nvidiaN), so a two- or three-GPU host needs no per-card line.
GPU_DEVICE_ALLOW: dict[str, tuple[str, ...]] = {
    "nvidia": ("char-nvidia-frontend rw", "char-nvidia-uvm rw", "char-nvidia-caps rw", "char-drm rw"),
    "amd": ("/dev/kfd rw", "char-drm rw"),
    "intel": ("char-drm rw",),
    # Apple GPUs run only under macOS, where Ollama has no systemd unit.
    "apple": (),
}


def device_allow(vendors: Iterable[str]) -> list[str]:
    """The DeviceAllow values for a unit using GPUs of ``vendors``, in a
    stable order without repeats; empty for none (the unit then sets
    PrivateDevices). ValueError names a vendor this table lacks."""
    out: list[str] = []
    for vendor in vendors:
        key = str(vendor).lower()
        if key not in GPU_DEVICE_ALLOW:
            raise ValueError(f"no device access is known for GPU vendor {vendor!r}; known: {', '.join(GPU_DEVICE_ALLOW)}")
        out += [line for line in GPU_DEVICE_ALLOW[key] if line not in out]
    return out
