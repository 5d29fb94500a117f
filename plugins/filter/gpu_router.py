# Copyright: llama-herd developers
# Apache License 2.0
"""Jinja filters over plugins/module_utils/gpu_router.py (no logic here)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.module_utils import gpu_router as gr


def gpu_router_nodes(hosts, hostvars, plan=None):
    """The GPU router's nodes (url, name, vram_mib[, usable_mib]) for the hosts ``hosts``."""
    try:
        return gr.router_nodes(hosts or [], hostvars, plan)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"gpu_router_nodes: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"gpu_router_nodes": gpu_router_nodes}
