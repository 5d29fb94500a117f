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
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.llamaherd.cluster.plugins.module_utils.inventory import PORT_VARS, cluster_address
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import slug

POOL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
DEFAULT_BACKEND_PORT_VAR = "ollama_port"


def _backend(pool: str, item: Any, hostvars: Mapping[str, Mapping[str, Any]], port_var: str) -> dict[str, Any]:
    default_port = PORT_VARS.get(port_var, ("", 11434))[1]
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
