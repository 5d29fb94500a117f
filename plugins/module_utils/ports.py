# Copyright: llama-herd developers
# Apache License 2.0
"""Every service port llama-herd opens, in one table: the variable that sets
it, the group whose hosts listen on it, and its default (the roles'
defaults/main.yml must agree; tests/unit checks it). Preflight, the plan,
the firewall, remove_node.yml and the other module_utils read it from here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Ports each group's service listens on: variable -> (group, role default).
# The roles' defaults/main.yml must agree (tests/unit checks it).
PORT_VARS: dict[str, tuple[str, int]] = {
    "ollama_port": ("ollama_nodes", 11434),
    "llama_cpp_rpc_port": ("llama_cpp_workers", 50052),
    "dllama_worker_port": ("dllama_workers", 9990),
    "dllama_api_port": ("dllama_root", 9999),
    "nginx_lb_status_port": ("loadbalancers", 8088),
    "gpu_router_metrics_port": ("gpu_router", 9110),
    "monitoring_prometheus_port": ("monitoring", 9090),
    "gateway_port": ("gateway", 4000),
    # Exporters Prometheus scrapes (roles/monitoring): the node exporter on
    # every llama-herd host, Debian's nginx exporter on the load balancers.
    "monitoring_node_exporter_port": ("herd_monitored", 9100),
    "monitoring_nginx_exporter_port": ("loadbalancers", 9113),
}
# Ports that answer scrapes and status checks, not requests: Prometheus
# keeps its scrape connections open, so a drain waits on the others only.
METRICS_PORT_VARS = frozenset(
    {
        "nginx_lb_status_port",
        "gpu_router_metrics_port",
        "monitoring_prometheus_port",
        "monitoring_node_exporter_port",
        "monitoring_nginx_exporter_port",
    }
)
# List-valued variables whose items carry a port: variable -> (group, key).
PORT_LIST_VARS: dict[str, tuple[str, str]] = {
    "llama_cpp_servers": ("llama_cpp_head", "port"),
    "nginx_lb_pools": ("loadbalancers", "port"),
}
# The first llama-server instance's port (the plan numbers them from here;
# the llama_cpp role's default instance has it).
LLAMA_SERVER_PORT_START = 8080


def default_port(var: str) -> int:
    """The default of a port variable of :data:`PORT_VARS`."""
    return PORT_VARS[var][1]


def host_ports(host: str, hv: Mapping[str, Any], groups_of_host: Iterable[str]) -> list[tuple[int, str]]:
    """(port, variable) pairs this host will listen on, given its groups."""
    member = set(groups_of_host)
    ports: list[tuple[int, str]] = []
    for var, (group, default) in PORT_VARS.items():
        if group in member:
            ports.append((hv.get(var, default), var))
    for var, (group, key) in PORT_LIST_VARS.items():
        if group in member and isinstance(hv.get(var), list):
            for i, item in enumerate(hv[var]):
                if isinstance(item, Mapping) and key in item:
                    ports.append((item[key], f"{var}[{i}].{key}"))
    return ports


def every_service_group() -> list[str]:
    """Every group the table gives a port, sorted."""
    return sorted({g for g, _port in PORT_VARS.values()} | {g for g, _port in PORT_LIST_VARS.values()})


def service_ports(
    hv: Mapping[str, Any],
    groups_of_host: Iterable[str],
    servers: Sequence[Mapping[str, Any]] | None = None,
    pools: Sequence[Mapping[str, Any]] | None = None,
    metrics: bool = True,
) -> list[int]:
    """The ports a host serves on, sorted: its groups' ports, the plan's
    llama-server instances on a head (else the inventory's, else the role's
    default instance) and the load balancer's pools; without ``metrics``,
    only the ports that carry requests (not :data:`METRICS_PORT_VARS`)."""
    member = set(groups_of_host)
    overlay = dict(hv)
    if "llama_cpp_head" in member:
        if servers:
            overlay["llama_cpp_servers"] = list(servers)
        elif not isinstance(overlay.get("llama_cpp_servers"), list):
            overlay["llama_cpp_servers"] = [{"port": LLAMA_SERVER_PORT_START}]
    if pools is not None and "loadbalancers" in member:
        overlay["nginx_lb_pools"] = list(pools)
    return sorted({int(p) for p, var in host_ports("", overlay, member) if metrics or var not in METRICS_PORT_VARS})
