# Copyright: llama-herd developers
# Apache License 2.0
"""Jinja filters over plugins/module_utils/firewall.py (no logic here)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.module_utils import firewall as fw


def firewall_rules(
    host, hostvars, groups, service_sources, pools=None, servers=None, management_ports=(22,), level=None, resolved=None
):
    """[{port, var, sources, why}] the firewall role filters on ``host`` at ``level`` (herd_firewall)."""
    try:
        return fw.host_rules(
            host, hostvars, groups, service_sources, pools, servers, [int(p) for p in management_ports], level, resolved
        )
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def firewall_peer_names(host, hostvars, groups, level=None):
    """Peer addresses given as names that ``host``'s rules need resolved."""
    try:
        return fw.peer_names(host, hostvars, groups, level)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def firewall_level(value):
    """herd_firewall as off, workers or cluster (unset: workers)."""
    try:
        return fw.firewall_level(value)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def nft_families(sources):
    """{'ip': [...], 'ip6': [...]}: the sources split for nftables saddr matches."""
    return fw.split_families(sources)


def firewall_ufw_rules(rules):
    """[{port, from_ip}]: the ufw allow rules for firewall_rules' output."""
    return fw.ufw_allows(rules)


def firewall_ufw_stale(added, wanted, comment=fw.UFW_COMMENT):
    """The role's rules in `ufw show added` output that ``wanted`` no longer lists."""
    return fw.ufw_stale(added, wanted, comment)


def firewall_rich_rules(rules):
    """firewalld rich rules for firewall_rules' output."""
    return fw.firewalld_rich_rules(rules)


class FilterModule:
    def filters(self):
        return {
            "firewall_rules": firewall_rules,
            "firewall_peer_names": firewall_peer_names,
            "firewall_level": firewall_level,
            "nft_families": nft_families,
            "firewall_ufw_rules": firewall_ufw_rules,
            "firewall_ufw_stale": firewall_ufw_stale,
            "firewall_rich_rules": firewall_rich_rules,
        }
