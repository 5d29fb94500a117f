"""docs/troubleshooting.md quotes the messages preflight and the plan print.
Every one-mistake inventory in tests/integration/preflight/cases.yml must
print only messages the page quotes word for word (in its ```text preflight
blocks), and every line of those blocks must still be printed by some case:
a reworded message fails here until the page follows, and a quote no case
prints any more is stale."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils.inventory import validate_inventory
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "harness"))
from preflight_cases import CASES, case_messages  # noqa: E402

PAGE = (REPO / "docs" / "troubleshooting.md").read_text()
CLUSTERS = (REPO / "docs" / "clusters.md").read_text()
_BLOCK_RE = re.compile(r"^```text preflight\n(.*?)^```", re.S | re.M)
QUOTES = [line for block in _BLOCK_RE.findall(PAGE) for line in block.splitlines() if line.strip()]
# Preflight prefixes what the plan finds on declared values; plan.yml prints
# the same sentence without it after measuring, so the page quotes it bare.
DECLARED = "on the declared hardware: "


def stable(message: str) -> str:
    return message.removeprefix(DECLARED)


@pytest.fixture(scope="module")
def printed(tmp_path_factory) -> dict[str, tuple[list[str], list[str]]]:
    tmp = tmp_path_factory.mktemp("cases")
    return {case["name"]: case_messages(case, tmp) for case in CASES}


def test_the_page_has_preflight_quotes():
    assert len(QUOTES) >= len(CASES), "docs/troubleshooting.md lost its ```text preflight blocks"


@pytest.mark.parametrize("name", [c["name"] for c in CASES])
def test_the_page_quotes_what_each_case_prints(name, printed):
    """An error case: its errors (what stops the run); a warning case: its warnings."""
    case = next(c for c in CASES if c["name"] == name)
    errors, warnings = printed[name]
    main = warnings if case.get("warning") else errors
    assert main, f"{name}: the code no longer reports this mistake"
    missing = [stable(m) for m in main if stable(m) not in QUOTES]
    assert not missing, f"docs/troubleshooting.md does not quote (in a ```text preflight block) {missing}"


def test_every_quote_is_still_printed(printed):
    said = {stable(m) for errors, warnings in printed.values() for m in errors + warnings}
    stale = [q for q in QUOTES if q not in said]
    assert not stale, f"docs/troubleshooting.md quotes messages no case in cases.yml prints: {stale}"


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
