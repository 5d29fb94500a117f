"""The firewall's port and peer derivation (plugins/module_utils/firewall.py)."""

from __future__ import annotations

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils import firewall as fw

GROUPS = {
    "all": ["head", "w1", "w2", "lb"],
    "llama_cpp_head": ["head"],
    "llama_cpp_workers": ["w1", "w2"],
    "dllama_root": ["head"],
    "dllama_workers": ["w1", "w2"],
    "ollama_nodes": ["w1"],
    "loadbalancers": ["lb"],
}
HOSTVARS = {
    "head": {"herd_cluster_address": "10.0.0.10", "herd_rpc_address": "10.9.0.10"},
    "w1": {"herd_cluster_address": "10.0.0.11", "llama_cpp_rpc_port": 50100},
    "w2": {"ansible_host": "10.0.0.12"},
    "lb": {"herd_cluster_address": "10.0.0.20"},
}
CIDR = ["10.0.0.0/24"]


def _by_port(rules):
    return {r["port"]: r for r in rules}


def test_worker_ports_and_who_may_connect():
    rules = _by_port(fw.host_rules("w1", HOSTVARS, GROUPS, CIDR))
    assert set(rules) == {50100, 9990, 11434}
    # RPC: the head only, on both of its networks.
    assert rules[50100]["sources"] == ["10.0.0.10", "10.9.0.10"]
    # dllama: the root and the other worker (upstream's workers connect to each other).
    assert rules[9990]["sources"] == ["10.0.0.10", "10.0.0.12", "10.9.0.10"]
    assert rules[11434]["sources"] == CIDR


def test_head_gets_llama_server_default_and_plan_servers():
    assert set(_by_port(fw.host_rules("head", HOSTVARS, GROUPS, CIDR))) == {8080, 9999}
    planned = fw.host_rules("head", HOSTVARS, GROUPS, CIDR, servers=[{"port": 8081}, {"port": 8082}])
    assert set(_by_port(planned)) == {8081, 8082, 9999}


def test_load_balancer_pools_and_status_port():
    rules = fw.host_rules("lb", HOSTVARS, GROUPS, ["10.0.0.0/24", "192.0.2.0/24"], pools=[{"name": "p", "port": 11435}])
    assert [r["port"] for r in rules] == [8088, 11435]
    assert rules[1]["sources"] == ["10.0.0.0/24", "192.0.2.0/24"]


def test_management_port_is_refused():
    hv = {**HOSTVARS, "w1": {**HOSTVARS["w1"], "ollama_port": 22}}
    with pytest.raises(ValueError, match=r"host w1: ollama_port: port 22 is the management \(SSH\) port"):
        fw.host_rules("w1", hv, GROUPS, CIDR)


def test_peer_named_by_dns_is_refused_with_a_fix():
    hv = {**HOSTVARS, "head": {"herd_cluster_address": "head.lan"}}
    with pytest.raises(ValueError, match=r"host head: herd_cluster_address: 'head\.lan' is a name.*Fix"):
        fw.host_rules("w1", hv, GROUPS, CIDR)


def test_bad_service_source_names_the_variable():
    with pytest.raises(ValueError, match="firewall_service_sources: 'cluster' is not an IP"):
        fw.host_rules("w1", HOSTVARS, GROUPS, ["cluster"])


def test_split_families():
    assert fw.split_families(["10.0.0.0/24", "10.0.0.5", "fd00::/64", "fd00::1"]) == {
        "ip": ["10.0.0.0/24", "10.0.0.5"],
        "ip6": ["fd00::/64", "fd00::1"],
    }
