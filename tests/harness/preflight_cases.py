"""The one-mistake inventories of tests/integration/preflight/cases.yml: each
case is base.yml with one change. Shared by the integration test (which runs
preflight.yml on them) and the docs test (which checks that
docs/troubleshooting.md quotes what they print)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CASES_DIR = REPO / "tests" / "integration" / "preflight"
CASES: list[dict[str, Any]] = yaml.safe_load((CASES_DIR / "cases.yml").read_text())


def _find_host(inv: dict, host: str) -> dict:
    for group in inv["all"]["children"].values():
        hosts = group.get("hosts") or {}
        if host in hosts and hosts[host] is not None:
            return hosts[host]
    raise KeyError(host)


def build_inventory(case: dict[str, Any]) -> dict[str, Any]:
    """The inventory (as YAML data) of one case: ``set``/``unset`` on
    ``host``'s variables, ``cluster`` merged into all:vars, ``groups``
    replacing group members (a list names hosts defined elsewhere; a mapping
    gives new hosts their variables)."""
    inv = copy.deepcopy(yaml.safe_load((CASES_DIR / "base.yml").read_text()))
    if "host" in case:
        hv = _find_host(inv, case["host"])
        for key in case.get("unset", []):
            hv.pop(key, None)
        hv.update(case.get("set", {}))
    inv["all"]["vars"].update(case.get("cluster", {}))
    for group, members in case.get("groups", {}).items():
        hosts = dict(members) if isinstance(members, dict) else dict.fromkeys(members)
        inv["all"]["children"].setdefault(group, {})["hosts"] = hosts
    return inv


def case_messages(case: dict[str, Any], tmp: Path) -> tuple[list[str], list[str]]:
    """(errors, warnings) preflight reports for a case, computed in-process
    with Ansible's own inventory loader and the action's checks."""
    from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import preflight_problems
    from plan_inputs import load_inventory

    path = tmp / f"{case.get('name', 'base')}.yml"
    path.write_text(yaml.safe_dump(build_inventory(case)))
    hostvars, groups = load_inventory(str(path))
    return preflight_problems(hostvars, groups)
