# Copyright: llama-herd developers
# Apache License 2.0
"""Jinja filter over plugins/module_utils/herd_status.py (no logic here)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.module_utils import herd_status as hs


def herd_status(data, plan, groups, source="prometheus", hostvars=None, label=""):
    """The cluster's status {hosts, problems, text} from Prometheus's answers or the hosts' readings."""
    try:
        if source == "prometheus":
            status = hs.from_prometheus(data, hostvars or {}, groups.get("herd_monitored") or [])
        elif source == "hosts":
            status = hs.from_hosts(data)
        else:
            raise ValueError(f"source must be prometheus or hosts, not {source!r}")
        plan = plan or {}
        return {
            "hosts": status,
            "problems": hs.problems(plan, status, groups),
            "text": hs.render(plan, status, label or source, groups),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"herd_status: {exc}") from exc


def herd_status_queries(host, hostvars):
    """[{name, url}]: the instant queries herd_status reads, to the Prometheus on ``host``."""
    try:
        return hs.prometheus_queries(host, hostvars[host])
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"herd_status_queries: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"herd_status": herd_status, "herd_status_queries": herd_status_queries}
