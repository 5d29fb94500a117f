# Copyright: llama-herd developers
# Apache License 2.0
"""Jinja filters over plugins/module_utils/firewall.py (no logic here)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.module_utils import firewall as fw


def firewall_rules(host, hostvars, groups, service_sources, pools=None, servers=None, management_ports=(22,)):
    """[{port, var, sources, why}] the firewall role filters on ``host``."""
    try:
        return fw.host_rules(host, hostvars, groups, service_sources, pools, servers, [int(p) for p in management_ports])
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def nft_families(sources):
    """{'ip': [...], 'ip6': [...]}: the sources split for nftables saddr matches."""
    return fw.split_families(sources)


class FilterModule:
    def filters(self):
        return {"firewall_rules": firewall_rules, "nft_families": nft_families}
