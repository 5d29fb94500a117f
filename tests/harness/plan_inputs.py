"""What the plan tests feed build_plan and read back: an inventory's host
variables and groups as Ansible resolves them, and the hosts a plan names.
Shared by the unit tests (test_plan, test_plan_report) and the browser test."""

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


def plan_hosts(plan: dict[str, Any]) -> set[str]:
    """Every host a plan mentions (one card each in plan.html)."""
    hosts = set(plan["hosts"]) | set(plan["node_usage"]) | set(plan.get("exposure") or {})
    hosts |= {r["host"] for s in plan["rpc_splits"] for r in s["chosen"]["rows"]}
    if plan["dllama"]:
        hosts |= {plan["dllama"]["root"], *plan["dllama"]["workers"]}
    return hosts
