"""What the plan tests feed build_plan and read back: an inventory's host
variables and groups as Ansible resolves them, and the hosts a plan names.
Shared by the unit tests (tests/unit/plugins/module_utils/ and action/) and
the browser test. Only load_inventory needs ansible's inventory loader
(controller code), so the tests that call it live under action/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# Every example inventory and the demo, as load_inventory names them.
INVENTORIES = [*(f"examples/{p.name}" for p in sorted((REPO / "inventory/examples").iterdir()) if p.is_dir()), "demo"]


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


def simple(models, hosts):
    """The plan of hosts (name: host variables), every one an Ollama node asked
    for models: a small plan with no inventory file."""
    from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan

    hv = {h: {"herd_models": models, **v} for h, v in hosts.items()}
    return build_plan(hv, {"all": list(hosts), "ollama_nodes": list(hosts)})


# Each llama-server flag that changes memory, as a user gives it in
# herd_models[].extra_args, and the record field it becomes.
MEMORY_FLAG_CASES = [
    (["-c", "8192"], "context", 8192),
    (["--ctx-size", "0"], "context", 0),
    (["-np", "3"], "parallel", 3),
    (["-fa", "off"], "flash_attn", "off"),
    (["--flash-attn", "enabled"], "flash_attn", "on"),
    (["-ub", "2048"], "ubatch", 2048),
    (["-b", "4096"], "batch", 4096),
    (["-ctk", "q8_0"], "cache_type_k", "q8_0"),
    (["-ctv", "Q4_0"], "cache_type_v", "q4_0"),
    (["-kvu"], "kv_unified", True),
    (["--no-kv-unified"], "kv_unified", False),
    (["-cram", "2048"], "cache_ram_mib", 2048),
]


def shared_box(ollama_models):
    """Issue 25's newcomer cluster, cut down: a 4090 box that is an Ollama
    node and the llama.cpp head, two 1080 Ti workers."""
    gpu = {"vendor": "nvidia", "name": "RTX 4090", "vram_mib": 24564, "compute_capability": "8.9"}
    ti = {"vendor": "nvidia", "name": "GTX 1080 Ti", "vram_mib": 11264, "compute_capability": "6.1"}
    models = [*ollama_models, {"name": "qwen2.5:32b", "engine": "llama_cpp", "context": 8192}]
    hv = {
        "box": {"herd_gpus": [gpu], "herd_ram_mib": 65536},
        "w1": {"herd_gpus": [ti, ti], "herd_ram_mib": 32768},
    }
    for v in hv.values():
        v["herd_models"] = models
    groups = {"all": list(hv), "ollama_nodes": ["box"], "llama_cpp_head": ["box"], "llama_cpp_workers": ["w1"]}
    return hv, groups
