# Copyright: llama-herd developers
# Apache License 2.0
"""Jinja filters over the service groups in plugins/module_utils/inventory.py (no logic here)."""

from __future__ import annotations

from ansible_collections.llamaherd.cluster.plugins.module_utils.inventory import SERVICE_GROUPS


def herd_job_groups(group_names):
    """The llama-herd groups among a host's groups, sorted."""
    return sorted(set(group_names or []) & set(SERVICE_GROUPS))


class FilterModule:
    def filters(self):
        return {"herd_job_groups": herd_job_groups}
