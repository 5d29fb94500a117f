"""The router's configuration file (YAML), validated into a :class:`Config`.

The format is seed 001's ``gpu_router_config.yaml``, extended so that a node
can carry its VRAM (the Ansible role writes it from gathered facts)::

    nodes:
      - http://localhost:11434              # VRAM unknown: never routed to
      - url: http://192.0.2.11:11434
        name: gpu1
        vram_mib: 4096                       # 0 = no GPU
        usable_mib: 2819                     # optional: the plan's budget (the role writes it)
    priority_models: [mxbai-embed-large, nomic-embed-text]
    check_interval: 300
    vram_safety_margin: 0.8
    auto_optimize: true
    log_level: INFO

Every problem is reported at once, each naming the key and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from ._herd import ollama as herd_ollama

DEFAULT_CONFIG = "/etc/llama-herd/gpu-router.yml"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(ValueError):
    """The configuration cannot be used; the message lists every problem."""


@dataclass(frozen=True)
class NodeConfig:
    """One Ollama node: its base URL, a display name and its VRAM (None = unknown)."""

    url: str
    name: str
    vram_mib: int | None = None
    usable_mib: int | None = None  # the plan's budget; None = vram_mib x vram_safety_margin


@dataclass(frozen=True)
class Config:
    """Everything the router reads from its configuration file."""

    nodes: tuple[NodeConfig, ...]
    priority_models: tuple[str, ...] = ()
    check_interval: float = 300.0
    vram_safety_margin: float = 0.8
    auto_optimize: bool = True
    log_level: str = "INFO"
    keep_alive: str | int = -1
    request_timeout: float = 10.0
    load_timeout: float = 300.0
    unload_cpu_copies: bool = True
    model_sizes: Mapping[str, int] = field(default_factory=dict)
    metrics_enabled: bool = True
    metrics_address: str = "127.0.0.1"
    metrics_port: int = 9110
    state_file: str | None = None


_KEYS = {
    "nodes",
    "priority_models",
    "check_interval",
    "vram_safety_margin",
    "auto_optimize",
    "log_level",
    "keep_alive",
    "request_timeout",
    "load_timeout",
    "unload_cpu_copies",
    "model_sizes",
    "metrics_enabled",
    "metrics_address",
    "metrics_port",
    "state_file",
}


def default_state_file() -> str:
    """Where one-shot commands keep the VRAM they learned from /api/ps."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return str(Path(base) / "llama-herd-router" / "vram-history.json")


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _node(i: int, raw: Any, problems: list[str]) -> NodeConfig | None:
    if isinstance(raw, str):
        raw = {"url": raw}
    if not isinstance(raw, Mapping):
        problems.append(f"nodes[{i}]: must be a URL or a mapping with url, name, vram_mib, usable_mib")
        return None
    unknown = sorted(set(raw) - {"url", "name", "vram_mib", "usable_mib"})
    if unknown:
        problems.append(f"nodes[{i}]: unknown keys {', '.join(map(str, unknown))}; use url, name, vram_mib, usable_mib")
    url = str(raw.get("url", "")).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(f"nodes[{i}].url: {url!r} is not an http(s) URL; write it as http://HOST:11434")
        return None
    vram = raw.get("vram_mib")
    if vram is not None and (not isinstance(vram, int) or isinstance(vram, bool) or vram < 0):
        problems.append(f"nodes[{i}].vram_mib: {vram!r} must be a whole number of MiB >= 0 (0 = no GPU)")
        vram = None
    usable = raw.get("usable_mib")
    if usable is not None and (not isinstance(usable, int) or isinstance(usable, bool) or usable < 0):
        problems.append(f"nodes[{i}].usable_mib: {usable!r} must be a whole number of MiB >= 0")
        usable = None
    return NodeConfig(url=url, name=str(raw.get("name") or url), vram_mib=vram, usable_mib=usable)


def parse(data: Any) -> Config:
    """Validate a loaded YAML document into a :class:`Config`."""
    if not isinstance(data, Mapping):
        raise ConfigError("the configuration must be a YAML mapping with at least `nodes`")
    problems: list[str] = []
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        problems.append(f"unknown keys {', '.join(map(str, unknown))}; known keys are {', '.join(sorted(_KEYS))}")
    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        problems.append("nodes: list at least one Ollama node URL")
        raw_nodes = []
    nodes = [n for i, raw in enumerate(raw_nodes) if (n := _node(i, raw, problems)) is not None]
    urls = [n.url for n in nodes]
    if len(set(urls)) != len(urls):
        problems.append("nodes: a URL is listed twice; list each node once")

    prio = data.get("priority_models") or []
    if not isinstance(prio, list) or not all(isinstance(m, str) and m for m in prio):
        problems.append("priority_models: must be a list of model names")
        prio = []
    interval = data.get("check_interval", 300)
    if not _num(interval) or interval <= 0:
        problems.append(f"check_interval: {interval!r} must be a positive number of seconds")
        interval = 300
    margin = data.get("vram_safety_margin", 0.8)
    if not _num(margin) or not 0 < margin <= 1:
        problems.append(f"vram_safety_margin: {margin!r} must be a fraction in (0, 1], e.g. 0.8")
        margin = 0.8
    level = str(data.get("log_level", "INFO")).upper()
    if level not in LOG_LEVELS:
        problems.append(f"log_level: {level!r} must be one of {', '.join(LOG_LEVELS)}")
        level = "INFO"
    bools = {}
    for key, default in (("auto_optimize", True), ("unload_cpu_copies", True), ("metrics_enabled", True)):
        value = data.get(key, default)
        if not isinstance(value, bool):
            problems.append(f"{key}: {value!r} must be true or false")
            value = default
        bools[key] = value
    timeouts = {}
    for key, default in (("request_timeout", 10.0), ("load_timeout", 300.0)):
        value = data.get(key, default)
        if not _num(value) or value <= 0:
            problems.append(f"{key}: {value!r} must be a positive number of seconds")
            value = default
        timeouts[key] = float(value)
    sizes = data.get("model_sizes") or {}
    if not isinstance(sizes, Mapping) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in sizes.values()
    ):
        problems.append("model_sizes: must map model names to sizes in MiB (positive whole numbers)")
        sizes = {}
    port = data.get("metrics_port", 9110)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        problems.append(f"metrics_port: {port!r} must be a TCP port (1-65535)")
        port = 9110
    keep_alive = data.get("keep_alive", -1)
    if not isinstance(keep_alive, (str, int)) or isinstance(keep_alive, bool):
        problems.append(f"keep_alive: {keep_alive!r} must be a duration such as -1, 3600 or '24h'")
        keep_alive = -1
    else:
        try:
            keep_alive = herd_ollama.keep_alive_value(keep_alive)
        except ValueError as exc:
            problems.append(str(exc))
            keep_alive = -1
    state_file = data.get("state_file", default_state_file())
    if state_file is not None and not (isinstance(state_file, str) and state_file):
        problems.append(f"state_file: {state_file!r} must be a file path, or null to learn VRAM in memory only")
        state_file = None
    if problems:
        raise ConfigError("; ".join(problems))
    return Config(
        nodes=tuple(nodes),
        priority_models=tuple(prio),
        check_interval=float(interval),
        vram_safety_margin=float(margin),
        log_level=level,
        keep_alive=keep_alive,
        model_sizes={str(k): int(v) for k, v in sizes.items()},
        metrics_address=str(data.get("metrics_address", "127.0.0.1")),
        metrics_port=port,
        state_file=state_file,
        **bools,
        **timeouts,
    )


def load(path: str | Path) -> Config:
    """Read and validate the configuration file at ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}; pass --config PATH") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    try:
        return parse(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
