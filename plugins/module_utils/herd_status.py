# Copyright: llama-herd developers
# Apache License 2.0
"""The cluster's status (``playbooks/status.yml``): seed 003's GPU and
service dashboards as one report. For every host of the plan: is it up, the
herd's services on it and their state, its GPUs' memory in use against the
plan's figure, the Ollama models loaded, the llama-server instances and
their RPC workers, and the problems found.

Two sources give the same record per host (``HostStatus``):

- Prometheus, when the inventory has a monitoring host: one instant query
  per fact (``PROMETHEUS_QUERIES``) over the node exporters' systemd
  collector, the node metrics timer (GPU memory, planned models on disk) and
  the GPU router (models loaded per Ollama node);
- the hosts themselves otherwise: ``systemctl list-units``, ``gpu_facts``
  with ``usage: true`` and Ollama's ``/api/ps`` (``from_hosts``).

Pure functions: the playbook gathers, this module reads and renders."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from ansible_collections.llamaherd.cluster.plugins.module_utils.monitoring import _address, _port, planned_gpu_mib, url_host

MIB = 1024 * 1024

# The herd's units (and the packages it runs). The monitoring role's
# node exporter includes the same set (tests/unit keeps the two equal).
UNITS_RE = "(ollama|llama-rpc|llama-server-.+|dllama-.+|llama-herd-.+|nginx|prometheus.*)[.]service"
# Oneshots a timer starts: inactive between runs, not shown.
TIMER_JOBS = ("llama-herd-node-metrics.service",)
# The unit each job group must have running; any other herd unit is a
# problem only when it failed (dllama-root.service is a oneshot, say).
GROUP_UNITS = {
    "ollama_nodes": "ollama.service",
    "llama_cpp_workers": "llama-rpc.service",
    "dllama_root": "dllama-api.service",
    "dllama_workers": "dllama-worker.service",
    "loadbalancers": "nginx.service",
    "gpu_router": "llama-herd-router.service",
    "monitoring": "prometheus.service",
    "gateway": "llama-herd-gateway.service",
}

PROMETHEUS_QUERIES = {
    "node_up": 'up{job="node"}',
    "units": "node_systemd_unit_state == 1",
    "gpu_used": "llama_herd_gpu_memory_used_bytes",
    "gpu_total": "llama_herd_gpu_memory_total_bytes",
    "model_present": "llama_herd_ollama_model_present",
    "ollama_loaded": "llama_herd_router_model_loaded == 1",
    "ollama_on_gpu": "llama_herd_router_model_on_gpu",
}


def prometheus_queries(host: str, hv: Mapping[str, Any]) -> list[dict[str, str]]:
    """[{name, url}]: each of ``PROMETHEUS_QUERIES`` as an instant query to
    the Prometheus on the monitoring host ``host``."""
    base = f"http://{url_host(_address(host, hv))}:{_port(hv, 'monitoring_prometheus_port')}/api/v1/query?query="
    return [{"name": name, "url": base + quote(q, safe="")} for name, q in PROMETHEUS_QUERIES.items()]


def _host_record() -> dict[str, Any]:
    return {"up": None, "services": {}, "gpus": [], "loaded": [], "missing_models": []}


def _vector(result: Any) -> list[tuple[dict[str, str], float]]:
    """A Prometheus ``/api/v1/query`` answer (or its ``data``) as (labels, value) pairs."""
    if isinstance(result, Mapping) and "data" in result:
        result = result["data"]
    if isinstance(result, Mapping):
        result = result.get("result", [])
    out = []
    for sample in result or []:
        labels = dict(sample.get("metric") or {})
        try:
            value = float(sample["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        out.append((labels, value))
    return out


def _url_hosts(hostvars: Mapping[str, Any], hosts: Iterable[str]) -> dict[str, str]:
    """Ollama base URL host part -> inventory host (the router labels nodes by URL)."""
    out = {}
    for h in hosts:
        hv = hostvars.get(h) or {}
        for key in ("herd_cluster_address", "ansible_host"):
            if hv.get(key):
                out[str(hv[key])] = h
        out[h] = h
    return out


def _url_host(url: str) -> str:
    m = re.match(r"^[a-z]+://\[?([^\]/]+?)\]?(?::\d+)?(/.*)?$", url)
    return m.group(1) if m else url


def from_prometheus(answers: Mapping[str, Any], hostvars: Mapping[str, Any], hosts: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per host, from the answers to ``PROMETHEUS_QUERIES`` (name -> answer)."""
    hosts = list(hosts)
    status = {h: _host_record() for h in hosts}
    by_url = _url_hosts(hostvars, hosts)

    def rec(labels: Mapping[str, str]) -> dict[str, Any] | None:
        return status.get(str(labels.get("host", "")))

    for labels, value in _vector(answers.get("node_up")):
        if (r := rec(labels)) is not None:
            r["up"] = value == 1
    # One series per unit and state; the one at 1 is the unit's state.
    for labels, value in _vector(answers.get("units")):
        if (r := rec(labels)) is not None and labels.get("name") and value == 1:
            r["services"][labels["name"]] = str(labels.get("state", ""))
    gpus: dict[tuple[str, str], dict[str, Any]] = {}
    for key, field in (("gpu_total", "total_mib"), ("gpu_used", "used_mib")):
        for labels, value in _vector(answers.get(key)):
            h = str(labels.get("host", ""))
            if h in status:
                g = gpus.setdefault(
                    (h, str(labels.get("gpu", ""))), {"index": labels.get("gpu", ""), "name": labels.get("name", "")}
                )
                g[field] = int(value // MIB)
    for (h, _i), g in sorted(gpus.items()):
        status[h]["gpus"].append(g)
    for labels, value in _vector(answers.get("model_present")):
        if (r := rec(labels)) is not None and value == 0:
            r["missing_models"].append(labels.get("model", ""))
    on_gpu = {(lb.get("node"), lb.get("model")): v == 1 for lb, v in _vector(answers.get("ollama_on_gpu"))}
    for labels, _value in _vector(answers.get("ollama_loaded")):
        h = by_url.get(_url_host(str(labels.get("node", ""))))
        if h in status:
            status[h]["loaded"].append(
                {"name": labels.get("model", ""), "on_gpu": on_gpu.get((labels.get("node"), labels.get("model")))}
            )
    return status


def from_hosts(facts: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per host, from what status.yml read on it: ``units`` (the lines of
    ``systemctl list-units --all --plain --no-legend --type=service``),
    ``gpus`` (gpu_facts' ``usage``), ``ps`` (Ollama's ``/api/ps`` answer or
    None) and ``unreachable``."""
    status = {}
    for h, f in facts.items():
        r = _host_record()
        r["up"] = not f.get("unreachable", False)
        for line in f.get("units") or []:
            cols = str(line).split()
            if len(cols) >= 3 and re.fullmatch(UNITS_RE, cols[0]):
                r["services"][cols[0]] = "active" if cols[2] == "active" else cols[2]
        for g in f.get("gpus") or []:
            r["gpus"].append(
                {
                    "index": str(g.get("index", "")),
                    "name": g.get("name", ""),
                    "total_mib": g.get("vram_total_mib"),
                    "used_mib": g.get("vram_used_mib"),
                }
            )
        ps = f.get("ps") if isinstance(f.get("ps"), Mapping) else {}
        for m in ps.get("models") or []:
            size, vram = int(m.get("size") or 0), int(m.get("size_vram") or 0)
            r["loaded"].append({"name": m.get("name", ""), "on_gpu": bool(size) and vram >= size})
        status[h] = r
    return status


def _planned_models(plan: Mapping[str, Any], host: str) -> list[str]:
    return [m["name"] for m in ((plan.get("hosts") or {}).get(host) or {}).get("ollama_models") or []]


def expected_units(plan: Mapping[str, Any], groups: Mapping[str, Iterable[str]], host: str) -> list[str]:
    """The units that must be active on ``host``: its job groups' units and,
    on a llama.cpp head, one llama-server per instance of the plan."""
    out = [unit for group, unit in GROUP_UNITS.items() if host in (groups.get(group) or [])]
    if host in (groups.get("llama_cpp_head") or []):
        out += [f"llama-server-{s['name']}.service" for s in (plan.get("llama_cpp") or {}).get("servers") or []]
    return sorted(out)


def problems(
    plan: Mapping[str, Any], status: Mapping[str, Mapping[str, Any]], groups: Mapping[str, Iterable[str]] | None = None
) -> list[str]:
    """Plain sentences, one per problem, host first."""
    out = []
    for h, r in sorted(status.items()):
        if r.get("up") is False:
            out.append(f"{h}: down (does not answer)")
            continue
        services = r.get("services") or {}
        must = expected_units(plan, groups or {}, h)
        out += [f"{h}: {unit} is missing (never deployed, or removed)" for unit in must if unit not in services]
        for unit, state in sorted(services.items()):
            if unit not in TIMER_JOBS and (state == "failed" or (unit in must and state != "active")):
                out.append(f"{h}: {unit} is {state}")
        for m in r.get("missing_models") or []:
            out.append(f"{h}: {m} is planned here but not in Ollama's /api/tags")
        plan_mib = planned_gpu_mib(plan, h)
        used = sum(int(g.get("used_mib") or 0) for g in r.get("gpus") or [])
        if plan_mib is not None and r.get("gpus") and used > plan_mib * 1.1 + 512:
            out.append(f"{h}: its GPUs hold {used} MiB, more than the plan's {plan_mib} MiB")
    return out


def _gpu_text(g: Mapping[str, Any]) -> str:
    used = "?" if g.get("used_mib") is None else str(g["used_mib"])
    total = "?" if g.get("total_mib") is None else str(g["total_mib"])
    return f"GPU{g.get('index', '')} {g.get('name', '')}: {used} / {total} MiB used".replace("  ", " ")


def render(
    plan: Mapping[str, Any],
    status: Mapping[str, Mapping[str, Any]],
    source: str,
    groups: Mapping[str, Iterable[str]] | None = None,
) -> str:
    """The report: one block per host, then the problems."""
    lines = [f"llama-herd status ({source})", ""]
    servers = (plan.get("llama_cpp") or {}).get("servers") or []
    dllama = plan.get("dllama") or {}
    for h in sorted(status):
        r = status[h]
        up = {True: "up", False: "DOWN", None: "unknown"}[r.get("up")]
        lines.append(f"{h}: {up}")
        services = r.get("services") or {}
        if services:
            shown = [f"{u.removesuffix('.service')} {s}" for u, s in sorted(services.items()) if u not in TIMER_JOBS]
            lines.append("  services: " + ", ".join(shown))
        plan_mib = planned_gpu_mib(plan, h)
        for g in r.get("gpus") or []:
            lines.append("  " + _gpu_text(g))
        if plan_mib is not None:
            lines.append(f"  plan: {plan_mib} MiB of GPU memory for this host's models")
        planned = _planned_models(plan, h)
        loaded = [f"{m['name']} ({'GPU' if m.get('on_gpu') else 'CPU'})" for m in r.get("loaded") or []]
        if planned or loaded:
            lines.append(f"  ollama: loaded {', '.join(loaded) or 'nothing'}; planned {', '.join(planned) or 'nothing'}")
        for s in servers:
            if f"llama-server-{s['name']}.service" in services:
                workers = ", ".join(s.get("rpc_workers") or []) or "no RPC workers"
                lines.append(f"  llama-server {s['name']}: {s.get('model', '')} on port {s.get('port', '')}, over {workers}")
        if dllama.get("root") == h:
            lines.append(
                f"  dllama: {dllama.get('model', '')} on {dllama.get('nodes', '')} nodes, workers {', '.join(dllama.get('workers') or [])}"
            )
    found = problems(plan, status, groups)
    lines.append("")
    lines.append(f"{len(found)} problem{'s' if len(found) != 1 else ''}" + (":" if found else "."))
    lines.extend(f"  {p}" for p in found)
    return "\n".join(lines)
