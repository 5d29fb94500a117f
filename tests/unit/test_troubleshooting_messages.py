"""docs/troubleshooting.md quotes the messages preflight and the plan print;
these tests make the code print them again and check the page still quotes
them word for word (a reworded message fails here until the page follows)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils.inventory import validate_inventory
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan

REPO = Path(__file__).resolve().parents[2]
PAGE = (REPO / "docs" / "troubleshooting.md").read_text()
CLUSTERS = (REPO / "docs" / "clusters.md").read_text()

AMD = {"vendor": "amd", "name": "Radeon 8060S", "vram_mib": 65536, "unified_memory": True}
CASES = {
    "localhost": (
        {"herd_cluster_cidr": "192.0.2.0/24", "herd_models": [{"name": "qwen2.5:3b"}]},
        {
            "ollama_nodes": {
                "node-a": {"herd_cluster_address": "127.0.0.1", "herd_ram_mib": 16384},
                "node-b": {"herd_cluster_address": "0.0.0.0", "herd_ram_mib": 16384},
            }
        },
    ),
    "rocm": (
        {"herd_cluster_cidr": "192.0.2.0/24", "herd_models": [{"name": "qwen2.5:3b"}]},
        {
            "ollama_nodes": {
                "apu-a": {"herd_cluster_address": "192.0.2.31", "herd_ram_mib": 65536, "herd_gpus": [AMD]},
                "apu-b": {
                    "herd_cluster_address": "192.0.2.32",
                    "herd_ram_mib": 65536,
                    "herd_rocm_version": "6.1.0",
                    "herd_gpus": [{**AMD, "gfx_target": "gfx1151"}],
                },
                "apu-c": {
                    "herd_cluster_address": "192.0.2.33",
                    "herd_ram_mib": 65536,
                    "ollama_hsa_override_gfx_version": "11.5",
                    "herd_gpus": [{**AMD, "gfx_target": "gfx1151"}],
                },
            }
        },
    ),
    "rpc-name": (
        {"herd_cluster_cidr": "192.0.2.0/24", "herd_models": [{"name": "qwen2.5:72b", "engine": "llama_cpp"}]},
        {
            "llama_cpp_head": {"head": {"herd_cluster_address": "192.0.2.41", "herd_ram_mib": 65536}},
            "llama_cpp_workers": {
                "w1": {"herd_cluster_address": "192.0.2.42", "herd_rpc_address": "w1-ib.example", "herd_ram_mib": 32768}
            },
        },
    ),
    "rpc-too-large": (
        {
            "herd_cluster_cidr": "192.0.2.0/24",
            "herd_models": [{"name": "qwen2.5:72b", "engine": "llama_cpp", "quant": "Q8_0", "context": 8192}],
        },
        {
            "llama_cpp_head": {"head": {"herd_cluster_address": "192.0.2.41", "herd_ram_mib": 65536}},
            "llama_cpp_workers": {
                "w1": {"herd_cluster_address": "192.0.2.42", "herd_ram_mib": 32768},
                "w2": {"herd_cluster_address": "192.0.2.43", "herd_ram_mib": 32768},
            },
        },
    ),
    "ollama-too-large": (
        {"herd_cluster_cidr": "192.0.2.0/24", "herd_models": [{"name": "qwen2.5:72b", "replicas": 2}]},
        {
            "ollama_nodes": {
                "small-a": {"herd_cluster_address": "192.0.2.51", "herd_ram_mib": 30720},
                "small-b": {
                    "herd_cluster_address": "192.0.2.52",
                    "herd_ram_mib": 14336,
                    "herd_gpus": [{"vendor": "nvidia", "name": "GTX 1050 Ti", "vram_mib": 4096, "compute_capability": "6.1"}],
                },
            }
        },
    ),
}


def _inventory(case: str) -> tuple[dict, dict]:
    shared, by_group = CASES[case]
    hostvars, groups = {}, {"all": []}
    for group, hosts in by_group.items():
        groups[group] = list(hosts)
        for host, hv in hosts.items():
            hostvars[host] = {**shared, **hv}
            groups["all"].append(host)
    return hostvars, groups


def _messages(case: str) -> list[str]:
    hostvars, groups = _inventory(case)
    report = validate_inventory(hostvars, groups)
    if report.errors or report.warnings:
        return report.errors + report.warnings
    return build_plan(hostvars, groups)["errors"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_page_quotes_what_the_code_prints(case):
    messages = _messages(case)
    assert messages, f"{case}: the code no longer reports a problem for this inventory"
    missing = [m for m in messages if m not in PAGE]
    assert not missing, f"docs/troubleshooting.md does not quote {missing}"


def test_the_runtime_messages_are_still_in_the_code():
    wait_tcp = (REPO / "roles" / "llama_cpp" / "files" / "wait-tcp").read_text()
    assert "still refuses connections after" in wait_tcp and "still refuses connections after 120s" in PAGE
    worker = (REPO / "roles" / "llama_cpp" / "tasks" / "worker.yml").read_text()
    assert "is not one of this host's addresses" in worker
    common = (REPO / "roles" / "herd_common" / "tasks" / "main.yml").read_text()
    assert "Fix: set herd_cluster_address" in common


def test_the_dllama_topology_messages_in_clusters_md():
    workers = {f"w{i}": {"herd_cluster_address": f"192.0.2.{110 + i}", "herd_ram_mib": 8192} for i in range(8)}
    hostvars = {"root": {"herd_cluster_address": "192.0.2.101", "herd_ram_mib": 8192}, **workers}
    models = [{"name": "llama3.1:8b", "engine": "dllama", "quant": "q40", "buffer_float_type": "q80", "context": 4096}]
    for hv in hostvars.values():
        hv.update(herd_cluster_cidr="192.0.2.0/24", herd_models=models)
    groups = {"all": list(hostvars), "dllama_root": ["root"], "dllama_workers": list(workers)}
    errors = validate_inventory(hostvars, groups).errors
    assert errors and all(e in CLUSTERS for e in errors), errors


def test_the_measured_vs_declared_gpu_warnings():
    """plan.gpu_warnings: a tool that found none, a vendor without its tool."""
    rtx = {"vendor": "nvidia", "name": "RTX 3060", "vram_mib": 12288, "compute_capability": "8.6"}
    arc = {"vendor": "intel", "name": "Arc A770", "vram_mib": 16384}
    hostvars = {
        "node2": {"herd_gpus": [rtx], "herd_measured": {"gpus": [], "gpu_sources": ["nvidia-smi"], "ram_mib": 32000}},
        "arc1": {"herd_gpus": [arc], "herd_measured": {"gpu_sources": [], "ram_mib": 32000}},
    }
    for hv in hostvars.values():
        hv.update(herd_cluster_address="192.0.2.61", herd_cluster_cidr="192.0.2.0/24", herd_models=[{"name": "qwen2.5:3b"}])
    warnings = build_plan(hostvars, {"all": list(hostvars), "ollama_nodes": list(hostvars)})["warnings"]
    gpu = [w for w in warnings if "herd_gpus:" in w]
    assert len(gpu) == 2, warnings
    missing = [w for w in gpu if w not in PAGE]
    assert not missing, f"docs/troubleshooting.md does not quote {missing}"
