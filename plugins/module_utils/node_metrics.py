# Copyright: llama-herd developers
# Apache License 2.0
"""llama-herd's node metrics for node-exporter's textfile collector.

The monitoring role ships this file with ``gpu_facts.py`` and ``ollama.py``
(standard library only, relative imports) to every node as the package
``llama_herd_node``; a hardened systemd timer runs
``python3 -m llama_herd_node.node_metrics CONFIG``. Each run reads the GPUs
with the tools ``gpu_facts`` measures with (nvidia-smi, rocm-smi or amdgpu
sysfs, xpu-smi) and the same parsers, asks the node's Ollama which of its
planned models it holds (``/api/tags``), and writes one ``*.prom`` file
atomically (a temporary file in the same directory, renamed), so the exporter
never reads half a file. The plan's figures for the node (its planned GPU
memory, the safety margin) come from CONFIG, which the role renders from the
plan, so an alert can compare what is used with what was planned.

CONFIG (JSON): ``{output, planned_gpu_mib, margin, ollama_url,
ollama_models, sysfs_root}``; every key optional but ``output``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .gpu_facts import (
    NVIDIA_USAGE_QUERY,
    ROCM_SMI_USAGE_ARGS,
    GpuFactsError,
    intel_gpus_usage,
    parse_amdgpu_sysfs_usage,
    parse_nvidia_smi_usage,
    parse_rocm_smi_usage,
    parse_xpu_smi_discovery,
    read_amdgpu_sysfs,
)
from .ollama import OllamaClient, OllamaError, normalize_name

MIB = 2**20
# name -> (type, help). Every family is written with HELP and TYPE, even
# without samples, so `promtool check metrics` is clean on every node.
FAMILIES: dict[str, tuple[str, str]] = {
    "llama_herd_gpu_memory_total_bytes": ("gauge", "Memory of the GPU (VRAM; an APU's carve-out)."),
    "llama_herd_gpu_memory_used_bytes": ("gauge", "GPU memory in use, as the vendor's tool reports it."),
    "llama_herd_gpu_utilization_ratio": ("gauge", "GPU busy share, 0 to 1."),
    "llama_herd_gpu_temperature_celsius": ("gauge", "GPU temperature (NVIDIA core, AMD edge, Intel core)."),
    "llama_herd_gpu_power_watts": ("gauge", "GPU power draw."),
    "llama_herd_gpu_source_up": ("gauge", "1 if the GPU tool answered and its output parsed, 0 if it failed."),
    "llama_herd_plan_gpu_memory_bytes": ("gauge", "GPU memory the plan gives this node's models (every engine)."),
    "llama_herd_plan_vram_safety_margin": ("gauge", "The plan's herd_vram_safety_margin: the usable share of each GPU."),
    "llama_herd_ollama_up": ("gauge", "1 if the node's Ollama answered /api/tags."),
    "llama_herd_ollama_model_present": ("gauge", "1 if a model the plan puts on this node is in Ollama's /api/tags."),
    "llama_herd_node_metrics_timestamp_seconds": ("gauge", "When these metrics were written."),
}
_GPU_READINGS = {
    "llama_herd_gpu_memory_total_bytes": ("vram_total_mib", lambda v: v * MIB),
    "llama_herd_gpu_memory_used_bytes": ("vram_used_mib", lambda v: v * MIB),
    "llama_herd_gpu_utilization_ratio": ("utilization_percent", lambda v: v / 100),
    "llama_herd_gpu_temperature_celsius": ("temperature_celsius", float),
    "llama_herd_gpu_power_watts": ("power_watts", float),
}

Runner = Callable[[Sequence[str]], "str | None"]


def _esc(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _value(v: float) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() else repr(v)


def render(
    gpus: Sequence[Mapping[str, Any]],
    sources: Mapping[str, bool],
    config: Mapping[str, Any],
    ollama: Mapping[str, bool] | None,
    now: float,
) -> str:
    """The ``*.prom`` text: each GPU's readings (labels ``gpu``, ``vendor``,
    ``name``), which tools answered, the plan's figures, the planned
    Ollama models' presence (``ollama``: model -> present; None when Ollama
    did not answer)."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {n: [] for n in FAMILIES}
    for g in gpus:
        labels = {"gpu": str(g["index"]), "vendor": str(g["vendor"]), "name": str(g.get("name", ""))}
        for family, (key, scale) in _GPU_READINGS.items():
            if g.get(key) is not None:
                samples[family].append((labels, scale(float(g[key]))))
    for source, ok in sorted(sources.items()):
        samples["llama_herd_gpu_source_up"].append(({"source": source}, 1 if ok else 0))
    if config.get("planned_gpu_mib") is not None:
        samples["llama_herd_plan_gpu_memory_bytes"].append(({}, int(config["planned_gpu_mib"]) * MIB))
    if config.get("margin") is not None:
        samples["llama_herd_plan_vram_safety_margin"].append(({}, float(config["margin"])))
    if config.get("ollama_url"):
        samples["llama_herd_ollama_up"].append(({}, 0 if ollama is None else 1))
        for model in config.get("ollama_models") or []:
            present = bool(ollama and ollama.get(normalize_name(model)))
            samples["llama_herd_ollama_model_present"].append(({"model": normalize_name(model)}, 1 if present else 0))
    samples["llama_herd_node_metrics_timestamp_seconds"].append(({}, now))
    out = []
    for family, (kind, text) in FAMILIES.items():
        out += [f"# HELP {family} {text}", f"# TYPE {family} {kind}"]
        for labels, value in samples[family]:
            lab = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
            out.append(f"{family}{{{lab}}} {_value(value)}" if lab else f"{family} {_value(value)}")
    return "\n".join(out) + "\n"


def _say(line: str) -> None:
    """One line to stderr: the journal of the metrics unit."""
    sys.stderr.write(line + "\n")


def _run(argv: Sequence[str]) -> str | None:
    """The tool's stdout, or None when it failed (the reason to stderr)."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, env={**os.environ, "LC_ALL": "C"}, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        _say(f"{argv[0]}: {exc}")
        return None
    if done.returncode != 0:
        _say(f"{' '.join(argv[:2])} exited {done.returncode}: {' '.join((done.stdout + done.stderr).split())[:300]}")
        return None
    return done.stdout


def read_gpus(
    sysfs_root: str = "/sys", run: Runner = _run, which: Callable[[str], str | None] = shutil.which
) -> tuple[list[dict[str, Any]], dict[str, bool]]:
    """Every GPU's use, and which sources answered (source -> parsed).
    The sources are those of ``gpu_facts``: amdgpu sysfs only without rocm-smi.
    ``which`` finds a tool by name (gpu_facts passes its own paths)."""
    gpus: list[dict[str, Any]] = []
    sources: dict[str, bool] = {}

    def take(source: str, parse: Callable[[], list[dict[str, Any]]]) -> None:
        try:
            found = parse()
        except (GpuFactsError, KeyError, ValueError) as exc:
            _say(f"{source}: {exc}")
            sources[source] = False
        else:
            gpus.extend(found)
            sources[source] = True

    nvidia = which("nvidia-smi")
    if nvidia:
        out = run([nvidia, f"--query-gpu={NVIDIA_USAGE_QUERY}", "--format=csv,noheader,nounits"])
        take("nvidia-smi", lambda: parse_nvidia_smi_usage(out) if out is not None else _failed("nvidia-smi"))
    rocm = which("rocm-smi")
    if rocm:
        out = run([rocm, *ROCM_SMI_USAGE_ARGS])
        take("rocm-smi", lambda: parse_rocm_smi_usage(out) if out is not None else _failed("rocm-smi"))
    else:
        cards = read_amdgpu_sysfs(sysfs_root, usage=True)
        if any(str(f.get("vendor", "")).strip().lower() == "0x1002" for f in cards.values()):
            take("amdgpu-sysfs", lambda: parse_amdgpu_sysfs_usage(cards))
    xpu = which("xpu-smi")
    if xpu:

        def intel() -> list[dict[str, Any]]:
            discovery = run([xpu, "discovery", "-j"])
            if discovery is None:
                return _failed("xpu-smi")
            details, stats = {}, {}
            for dev in parse_xpu_smi_discovery(discovery):
                for store, args in ((details, ["discovery"]), (stats, ["stats"])):
                    text = run([xpu, *args, "-d", str(dev["index"]), "-j"])
                    if text is not None:
                        store[dev["index"]] = text
            return intel_gpus_usage(discovery, details, stats)

        take("xpu-smi", intel)
    return gpus, sources


def _failed(tool: str) -> list[dict[str, Any]]:
    raise GpuFactsError(f"{tool} failed")


def read_ollama(url: str, timeout: float = 5.0) -> dict[str, bool] | None:
    """Models in the node's /api/tags (normalized name -> True), None when
    Ollama does not answer."""
    try:
        return dict.fromkeys(OllamaClient(url, timeout=timeout).tags(), True)
    except OllamaError as exc:
        _say(f"ollama: {exc}")
        return None


def write_atomically(path: str, text: str) -> None:
    """Write ``path`` through a temporary file in its directory, renamed over
    it: the textfile collector reads the old file or the new, never a part."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".llama-herd.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        _say("usage: python3 -m llama_herd_node.node_metrics CONFIG.json")
        return 2
    with open(args[0], encoding="utf-8") as fh:
        config = json.load(fh)
    gpus, sources = read_gpus(config.get("sysfs_root") or "/sys")
    ollama = read_ollama(config["ollama_url"]) if config.get("ollama_url") else None
    write_atomically(config["output"], render(gpus, sources, config, ollama, time.time()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
