"""playbooks/measure.yml, then preflight.yml and plan.yml (site.yml's order)
on this machine (local connection only): preflight accepts the measured fact,
the measured RAM wins over what the inventory declares, and the declared GPU
stands while no GPU tool is installed (unverified, the plan warns) but loses
to a tool that answers and finds none.

"""

from __future__ import annotations

import json
import os
import shutil
import sys

import pytest
from conftest import flat, run_playbook

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


def _scripted_nvidia_smi(tmp_path, monkeypatch, body: str) -> None:
    """An nvidia-smi on PATH that runs ``body`` whatever it is asked, and a
    fact cache of this test's own."""
    tools = tmp_path / "bin"
    tools.mkdir()
    fake = tools / "nvidia-smi"
    fake.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path / "facts"))


def _measure_and_plan(tmp_path):
    inv = tmp_path / "hosts.yml"
    inv.write_text(INVENTORY.format(python=sys.executable), encoding="utf-8")
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
    assert usage["ram_budget_mib"] == round(ram * 0.8)  # declared 1024 MiB, measured the real RAM
    return plan, usage, flat(res.stdout + res.stderr)


@pytest.mark.skipif(
    any(shutil.which(t) for t in ("nvidia-smi", "rocm-smi", "rocminfo", "xpu-smi")), reason="this check is for a GPU-less machine"
)
def test_no_gpu_tool_keeps_the_declared_gpu(tmp_path, monkeypatch):
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path / "facts"))
    plan, usage, out = _measure_and_plan(tmp_path)
    assert usage["gpu_budget_mib"] == round(8192 * 0.8 - 457)  # not measured: the declared 8 GiB GPU stands
    warning = (
        "host localhost: herd_gpus: the 1 nvidia GPU(s) it declares are unverified (nvidia-smi is not installed there or failed)"
    )
    assert warning in plan["warnings"][0] and warning in out


def test_measured_absence_of_a_gpu_wins(tmp_path, monkeypatch):
    """nvidia-smi answers with no GPU (a scripted one on PATH: empty CSV, rc 0)."""
    _scripted_nvidia_smi(tmp_path, monkeypatch, "exit 0")
    plan, usage, out = _measure_and_plan(tmp_path)
    assert usage["gpu_budget_mib"] == 0  # declared 8 GiB GPU, measured none
    item = plan["hosts"]["localhost"]["ollama_models"][0]
    assert item["on_gpu"] is False and "no GPU" in item["reason"]
    warning = "host localhost: herd_gpus: declares 1 nvidia GPU(s) but nvidia-smi found none"
    assert any(w.startswith(warning) for w in plan["warnings"]) and warning in out
    # What measuring changed, against the plan on the declared values.
    changes = plan["measurement_changes"]
    assert changes[0].startswith("host localhost: GPU memory declared 8192 MiB, measured 0 MiB; RAM declared 1024 MiB")
    assert "qwen2.5-coder:0.5b no longer fits on localhost's GPU: it runs from RAM there." in changes
    assert "What measuring changed (against the declared values)" in out  # plan.yml's summary


WORKER_INVENTORY = """
all:
  vars:
    herd_models: []
  children:
    llama_cpp_head:
      hosts:
        localhost:
          ansible_connection: local
          herd_cluster_address: 127.0.0.1
          ansible_python_interpreter: {python}
          herd_ram_mib: 1024
"""

CHECK_FLAGS = """
- name: The flags playbooks/llama_cpp.yml hands the role
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Show them
      ansible.builtin.debug:
        msg: "FLAGS {{ herd_plan.hosts[inventory_hostname].llama_cpp_gpus | llamaherd.cluster.llama_cpp_cmake_flags | join(' ') }}"
"""


def test_a_measured_v100_that_is_not_declared_gets_cuda_flags(tmp_path, monkeypatch):
    """A llama.cpp host with no herd_gpus whose nvidia-smi (scripted, printing
    what a V100S prints for gpu_facts' query) reports one: the plan records
    it for the build, and the build gets CUDA for compute capability 7.0."""
    _scripted_nvidia_smi(tmp_path, monkeypatch, "echo '0, Tesla V100S-PCIE-32GB, 32768, 7.0, GPU-5a2c0e0b'")
    inv = tmp_path / "hosts.yml"
    inv.write_text(WORKER_INVENTORY.format(python=sys.executable), encoding="utf-8")
    check = tmp_path / "flags.yml"
    check.write_text(CHECK_FLAGS, encoding="utf-8")
    res = run_playbook(
        "-i", str(inv), "-e", f"herd_plan_report_dir={tmp_path / 'plan'}",
        "playbooks/measure.yml", "playbooks/preflight.yml", "playbooks/plan.yml", str(check),
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    plan = json.loads((tmp_path / "plan" / "plan.json").read_text(encoding="utf-8"))
    gpus = plan["hosts"]["localhost"]["llama_cpp_gpus"]
    assert [(g["vendor"], g["compute_capability"]) for g in gpus] == [("nvidia", "7.0")]
    assert "-DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=70" in flat(res.stdout)
