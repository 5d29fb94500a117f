"""What the plan tests feed build_plan and read back: an inventory's host
variables and groups as Ansible resolves them, and the hosts a plan names.
Shared by the unit tests (test_plan, test_plan_report, test_plan_diff) and
the browser test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def load_inventory(name: str) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(hostvars, groups) of inventory/<name>, as plain JSON values."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    im = InventoryManager(loader=loader, sources=[str(REPO / "inventory" / name)])
    vm = VariableManager(loader=loader, inventory=im)
    hv = {h.name: json.loads(json.dumps(vm.get_vars(host=h), default=str)) for h in im.get_hosts()}
    groups = {g: [h.name for h in im.groups[g].get_hosts()] for g in im.groups}
    return hv, groups


def seed000_after_an_edit() -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Seed 000's (hostvars, groups) after an inventory edit: node-secondary
    removed, node-gpu-new added (a Linux twin of node-gpu-primary), and
    qwen2.5:3b asked for three replicas. For the tests of the plan diff."""
    import copy

    hv, groups = load_inventory("examples/seed000-ollama-lab")
    hv = {h: v for h, v in copy.deepcopy(hv).items() if h != "node-secondary"}
    hv["node-gpu-new"] = {k: v for k, v in hv["node-gpu-primary"].items() if k not in ("ansible_connection", "herd_os")}
    hv["node-gpu-new"]["herd_cluster_address"] = "192.0.2.14"
    for v in hv.values():
        v["herd_models"] = [dict(m, replicas=3) if m["name"] == "qwen2.5:3b" else m for m in v["herd_models"]]
    groups = {g: [h for h in hs if h != "node-secondary"] for g, hs in groups.items()}
    groups["all"].append("node-gpu-new")
    groups["ollama_nodes"].append("node-gpu-new")
    return hv, groups


def plan_hosts(plan: dict[str, Any]) -> set[str]:
    """Every host a plan mentions (one card each in plan.html)."""
    hosts = set(plan["hosts"]) | set(plan["node_usage"]) | set(plan.get("exposure") or {})
    hosts |= {r["host"] for s in plan["rpc_splits"] for r in s["chosen"]["rows"]}
    if plan["dllama"]:
        hosts |= {plan["dllama"]["root"], *plan["dllama"]["workers"]}
    return hosts
