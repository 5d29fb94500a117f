# Copyright: llama-herd developers
# Apache License 2.0
"""Load-balancer pools: the plan's pools (and the inventory's) as nginx_lb_pools.

A pool in the plan names its backends by inventory hostname; the nginx_lb role
takes addresses and ports. This module is the one place that maps one to the
other: a backend's address is its ``herd_cluster_address`` (``ansible_host`` as
a fallback, as everywhere in llama-herd) and its port is ``ollama_port``
(default 11434) unless the pool entry gives one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ansible_collections.llamaherd.cluster.plugins.module_utils.host_view import cluster_address
from ansible_collections.llamaherd.cluster.plugins.module_utils.ports import PORT_VARS, host_ports

POOL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
DEFAULT_BACKEND_PORT_VAR = "ollama_port"


def slug(name: str) -> str:
    """'qwen2.5:72b' -> 'qwen2-5-72b' (an nginx upstream / unit name)."""
    return re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-")


def _backend(pool: str, item: Any, hostvars: Mapping[str, Mapping[str, Any]], port_var: str) -> dict[str, Any]:
    default_port = PORT_VARS.get(port_var, PORT_VARS["ollama_port"])[1]
    if isinstance(item, str):
        item = {"host": item}
    if not isinstance(item, Mapping):
        raise ValueError(
            f"inventory: nginx_lb_pools[{pool}].backends: {item!r} is not a backend. "
            "Fix: name an inventory host or give {address: ..., port: ...}."
        )
    out = {k: v for k, v in item.items() if k != "host"}
    host = item.get("host")
    if host is not None:
        if host not in hostvars:
            raise ValueError(
                f"inventory: pool {pool}: backend {host!r} is not an inventory host. "
                "Fix: add it to the inventory or give {address: ..., port: ...} instead."
            )
        hv = hostvars[host]
        out.setdefault("address", cluster_address(host, hv))
        out.setdefault("port", hv.get(port_var, default_port))
    if not out.get("address"):
        raise ValueError(
            f"host {host or '?'}: herd_cluster_address: backend of pool {pool} has no address. "
            f"Fix: set herd_cluster_address for {host or 'the backend'}."
        )
    out.setdefault("port", default_port)
    out["address"] = str(out["address"])
    out["port"] = int(out["port"])
    return out


def lb_pools(
    plan: Mapping[str, Any] | None,
    hostvars: Mapping[str, Mapping[str, Any]],
    inventory_pools: Sequence[Mapping[str, Any]] | None = None,
    port_var: str = DEFAULT_BACKEND_PORT_VAR,
) -> list[dict[str, Any]]:
    """nginx_lb_pools from the plan's pools plus the inventory's.

    An inventory pool with the name of a plan pool overrides the keys it sets
    (a different port, method, or backends); other inventory pools are added.
    Backends that name inventory hosts are resolved to address and port.
    """
    merged: dict[str, dict[str, Any]] = {}
    for source, pools in (("herd_plan.pools", (plan or {}).get("pools") or []), ("nginx_lb_pools", inventory_pools or [])):
        if not isinstance(pools, Sequence) or isinstance(pools, str):
            raise ValueError(f"inventory: {source}: must be a list of pools. Fix: write {source}: [{{name, port, backends}}].")
        for pool in pools:
            if not isinstance(pool, Mapping) or not pool.get("name"):
                raise ValueError(f"inventory: {source}: every pool needs a name. Fix: add name: <slug> to {pool!r}.")
            name = str(pool["name"])
            if not POOL_NAME_RE.match(name):
                raise ValueError(
                    f"inventory: {source}[{name}].name: not an nginx-safe name. Fix: use letters, digits, '.', '_', '-' "
                    f"(e.g. {slug(name)})."
                )
            merged.setdefault(name, {}).update(dict(pool))
    out = []
    for name, pool in merged.items():
        if "port" not in pool:
            raise ValueError(f"inventory: nginx_lb_pools[{name}].port: missing. Fix: give the pool a listener port, e.g. 11435.")
        backends = pool.get("backends") or []
        if not backends:
            raise ValueError(
                f"inventory: pool {name}: no backends. Fix: place the model on a node (herd_models) "
                "or list backends in nginx_lb_pools."
            )
        resolved = dict(pool)
        resolved["port"] = int(pool["port"])
        resolved["backends"] = [_backend(name, b, hostvars, port_var) for b in backends]
        out.append(resolved)
    return out


def pool_port_problems(
    hostvars: Mapping[str, Mapping[str, Any]],
    groups: Mapping[str, Iterable[str]],
    plan: Mapping[str, Any] | None = None,
) -> list[tuple[str, str, str, str]]:
    """(host, variable, problem, fix) for every pool listener that would take a
    port another service already uses on its load balancer.

    The pools are the plan's (``plan``, else each load balancer's
    ``herd_plan``) and the models' ``pool_port``s (a model placed on two nodes
    becomes a pool on that port), minus those the host's ``nginx_lb_pools``
    gives a port of its own (preflight checks those with the host's ports).
    """
    problems = []
    models = next((hv["herd_models"] for hv in hostvars.values() if isinstance(hv.get("herd_models"), list)), [])
    for host in groups.get("loadbalancers", []):
        hv = hostvars.get(host, {})
        member = [g for g, hosts in groups.items() if host in hosts]
        taken: dict[int, str] = {}
        for port, var in host_ports(host, hv, member):
            if isinstance(port, int):
                taken.setdefault(port, var)
        inventory_pools = hv.get("nginx_lb_pools")
        own = (
            {str(p.get("name")) for p in inventory_pools or [] if isinstance(p, Mapping) and "port" in p}
            if isinstance(inventory_pools, list)
            else set()
        )
        wanted: list[tuple[str, Any, str]] = []
        for m in models:
            if isinstance(m, Mapping) and m.get("pool_port") and m.get("name"):
                wanted.append((slug(str(m["name"])), m["pool_port"], f"herd_models[{m['name']}].pool_port"))
        host_plan = plan if plan is not None else hv.get("herd_plan")
        pools = host_plan.get("pools") if isinstance(host_plan, Mapping) else None
        for pool in pools if isinstance(pools, list) else []:
            if isinstance(pool, Mapping) and pool.get("name") and pool.get("port"):
                wanted.append((str(pool["name"]), pool["port"], f"herd_plan.pools[{pool['name']}].port"))
        seen = set()
        for name, port, var in wanted:
            if name in own or (name, port) in seen:
                continue
            seen.add((name, port))
            try:
                port = int(port)
            except (TypeError, ValueError):
                problems.append((host, var, f"pool {name}: {port!r} is not a TCP port", "use a number between 1024 and 65535"))
                continue
            if port in taken:
                problems.append(
                    (
                        host,
                        var,
                        f"pool {name} would listen on port {port}, which {taken[port]} already uses on this load balancer",
                        f"give the pool a free port: nginx_lb_pools: [{{name: {name}, port: <free port>}}] on {host} "
                        f"(or pool_port on the model), or move {taken[port]}",
                    )
                )
    return problems
