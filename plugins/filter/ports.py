# Copyright: llama-herd developers
# Apache License 2.0
"""Jinja filters over plugins/module_utils/ports.py (no logic here)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.module_utils import ports


def host_ports(hv, groups_of_host, servers=None, pools=None, metrics=True):
    """The ports a host serves on, sorted; groups_of_host 'any': every group's;
    metrics=False leaves out the ports that answer scrapes, not requests."""
    groups = ports.every_service_group() if groups_of_host == "any" else list(groups_of_host or [])
    try:
        return ports.service_ports(dict(hv or {}), groups, servers, pools, metrics=bool(metrics))
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"host_ports: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"host_ports": host_ports}
