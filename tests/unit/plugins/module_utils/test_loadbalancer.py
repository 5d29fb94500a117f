from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible_collections.llamaherd.cluster.plugins.module_utils import inventory as inv
from ansible_collections.llamaherd.cluster.plugins.module_utils import loadbalancer as lb
from ansible_collections.llamaherd.cluster.plugins.module_utils import ports

REPO = Path(__file__).resolve().parents[4]

HOSTVARS = {
    "node-gpu-mobile": {"herd_cluster_address": "192.0.2.12"},
    "node-gpu-primary": {"herd_cluster_address": "192.0.2.13", "ollama_port": 11500},
    "node-new": {"ansible_host": "192.0.2.14"},
}
PLAN = {
    "pools": [
        {"name": "qwen2.5-72b", "model": "qwen2.5:72b", "port": 11435, "backends": ["node-gpu-mobile", "node-gpu-primary"]},
    ]
}


def test_plan_pool_resolves_hosts_to_cluster_addresses_and_ports():
    (pool,) = lb.lb_pools(PLAN, HOSTVARS)
    assert pool["name"] == "qwen2.5-72b"
    assert pool["port"] == 11435
    assert pool["model"] == "qwen2.5:72b"
    assert pool["backends"] == [
        {"address": "192.0.2.12", "port": 11434},
        {"address": "192.0.2.13", "port": 11500},
    ]


def test_adding_a_node_to_the_plan_adds_a_backend_and_removing_one_drops_it():
    grown = {"pools": [dict(PLAN["pools"][0], backends=["node-gpu-mobile", "node-gpu-primary", "node-new"])]}
    assert [b["address"] for b in lb.lb_pools(grown, HOSTVARS)[0]["backends"]] == ["192.0.2.12", "192.0.2.13", "192.0.2.14"]
    shrunk = {"pools": [dict(PLAN["pools"][0], backends=["node-gpu-primary"])]}
    assert [b["address"] for b in lb.lb_pools(shrunk, HOSTVARS)[0]["backends"]] == ["192.0.2.13"]


def test_inventory_pool_overrides_plan_keys_and_adds_pools():
    inventory = [
        {"name": "qwen2.5-72b", "port": 11440, "method": "round_robin"},
        {"name": "static", "port": 11441, "backends": [{"address": "192.0.2.50", "port": 8080}, "node-new"]},
    ]
    pools = {p["name"]: p for p in lb.lb_pools(PLAN, HOSTVARS, inventory)}
    assert pools["qwen2.5-72b"]["port"] == 11440
    assert pools["qwen2.5-72b"]["method"] == "round_robin"
    assert len(pools["qwen2.5-72b"]["backends"]) == 2
    assert pools["static"]["backends"] == [{"address": "192.0.2.50", "port": 8080}, {"address": "192.0.2.14", "port": 11434}]


def test_no_plan_uses_inventory_pools_only():
    pools = lb.lb_pools(None, HOSTVARS, [{"name": "a", "port": 11435, "backends": ["node-new"]}])
    assert [p["name"] for p in pools] == ["a"]


@pytest.mark.parametrize(
    ("plan", "inventory", "message"),
    [
        ({"pools": [{"name": "x", "port": 1, "backends": ["ghost"]}]}, None, "'ghost' is not an inventory host"),
        ({"pools": [{"name": "x y", "port": 1, "backends": ["node-new"]}]}, None, "not an nginx-safe name"),
        ({"pools": [{"name": "x", "port": 1, "backends": []}]}, None, "no backends"),
        (None, [{"name": "x", "backends": ["node-new"]}], "port: missing"),
        (None, [{"port": 1}], "needs a name"),
        (None, [{"name": "x", "port": 1, "backends": [{"port": 1}]}], "has no address"),
    ],
)
def test_bad_pools_fail_with_a_fix(plan, inventory, message):
    with pytest.raises(ValueError, match=message) as err:
        lb.lb_pools(plan, HOSTVARS, inventory)
    assert "Fix:" in str(err.value)


def test_plan_pool_names_are_nginx_safe():
    for model in ("qwen2.5:72b", "hf.co/org/Model:Q4_K_M", "llama3.2:latest"):
        assert lb.POOL_NAME_RE.match(lb.slug(model))


def test_role_defaults_match_preflight_ports():
    defaults = yaml.safe_load((REPO / "roles/nginx_lb/defaults/main.yml").read_text())
    assert defaults["nginx_lb_status_port"] == ports.PORT_VARS["nginx_lb_status_port"][1]
    assert ports.PORT_LIST_VARS["nginx_lb_pools"] == ("loadbalancers", "port")


def test_argument_specs_match_defaults():
    defaults = yaml.safe_load((REPO / "roles/nginx_lb/defaults/main.yml").read_text())
    specs = yaml.safe_load((REPO / "roles/nginx_lb/meta/argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    assert set(options) == set(defaults)
    for name, value in defaults.items():
        assert options[name].get("default") == value, name


# Pool listener ports from the plan against the load balancer's other ports.
LB_GROUPS = {"all": ["lb", "node-a", "node-b"], "loadbalancers": ["lb"], "ollama_nodes": ["node-a", "node-b"]}


def _pool_plan(port):
    return {"pools": [{"name": "qwen2.5-72b", "model": "qwen2.5:72b", "port": port, "backends": ["node-a", "node-b"]}]}


def test_plan_pool_on_the_status_port_is_rejected_with_host_pool_port_and_fix():
    hostvars = {"lb": {"herd_plan": _pool_plan(8088)}, "node-a": {}, "node-b": {}}
    ((host, var, problem, fix),) = lb.pool_port_problems(hostvars, LB_GROUPS)
    assert host == "lb"
    assert var == "herd_plan.pools[qwen2.5-72b].port"
    assert "pool qwen2.5-72b" in problem and "8088" in problem and "nginx_lb_status_port" in problem
    assert "nginx_lb_pools: [{name: qwen2.5-72b, port: <free port>}] on lb" in fix


def test_plan_pool_colliding_with_an_inventory_pool_or_a_service_on_the_lb_host():
    groups = dict(LB_GROUPS, ollama_nodes=["lb", "node-a", "node-b"])
    hostvars = {
        "lb": {"herd_plan": _pool_plan(11434), "nginx_lb_pools": [{"name": "rr", "port": 11436, "backends": ["node-a"]}]},
        "node-a": {},
        "node-b": {},
    }
    ((_, _, problem, _),) = lb.pool_port_problems(hostvars, groups)
    assert "11434, which ollama_port already uses" in problem
    hostvars["lb"]["herd_plan"] = _pool_plan(11436)
    ((_, _, problem, _),) = lb.pool_port_problems(hostvars, groups)
    assert "nginx_lb_pools[0].port" in problem


def test_free_plan_port_or_an_inventory_override_passes():
    hostvars = {"lb": {"herd_plan": _pool_plan(11435)}, "node-a": {}, "node-b": {}}
    assert lb.pool_port_problems(hostvars, LB_GROUPS) == []
    # The inventory moves the plan's pool elsewhere: the plan's port no longer counts.
    hostvars["lb"] = {"herd_plan": _pool_plan(8088), "nginx_lb_pools": [{"name": "qwen2.5-72b", "port": 11440}]}
    assert lb.pool_port_problems(hostvars, LB_GROUPS) == []


def test_model_pool_port_is_checked_before_the_plan_exists_and_a_given_plan_wins():
    hostvars = {"lb": {}, "node-a": {"herd_models": [{"name": "qwen2.5:72b", "pool_port": 8088}]}, "node-b": {}}
    ((host, var, _, _),) = lb.pool_port_problems(hostvars, LB_GROUPS)
    assert (host, var) == ("lb", "herd_models[qwen2.5:72b].pool_port")
    hostvars = {"lb": {"nginx_lb_status_port": 9000}, "node-a": {}, "node-b": {}}
    ((_, var, _, _),) = lb.pool_port_problems(hostvars, LB_GROUPS, plan=_pool_plan(9000))
    assert var == "herd_plan.pools[qwen2.5-72b].port"


def test_validate_inventory_reports_the_pool_port_collision():
    hostvars = {
        "lb": {"herd_cluster_address": "192.0.2.5", "herd_plan": _pool_plan(8088)},
        "node-a": {"herd_cluster_address": "192.0.2.10", "herd_ram_mib": 65536},
        "node-b": {"herd_cluster_address": "192.0.2.11", "herd_ram_mib": 65536},
    }
    report = inv.validate_inventory(hostvars, LB_GROUPS)
    assert any(
        "host lb: herd_plan.pools[qwen2.5-72b].port: pool qwen2.5-72b would listen on port 8088" in e for e in report.errors
    ), report.errors


def test_the_plan_reports_a_pool_port_it_chose_that_the_load_balancer_already_uses():
    from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan

    models = [{"name": "qwen2.5:3b", "replicas": 2}]
    hostvars = {
        "lb": {"herd_cluster_address": "192.0.2.5", "nginx_lb_status_port": 11435, "herd_models": models},
        "node-a": {"herd_cluster_address": "192.0.2.10", "herd_ram_mib": 65536, "herd_models": models},
        "node-b": {"herd_cluster_address": "192.0.2.11", "herd_ram_mib": 65536, "herd_models": models},
    }
    plan = build_plan(hostvars, LB_GROUPS)
    assert [p["port"] for p in plan["pools"]] == [11435]
    assert any(
        e.startswith("host lb: herd_plan.pools[qwen2-5-3b].port: pool qwen2-5-3b would listen on port 11435")
        for e in plan["errors"]
    ), plan["errors"]
    hostvars["lb"]["nginx_lb_status_port"] = 8088
    assert build_plan(hostvars, LB_GROUPS)["errors"] == []


def test_the_plan_records_each_load_balancers_resolved_pools():
    """The loadbalancer and firewall plays read herd_plan.hosts[<lb>].lb_pools:
    the plan's pool with the host's nginx_lb_pools merged over it by name,
    backends as address and port; a bad inventory pool stops the plan."""
    from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan

    models = [{"name": "qwen2.5:3b", "replicas": 2, "gpu": "never", "pool_port": 11435}]
    hv = {
        "a": {"herd_cluster_address": "192.0.2.11", "herd_ram_mib": 16384, "herd_models": models},
        "b": {"herd_cluster_address": "192.0.2.12", "herd_ram_mib": 16384, "ollama_port": 11500},
        "lb": {
            "herd_cluster_address": "192.0.2.10",
            "nginx_lb_pools": [
                {"name": "qwen2-5-3b", "method": "round_robin"},
                {"name": "extra", "port": 11440, "backends": [{"address": "192.0.2.50", "port": 8080}]},
            ],
        },
    }
    groups = {"all": list(hv), "ollama_nodes": ["a", "b"], "loadbalancers": ["lb"]}
    plan = build_plan(hv, groups)
    assert not plan["errors"], plan["errors"]
    pools = {p["name"]: p for p in plan["hosts"]["lb"]["lb_pools"]}
    assert pools["qwen2-5-3b"]["method"] == "round_robin" and pools["qwen2-5-3b"]["port"] == 11435
    assert sorted((b["address"], b["port"]) for b in pools["qwen2-5-3b"]["backends"]) == [
        ("192.0.2.11", 11434),
        ("192.0.2.12", 11500),
    ]
    assert pools["extra"]["backends"] == [{"address": "192.0.2.50", "port": 8080}]

    hv["lb"]["nginx_lb_pools"] = [{"name": "broken", "port": 11441, "backends": ["nowhere"]}]
    plan = build_plan(hv, groups)
    wanted = "host lb: pool broken: backend 'nowhere' is not an inventory host"
    assert any(e.startswith(wanted) for e in plan["errors"]), plan["errors"]
