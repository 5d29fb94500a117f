"""playbooks/measure.yml, then preflight.yml and plan.yml (site.yml's order)
on this machine (local connection only): preflight accepts the measured fact,
and the measured RAM and the measured absence of a GPU win over what the
inventory declares."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
from conftest import run_playbook

INVENTORY = """
all:
  vars:
    herd_models:
      - name: qwen2.5-coder:0.5b
        context: 2048
  children:
    ollama_nodes:
      hosts:
        localhost:
          ansible_connection: local
          herd_cluster_address: 127.0.0.1
          ansible_python_interpreter: {python}
          herd_ram_mib: 1024
          herd_gpus:
            - vendor: nvidia
              name: declared but absent
              vram_mib: 8192
              compute_capability: "8.6"
"""


@pytest.mark.skipif(
    any(shutil.which(t) for t in ("nvidia-smi", "rocm-smi", "rocminfo")), reason="this check is for a GPU-less machine"
)
def test_measured_values_win(tmp_path, monkeypatch):
    inv = tmp_path / "hosts.yml"
    inv.write_text(INVENTORY.format(python=sys.executable), encoding="utf-8")
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path / "facts"))
    res = run_playbook(
        "-i",
        str(inv),
        "-e",
        f"herd_plan_report_dir={tmp_path / 'plan'}",
        "playbooks/measure.yml",
        "playbooks/preflight.yml",
        "playbooks/plan.yml",
    )
    assert res.returncode == 0, res.stdout + res.stderr
    plan = json.loads((tmp_path / "plan" / "plan.json").read_text(encoding="utf-8"))
    with open("/proc/meminfo", encoding="utf-8") as fh:
        ram = next(int(line.split()[1]) // 1024 for line in fh if line.startswith("MemTotal:"))
    usage = plan["node_usage"]["localhost"]
    assert usage["gpu_budget_mib"] == 0  # declared 8 GiB GPU, measured none
    assert usage["ram_budget_mib"] == round(ram * 0.8)  # declared 1024 MiB, measured the real RAM
    item = plan["hosts"]["localhost"]["ollama_models"][0]
    assert item["on_gpu"] is False and "no GPU" in item["reason"]
