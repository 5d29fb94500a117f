# Copyright: llama-herd developers
# Apache License 2.0
"""The GPU router's view of the inventory: which Ollama nodes it watches, with
how much VRAM, and which models it keeps on GPU.

Pure functions of host variables; nothing contacts a host. The
``gpu_router`` role writes their result into the router's configuration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.llamaherd.cluster.plugins.module_utils.host_view import host_gpus
from ansible_collections.llamaherd.cluster.plugins.module_utils.ports import default_port

OLLAMA_DEFAULT_PORT = default_port("ollama_port")


def node_vram_mib(hostvars: Mapping[str, Any]) -> int:
    """Total VRAM of one host in MiB, of the GPUs the plan sees
    (:func:`host_view.host_gpus`: measured by gpu_facts, vendor by vendor, over the
    inventory's ``herd_gpus``); no GPU is 0."""
    facts = hostvars.get("ansible_facts") or {}
    if "herd_measured" not in hostvars and isinstance(facts, Mapping) and "herd_measured" in facts:
        hostvars = {**hostvars, "herd_measured": facts["herd_measured"]}  # facts not injected as variables
    return sum(int(g.get("vram_mib") or 0) for g in host_gpus(hostvars))


def url_host(address: str) -> str:
    """An address as the host part of a URL (IPv6 literals in brackets)."""
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


def router_nodes(
    hosts: Iterable[str], hostvars: Mapping[str, Mapping[str, Any]], plan: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The router's ``nodes``: ``http://<herd_cluster_address>:<ollama_port>``
    with the host's name and VRAM, in inventory order; with a plan, each GPU
    node's ``usable_mib`` is the plan's Ollama GPU budget for it
    (``node_usage.gpu_budget_mib``: total x margin less Ollama's per-GPU
    reserve and what other engines booked), so the router and the plan agree
    on what fits."""
    usage = (plan or {}).get("node_usage") or {}
    out = []
    for host in hosts:
        hv = hostvars[host]
        address = str(hv.get("herd_cluster_address") or host)
        port = int(hv.get("ollama_port") or OLLAMA_DEFAULT_PORT)
        node = {"url": f"http://{url_host(address)}:{port}", "name": host, "vram_mib": node_vram_mib(hv)}
        budget = (usage.get(host) or {}).get("gpu_budget_mib")
        if node["vram_mib"] and isinstance(budget, int):
            node["usable_mib"] = budget
        out.append(node)
    return out


def priority_models(models: Iterable[Mapping[str, Any]] | None) -> list[str]:
    """Ollama models of ``herd_models`` with ``priority`` >= 1, most important
    (highest priority, as the plan ranks them) first; ties keep the
    inventory's order."""
    chosen = [
        (-int(m["priority"]), i, str(m["name"]))
        for i, m in enumerate(models or [])
        if isinstance(m, Mapping)
        and m.get("name")
        and (m.get("engine") or "ollama") == "ollama"
        and isinstance(m.get("priority"), int)
        and not isinstance(m.get("priority"), bool)
        and m["priority"] >= 1
    ]
    return [name for _rank, _size, name in sorted(chosen)]
