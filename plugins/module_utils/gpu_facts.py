# Copyright: llama-herd developers
# Apache License 2.0
"""Parsers for what the ``gpu_facts`` module measures on a host.

Pure functions over the text the tools print, so they are tested on recorded
outputs (``tests/unit/fixtures/gpu_facts/``); no Ansible imports. The module
runs the tools and feeds their output here:

* ``nvidia-smi --query-gpu=index,name,memory.total,compute_cap,uuid
  --format=csv,noheader,nounits`` (:func:`parse_nvidia_smi`)
* ``rocm-smi --showmeminfo vram --showproductname --showuniqueid --json``
  (:func:`parse_rocm_smi`) and ``rocminfo`` for the gfx target and whether
  the GPU is an APU sharing system memory (:func:`parse_rocminfo`)
* ``xpu-smi discovery -j`` and ``xpu-smi discovery -d N -j`` for Intel GPUs
  (:func:`intel_gpus`), the JSON documented in Intel's XPU Manager
  ``doc/smi_user_guide.md``; ``memory_physical_size_byte`` is the device's
  local memory (a string in some releases, a number in others)
* amdgpu's sysfs, ``/sys/class/drm/cardN/device/mem_info_vram_total`` (bytes,
  documented in the kernel's amdgpu driver-misc page) with the KFD topology's
  ``gfx_target_version`` (:func:`parse_amdgpu_sysfs`): the fallback for hosts
  whose ROCm comes bundled with Ollama, without rocm-smi. Intel's i915 and xe
  drivers document no sysfs file with the local memory size (xe reports it
  through an ioctl), so Intel GPUs are read with xpu-smi only; integrated
  Intel GPUs share system RAM and are CPU-only for the plan.
* ``/proc/meminfo`` (:func:`parse_meminfo`)
* the NVIDIA driver's version: ``nvidia-smi --query-gpu=driver_version
  --format=csv,noheader`` (``driver_version``: "The version of the installed
  NVIDIA display driver", ``nvidia-smi --help-query-gpu``), else the kernel
  module's ``/proc/driver/nvidia/version`` (:func:`nvidia_driver_version`)
* the CUDA toolkit installed, ``nvcc --version`` (:func:`parse_nvcc_version`)

:func:`measured` assembles ``herd_measured``, the shape ``plan.py`` reads:
``{gpus: [{vendor, name, vram_mib, compute_capability | gfx_target, index,
uuid[, unified_memory]}], gpu_sources: [...], ram_mib, arch}``.
``nvidia_driver_version`` ('535.104.05') is there when the NVIDIA driver
answered, ``cuda_version`` ('11.8') when an nvcc answered. ``gpu_sources``
names the sources that answered (:data:`GPU_SOURCES`); only
their vendors count as measured, so "no tool for that vendor" (not measured:
the declared ``herd_gpus`` stand) differs from "its tool found none". With no
source answering, ``gpus`` is left out. A tool that is installed but fails
is not a source, and the failure is reported.
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Iterable
from typing import Any

NVIDIA_QUERY = "index,name,memory.total,compute_cap,uuid"
NVIDIA_QUERY_NO_CC = "index,name,memory.total,uuid"  # drivers older than 510 lack compute_cap
NVIDIA_DRIVER_QUERY = "driver_version"
NVIDIA_PROC_VERSION = "/proc/driver/nvidia/version"
ROCM_SMI_ARGS = ("--showmeminfo", "vram", "--showproductname", "--showuniqueid", "--json")

# What gpu_facts can read, and whose GPUs each source measures: a vendor none
# of whose sources answered is not measured (host_view.host_gpus keeps its declared GPUs).
GPU_SOURCES = {"nvidia-smi": "nvidia", "rocm-smi": "amd", "rocminfo": "amd", "amdgpu-sysfs": "amd", "xpu-smi": "intel"}
# What to install on a host so that a vendor's GPUs are measured.
VENDOR_TOOLS = {"nvidia": "nvidia-smi", "amd": "rocm-smi", "intel": "xpu-smi"}

# gfx targets of AMD APUs (GPU memory is system memory): Strix Halo, Strix
# Point, Phoenix/Hawk Point, Rembrandt, Renoir/Cezanne, Raven.
APU_GFX = {"gfx1151", "gfx1150", "gfx1103", "gfx1035", "gfx1036", "gfx90c", "gfx902", "gfx909"}

_NA = {"", "[n/a]", "n/a", "[not supported]", "not supported", "[unknown error]", "[insufficient permissions]"}
_GFX_RE = re.compile(r"^gfx[0-9]{1,2}[0-9a-f]{2}$")
_CC_RE = re.compile(r"^\d{1,2}\.\d$")


class GpuFactsError(ValueError):
    """A tool's output that cannot be read; the message quotes it."""


def _snip(text: str, n: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def parse_meminfo(text: str) -> int:
    """MemTotal of /proc/meminfo in MiB (rounded down, as ``free -m``)."""
    m = re.search(r"^MemTotal:\s+(\d+)\s*kB\s*$", text, re.MULTILINE)
    if not m:
        raise GpuFactsError(f"/proc/meminfo has no 'MemTotal: N kB' line: {_snip(text)!r}")
    return int(m.group(1)) // 1024


def _nvidia_rows(text: str, fields: str) -> list[tuple[str, dict[str, str]]]:
    """(line, {field: value}) for each CSV line nvidia-smi printed."""
    names = [f.strip() for f in fields.split(",")]
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        cols = [c.strip() for c in line.split(",")]
        if len(cols) > len(names) and "name" in names:
            # A comma inside the product name: rejoin the surplus columns into it.
            i = names.index("name")
            extra = len(cols) - len(names)
            cols[i : i + extra + 1] = [", ".join(cols[i : i + extra + 1])]
        if len(cols) != len(names):
            raise GpuFactsError(f"nvidia-smi printed {line.strip()!r}, not {len(names)} CSV fields ({fields})")
        rows.append((line, {name: cols[i] for i, name in enumerate(names)}))
    return rows


def parse_nvidia_smi(text: str, fields: str = NVIDIA_QUERY) -> list[dict[str, Any]]:
    """GPUs from ``nvidia-smi --query-gpu=<fields> --format=csv,noheader,nounits``.

    ``memory.total`` with ``nounits`` is MiB. Values nvidia-smi cannot give
    (``[N/A]``, ``[Not Supported]``) become absent keys. An error message
    instead of CSV (driver not loaded, unknown field) raises GpuFactsError.
    """
    gpus = []
    for line, row in _nvidia_rows(text, fields):
        try:
            index = int(row["index"])
            vram = int(float(row["memory.total"]))
        except (KeyError, ValueError):
            raise GpuFactsError(f"nvidia-smi printed {line.strip()!r}: index and memory.total must be numbers") from None
        gpu: dict[str, Any] = {"vendor": "nvidia", "index": index, "name": row.get("name", ""), "vram_mib": vram}
        cc = row.get("compute_cap", "")
        if cc.lower() not in _NA:
            if not _CC_RE.match(cc):
                raise GpuFactsError(f"nvidia-smi printed compute capability {cc!r} for GPU {index}; expected e.g. 8.9")
            gpu["compute_capability"] = cc
        uuid = row.get("uuid", "")
        if uuid.lower() not in _NA:
            gpu["uuid"] = uuid
        gpus.append(gpu)
    return sorted(gpus, key=lambda g: g["index"])


def nvidia_field_unsupported(text: str) -> bool:
    """True when nvidia-smi rejected a --query-gpu field (old driver)."""
    return "is not a valid field" in text


_DRIVER_RE = re.compile(r"^\d{2,4}\.\d{1,3}(?:\.\d{1,3})?$")
# /proc/driver/nvidia/version's first line, proprietary and open kernel modules:
# "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 ..."
# "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  560.35.03  Release Build ..."
_NVRM_RE = re.compile(r"^NVRM version:.*?Kernel Module(?: for \S+)?\s+(\d+\.\d+(?:\.\d+)?)\s", re.MULTILINE)


def nvidia_driver_version(nvidia_smi: str | None = None, proc_version: str | None = None) -> str | None:
    """The NVIDIA driver's version ('535.104.05') from ``nvidia-smi
    --query-gpu=driver_version --format=csv,noheader`` (one line per GPU, all
    the same driver) or, without it, ``/proc/driver/nvidia/version``; None
    when neither is given. Unreadable output raises GpuFactsError."""
    if nvidia_smi is not None:
        found = {line.strip() for line in nvidia_smi.splitlines() if line.strip()}
        if len(found) == 1 and _DRIVER_RE.match(next(iter(found))):
            return found.pop()
        if found or proc_version is None:
            raise GpuFactsError(f"nvidia-smi printed {_snip(nvidia_smi)!r}, not one driver version like 535.104.05")
    if proc_version is not None:
        m = _NVRM_RE.search(proc_version)
        if not m:
            raise GpuFactsError(
                f"/proc/driver/nvidia/version has no 'NVRM version: ... Kernel Module N.N' line: {_snip(proc_version)!r}"
            )
        return m.group(1)
    return None


_NVCC_RE = re.compile(r"^Cuda compilation tools, release (\d+\.\d+), V[\d.]+\s*$", re.MULTILINE)


def parse_nvcc_version(text: str) -> str:
    """The CUDA toolkit's major.minor from ``nvcc --version``'s line
    "Cuda compilation tools, release 13.0, V13.0.88"."""
    m = _NVCC_RE.search(text)
    if not m:
        raise GpuFactsError(f"nvcc --version printed no 'Cuda compilation tools, release N.N' line: {_snip(text)!r}")
    return m.group(1)


def _card_index(key: str) -> int | None:
    m = re.fullmatch(r"card(\d+)", key.strip())
    return int(m.group(1)) if m else None


def parse_rocm_smi(text: str) -> list[dict[str, Any]]:
    """Cards from ``rocm-smi --showmeminfo vram --showproductname
    --showuniqueid --json``: ``{index, name, vram_mib[, gfx_target, uuid]}``.

    rocm-smi prints one object per ``cardN`` (plus ``system``); VRAM is in
    bytes as a string. Newer releases also print the ``GFX Version``.
    """
    if "No AMD GPUs" in text and "{" not in text:
        return []  # ROCm installed on a host without an AMD GPU
    try:
        data = json.loads(text)
    except ValueError:
        raise GpuFactsError(f"rocm-smi did not print JSON: {_snip(text)!r}") from None
    if not isinstance(data, dict):
        raise GpuFactsError(f"rocm-smi printed {type(data).__name__}, not an object of cards")
    cards = []
    for key, card in data.items():
        idx = _card_index(key)
        if idx is None or not isinstance(card, dict):
            continue
        vram_b = next((v for k, v in card.items() if k.startswith("VRAM Total Memory")), None)
        try:
            vram_mib = int(vram_b) // 2**20
        except (TypeError, ValueError):
            raise GpuFactsError(f"rocm-smi: {key} has no numeric 'VRAM Total Memory (B)': {_snip(json.dumps(card))!r}") from None
        name = str(card.get("Card Series") or card.get("Card series") or card.get("Card Model") or "AMD GPU").strip()
        item: dict[str, Any] = {"vendor": "amd", "index": idx, "name": name, "vram_mib": vram_mib}
        gfx = str(card.get("GFX Version", "")).strip().lower()
        if _GFX_RE.match(gfx):
            item["gfx_target"] = gfx
        uid = str(card.get("Unique ID", "")).strip()
        if uid and uid.lower() not in _NA:
            item["uuid"] = uid
        cards.append(item)
    return sorted(cards, key=lambda c: c["index"])


def parse_rocminfo(text: str) -> list[dict[str, Any]]:
    """GPU agents of ``rocminfo`` in order: ``{gfx_target, name, uuid, apu}``.

    CPU agents are skipped. ``apu`` is true when the agent's memory
    properties say APU (ROCm 6) or its gfx target is a known APU.
    """
    agents = re.split(r"^\*{3,}\s*\n\s*Agent \d+\s*\n\*{3,}\s*$", text, flags=re.MULTILINE)
    if len(agents) < 2:
        raise GpuFactsError(f"rocminfo printed no HSA agents: {_snip(text)!r}")
    gpus = []
    for body in agents[1:]:
        fields: dict[str, str] = {}
        for line in body.splitlines():
            m = re.match(r"^  (\S[^:]*?):\s*(.*?)\s*$", line)  # top-level agent keys only (2 spaces)
            if m and m.group(1) not in fields:
                fields[m.group(1)] = m.group(2)
        if fields.get("Device Type", "").upper() != "GPU":
            continue
        gfx = fields.get("Name", "").strip().lower()
        if not _GFX_RE.match(gfx):
            continue
        uuid = fields.get("Uuid", "")
        gpus.append(
            {
                "gfx_target": gfx,
                "name": fields.get("Marketing Name", "").strip(),
                "uuid": uuid if uuid and uuid.upper() != "GPU-XX" else None,
                "apu": "APU" in fields.get("Memory Properties", "").upper() or gfx in APU_GFX,
            }
        )
    return gpus


def amd_gpus(rocm_smi_out: str | None, rocminfo_out: str | None) -> list[dict[str, Any]]:
    """AMD GPUs from either or both tools; rocminfo agents pair with rocm-smi
    cards in order (both enumerate the KFD nodes in the same order)."""
    cards = parse_rocm_smi(rocm_smi_out) if rocm_smi_out is not None else []
    agents = parse_rocminfo(rocminfo_out) if rocminfo_out is not None else []
    if not cards:
        if agents:
            missing = ", ".join(a["gfx_target"] for a in agents)
            raise GpuFactsError(f"rocminfo lists GPU(s) {missing} but rocm-smi gave no VRAM size; install rocm-smi")
        return []
    if agents and len(agents) != len(cards):
        raise GpuFactsError(f"rocm-smi lists {len(cards)} card(s) but rocminfo {len(agents)} GPU agent(s); cannot pair them")
    out = []
    for i, card in enumerate(cards):
        gpu = dict(card)
        if agents:
            a = agents[i]
            gpu.setdefault("gfx_target", a["gfx_target"])
            if a["name"] and gpu["name"] in ("AMD GPU", ""):
                gpu["name"] = a["name"]
            if a["uuid"] and "uuid" not in gpu:
                gpu["uuid"] = a["uuid"]
            if a["apu"]:
                gpu["unified_memory"] = True
        if "gfx_target" not in gpu:
            raise GpuFactsError(f"AMD card {gpu['index']}: no gfx target (rocm-smi too old and no rocminfo output)")
        if gpu["gfx_target"] in APU_GFX:
            gpu["unified_memory"] = True
        out.append(gpu)
    return out


def _xpu_list(text: str, command: str, key: str) -> list[Any]:
    """The list under ``key`` in xpu-smi's JSON output of ``command``."""
    try:
        data = json.loads(text)
    except ValueError:
        raise GpuFactsError(f"xpu-smi {command} did not print JSON: {_snip(text)!r}") from None
    rows = data.get(key) if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise GpuFactsError(f"xpu-smi {command} printed no {key}: {_snip(text)!r}")
    return rows


def parse_xpu_smi_discovery(text: str) -> list[dict[str, Any]]:
    """Physical GPUs of ``xpu-smi discovery -j``: ``{index, name, uuid}``.

    Virtual functions (SR-IOV) and non-GPU devices are skipped: their memory
    is a slice of a physical card already counted."""
    devices = _xpu_list(text, "discovery -j", "device_list")
    out = []
    for dev in devices:
        if not isinstance(dev, dict) or str(dev.get("device_type", "GPU")).upper() != "GPU":
            continue
        if str(dev.get("device_function_type", "physical")).lower() == "virtual":
            continue
        try:
            index = int(dev["device_id"])
        except (KeyError, TypeError, ValueError):
            raise GpuFactsError(
                f"xpu-smi discovery -j: a device without a numeric device_id: {_snip(json.dumps(dev))!r}"
            ) from None
        item: dict[str, Any] = {"index": index, "name": str(dev.get("device_name") or "Intel GPU").strip()}
        uuid = str(dev.get("uuid", "")).strip()
        if uuid and uuid.lower() not in _NA:
            item["uuid"] = uuid
        out.append(item)
    return sorted(out, key=lambda d: d["index"])


def parse_xpu_smi_device(text: str) -> int:
    """Local memory in MiB from ``xpu-smi discovery -d N -j``."""
    try:
        data = json.loads(text)
    except ValueError:
        raise GpuFactsError(f"xpu-smi discovery -d did not print JSON: {_snip(text)!r}") from None
    raw = data.get("memory_physical_size_byte") if isinstance(data, dict) else None
    try:
        return int(str(raw).strip()) // 2**20
    except ValueError:
        raise GpuFactsError(f"xpu-smi discovery -d: no numeric memory_physical_size_byte: {_snip(text)!r}") from None


def intel_gpus(discovery: str, details: dict[int, str]) -> list[dict[str, Any]]:
    """Intel GPUs: the discovery list, each with its detail's memory size
    (``details`` maps device_id to the ``-d N -j`` output)."""
    gpus = []
    for dev in parse_xpu_smi_discovery(discovery):
        if dev["index"] not in details:
            raise GpuFactsError(f"xpu-smi: no 'discovery -d {dev['index']} -j' output for {dev['name']}")
        gpus.append({"vendor": "intel", **dev, "vram_mib": parse_xpu_smi_device(details[dev["index"]])})
    return gpus


def gfx_from_kfd(version: int | str) -> str:
    """KFD's ``gfx_target_version`` (major*10000 + minor*100 + stepping) as
    the gfx target: 110501 -> gfx1151, 90010 -> gfx90a, 100300 -> gfx1030."""
    v = int(str(version).strip())
    major, minor, step = v // 10000, v // 100 % 100, v % 100
    if not (major and minor < 16 and step < 16):
        raise GpuFactsError(f"KFD gfx_target_version {version!r} is not major*10000 + minor*100 + stepping")
    return f"gfx{major}{minor:x}{step:x}"


def parse_amdgpu_sysfs(cards: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """AMD GPUs from sysfs, for hosts without rocm-smi. ``cards`` maps
    ``cardN`` to the files read under ``/sys/class/drm/cardN/device/``
    (``vendor``, ``mem_info_vram_total``) plus ``gfx_target_version`` of the
    matching KFD topology node when found. Cards of other vendors (Intel,
    NVIDIA: their own tools measure them) are skipped. APUs (a gfx target in
    APU_GFX) get ``unified_memory``: their ``mem_info_vram_total`` is only the
    firmware carve-out, not what a model can use."""
    out = []
    for key in sorted(cards, key=lambda k: _card_index(k) if _card_index(k) is not None else 1 << 30):
        idx, files = _card_index(key), cards[key]
        if idx is None or str(files.get("vendor", "")).strip().lower() != "0x1002":
            continue
        raw = str(files.get("mem_info_vram_total", "")).strip()
        if not raw.isdigit():
            raise GpuFactsError(f"sysfs {key}: mem_info_vram_total is {raw!r}, not a byte count (amdgpu driver not loaded?)")
        gpu: dict[str, Any] = {"vendor": "amd", "index": idx, "name": "AMD GPU", "vram_mib": int(raw) // 2**20}
        if files.get("gfx_target_version"):
            gpu["gfx_target"] = gfx_from_kfd(files["gfx_target_version"])
            if gpu["gfx_target"] in APU_GFX:
                gpu["unified_memory"] = True
        out.append(gpu)
    return out


def measured(
    meminfo: str,
    arch: str,
    nvidia_smi: str | None = None,
    nvidia_fields: str = NVIDIA_QUERY,
    rocm_smi: str | None = None,
    rocminfo: str | None = None,
    gpu_errors: list[str] | None = None,
    xpu_smi: str | None = None,
    xpu_smi_devices: dict[int, str] | None = None,
    amdgpu_sysfs: dict[str, dict[str, str]] | None = None,
    failed_tools: Iterable[str] = (),
    nvidia_driver: str | None = None,
    nvidia_proc_version: str | None = None,
    nvcc_version: str | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """``herd_measured`` and the problems met. ``None`` outputs mean the tool
    is not installed (or failed: ``failed_tools`` names those, ``gpu_errors``
    says how). A source whose output parses joins ``gpu_sources`` and its
    GPUs join ``gpus``; a vendor with a failed tool or unreadable output is
    left unmeasured, the other vendors still count. ``amdgpu_sysfs`` is read
    only when neither rocm-smi nor rocminfo is installed. ``nvidia_driver``
    and ``nvidia_proc_version`` are the driver's version as
    :func:`nvidia_driver_version` reads it (None: not there); ``nvcc_version``
    what ``nvcc --version`` printed (None: no toolkit found)."""
    problems = list(gpu_errors or [])
    failed = set(failed_tools)
    facts: dict[str, Any] = {"ram_mib": parse_meminfo(meminfo), "arch": normalize_arch(arch)}
    gpus: list[dict[str, Any]] = []
    sources: list[str] = []

    def read(names: list[str], parse) -> None:
        if failed.intersection(names):
            return
        try:
            gpus.extend(parse())
        except GpuFactsError as exc:
            problems.append(str(exc))
        else:
            sources.extend(names)

    if nvidia_smi is not None or "nvidia-smi" in failed:
        read(["nvidia-smi"], lambda: parse_nvidia_smi(nvidia_smi or "", nvidia_fields))
    amd_tools = [n for n, out in (("rocm-smi", rocm_smi), ("rocminfo", rocminfo)) if out is not None or n in failed]
    if amd_tools:
        read(amd_tools, lambda: amd_gpus(rocm_smi, rocminfo))
    elif amdgpu_sysfs:
        read(["amdgpu-sysfs"], lambda: parse_amdgpu_sysfs(amdgpu_sysfs))
    if xpu_smi is not None or "xpu-smi" in failed:
        read(["xpu-smi"], lambda: intel_gpus(xpu_smi or "", xpu_smi_devices or {}))
    try:
        driver = nvidia_driver_version(nvidia_driver, nvidia_proc_version)
    except GpuFactsError as exc:
        problems.append(str(exc))
    else:
        if driver:
            facts["nvidia_driver_version"] = driver
    if nvcc_version is not None:
        try:
            facts["cuda_version"] = parse_nvcc_version(nvcc_version)
        except GpuFactsError as exc:
            problems.append(str(exc))
    facts["gpu_sources"] = sources
    if sources:
        facts["gpus"] = gpus
    return facts, problems


def normalize_arch(machine: str) -> str:
    """``uname -m`` -> the names the inventory uses (x86_64, aarch64)."""
    m = str(machine).strip().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(m, m)


# What the GPUs do now, for node-exporter's textfile collector
# (roles/monitoring's llama-herd-node-metrics): the same tools and parsers as
# above, with the fields each tool reports on use. Every reading is optional:
# a value a tool cannot give is left out, never written as 0.
NVIDIA_USAGE_QUERY = "index,name,memory.total,uuid,memory.used,utilization.gpu,temperature.gpu,power.draw"
ROCM_SMI_USAGE_ARGS = (*ROCM_SMI_ARGS[:-1], "--showuse", "--showtemp", "--showpower", "--json")
# The amdgpu sysfs files read besides those of parse_amdgpu_sysfs (kernel
# docs, gpu/amdgpu/driver-misc and thermal): bytes, percent; hwmon's
# millidegrees Celsius and microwatts.
AMDGPU_USAGE_FILES = ("mem_info_vram_used", "gpu_busy_percent")
AMDGPU_HWMON_FILES = ("temp1_input", "power1_average", "power1_input")
# xpu-smi stats -d N -j (intel/xpumanager, cli/src/cli_wrapper.cpp's stats
# JSON): device_level [{metrics_type, value}], memory used in MiB.
XPU_STATS = {
    "XPUM_STATS_MEMORY_USED": "vram_used_mib",
    "XPUM_STATS_GPU_UTILIZATION": "utilization_percent",
    "XPUM_STATS_GPU_CORE_TEMPERATURE": "temperature_celsius",
    "XPUM_STATS_POWER": "power_watts",
}


def _reading(value: Any) -> float | None:
    """A number a tool printed, or None for N/A and the like."""
    text = str(value).strip()
    if text.lower() in _NA:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _usage(gpu: dict[str, Any], **readings: float | None) -> dict[str, Any]:
    out = {k: gpu[k] for k in ("vendor", "index", "name", "uuid") if k in gpu}
    out["vram_total_mib"] = gpu["vram_mib"]
    out.update({k: v for k, v in readings.items() if v is not None})
    return out


def parse_nvidia_smi_usage(text: str) -> list[dict[str, Any]]:
    """Use of each GPU from ``nvidia-smi --query-gpu=NVIDIA_USAGE_QUERY
    --format=csv,noheader,nounits``: ``{vendor, index, name[, uuid],
    vram_total_mib, vram_used_mib, utilization_percent,
    temperature_celsius, power_watts}`` (MiB, %, °C, W)."""
    base = {g["index"]: g for g in parse_nvidia_smi(text, NVIDIA_USAGE_QUERY)}
    out = []
    for _line, row in _nvidia_rows(text, NVIDIA_USAGE_QUERY):
        gpu = base[int(row["index"])]
        out.append(
            _usage(
                gpu,
                vram_used_mib=_reading(row["memory.used"]),
                utilization_percent=_reading(row["utilization.gpu"]),
                temperature_celsius=_reading(row["temperature.gpu"]),
                power_watts=_reading(row["power.draw"]),
            )
        )
    return sorted(out, key=lambda g: g["index"])


def _first(card: dict[str, Any], *prefixes: str) -> float | None:
    for prefix in prefixes:
        for key, value in card.items():
            if key.startswith(prefix):
                found = _reading(value)
                if found is not None:
                    return found
    return None


def parse_rocm_smi_usage(text: str) -> list[dict[str, Any]]:
    """Use of each card from ``rocm-smi ROCM_SMI_USAGE_ARGS`` (the JSON of
    :func:`parse_rocm_smi` with the use, temperature and power keys)."""
    cards = parse_rocm_smi(text)
    if not cards:
        return []
    data = json.loads(text)
    out = []
    for gpu in cards:
        card = data.get(f"card{gpu['index']}", {})
        used = _first(card, "VRAM Total Used Memory")
        out.append(
            _usage(
                gpu,
                vram_used_mib=used // 2**20 if used is not None else None,
                utilization_percent=_first(card, "GPU use"),
                temperature_celsius=_first(card, "Temperature (Sensor edge)", "Temperature (Sensor junction)"),
                power_watts=_first(card, "Average Graphics Package Power", "Current Socket Graphics Package Power"),
            )
        )
    return out


def parse_amdgpu_sysfs_usage(cards: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """Use of each AMD card from sysfs (:func:`read_amdgpu_sysfs` with
    ``usage=True``): VRAM used, busy percent, hwmon temperature and power."""
    out = []
    for gpu in parse_amdgpu_sysfs(cards):
        files = cards[f"card{gpu['index']}"]
        used = _reading(files.get("mem_info_vram_used", ""))
        temp = _reading(files.get("temp1_input", ""))
        power = _reading(files.get("power1_average", "")) or _reading(files.get("power1_input", ""))
        out.append(
            _usage(
                gpu,
                vram_used_mib=used // 2**20 if used is not None else None,
                utilization_percent=_reading(files.get("gpu_busy_percent", "")),
                temperature_celsius=temp / 1000 if temp is not None else None,
                power_watts=power / 1e6 if power is not None else None,
            )
        )
    return out


def parse_xpu_smi_stats(text: str) -> dict[str, float]:
    """Readings of ``xpu-smi stats -d N -j``, keyed as :data:`XPU_STATS`."""
    rows = _xpu_list(text, "stats -d", "device_level")
    out: dict[str, float] = {}
    for row in rows:
        key = XPU_STATS.get(str(row.get("metrics_type"))) if isinstance(row, dict) else None
        value = _reading(row.get("value")) if key else None
        if key and value is not None:
            out[key] = value
    return out


def intel_gpus_usage(discovery: str, details: dict[int, str], stats: dict[int, str]) -> list[dict[str, Any]]:
    """Use of each Intel GPU: :func:`intel_gpus` with its ``stats -d N -j``."""
    out = []
    for gpu in intel_gpus(discovery, details):
        readings = parse_xpu_smi_stats(stats[gpu["index"]]) if gpu["index"] in stats else {}
        out.append(_usage(gpu, **readings))
    return out


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def read_amdgpu_sysfs(root: str, usage: bool = False) -> dict[str, dict[str, str]]:
    """``{cardN: {vendor, mem_info_vram_total, gfx_target_version}}`` of the
    DRM cards under ``root`` (sysfs); the gfx target comes from the KFD
    topology node whose drm_render_minor is the card's renderD minor. With
    ``usage``, also :data:`AMDGPU_USAGE_FILES` and the card's first hwmon's
    :data:`AMDGPU_HWMON_FILES`."""
    kfd: dict[str, str] = {}
    for props in glob.glob(os.path.join(root, "class/kfd/kfd/topology/nodes/*/properties")):
        fields = dict(line.split(None, 1) for line in _read_text(props).splitlines() if len(line.split(None, 1)) == 2)
        if fields.get("drm_render_minor") and fields.get("gfx_target_version", "0") != "0":
            kfd[fields["drm_render_minor"].strip()] = fields["gfx_target_version"].strip()
    cards: dict[str, dict[str, str]] = {}
    for dev in sorted(glob.glob(os.path.join(root, "class/drm/card[0-9]*/device"))):
        card = os.path.basename(os.path.dirname(dev))
        if "-" in card:  # connectors (card0-DP-1) are not devices
            continue
        names = ("vendor", "mem_info_vram_total", *(AMDGPU_USAGE_FILES if usage else ()))
        files = {name: _read_text(os.path.join(dev, name)) for name in names}
        if usage:
            hwmon = sorted(glob.glob(os.path.join(dev, "hwmon/hwmon*")))
            for name in AMDGPU_HWMON_FILES if hwmon else ():
                files[name] = _read_text(os.path.join(hwmon[0], name))
        for render in glob.glob(os.path.join(dev, "drm/renderD*")):
            minor = os.path.basename(render)[len("renderD") :]
            if minor in kfd:
                files["gfx_target_version"] = kfd[minor]
        cards[card] = files
    return cards
