"""Each distributed-llama topology rule rejects a bad inventory in preflight,
before any host is contacted or changed (the hosts are podman containers
that do not exist: any connection attempt would fail differently)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "tests/integration/dllama/preflight_then_dllama.yml"

BASE = {
    "all": {
        "vars": {
            "ansible_connection": "containers.podman.podman",
            "herd_cluster_cidr": "192.0.2.0/24",
            "herd_models": [{"name": "llama3.1:8b", "engine": "dllama", "quant": "q40", "context": 4096}],
        },
        "children": {
            "dllama_root": {
                "hosts": {"root": {"ansible_host": "dllama-case-missing-root", "herd_cluster_address": "192.0.2.10"}}
            },
            "dllama_workers": {
                "hosts": {
                    f"w{i}": {"ansible_host": f"dllama-case-missing-w{i}", "herd_cluster_address": f"192.0.2.{10 + i}"}
                    for i in range(1, 4)
                }
            },
        },
    }
}


def _run(tmp_path: Path, inv: dict, playbook: Path = PLAYBOOK, env: dict | None = None) -> subprocess.CompletedProcess:
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inv))
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / "collections"),
        "ANSIBLE_NOCOLOR": "1",
        **(env or {}),
    }
    return subprocess.run(
        ["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), str(playbook)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _workers(inv: dict, n: int) -> None:
    inv["all"]["children"]["dllama_workers"]["hosts"] = {
        f"w{i}": {"ansible_host": f"dllama-case-missing-w{i}", "herd_cluster_address": f"192.0.2.{10 + i}"}
        for i in range(1, n + 1)
    }


def test_valid_topology_passes_preflight(tmp_path):
    out = _run(tmp_path, BASE, REPO / "playbooks/preflight.yml")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "failed=0" in out.stdout and "unreachable=0" in out.stdout
    assert "Preflight passed:" in out.stdout, out.stdout


def _case_six_nodes(inv):
    _workers(inv, 5)


def _case_kv_heads(inv):
    _workers(inv, 15)  # 16 nodes, llama3.1:8b has 8 KV heads


def _case_q40_f32(inv):
    inv["all"]["children"]["dllama_root"]["hosts"]["root"]["dllama_buffer_float_type"] = "f32"


def _case_ram(inv):
    inv["all"]["children"]["dllama_root"]["hosts"]["root"]["herd_ram_mib"] = 2048


@pytest.mark.parametrize(
    ("mutate", "expect"),
    [
        (_case_six_nodes, ["inventory: dllama_workers", "got 6", "6 nodes: use 4 or 8"]),
        (_case_kv_heads, ["16 nodes is more than the model's 8 KV heads", "at most 8 nodes (7 workers)"]),
        (_case_q40_f32, ["host root: dllama_buffer_float_type", "q40 weights need a q80", "set dllama_buffer_float_type: q80"]),
        (_case_ram, ["host root: herd_ram_mib", "2048 MiB x 0.8", "Fix: use 8 nodes"]),
    ],
    ids=["power-of-two", "kv-heads", "q40-needs-q80", "ram"],
)
def test_topology_rule_rejects_before_any_change(tmp_path, mutate, expect):
    inv = copy.deepcopy(BASE)
    mutate(inv)
    out = _run(tmp_path, inv)
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert "nothing was changed" in text
    for words in expect:
        assert words in text, f"{words!r} missing from:\n{text}"
    # Preflight stopped the run: no play of the role started, no host was contacted.
    assert "Distributed-llama | workers" not in text
    assert "Gathering Facts" not in text
    assert "UNREACHABLE" not in text


def _ram_mib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no MemTotal in /proc/meminfo")


def test_node_share_larger_than_real_ram_stops_before_any_change(tmp_path):
    """herd_ram_mib unset: preflight cannot know, but measure.yml reads each
    node's real RAM (gpu_facts) and the plan stops the run, naming every node,
    its need, its usable RAM and the fix, before any node changes. (The role
    checks the same against gathered facts when it runs without a plan.) The
    nodes are this controller (local connection), so only facts are read
    here; an invalid bind address makes the role stop before any change
    should the memory checks ever let the run through."""
    inv = copy.deepcopy(BASE)
    for group in ("dllama_root", "dllama_workers"):
        for hv in inv["all"]["children"][group]["hosts"].values():
            hv["ansible_connection"] = "local"
            hv["ansible_python_interpreter"] = sys.executable
            hv["dllama_bind_address"] = "not-an-ipv4-address"
    # llama3.1:8b at 4 nodes keeps 32 x 8 x 128 x 2 f32 / 4 = 64 KiB of KV
    # cache per token on each node: a context this long needs more than RAM.
    # It is the model's context, which the plan and the inventory path read.
    seq = 1 << (_ram_mib() * 1024 // 64).bit_length()
    inv["all"]["vars"]["herd_models"][0]["context"] = seq
    # Past the trained context preflight stops first; here the RAM must.
    inv["all"]["vars"]["herd_model_catalog"] = {"llama3.1:8b": {"n_ctx_train": seq}}
    out = _run(tmp_path, inv, env={"ANSIBLE_CACHE_PLUGIN": "memory"})
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    for words in (
        "The plan cannot meet the demands",
        "nothing was changed",
        "host root: llama3.1:8b needs",
        "host w1: llama3.1:8b needs",
        f"max_seq_len {seq}",
        "MiB usable",
        "Fix: more nodes, a shorter context, or a smaller model",
    ):
        assert words in text, f"{words!r} missing from:\n{text}"
    assert "Distributed-llama | workers" not in text
    assert "Distributed-llama | root" not in text
