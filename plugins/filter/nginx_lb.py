# Copyright: llama-herd developers
# Apache License 2.0
"""Jinja filters over plugins/module_utils/loadbalancer.py (no logic here)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.module_utils import loadbalancer as lb


def nginx_lb_pools(plan, hostvars, inventory_pools=None):
    """nginx_lb_pools for the nginx_lb role from herd_plan and the inventory."""
    try:
        return lb.lb_pools(plan, hostvars, inventory_pools)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:
    def filters(self):
        return {"nginx_lb_pools": nginx_lb_pools}
