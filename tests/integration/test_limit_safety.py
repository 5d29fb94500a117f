"""--limit safety (issue 9), on this machine only (local connection): each
per-concern playbook validates and plans when run alone, site.yml does both
once, and a --limit run whose plan needs hardware facts of nodes outside the
limit stops, naming them and the fix, until the fact cache has them."""

from __future__ import annotations

import sys

from conftest import flat, run_playbook

INVENTORY = """
all:
  vars:
    herd_models:
      - name: qwen2.5-coder:0.5b
        context: 2048
        replicas: 2
  children:
    ollama_nodes:
      hosts:
        node1:
          herd_cluster_address: 127.0.0.1
        node2:
          herd_cluster_address: 127.0.0.2
      vars:
        ansible_connection: local
        ansible_python_interpreter: {python}
        herd_ram_mib: 4096
        {extra}
"""

PER_CONCERN = ["firewall", "ollama", "llama_cpp", "loadbalancer", "distributed_llama", "gpu_router", "monitoring"]


def _setup(tmp_path, monkeypatch, extra: str = "") -> list[str]:
    inv = tmp_path / "hosts.yml"
    inv.write_text(INVENTORY.format(python=sys.executable, extra=extra), encoding="utf-8")
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path / "facts"))
    # --tags plan: preflight and plan (tagged always) run, nothing that
    # installs; the plan's reports go to tmp_path.
    return ["-i", str(inv), "-e", f"herd_plan_report_dir={tmp_path / 'plan'}", "--tags", "plan"]


def test_per_concern_playbooks_validate_alone(tmp_path, monkeypatch):
    args = _setup(tmp_path, monkeypatch, extra="herd_ram_mb: 4096")
    for name in PER_CONCERN:
        res = run_playbook(*args, f"playbooks/{name}.yml")
        out = flat(res.stdout)
        assert res.returncode != 0, f"{name}.yml ran without preflight:\n{res.stdout}"
        assert "herd_ram_mb" in out and "node1" in out, f"{name}.yml:\n{res.stdout}"


def test_site_validates_and_plans_once(tmp_path, monkeypatch):
    args = _setup(tmp_path, monkeypatch)
    res = run_playbook(*args, "site.yml")
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    # One prelude (playbooks/prelude.yml): each of its plays once in site.yml.
    for play in (
        "Preflight | validate the inventory",
        "Measure | GPUs, RAM and architecture of every node",
        "Plan | decide what runs where",
    ):
        assert out.count(f"PLAY [{play}]") == 1, out
    listed = run_playbook("-i", args[1], "--list-tags", "site.yml")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    for play in ("Preflight | validate the inventory", "Plan | decide what runs where"):
        assert listed.stdout.count(f"): {play}\t") == 1, listed.stdout
    assert out.count("TASK [Check inventory variables, addresses, GPUs, ports and group shape]") == 1, out
    assert out.count("TASK [Compute the placement, splits and topology]") == 1, out
    assert out.count("Report: ") == 1, out  # the summary plan.yml prints, once
    assert (tmp_path / "plan" / "plan.json").exists()


def test_limit_without_facts_of_other_nodes_stops(tmp_path, monkeypatch):
    args = _setup(tmp_path, monkeypatch)
    res = run_playbook(*args, "--limit", "node1", "playbooks/ollama.yml")
    out = flat(res.stdout)
    assert res.returncode != 0, res.stdout
    assert "no measured hardware for node2" in out, out
    assert "playbooks/measure.yml --limit node2" in out, out
    assert "Nothing was changed" in out
    assert not (tmp_path / "plan" / "plan.json").exists()

    # The fix the message names (read-only), then the same run plans.
    res = run_playbook("-i", args[1], "--limit", "node2", "playbooks/measure.yml")
    assert res.returncode == 0, res.stdout + res.stderr
    res = run_playbook(*args, "--limit", "node1", "playbooks/ollama.yml")
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "plan" / "plan.json").exists()
