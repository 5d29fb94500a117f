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
    rules = _by_port(fw.host_rules("w1", HOSTVARS, GROUPS, CIDR, level="cluster"))
    assert set(rules) == {50100, 9990, 11434}
    # RPC: the head only, on both of its networks.
    assert rules[50100]["sources"] == ["10.0.0.10", "10.9.0.10"]
    # dllama: the root and the other worker (upstream's workers connect to each other).
    assert rules[9990]["sources"] == ["10.0.0.10", "10.0.0.12", "10.9.0.10"]
    assert rules[11434]["sources"] == CIDR


def test_head_gets_llama_server_default_and_plan_servers():
    assert set(_by_port(fw.host_rules("head", HOSTVARS, GROUPS, CIDR, level="cluster"))) == {8080, 9999}
    planned = fw.host_rules("head", HOSTVARS, GROUPS, CIDR, servers=[{"port": 8081}, {"port": 8082}], level=True)
    assert set(_by_port(planned)) == {8081, 8082, 9999}


def test_load_balancer_pools_and_status_port():
    rules = fw.host_rules(
        "lb", HOSTVARS, GROUPS, ["10.0.0.0/24", "192.0.2.0/24"], pools=[{"name": "p", "port": 11435}], level="cluster"
    )
    assert [r["port"] for r in rules] == [8088, 11435]
    assert rules[1]["sources"] == ["10.0.0.0/24", "192.0.2.0/24"]


def test_management_port_is_refused():
    hv = {**HOSTVARS, "w1": {**HOSTVARS["w1"], "ollama_port": 22}}
    with pytest.raises(ValueError, match=r"host w1: ollama_port: port 22 is the management \(SSH\) port"):
        fw.host_rules("w1", hv, GROUPS, CIDR, level="cluster")
    assert 22 not in _by_port(fw.host_rules("w1", hv, GROUPS, CIDR))  # not filtered at the default level
    hv["w1"]["llama_cpp_rpc_port"] = 22
    with pytest.raises(ValueError, match=r"host w1: llama_cpp_rpc_port: port 22 is the management"):
        fw.host_rules("w1", hv, GROUPS, CIDR)


def test_default_level_fences_only_the_worker_ports():
    rules = _by_port(fw.host_rules("w1", HOSTVARS, GROUPS, []))
    assert set(rules) == {50100, 9990}  # Ollama's 11434 is left alone
    assert rules[50100]["sources"] == ["10.0.0.10", "10.9.0.10"]
    # Nothing to fence on a head, a load balancer or an Ollama-only node.
    assert fw.host_rules("head", HOSTVARS, GROUPS, []) == []
    assert fw.host_rules("lb", HOSTVARS, GROUPS, [], pools=[{"name": "p", "port": 11435}]) == []


@pytest.mark.parametrize("off", ["off", False])
def test_level_off_filters_nothing_and_reads_nothing(off):
    # Not even a broken peer address is looked at.
    hv = {**HOSTVARS, "head": {"herd_cluster_address": "head.lan"}}
    assert fw.host_rules("w1", hv, GROUPS, ["not a network"], level=off) == []
    assert fw.peer_names("w1", hv, GROUPS, off) == []


def test_peer_named_by_dns_uses_what_the_host_resolved():
    hv = {**HOSTVARS, "head": {"herd_cluster_address": "head.lan"}}
    assert fw.peer_names("w1", hv, GROUPS) == ["head.lan"]
    assert fw.peer_names("lb", hv, GROUPS) == []  # no fenced port there
    rules = _by_port(fw.host_rules("w1", hv, GROUPS, [], resolved={"head.lan": ["10.0.0.10", "fd00::10"]}))
    assert rules[50100]["sources"] == ["10.0.0.10", "fd00::10"]


def test_peer_name_that_did_not_resolve_is_refused_with_a_fix():
    hv = {**HOSTVARS, "head": {"herd_cluster_address": "head.lan"}}
    with pytest.raises(ValueError, match=r"host head: herd_cluster_address: 'head\.lan' is a name that does not resolve.*Fix"):
        fw.host_rules("w1", hv, GROUPS, CIDR)


def test_exposure_says_who_reaches_each_port():
    hv = {**HOSTVARS, "w1": {**HOSTVARS["w1"], "herd_cluster_cidr": "10.0.0.0/24"}}
    default = {r["port"]: r["open_to"] for r in fw.exposure("w1", hv, GROUPS)}
    assert default == {9990: "head, w2", 11434: "any host that reaches its address", 50100: "head"}
    hv["w1"]["herd_firewall"] = "cluster"
    assert fw.exposure("w1", hv, GROUPS)[1]["open_to"] == "the cluster network (10.0.0.0/24)"
    hv["w1"]["herd_firewall"] = False
    assert {r["open_to"] for r in fw.exposure("w1", hv, GROUPS)} == {"any host that reaches its address"}


def test_bad_service_source_names_the_variable():
    with pytest.raises(ValueError, match="firewall_service_sources: 'cluster' is not an IP"):
        fw.host_rules("w1", HOSTVARS, GROUPS, ["cluster"], level="cluster")


def test_split_families():
    assert fw.split_families(["10.0.0.0/24", "10.0.0.5", "fd00::/64", "fd00::1"]) == {
        "ip": ["10.0.0.0/24", "10.0.0.5"],
        "ip6": ["fd00::/64", "fd00::1"],
    }


# ------------------------------------------------------------ ufw / firewalld
RULES = [
    {"port": 11434, "sources": ["10.0.0.0/24"]},
    {"port": 50052, "sources": ["10.0.0.10/32", "10.9.0.10", "fd00::10"]},
]
# `ufw show added` as ufw 0.36 prints it: the user's SSH rule, one of the
# role's rules still wanted, one for a port the host no longer uses, and a
# rule of the user's on a herd port (no comment, or another one).
ADDED = """Added user rules (see 'ufw status' for running firewall):
ufw allow 22/tcp
ufw allow from 10.0.0.10 to any port 50052 proto tcp comment 'llama-herd'
ufw allow from 10.0.0.10 to any port 50100 proto tcp comment 'llama-herd'
ufw allow from 10.0.0.0/24 to any port 11434 proto tcp
ufw allow from 192.0.2.7 to any port 11434 proto tcp comment 'mine'
"""


def test_ufw_allows_one_rule_per_port_and_source():
    assert fw.ufw_allows(RULES) == [
        {"port": 11434, "from_ip": "10.0.0.0/24"},
        {"port": 50052, "from_ip": "10.0.0.10"},
        {"port": 50052, "from_ip": "10.9.0.10"},
        {"port": 50052, "from_ip": "fd00::10"},
    ]


def test_ufw_stale_lists_only_the_roles_unwanted_rules():
    assert fw.ufw_stale(ADDED, fw.ufw_allows(RULES)) == [{"port": 50100, "from_ip": "10.0.0.10"}]


def test_ufw_stale_with_nothing_wanted_removes_all_the_roles_rules_and_no_other():
    assert fw.ufw_stale(ADDED, []) == [
        {"port": 50052, "from_ip": "10.0.0.10"},
        {"port": 50100, "from_ip": "10.0.0.10"},
    ]
    assert fw.ufw_stale("Added user rules (see 'ufw status' for running firewall):\n(None)", []) == []


def test_ufw_stale_compares_networks_not_spellings():
    added = "ufw allow from fd00::10 to any port 50052 proto tcp comment 'llama-herd'\n"
    assert fw.ufw_stale(added, [{"port": 50052, "from_ip": "fd00:0::10/128"}]) == []


def test_firewalld_rich_rules_per_family():
    assert fw.firewalld_rich_rules(RULES) == [
        'rule family="ipv4" source address="10.0.0.0/24" port port="11434" protocol="tcp" accept',
        'rule family="ipv4" source address="10.0.0.10" port port="50052" protocol="tcp" accept',
        'rule family="ipv4" source address="10.9.0.10" port port="50052" protocol="tcp" accept',
        'rule family="ipv6" source address="fd00::10" port port="50052" protocol="tcp" accept',
    ]


def test_plan_shows_each_hosts_exposure_before_a_run():
    from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan
    from ansible_collections.llamaherd.cluster.plugins.module_utils.plan_report import markdown

    hv = {h: {**v, "herd_ram_mb": 8192} for h, v in HOSTVARS.items()}
    plan = build_plan(hv, GROUPS)
    assert {r["port"]: r["open_to"] for r in plan["exposure"]["w1"]}[50100] == "head"
    assert "| w1 | 50100 | llama_cpp_rpc_port | head |" in markdown(plan)
    hv["w1"]["herd_firewall"] = "bogus"  # preflight's to report; the plan does not raise
    assert "w1" not in build_plan(hv, GROUPS)["exposure"]


def test_exporter_ports_open_to_the_monitoring_hosts_only():
    """With a monitoring group, the node exporter (every llama-herd host), the
    nginx exporter and the router's metrics are fenced at every level but
    off, open to Prometheus's hosts alone; without one they get no rule (no
    exporter is installed) and the router's metrics stay a service port."""
    groups = {**GROUPS, "gpu_router": ["lb"], "monitoring": ["mon"], "herd_monitored": ["w1", "lb", "mon"]}
    hv = {
        **HOSTVARS,
        "mon": {"herd_cluster_address": "10.0.0.5"},
        "lb": {"herd_cluster_address": "10.0.0.20", "monitoring_nginx_exporter_port": 9200},
    }
    rules = _by_port(fw.host_rules("lb", hv, groups, []))
    assert {p: r["sources"] for p, r in rules.items()} == {9100: ["10.0.0.5"], 9110: ["10.0.0.5"], 9200: ["10.0.0.5"]}
    assert rules[9100]["why"] == "node exporter: the monitoring hosts only"
    assert 9100 in _by_port(fw.host_rules("w1", hv, groups, []))
    exposed = {r["port"]: r["open_to"] for r in fw.exposure("lb", hv, groups)}
    assert exposed[9100] == exposed[9200] == "mon"
    assert fw.host_rules("lb", hv, groups, [], level="off") == []

    unmonitored = {g: m for g, m in groups.items() if g != "monitoring"}
    assert fw.host_rules("lb", hv, unmonitored, []) == []
    at_cluster = _by_port(fw.host_rules("lb", hv, unmonitored, CIDR, level="cluster"))
    assert set(at_cluster) == {8088, 9110} and at_cluster[9110]["sources"] == CIDR
    assert {r["port"] for r in fw.exposure("lb", hv, unmonitored)} == {8088, 9110}
