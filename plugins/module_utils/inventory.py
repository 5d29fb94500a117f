# Copyright: llama-herd developers
# Apache License 2.0
"""The inventory model and its validation (preflight).

Everything here is a pure function of the inventory: host variables and group
membership. Nothing contacts a host. Each problem is reported as a sentence
that names the host, the variable and the fix, so a user can act on it without
reading this code.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.llamaherd.cluster.plugins.module_utils.catalog import entry_problems, kind_of, shown
from ansible_collections.llamaherd.cluster.plugins.module_utils.dllama import inventory_problems as dllama_problems
from ansible_collections.llamaherd.cluster.plugins.module_utils.gateway import cloud_problems
from ansible_collections.llamaherd.cluster.plugins.module_utils.host_view import cluster_address, parse_ip
from ansible_collections.llamaherd.cluster.plugins.module_utils.llama_cpp import (
    cuda_driver_check,
    cuda_toolkit_problem,
    is_driver_version,
    parse_server_args,
)
from ansible_collections.llamaherd.cluster.plugins.module_utils.loadbalancer import pool_port_problems
from ansible_collections.llamaherd.cluster.plugins.module_utils.memory import DEFAULT_MARGIN
from ansible_collections.llamaherd.cluster.plugins.module_utils.ollama import keep_alive_value
from ansible_collections.llamaherd.cluster.plugins.module_utils.ports import host_ports
from ansible_collections.llamaherd.cluster.plugins.module_utils.rocm import GFX_RE, rocm_problems

# Groups that give a host a job. A host may be in several.
SERVICE_GROUPS = (
    "ollama_nodes",
    "llama_cpp_head",
    "llama_cpp_workers",
    "dllama_root",
    "dllama_workers",
    "loadbalancers",
    "gpu_router",
    "monitoring",
    "gateway",
)

# Groups preflight makes once from those (playbooks select hosts with them):
# herd_nodes get the base role and the firewall; herd_model_nodes run models
# and are measured; herd_monitored get a node exporter.
MODEL_GROUPS = ("ollama_nodes", "llama_cpp_head", "llama_cpp_workers", "dllama_root", "dllama_workers")
DERIVED_GROUPS = {
    "herd_nodes": tuple(g for g in SERVICE_GROUPS if g != "monitoring"),
    "herd_model_nodes": MODEL_GROUPS,
    "herd_monitored": SERVICE_GROUPS,
}


def derived_groups(groups: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """The members of each DERIVED_GROUPS group, from the whole inventory."""
    return {name: sorted({h for g in members for h in groups.get(g, []) or []}) for name, members in DERIVED_GROUPS.items()}


GPU_VENDORS = ("nvidia", "amd", "intel", "apple")
GPU_KEYS = {
    "vendor",
    "name",
    "vram_mib",
    "compute_capability",
    "gfx_target",
    "unified_memory",
    "index",
    "uuid",
}
HOST_OS = ("linux", "windows", "macos")
HOST_ARCH = ("amd64", "arm64")

# Every herd_* variable the collection reads. An unknown herd_* name is almost
# always a typo (herd_ram_mb), and a typo silently falls back to a default.
HERD_VARS = {
    "herd_cluster_address",
    "herd_rpc_address",
    "herd_gpus",
    "herd_ram_mib",
    "herd_tier",
    "herd_labels",
    "herd_os",
    "herd_arch",
    "herd_models",
    "herd_cloud_models",  # the gateway's cloud fallbacks (module_utils/gateway.py)
    "herd_vram_safety_margin",
    "herd_cluster_cidr",
    "herd_rpc_cidr",
    "herd_podman_network",
    "herd_podman_arch",
    "herd_allow_bind_all",
    "herd_cuda_version",
    "herd_nvidia_driver_version",  # where gpu_facts cannot measure it (nvidia-smi's driver_version)
    "herd_rocm_version",
    "herd_model_catalog",
    "herd_plan",
    "herd_firewall",
    "herd_max_loaded_models",
    "herd_memory_bandwidth_gbps",  # {gpu: GB/s, ram: GB/s}: overrides plugins/module_utils/bandwidth.py
    "herd_platform",  # the CPU platform, for its RAM bandwidth (bandwidth.RAM_GBPS)
    "herd_measured",  # a fact set by gpu_facts (cached facts show up as host vars)
    "herd_plan_report_dir",  # playbooks/plan.yml: where the reports go
    "herd_placed",  # a fact older releases cached; read once when no placement record exists
    "herd_state_dir",  # where playbooks/plan.yml keeps the placement record (default: <inventory>/.herd-state)
    "herd_plan_sticky",  # false: plan without the last placement (plan.plan_switch)
}

# Switches: a quoted "false" would be truthy on the hosts.
BOOL_VARS = ("herd_allow_bind_all",)

# herd_firewall's levels, least to most filtered (docs/security.md). The
# booleans are the older spelling: true was the full firewall, false none.
FIREWALL_LEVELS = ("off", "workers", "cluster")
DEFAULT_FIREWALL_LEVEL = "workers"


def firewall_level(value: Any) -> str:
    """``herd_firewall`` as one of :data:`FIREWALL_LEVELS` (unset: ``workers``,
    the unauthenticated worker ports fenced to their heads). Raises
    ValueError for anything else."""
    if value is None or value == "":
        return DEFAULT_FIREWALL_LEVEL
    if isinstance(value, bool):
        return "cluster" if value else "off"
    text = str(value).strip().lower()
    if text in FIREWALL_LEVELS:
        return text
    raise ValueError(f"{value!r} is not a firewall level")


MODEL_KEYS = {
    "name",
    "engine",
    "quant",
    "params_b",
    "context",
    "parallel",
    "replicas",
    "priority",
    "gpu",
    "hosts",
    "alias",
    "keep_alive",
    "pool_port",
    "sha256",
    "size_bytes",
    "gguf",
    "buffer_float_type",
    "kv_cache_type",
    "labels",
    "url",
    "parts",
    "tier",
    "allow_context_cap",
    "shape",
    "extra_args",
}
MODEL_ENGINES = ("ollama", "llama_cpp", "dllama")
ENGINE_NAMES = {"ollama": "Ollama", "llama_cpp": "llama.cpp", "dllama": "distributed-llama"}
MODEL_GPU_POLICIES = ("required", "preferred", "never")

_HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)
_CC_RE = re.compile(r"^\d{1,2}\.\d$")


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def error(self, host: str | None, var: str, problem: str, fix: str) -> None:
        self.errors.append(_sentence(host, var, problem, fix))

    def warn(self, host: str | None, var: str, problem: str, fix: str) -> None:
        self.warnings.append(_sentence(host, var, problem, fix))

    @property
    def ok(self) -> bool:
        return not self.errors


def _sentence(host: str | None, var: str, problem: str, fix: str) -> str:
    where = f"host {host}" if host else "inventory"
    return f"{where}: {var}: {problem}. Fix: {fix}."


def _where_to_set(host: str) -> str:
    return f"host_vars/{host}.yml (or the host's entry in the inventory)"


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_hostname(value: Any) -> bool:
    text = str(value)
    # A dotted all-numeric string is a malformed IP, not a hostname.
    if re.fullmatch(r"[0-9.]+", text):
        return False
    return bool(_HOSTNAME_RE.match(text))


def _near_service_group(name: str) -> str | None:
    """The service group an inventory group's name is a near miss of
    (plural/singular, - for _, case, a typo), or None."""

    def norm(g: str) -> str:
        return g.lower().replace("-", "_").rstrip("s")

    for g in SERVICE_GROUPS:
        if norm(name) == norm(g):
            return g
    close = difflib.get_close_matches(name.lower().replace("-", "_"), SERVICE_GROUPS, n=1, cutoff=0.85)
    return close[0] if close else None


# ------------------------------------------------------------------- checks
def _check_firewall_level(report: Report, host: str, hv: Mapping[str, Any], member: Iterable[str]) -> None:
    try:
        chosen = firewall_level(hv.get("herd_firewall"))
    except ValueError:
        report.error(
            host,
            "herd_firewall",
            f"{shown(hv['herd_firewall'])} is not a firewall level",
            "write workers (the default: only the RPC and distributed-llama worker ports, open to their heads), "
            "cluster (every service port to the cluster network too) or off",
        )
        return
    if chosen == "cluster" and not hv.get("herd_cluster_cidr") and not hv.get("firewall_service_sources"):
        report.error(
            host,
            "herd_firewall",
            "cluster limits every service port to the cluster network, but herd_cluster_cidr is not set",
            "set herd_cluster_cidr (e.g. 192.0.2.0/24) or firewall_service_sources, or use herd_firewall: workers",
        )
    if chosen == "off" and set(member) & {"llama_cpp_workers", "dllama_workers"}:
        report.warn(
            host,
            "herd_firewall",
            "off, so this worker's unauthenticated port takes work from any machine that reaches it",
            "remove herd_firewall (the default fences the worker port to its head) unless another firewall does that",
        )


def _check_gateway_secrets(report: Report, host: str, hv: Mapping[str, Any]) -> None:
    # Only presence and shape: the values are secrets and never appear in a message.
    for var, what in (("gateway_master_key", "the gateway's master key"), ("gateway_redis_password", "its Redis password")):
        if var not in hv or hv[var] in (None, ""):
            report.error(
                host,
                var,
                f"not set, and this host is in the gateway group: {what} has no default",
                f'set {var} from Ansible Vault in {_where_to_set(host)}, e.g. {var}: "{{{{ vault_{var} }}}}"',
            )
    key = hv.get("gateway_master_key")
    if isinstance(key, str) and key and not key.startswith("sk-"):
        report.error(
            host,
            "gateway_master_key",
            "does not begin with sk-, which LiteLLM expects of keys",
            "make the Vault value sk- followed by a random string, e.g. sk-$(openssl rand -hex 24)",
        )


def _check_cloud_models(report: Report, host: str, hv: Mapping[str, Any]) -> None:
    """herd_cloud_models on a gateway host, and a Vault key for each of them."""
    cloud = hv.get("herd_cloud_models")
    models = hv.get("herd_models") if isinstance(hv.get("herd_models"), list) else []
    served = [str(m[k]) for m in models if isinstance(m, Mapping) for k in ("name", "alias") if m.get(k)]
    for p in cloud_problems(cloud, served):
        problem, fix = [*p.split(". Fix: ", 1), ""][:2]
        var, problem = [*problem.split(": " if problem.startswith("herd_cloud_models[") else " ", 1), ""][:2]
        report.error(host, var, problem, fix.rstrip("."))
    keys = hv.get("gateway_cloud_api_keys")
    if keys not in (None, "") and not isinstance(keys, Mapping):
        report.error(
            host, "gateway_cloud_api_keys", "is not a mapping", "map each api_key_env name to its key from Ansible Vault"
        )
        return
    for c in cloud if isinstance(cloud, list) else []:
        env = c.get("api_key_env") if isinstance(c, Mapping) else None
        if isinstance(env, str) and env and env not in (keys or {}):
            report.error(
                host,
                "gateway_cloud_api_keys",
                f"has no key for {env}, which herd_cloud_models[{c.get('name')}] reads",
                f'add {env}: "{{{{ vault_{env.lower()} }}}}" (the key from Ansible Vault) in {_where_to_set(host)}',
            )


def _check_unknown_vars(report: Report, host: str, hv: Mapping[str, Any]) -> None:
    for var in sorted(k for k in hv if str(k).startswith("herd_")):
        if var in HERD_VARS:
            continue
        close = difflib.get_close_matches(var, sorted(HERD_VARS), n=1)
        fix = f"rename it to {close[0]}" if close else "remove it (see docs/inventory.md for the variables llama-herd reads)"
        report.error(host, var, "unknown llama-herd variable", fix)


def _network(report: Report, hv: Mapping[str, Any], var: str, what: str) -> Any:
    """The network in ``hv[var]`` (None when unset, left empty, or malformed, which is reported)."""
    if hv.get(var) in (None, ""):
        return None
    try:
        return ipaddress.ip_network(str(hv[var]), strict=True)
    except ValueError as exc:
        # "has host bits set" helps; "does not appear to be a network" only repeats it.
        why = "" if "does not appear" in str(exc) else f" ({exc})"
        report.error(None, var, f"{hv[var]!r} is not a network{why}", f"set it to {what}, in group_vars/all.yml")
        return None


def _check_address(report: Report, host: str, var: str, value: Any, ipv4_only: bool = False, why_ip: str = "") -> Any:
    ip = parse_ip(value)
    if ip is not None:
        if str(ip) in ("0.0.0.0", "::"):
            report.error(
                host,
                var,
                f"{value} is the wildcard address, not one other nodes can reach",
                "set the host's own address; to listen on every interface set herd_allow_bind_all: true as well",
            )
            return None
        if ipv4_only and ip.version != 4:
            report.error(host, var, f"{value} is IPv6; {why_ip}", "use the host's IPv4 address")
            return None
        return ip
    if ipv4_only:
        report.error(
            host,
            var,
            f"{value!r} is not an IPv4 address; {why_ip}",
            f"set {var} to the host's IPv4 address in {_where_to_set(host)}",
        )
        return None
    if not is_hostname(value):
        report.error(
            host,
            var,
            f"{value!r} is neither an IP address nor a DNS name",
            f"set {var} to an address like 192.0.2.10 or a resolvable name in {_where_to_set(host)}",
        )
    return None


def _check_gpus(report: Report, host: str, gpus: Any) -> None:
    if not isinstance(gpus, list):
        report.error(
            host,
            "herd_gpus",
            f"must be a list of GPUs, got {kind_of(gpus)}",
            "write herd_gpus: [{vendor: nvidia, name: ..., vram_mib: 24576, compute_capability: '8.9'}]",
        )
        return
    for i, gpu in enumerate(gpus):
        var = f"herd_gpus[{i}]"
        if not isinstance(gpu, Mapping):
            report.error(host, var, f"must be a mapping, got {shown(gpu)}", "give vendor, name and vram_mib for each GPU")
            continue
        renamed = set()  # keys a typo stands for: reported once, as the typo
        for key in sorted(set(gpu) - GPU_KEYS):
            close = difflib.get_close_matches(str(key), sorted(GPU_KEYS), n=1)
            renamed.update(close)
            report.error(
                host,
                f"{var}.{key}",
                "unknown GPU key",
                f"rename it to {close[0]}" if close else f"use only {', '.join(sorted(GPU_KEYS))}",
            )
        vendor = str(gpu.get("vendor", "")).lower()
        if vendor not in GPU_VENDORS:
            report.error(
                host, f"{var}.vendor", f"unknown GPU vendor {gpu.get('vendor')!r}", f"use one of {', '.join(GPU_VENDORS)}"
            )
        vram = gpu.get("vram_mib")
        if (not is_int(vram) or vram <= 0) and not (vram is None and "vram_mib" in renamed):
            report.error(
                host,
                f"{var}.vram_mib",
                f"must be a positive whole number of MiB, got {shown(vram)}",
                "give the card's memory in MiB, e.g. 24576 for a 24 GB card (nvidia-smi --query-gpu=memory.total)",
            )
        if vendor == "nvidia":
            cc = gpu.get("compute_capability")
            if cc is None or not _CC_RE.match(str(cc)):
                report.error(
                    host,
                    f"{var}.compute_capability",
                    f"NVIDIA GPUs need a compute capability like '8.9', got {shown(cc)}",
                    "quote it as a string: compute_capability: '7.0' (nvidia-smi --query-gpu=compute_cap)",
                )
        if vendor == "amd":
            gfx = gpu.get("gfx_target")
            if gfx is None or not GFX_RE.match(str(gfx)):
                report.error(
                    host,
                    f"{var}.gfx_target",
                    f"AMD GPUs need a gfx target like gfx1151, got {shown(gfx)}",
                    "read it from `rocminfo | grep gfx` and set gfx_target: gfx1151",
                )


def _check_driver_version(report: Report, host: str, hv: Mapping[str, Any]) -> bool:
    """A declared herd_nvidia_driver_version nvidia-smi would not print is an
    error on any host, whatever else the host declares; True when it is."""
    declared = hv.get("herd_nvidia_driver_version")
    if declared in (None, "") or is_driver_version(declared):
        return False
    report.error(
        host,
        "herd_nvidia_driver_version",
        f"not an NVIDIA driver version, got {shown(declared)}",
        "quote the driver_version nvidia-smi prints: herd_nvidia_driver_version: '535.104.05' (or remove it: gpu_facts measures it)",
    )
    return True


def _check_cuda_driver(report: Report, host: str, hv: Mapping[str, Any]) -> None:
    """llama.cpp hosts: a CUDA toolkit the host's NVIDIA driver (measured by
    gpu_facts, else herd_nvidia_driver_version) cannot run fails before any
    build; one it runs only through minor-version compatibility warns."""
    found = cuda_driver_check(host, hv)
    if found:
        level, var, problem, fix = found
        (report.error if level == "error" else report.warn)(host, var, problem, fix)


def _check_cuda(report: Report, host: str, hv: Mapping[str, Any]) -> None:
    """A CUDA toolkit that cannot build for the host's NVIDIA GPUs (seed 003:
    CUDA 13 and a V100S, compute capability 7.0) fails before any build."""
    version, gpus = hv.get("herd_cuda_version"), hv.get("herd_gpus")
    if version is None or not isinstance(gpus, list):
        return
    for i, gpu in enumerate(gpus):
        if not isinstance(gpu, Mapping) or str(gpu.get("vendor", "")).lower() != "nvidia":
            continue
        if not _CC_RE.match(str(gpu.get("compute_capability"))):
            continue  # reported by _check_gpus
        try:
            problem = cuda_toolkit_problem(version, gpu["compute_capability"])
        except ValueError as exc:
            report.error(host, "herd_cuda_version", str(exc), "quote the installed toolkit's version: herd_cuda_version: '12.8'")
            return
        if problem:
            report.error(
                host,
                "herd_cuda_version",
                f"{problem} (herd_gpus[{i}] {gpu.get('name', '')})".replace(" )", ")"),
                "set herd_cuda_version to that version (the llama_cpp role installs it where nvcc is missing), "
                "or remove herd_cuda_version and the role chooses the newest toolkit every GPU of the host supports",
            )


def _check_rocm(report: Report, host: str, hv: Mapping[str, Any]) -> None:
    """Ollama nodes: malformed gfx target / override / ROCm version (errors),
    and an override naming a target the declared ROCm predates (warning)."""
    for level, var, problem, fix in rocm_problems(hv):
        (report.error if level == "error" else report.warn)(host, var, problem, fix)


def _check_models(report: Report, models: Any, owner: str | None) -> None:
    if not isinstance(models, list):
        report.error(
            owner,
            "herd_models",
            f"must be a list, got {kind_of(models)}",
            "write herd_models: [{name: qwen2.5:3b, replicas: 2}]",
        )
        return
    seen: set[str] = set()
    for i, m in enumerate(models):
        var = f"herd_models[{i}]"
        if not isinstance(m, Mapping) or not m.get("name"):
            report.error(owner, var, "every model needs a name", "add name: <model>, e.g. name: qwen2.5:3b")
            continue
        if not isinstance(m["name"], str):
            report.error(owner, f"{var}.name", f"must be a model name, got {kind_of(m['name'])}", "write name: qwen2.5:3b")
            continue
        var = f"herd_models[{m['name']}]"
        if m["name"] in seen:
            report.error(
                owner,
                var,
                "listed twice",
                "merge the two entries (use replicas for more copies); for the same model on another engine, "
                f"give one entry its own name and shape: {m['name']}",
            )
        seen.add(m["name"])
        for key in sorted(set(m) - MODEL_KEYS):
            close = difflib.get_close_matches(str(key), sorted(MODEL_KEYS), n=1)
            report.error(
                owner,
                f"{var}.{key}",
                "unknown model key",
                f"rename it to {close[0]}" if close else "see docs/inventory.md for model keys",
            )
        if "shape" in m and (not isinstance(m["shape"], str) or not m["shape"]):
            report.error(owner, f"{var}.shape", f"must be a model name, got {kind_of(m['shape'])}", "write shape: llama3.1:8b")
        if "labels" in m and (not isinstance(m["labels"], list) or not all(isinstance(x, str) for x in m["labels"])):
            report.error(owner, f"{var}.labels", f"must be a list of strings, got {kind_of(m['labels'])}", "write labels: [cuda]")
        if "engine" in m and m["engine"] not in MODEL_ENGINES:
            report.error(owner, f"{var}.engine", f"unknown engine {shown(m['engine'])}", f"use one of {', '.join(MODEL_ENGINES)}")
        if "gpu" in m and m["gpu"] not in MODEL_GPU_POLICIES:
            report.error(
                owner, f"{var}.gpu", f"unknown GPU policy {shown(m['gpu'])}", f"use one of {', '.join(MODEL_GPU_POLICIES)}"
            )
        # Ollama sets these per server (OLLAMA_NUM_PARALLEL, OLLAMA_KV_CACHE_TYPE), not per model.
        if m.get("engine", "ollama") == "ollama":
            for key, node_var in (("parallel", "ollama_num_parallel"), ("kv_cache_type", "ollama_kv_cache_type")):
                if key in m:
                    report.error(
                        owner,
                        f"{var}.{key}",
                        "Ollama sets this for the whole server, not per model, so the node would not run what the plan sized",
                        f"remove it and set {node_var} on the Ollama nodes (a host or group variable)",
                    )
        if "keep_alive" in m:
            if m.get("engine", "ollama") != "ollama":
                report.error(
                    owner,
                    f"{var}.keep_alive",
                    f"only Ollama keeps a model loaded for a time; {ENGINE_NAMES[m['engine']]} serves it while it runs",
                    "remove keep_alive from this model",
                )
            else:
                try:
                    keep_alive_value(m["keep_alive"])
                except ValueError as exc:
                    report.error(owner, f"{var}.keep_alive", str(exc), 'write a duration like "10m" or "-1" (keep loaded)')
        if "extra_args" in m:
            _check_server_args(report, owner, var, m)
        examples = {"replicas": 2, "context": 4096, "parallel": 1, "priority": 1, "pool_port": 11435}
        for key, example in examples.items():
            if key in m and (not is_int(m[key]) or m[key] < (0 if key == "priority" else 1)):
                report.error(
                    owner,
                    f"{var}.{key}",
                    f"must be a positive whole number, got {shown(m[key])}",
                    f"set {key} to a number like {example}",
                )


def _check_server_args(report: Report, owner: str | None, var: str, m: Mapping[str, Any]) -> None:
    """llama-server arguments of a llama.cpp model: the memory flags become
    the plan's settings, so they must parse and not repeat a model key."""
    args = m["extra_args"]
    if m.get("engine", "ollama") != "llama_cpp":
        report.error(owner, f"{var}.extra_args", "only llama.cpp models take llama-server arguments", "remove extra_args")
        return
    if not isinstance(args, list) or not all(isinstance(a, (str, int, float)) and not isinstance(a, bool) for a in args):
        report.error(
            owner, f"{var}.extra_args", f"must be a list of arguments, got {kind_of(args)}", "write extra_args: ['-fa', 'off']"
        )
        return
    fields, _rest, problems = parse_server_args(args)
    for problem, fix in problems:
        report.error(owner, f"{var}.extra_args", problem, fix)
    for setting, key in (("context", "context"), ("parallel", "parallel"), ("cache_type_k", "kv_cache_type")):
        if setting in fields and key in m:
            report.error(
                owner,
                f"{var}.extra_args",
                f"sets {setting} again beside {key}: {m[key]}",
                f"give it once, as {key} or in extra_args",
            )


_ENGINE_GROUPS = {
    "ollama": ("ollama_nodes",),
    "llama_cpp": ("llama_cpp_head", "llama_cpp_workers"),
    "dllama": ("dllama_root", "dllama_workers"),
}


def _check_model_hosts(
    report: Report, m: Mapping[str, Any], hostvars: Mapping[str, Any], groups: Mapping[str, list[str]]
) -> None:
    """A model's ``hosts`` is a list of the inventory's hosts in its engine's groups."""
    var = f"herd_models[{m['name']}].hosts"
    names = m["hosts"]
    if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
        example = names if isinstance(names, str) else "ollama-a"
        report.error(None, var, f"must be a list of host names, got {kind_of(names)}", f"write hosts: [{example}]")
        return
    engine = m.get("engine", "ollama")
    engine_groups = _ENGINE_GROUPS.get(engine, ())
    members = sorted({h for g in engine_groups for h in groups.get(g) or []})
    for name in names:
        if name not in hostvars:
            close = difflib.get_close_matches(name, members or sorted(hostvars), n=1)
            report.error(
                None,
                var,
                f"{name} is not a host in the inventory",
                (f"did you mean {close[0]}? " if close else "")
                + f"Name hosts of {' or '.join(engine_groups) or 'the inventory'}: {', '.join(members) or 'none yet'}",
            )
        elif engine_groups and name not in members:
            report.error(
                None,
                var,
                f"{name} is not in {' or '.join(engine_groups)}, so it cannot serve this {engine} model",
                f"put {name} in {engine_groups[0]}, or name one of {', '.join(members) or 'its hosts'}",
            )


def validate_inventory(
    hostvars: Mapping[str, Mapping[str, Any]],
    groups: Mapping[str, Iterable[str]],
    deploying: Mapping[str, Iterable[str]] | None = None,
) -> Report:
    """Validate every host of an inventory. ``hostvars`` maps host -> vars,
    ``groups`` maps group -> hosts (as Ansible's ``groups`` magic variable).
    ``deploying`` maps each concern this run deploys (``llama_cpp``,
    ``distributed_llama``) to the hosts it reaches (the --limit): what those
    hosts would fail to download is an error then, a warning in a plan-only
    run."""
    report = Report()
    groups = {g: list(h) for g, h in groups.items()}
    host_groups: dict[str, set[str]] = {h: set() for h in hostvars}
    for g, members in groups.items():
        for h in members:
            host_groups.setdefault(h, set()).add(g)

    for g in sorted(groups):
        if g in SERVICE_GROUPS or g in ("all", "ungrouped") or g.startswith(("__", "herd_")):
            continue
        meant = _near_service_group(g)
        if meant:
            report.error(
                None,
                f"group {g}",
                f"is not a llama-herd group; its hosts get no service from it, and it is close to {meant}",
                f"rename the group to {meant}",
            )
    served = sorted(h for h in hostvars if host_groups.get(h, set()) & set(SERVICE_GROUPS))
    for h in sorted(set(hostvars) - set(served)):
        # Variables that describe one host (group_vars/all gives every host the others).
        own = [v for v in ("herd_cluster_address", "herd_rpc_address", "herd_gpus", "herd_ram_mib") if hostvars[h].get(v)]
        if own:
            report.warn(
                h,
                "groups",
                f"the host sets {', '.join(own)} but is in no llama-herd group, so nothing runs on it",
                f"put it in one of {', '.join(SERVICE_GROUPS)}, or remove its llama-herd variables",
            )
    if not served:
        report.error(
            None, "groups", "no host is in any llama-herd group", f"put hosts in at least one of {', '.join(SERVICE_GROUPS)}"
        )

    # Cluster-wide settings are read from the first host that carries them;
    # group_vars/all makes them the same everywhere.
    any_hv = hostvars[served[0]] if served else {}
    cidr = _network(report, any_hv, "herd_cluster_cidr", "the cluster's network, e.g. 192.0.2.0/24")
    rpc_cidr = _network(report, any_hv, "herd_rpc_cidr", "the RPC network, e.g. 198.51.100.0/24")
    margin = any_hv.get("herd_vram_safety_margin", DEFAULT_MARGIN)
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 < margin <= 1:
        report.error(
            None,
            "herd_vram_safety_margin",
            f"must be a fraction in (0, 1], got {shown(margin)}",
            f"use {DEFAULT_MARGIN} (the GPU router notes' rule: use at most {DEFAULT_MARGIN:.0%} of VRAM)",
        )
    if "herd_models" in any_hv:
        _check_models(report, any_hv["herd_models"], None)
        models = any_hv["herd_models"] if isinstance(any_hv["herd_models"], list) else []
        if not list(groups.get("loadbalancers") or []):
            for m in models:
                if isinstance(m, Mapping) and m.get("pool_port"):
                    report.error(
                        None,
                        f"herd_models[{m.get('name')}].pool_port",
                        "asks for a load-balanced pool, but no host is in loadbalancers",
                        "put a host in the loadbalancers group, or remove pool_port",
                    )
                elif (
                    isinstance(m, Mapping)
                    and m.get("engine", "ollama") == "ollama"
                    and is_int(m.get("replicas"))
                    and m["replicas"] > 1
                ):
                    # The plan makes a pool of the replicas; nothing would serve it.
                    report.warn(
                        None,
                        f"herd_models[{m.get('name')}].replicas",
                        f"{m['replicas']} replicas make a load-balanced pool, but no host is in loadbalancers, "
                        "so clients must pick a node themselves",
                        "put a host in the loadbalancers group for one address in front of the replicas, "
                        "or ignore this if clients call each node",
                    )
        for m in models:
            if isinstance(m, Mapping) and isinstance(m.get("name"), str) and "hosts" in m:
                _check_model_hosts(report, m, hostvars, groups)
    # Read from every host (the plan merges them): one message for all.
    bad_catalogs = {
        h: hv["herd_model_catalog"]
        for h, hv in hostvars.items()
        if hv.get("herd_model_catalog") is not None and not isinstance(hv["herd_model_catalog"], Mapping)
    }
    if bad_catalogs:
        first = next(iter(bad_catalogs.values()))
        report.error(
            None,
            "herd_model_catalog",
            f"must be a mapping of model name to shape, got {kind_of(first)} (on {', '.join(sorted(bad_catalogs))})",
            "write herd_model_catalog: {my-model: {n_layer: 32, n_embd: 4096, ...}} (docs/inventory.md)",
        )
    # Each entry once, however many hosts carry it.
    seen_entries: set[str] = set()
    for hv in hostvars.values():
        cat = hv.get("herd_model_catalog")
        if not isinstance(cat, Mapping):
            continue
        for name, entry in cat.items():
            if str(name) not in seen_entries:
                seen_entries.add(str(name))
                for c_var, c_problem, c_fix in entry_problems(name, entry):
                    report.error(None, c_var, c_problem, c_fix)

    addresses: dict[str, str] = {}
    for host in served:
        hv = hostvars[host]
        member = host_groups.get(host, set())
        _check_unknown_vars(report, host, hv)
        if "ollama_nodes" in member and "ollama_models" in hv:
            report.error(
                host,
                "ollama_models",
                "the plan decides each node's models from herd_models, so this list would be ignored",
                f"list these models in herd_models with hosts: [{host}] (and keep_alive, alias, context there)",
            )
        for var in BOOL_VARS:
            if var in hv and not isinstance(hv[var], bool):
                report.error(host, var, f"{shown(hv[var])} is not true or false", f"write {var}: true or {var}: false, unquoted")
        _check_firewall_level(report, host, hv, member)
        # Read only by the controller's plan, so -e herd_plan_sticky=false (a string) is fine.
        sticky = hv.get("herd_plan_sticky", True)
        if not isinstance(sticky, bool) and str(sticky).strip().lower() not in ("true", "false", "yes", "no"):
            report.error(
                host,
                "herd_plan_sticky",
                f"{shown(sticky)} is not true or false",
                "write herd_plan_sticky: false (or -e herd_plan_sticky=false) to plan without the last placement, or remove it",
            )

        os_name = hv.get("herd_os", "linux")
        if os_name not in HOST_OS:
            report.error(host, "herd_os", f"unknown operating system {shown(os_name)}", f"use one of {', '.join(HOST_OS)}")
        elif os_name != "linux" and member & set(SERVICE_GROUPS) - {"ollama_nodes"}:
            extra = ", ".join(sorted(member & set(SERVICE_GROUPS) - {"ollama_nodes"}))
            report.error(
                host,
                "herd_os",
                f"{os_name} hosts can only be Ollama nodes, but this one is also in {extra}",
                f"move it out of {extra}, or run those services on a Linux host",
            )
        labels = hv.get("herd_labels")
        if labels is not None and (not isinstance(labels, list) or not all(isinstance(x, str) for x in labels)):
            report.error(
                host,
                "herd_labels",
                f"must be a list of strings, got {shown(labels) if isinstance(labels, list) else kind_of(labels)}",
                f"write herd_labels: [{labels if isinstance(labels, str) else 'cuda'}]",
            )
        if "herd_arch" in hv and hv["herd_arch"] not in HOST_ARCH:
            report.error(
                host, "herd_arch", f"unknown architecture {shown(hv['herd_arch'])}", f"use one of {', '.join(HOST_ARCH)}"
            )

        addr = cluster_address(host, hv)
        if addr is None:
            report.error(
                host,
                "herd_cluster_address",
                "not set, and ansible_host does not give one",
                f"set herd_cluster_address: <the address other nodes reach it on> in {_where_to_set(host)}",
            )
        else:
            ip = _check_address(report, host, "herd_cluster_address", addr)
            if (ip is not None and ip.is_loopback) or str(addr).lower() == "localhost":
                # Seed 000's trap: a service bound to loopback that no other node reaches.
                report.warn(
                    host,
                    "herd_cluster_address",
                    f"{addr} is a loopback address: services bind to it and no other node can reach them",
                    f"set herd_cluster_address to the address other nodes reach {host} on",
                )
            if ip is None and cidr is not None and str(addr).lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
                report.error(
                    host,
                    "herd_cluster_address",
                    f"{addr} names the loopback address, outside herd_cluster_cidr {cidr}",
                    f"use {host}'s address inside {cidr}",
                )
            if ip is not None and cidr is not None and ip not in cidr:
                report.error(
                    host,
                    "herd_cluster_address",
                    f"{ip} is outside herd_cluster_cidr {cidr}",
                    f"use an address inside {cidr}, or widen herd_cluster_cidr",
                )
            key = str(addr)
            if key in addresses:
                report.error(
                    host, "herd_cluster_address", f"{key} is also {addresses[key]}'s address", "give each host its own address"
                )
            else:
                addresses[key] = host

        if "llama_cpp_workers" in member:
            rpc = hv.get("herd_rpc_address", addr)
            var = "herd_rpc_address" if "herd_rpc_address" in hv else "herd_cluster_address"
            if rpc is not None:
                rpc_ip = _check_address(
                    report, host, var, rpc, ipv4_only=True, why_ip="rpc-server binds an IPv4 literal and cannot resolve names"
                )
                if rpc_ip is not None and rpc_cidr is not None and rpc_ip not in rpc_cidr:
                    report.error(
                        host,
                        var,
                        f"{rpc_ip} is outside herd_rpc_cidr {rpc_cidr}: the RPC worker would listen off the RPC network",
                        f"set herd_rpc_address to this host's address inside {rpc_cidr}, or widen herd_rpc_cidr",
                    )
        elif "herd_rpc_address" in hv:
            _check_address(report, host, "herd_rpc_address", hv["herd_rpc_address"])

        if "gateway" in member:
            _check_gateway_secrets(report, host, hv)
            _check_cloud_models(report, host, hv)
        if "herd_gpus" in hv:
            _check_gpus(report, host, hv["herd_gpus"])
            _check_cuda(report, host, hv)
        malformed_driver = _check_driver_version(report, host, hv)
        if {"llama_cpp_head", "llama_cpp_workers"} & set(member) and not malformed_driver:
            _check_cuda_driver(report, host, hv)
        if "ollama_nodes" in member:
            _check_rocm(report, host, hv)
        if "herd_ram_mib" in hv:
            ram = hv["herd_ram_mib"]
            if not is_int(ram) or ram <= 0:
                report.error(
                    host,
                    "herd_ram_mib",
                    f"must be a positive whole number of MiB, got {shown(ram)}",
                    "give the host's memory in MiB, e.g. 65536 for 64 GB (free -m)",
                )
        for var in ("herd_max_loaded_models", "ollama_max_loaded_models"):
            cap = hv.get(var)
            if isinstance(cap, str) and cap.strip().isdigit():
                cap = int(cap)  # a templated value; the plan reads it with int()
            if cap is not None and (not is_int(cap) or cap <= 0):
                report.error(
                    host,
                    var,
                    f"must be a positive whole number of models, got {shown(cap)}",
                    f"set {var} to how many models Ollama may keep loaded at once, e.g. 2, or remove it",
                )
        for var, example in (("ollama_context_length", "8192 (tokens)"), ("ollama_num_parallel", "2 (requests at once)")):
            value = hv.get(var)
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value)
            if value is not None and (not is_int(value) or value <= 0):
                report.error(
                    host, var, f"must be a positive whole number, got {shown(value)}", f"set it to e.g. {example}, or remove it"
                )

        seen_ports: dict[int, str] = {}
        for port, var in host_ports(host, hv, member):
            if not is_int(port) or not 1 <= port <= 65535:
                report.error(host, var, f"{shown(port)} is not a TCP port", "use a number between 1024 and 65535")
                continue
            if port in seen_ports:
                report.error(
                    host, var, f"port {port} is already taken by {seen_ports[port]} on this host", f"give {var} another port"
                )
            else:
                seen_ports[port] = var

    # Group shape.
    roots = groups.get("dllama_root", [])
    if groups.get("dllama_workers") and len(roots) != 1:
        report.error(
            None, "dllama_root", f"distributed-llama needs exactly one root, found {len(roots)}", "put one host in dllama_root"
        )
    # distributed-llama topology (power-of-two nodes, KV heads, q40/q80, RAM).
    for d_host, d_var, d_problem, d_fix in dllama_problems(hostvars, groups):
        report.error(d_host, d_var, d_problem, d_fix)
    # Pool listeners from the plan (or the models' pool_port) vs the load balancer's other ports.
    for p_host, p_var, p_problem, p_fix in pool_port_problems(hostvars, groups):
        report.error(p_host, p_var, p_problem, p_fix)
    heads = groups.get("llama_cpp_head", [])
    if groups.get("llama_cpp_workers") and not heads:
        report.error(
            None, "llama_cpp_head", "there are RPC workers but no llama-server head to use them", "put one host in llama_cpp_head"
        )
    _check_downloads(report, hostvars, groups, any_hv.get("herd_models"), deploying or {})
    return report


# The concerns whose roles download files, as entry playbooks name them.
DOWNLOADING_CONCERNS = ("llama_cpp", "distributed_llama")


def _check_downloads(
    report: Report,
    hostvars: Mapping[str, Mapping[str, Any]],
    groups: Mapping[str, list[str]],
    models: Any,
    deploying: Mapping[str, Iterable[str]],
) -> None:
    """What the roles download, said before any host is contacted: a llama.cpp
    model needs a file on the head, the distributed-llama root its model and
    tokenizer. Errors when this run deploys that concern to the host, since
    the role would stop there (the dllama root only after its workers were
    set up); warnings in a plan-only run (the examples name no addresses)."""

    def say(concern: str, hosts: Iterable[str]) -> Any:
        reached = set(deploying.get(concern) or ())
        return report.error if reached.intersection(hosts) else report.warn

    heads = groups.get("llama_cpp_head") or []
    listed = {
        str(m.get("name"))
        for h in heads
        for m in (hostvars.get(h, {}).get("llama_cpp_models") or [])
        if isinstance(hostvars.get(h, {}).get("llama_cpp_models"), list) and isinstance(m, Mapping)
    }
    for m in models if isinstance(models, list) and heads else []:
        if not isinstance(m, Mapping) or m.get("engine") != "llama_cpp" or str(m.get("name")) in listed:
            continue
        if not m.get("sha256") and not m.get("gguf"):
            say("llama_cpp", heads)(
                None,
                f"herd_models[{m.get('name')}]",
                "has no download (url or parts, and sha256), so the llama.cpp head has no model file to serve",
                "add url and sha256 (or parts) to the entry, or list the file in llama_cpp_models on the head",
            )
    for root in (groups.get("dllama_root") or [])[:1]:
        missing = [v for v in ("dllama_model_url", "dllama_tokenizer_url") if not hostvars.get(root, {}).get(v)]
        if missing:
            say("distributed_llama", [root])(
                root,
                missing[0],
                "is not set, so the distributed-llama root has nothing to download and could not start",
                "set dllama_model_url, dllama_tokenizer_url and their sha256 on the root",
            )


# ------------------------------------------------------------------ summary


def preflight_summary(
    hostvars: Mapping[str, Mapping[str, Any]],
    groups: Mapping[str, Iterable[str]],
    warnings: int = 0,
    demo_inventory: bool = False,
) -> list[str]:
    """What a passing preflight checked, in a few lines a person reads: the
    hosts per service group, the models per engine, the firewall levels, and
    a notice when the run targets the demo inventory (``-i`` forgotten)."""
    lines = []
    if demo_inventory:
        lines.append(
            "This run targets the demo inventory (inventory/demo, what ansible.cfg uses when -i is not given): pass -i <your inventory> for your cluster."
        )
    lines.append(f"Preflight passed: {len(hostvars)} hosts checked, none contacted.")
    per_group = [f"{g} {len(list(groups[g]))}" for g in SERVICE_GROUPS if list(groups.get(g) or [])]
    lines.append("  groups: " + (", ".join(per_group) if per_group else "none of the service groups has a host"))
    any_hv = next((hv for hv in hostvars.values() if hv.get("herd_models")), {})
    models = [m for m in any_hv.get("herd_models") or [] if isinstance(m, Mapping)]
    engines: dict[str, int] = {}
    for m in models:
        engine = ENGINE_NAMES.get(str(m.get("engine") or "ollama"), str(m.get("engine")))
        engines[engine] = engines.get(engine, 0) + 1
    lines.append("  models: " + (", ".join(f"{n} {e}" for e, n in engines.items()) if engines else "none in herd_models"))
    levels: dict[str, int] = {}
    for hv in hostvars.values():
        try:
            level = firewall_level(hv.get("herd_firewall"))
        except ValueError:
            continue
        levels[level] = levels.get(level, 0) + 1
    lines.append("  firewall: " + ", ".join(f"{lvl} on {n} host{'s' * (n != 1)}" for lvl, n in sorted(levels.items())))
    if warnings:
        lines.append(f"  warnings: {warnings} (above)")
    lines.append("Next: playbooks/plan.yml shows what runs where without touching a host; site.yml deploys it.")
    return lines
