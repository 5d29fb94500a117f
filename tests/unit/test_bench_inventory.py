"""bench/inventory is inventory/demo on the bench's own containers and network:
a benchmark of a different cluster would measure the wrong thing. The demo's
orchestrator (inventory/demo/orchestrator.yml) is left out: the benches
measure the serving cluster, and bench/gateway_overhead.py the gateway."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
RENAMES = [("herd-demo-", "herd-bench-"), ("llamaherd-demo", "llamaherd-bench"), ("10.89.64.", "10.89.65.")]


def _data(inventory: Path, name: str) -> str:
    return json.dumps(yaml.safe_load((inventory / name).read_text()), sort_keys=True)


def test_bench_inventory_is_the_demo_on_its_own_network():
    for name in ("hosts.yml", "group_vars/all.yml"):
        demo = _data(REPO / "inventory" / "demo", name)
        for old, new in RENAMES:
            demo = demo.replace(old, new)
        assert _data(REPO / "bench" / "inventory", name) == demo, f"bench/inventory/{name} drifted from inventory/demo"
