# Copyright: llama-herd developers
# Apache License 2.0
"""AMD/ROCm for Ollama nodes: which gfx target a host has, which
HSA_OVERRIDE_GFX_VERSION it gets, and whether its ROCm can serve it.

Pure functions of a host's variables, shared by preflight (controller, before
any change) and the ollama role's filter, so both resolve the same way:

- gfx target: ``ollama_gfx_target`` (explicit) > the first AMD GPU measured
  by gpu_facts (``herd_measured.gpus``) > the first AMD GPU of ``herd_gpus``.
- override: ``ollama_hsa_override_gfx_version`` (explicit) > derived from the
  gfx target (gfx1151 -> 11.5.1, the formula in gfx_to_hsa_override).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .gpu_facts import GPU_SOURCES

GFX_RE = re.compile(r"^gfx[0-9]{1,2}[0-9a-f]{2}$")


def gfx_to_hsa_override(gfx_target: str) -> str:
    """gfx1151 -> 11.5.1; gfx90a -> 9.0.10 (the last two digits are hex)."""
    if not GFX_RE.match(gfx_target):
        raise ValueError(f"{gfx_target!r} is not a gfx target like gfx1151 or gfx90a")
    digits = gfx_target[3:]
    major, minor, step = digits[:-2], digits[-2], digits[-1]
    return f"{int(major)}.{int(minor, 16)}.{int(step, 16)}"


_HSA = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{1,2})$")
_ROCM = re.compile(r"^\d+\.\d+(\.\d+)?$")

# The ROCm release that first ships kernels for each gfx target: what the
# override names must be a target the ROCm runtime knows.
ROCM_MIN_FOR_GFX: dict[str, str] = {
    "gfx1100": "5.5",
    "gfx1101": "5.5",
    "gfx1102": "5.5",
    "gfx1103": "6.1",
    "gfx1150": "6.4",
    "gfx1151": "6.4",
    "gfx1200": "6.4",
    "gfx1201": "6.4",
}


def _amd_gpus(gpus: Any) -> list[tuple[int, Mapping[str, Any]]]:
    if not isinstance(gpus, list):
        return []
    return [(i, g) for i, g in enumerate(gpus) if isinstance(g, Mapping) and str(g.get("vendor", "")).lower() == "amd"]


def host_gfx_target(hv: Mapping[str, Any]) -> tuple[str, str]:
    """(gfx target, the variable it came from); ("", "") when none."""
    explicit = str(hv.get("ollama_gfx_target") or "").strip().lower()
    if explicit:
        return explicit, "ollama_gfx_target"
    measured = hv.get("herd_measured")
    sources = measured.get("gpu_sources") if isinstance(measured, Mapping) else None
    amd_measured = not isinstance(sources, list) or any(GPU_SOURCES.get(s) == "amd" for s in sources)
    if isinstance(measured, Mapping) and isinstance(measured.get("gpus"), list) and amd_measured:
        # Measured GPUs win even when there is no AMD one among them (as host_view.host_gpus: when an AMD source answered).
        for i, gpu in _amd_gpus(measured["gpus"]):
            if gpu.get("gfx_target"):
                return str(gpu["gfx_target"]).strip().lower(), f"herd_measured.gpus[{i}].gfx_target"
        return "", ""
    for i, gpu in _amd_gpus(hv.get("herd_gpus")):
        if gpu.get("gfx_target"):
            return str(gpu["gfx_target"]).strip().lower(), f"herd_gpus[{i}].gfx_target"
    return "", ""


def host_hsa_override(hv: Mapping[str, Any]) -> tuple[str, str]:
    """(HSA_OVERRIDE_GFX_VERSION, the variable it came from); ("", "") when
    none applies. An explicit value is returned as written (preflight and
    :func:`override_gfx` reject a malformed one); a gfx target that is not one raises ValueError."""
    explicit = str(hv.get("ollama_hsa_override_gfx_version") or "").strip()
    if explicit:
        return explicit, "ollama_hsa_override_gfx_version"
    gfx, source = host_gfx_target(hv)
    if not gfx:
        return "", ""
    return gfx_to_hsa_override(gfx), source


def override_gfx(value: str) -> str:
    """The gfx target an override claims: 11.0.0 -> gfx1100, 9.0.10 -> gfx90a."""
    m = _HSA.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not an HSA_OVERRIDE_GFX_VERSION like 11.5.1")
    major, minor, step = (int(x) for x in m.groups())
    if minor > 15 or step > 15:
        raise ValueError(f"{value!r}: minor and stepping must be 0-15 (one hex digit of the gfx target)")
    return f"gfx{major}{minor:x}{step:x}"


def _vtuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", str(v))[:3])


def rocm_problems(hv: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(level, variable, problem, fix) for one Ollama node; level is
    "error" (malformed value) or "warning" (the declared ROCm, herd_rocm_version,
    predates the target the override names)."""
    out: list[tuple[str, str, str, str]] = []
    for var in ("ollama_gfx_target", "ollama_hsa_override_gfx_version"):
        value = hv.get(var)
        if value in (None, ""):
            continue
        try:
            if var == "ollama_gfx_target":
                gfx_to_hsa_override(str(value).strip().lower())
            else:
                override_gfx(str(value).strip())
        except ValueError as exc:
            fix = (
                "set it to the target rocminfo prints, e.g. gfx1151, or leave it empty to use the measured/declared GPU"
                if var == "ollama_gfx_target"
                else "write it like 11.5.1 (gfx1151), or leave it empty to derive it from the gfx target"
            )
            out.append(("error", var, str(exc), fix))
    rocm = hv.get("herd_rocm_version")
    if rocm is not None and not _ROCM.match(str(rocm)):
        out.append(
            ("error", "herd_rocm_version", f"{rocm!r} is not a ROCm version", "quote the version, e.g. herd_rocm_version: '6.4'")
        )
        rocm = None
    if any(level == "error" for level, *_rest in out):
        return out
    try:
        override, source = host_hsa_override(hv)
    except ValueError:
        return out  # a malformed herd_gpus gfx_target is reported by the GPU checks
    if not override or rocm is None:
        return out
    claimed = override_gfx(override)
    need = ROCM_MIN_FOR_GFX.get(claimed)
    if need and _vtuple(str(rocm)) < _vtuple(need):
        out.append(
            (
                "warning",
                "herd_rocm_version",
                f"HSA_OVERRIDE_GFX_VERSION={override} (from {source}) makes ROCm treat the GPU as {claimed}, "
                f"which needs ROCm {need} or later, but the host declares ROCm {rocm}",
                f"install ROCm {need}+ (or an Ollama release whose -rocm archive bundles it) and set herd_rocm_version, "
                f"or set ollama_hsa_override_gfx_version to a target ROCm {rocm} supports",
            )
        )
    return out
