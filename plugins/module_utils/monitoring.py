# Copyright: llama-herd developers
# Apache License 2.0
"""What the monitoring role renders from the inventory and the plan: each
node's metrics configuration (the plan's figures for it, its planned Ollama
models) and Prometheus's scrape targets, every one on a cluster address.

Pure functions; nothing contacts a host. The ports come from
``ports.PORT_VARS`` (the one table), read from each target host's own
variables so a host that moved a port is scraped where it listens.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.llamaherd.cluster.plugins.module_utils.inventory import cluster_address
from ansible_collections.llamaherd.cluster.plugins.module_utils.ports import LLAMA_SERVER_PORT_START, default_port


def url_host(address: Any) -> str:
    """An address as the host part of a URL (IPv6 literals in brackets)."""
    text = str(address)
    return f"[{text}]" if ":" in text and not text.startswith("[") else text


def _address(host: str, hv: Mapping[str, Any]) -> str:
    return str(cluster_address(host, hv) or hv.get("ansible_host") or host)


def _port(hv: Mapping[str, Any], var: str) -> int:
    return int(hv.get(var) or default_port(var))


def planned_gpu_mib(plan: Mapping[str, Any] | None, host: str) -> int | None:
    """GPU memory the plan gives ``host``'s models, in MiB: Ollama's models on
    GPU (``node_usage.gpu_used_mib``) plus each llama-server's share on the
    host's GPUs (``rpc_splits``' chosen rows); None when the plan puts
    nothing of any engine's on the host's GPUs and sizes no GPU of it."""
    if not plan:
        return None
    usage = (plan.get("node_usage") or {}).get(host)
    total: int | None = int(usage.get("gpu_used_mib") or 0) if usage and usage.get("gpus") else None
    for split in plan.get("rpc_splits") or []:
        for row in (split.get("chosen") or {}).get("rows") or []:
            if row.get("host") == host and " GPU" in str(row.get("device", "")):
                total = (total or 0) + math.ceil(float(row.get("total_mib") or 0))
    return total


def node_metrics_config(
    host: str,
    hostvars: Mapping[str, Mapping[str, Any]],
    groups: Mapping[str, Iterable[str]],
    plan: Mapping[str, Any] | None,
    output: str,
) -> dict[str, Any]:
    """The node metrics script's configuration for ``host``: where to write,
    the plan's GPU figure and margin, and on an Ollama node its URL and the
    models the plan puts there."""
    hv = hostvars[host]
    plan = plan or {}
    config: dict[str, Any] = {"output": output, "planned_gpu_mib": planned_gpu_mib(plan, host)}
    if plan.get("margin") is not None:
        config["margin"] = float(plan["margin"])
    record = (plan.get("hosts") or {}).get(host)
    if host in (groups.get("ollama_nodes") or []):
        config["ollama_url"] = f"http://{url_host(_address(host, hv))}:{_port(hv, 'ollama_port')}"
        models = [m["name"] for m in (record or {}).get("ollama_models") or []] if isinstance(record or {}, Mapping) else []
        config["ollama_models"] = sorted({str(m) for m in models if m})
    return config


def nginx_status_url(host: str, hv: Mapping[str, Any]) -> str:
    """The nginx_lb role's stub_status page on a load balancer: its first
    listen address (the role's default: ``herd_common_bind_address``, else
    the cluster address) and ``nginx_lb_status_port``."""
    listen = hv.get("nginx_lb_listen_addresses") or [hv.get("herd_common_bind_address")]
    address = str(listen[0]) if listen[0] else _address(host, hv)
    return f"http://{url_host(address)}:{_port(hv, 'nginx_lb_status_port')}/nginx_status"


def _target(address: str, port: int, host: str) -> dict[str, str]:
    return {"target": f"{url_host(address)}:{port}", "host": host}


def scrape_jobs(
    hostvars: Mapping[str, Mapping[str, Any]],
    groups: Mapping[str, Iterable[str]],
    plan: Mapping[str, Any] | None = None,
    nodes: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """Prometheus's jobs besides its own: ``[{job, targets: [{target, host}]}]``.

    - ``node``: the node exporter of every host in ``nodes`` (the Linux
      llama-herd hosts);
    - ``gpu_router``: the router's ``/metrics`` unless turned off;
    - ``nginx``: Debian's nginx exporter on each load balancer;
    - ``llama_server``: each llama-server instance of the plan
      (``--metrics``) on the head; a head with an API key is left out (its
      ``/metrics`` needs the key, which stays on the head);
    - ``gateway``: LiteLLM's ``/metrics/`` on each gateway whose inventory
      sets ``gateway_metrics_auth: false``; left out otherwise, since it
      asks for the master key, which stays on the gateway (the prometheus
      callback works in the open-source build: bench/results/gateway_failover.md).

    A job without targets is left out."""
    groups = {g: list(h or []) for g, h in groups.items()}
    plan = plan or {}
    jobs: list[dict[str, Any]] = []

    def add(job: str, targets: list[dict[str, str]], **extra: str) -> None:
        if targets:
            jobs.append({"job": job, "targets": targets, **extra})

    add(
        "node",
        [
            _target(_address(h, hostvars[h]), _port(hostvars[h], "monitoring_node_exporter_port"), h)
            for h in sorted(nodes if nodes is not None else groups.get("herd_monitored", []))
        ],
    )
    router = []
    for h in groups.get("gpu_router", []):
        hv = hostvars[h]
        if str(hv.get("gpu_router_metrics_enabled", True)).lower() in ("false", "no", "0", "off"):
            continue
        router.append(
            _target(str(hv.get("gpu_router_metrics_address") or _address(h, hv)), _port(hv, "gpu_router_metrics_port"), h)
        )
    add("gpu_router", router)
    add(
        "nginx",
        [
            _target(_address(h, hostvars[h]), _port(hostvars[h], "monitoring_nginx_exporter_port"), h)
            for h in groups.get("loadbalancers", [])
        ],
    )
    servers = (plan.get("llama_cpp") or {}).get("servers") or []
    llama = []
    for h in groups.get("llama_cpp_head", []):
        hv = hostvars[h]
        if hv.get("llama_cpp_server_api_key"):
            continue
        ports = [int(s["port"]) for s in servers] if servers else [int(s["port"]) for s in hv.get("llama_cpp_servers") or []]
        address = str(hv.get("llama_cpp_server_host") or _address(h, hv))
        llama += [_target(address, p, h) for p in (ports or [LLAMA_SERVER_PORT_START])]
    add("llama_server", llama)
    gateway = []
    for h in groups.get("gateway", []):
        hv = hostvars[h]
        if _off(hv.get("gateway_metrics", True)) or not _off(hv.get("gateway_metrics_auth", True)):
            continue
        address = str(hv.get("gateway_listen_address") or hv.get("herd_common_bind_address") or _address(h, hv))
        gateway.append(_target(address, _port(hv, "gateway_port"), h))
    # LiteLLM mounts the exporter at /metrics/ (/metrics answers a redirect).
    add("gateway", gateway, metrics_path="/metrics/")
    return jobs


def _off(value: Any) -> bool:
    return str(value).lower() in ("false", "no", "0", "off")
