# Copyright: llama-herd developers
# Apache License 2.0
"""Jinja filters over plugins/module_utils/monitoring.py (no logic here)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.module_utils import monitoring as mon


def monitoring_node_config(host, hostvars, groups, plan=None, output="/var/lib/prometheus/node-exporter/llama-herd.prom"):
    """The node metrics script's configuration for ``host``."""
    try:
        return mon.node_metrics_config(host, hostvars, groups, plan, output)
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"monitoring_node_config: {exc}") from exc


def monitoring_scrape_jobs(hostvars, groups, plan=None, nodes=None):
    """Prometheus's scrape jobs [{job, targets: [{target, host}]}]."""
    try:
        return mon.scrape_jobs(hostvars, groups, plan, nodes)
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"monitoring_scrape_jobs: {exc}") from exc


def monitoring_nginx_status_url(host, hostvars):
    """The load balancer's stub_status URL, read by the nginx exporter."""
    try:
        return mon.nginx_status_url(host, hostvars[host])
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"monitoring_nginx_status_url: {exc}") from exc


class FilterModule:
    def filters(self):
        return {
            "monitoring_node_config": monitoring_node_config,
            "monitoring_nginx_status_url": monitoring_nginx_status_url,
            "monitoring_scrape_jobs": monitoring_scrape_jobs,
        }
