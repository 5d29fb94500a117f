"""Placement stickiness end to end, on this machine only (local connection):
playbooks/plan.yml caches where it put each Ollama model (herd_placed), a
later --limit run that adds a node reads the records of the nodes outside the
limit from the fact cache and keeps their models there, and
herd_plan_sticky=false plans without them."""

from __future__ import annotations

import json
import sys

from conftest import run_playbook

INVENTORY = """
all:
  vars:
    herd_models:
      - name: qwen2.5-coder:0.5b
        context: 2048
        gpu: never
        replicas: "{{{{ groups['ollama_nodes'] | length }}}}"
      - name: all-minilm
        gpu: never
        {pin}
  children:
    ollama_nodes:
      hosts:
        node1:
          herd_cluster_address: 127.0.0.1
        node2:
          herd_cluster_address: 127.0.0.2
        {node3}
      vars:
        ansible_connection: local
        ansible_python_interpreter: {python}
        herd_ram_mib: 4096
"""


def _inventory(tmp_path, pin: str = "", node3: str = "") -> str:
    inv = tmp_path / "hosts.yml"
    inv.write_text(INVENTORY.format(python=sys.executable, pin=pin, node3=node3), encoding="utf-8")
    return str(inv)


def _plan(tmp_path) -> dict:
    return json.loads((tmp_path / "plan" / "plan.json").read_text())


def _where(plan: dict, model: str) -> list[str]:
    return [h for h, v in plan["hosts"].items() if any(m["name"] == model for m in v["ollama_models"])]


def test_a_limited_add_node_run_keeps_the_last_placement(tmp_path, monkeypatch):
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path / "facts"))
    report = ["-e", f"herd_plan_report_dir={tmp_path / 'plan'}"]
    # 1. The running cluster: all-minilm on node2 (pinned there for this
    # test: every tie-break without a record would pick node1).
    inv = _inventory(tmp_path, pin="hosts: [node2]")
    res = run_playbook("-i", inv, *report, "playbooks/measure.yml", "playbooks/plan.yml")
    assert res.returncode == 0, res.stdout + res.stderr
    assert _where(_plan(tmp_path), "all-minilm") == ["node2"]
    cached = {p.name: p.read_text() for p in (tmp_path / "facts").iterdir()}
    node2 = next(text for name, text in cached.items() if name.endswith("node2"))
    assert "herd_placed" in node2 and "all-minilm" in node2

    # A check-mode run records nothing.
    res = run_playbook("-i", inv, *report, "--check", "playbooks/plan.yml", "-e", "herd_plan_sticky=true")
    assert res.returncode == 0, res.stdout + res.stderr
    assert {p.name: p.read_text() for p in (tmp_path / "facts").iterdir()} == cached

    # 2. Add node3 and drop the pin; plan within --limit node3: node1 and
    # node2 are outside the limit, their records come from the fact cache.
    inv = _inventory(tmp_path, node3="node3: {herd_cluster_address: 127.0.0.3}")
    res = run_playbook("-i", inv, *report, "--limit", "node3", "playbooks/plan.yml")
    assert res.returncode == 0, res.stdout + res.stderr
    plan = _plan(tmp_path)
    assert _where(plan, "all-minilm") == ["node2"]
    assert _where(plan, "qwen2.5-coder:0.5b") == ["node1", "node2", "node3"]
    assert not any(n.startswith("stickiness") for n in plan["solver_notes"])  # nothing moved

    # 3. The switch: plan without the record (the greedy's tie-break).
    res = run_playbook("-i", inv, *report, "--limit", "node3", "playbooks/plan.yml", "-e", "herd_plan_sticky=false")
    assert res.returncode == 0, res.stdout + res.stderr
    plan = _plan(tmp_path)
    assert _where(plan, "all-minilm") != ["node2"]
    assert not any(n.startswith("stickiness") for n in plan["solver_notes"])


def test_a_per_concern_playbook_alone_stops_on_plan_errors_and_records(tmp_path, monkeypatch):
    """playbooks/loadbalancer.yml imports plan.yml, which runs once per run:
    its last task marks the run as planned (group __herd_planned); marked
    earlier, the stop on errors (and the record) would be skipped."""
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path / "facts"))
    inv = _inventory(tmp_path)
    args = ["-i", inv, "-e", f"herd_plan_report_dir={tmp_path / 'plan'}", "--tags", "plan", "playbooks/loadbalancer.yml"]
    res = run_playbook(*args, "-e", '{"herd_models": [{"name": "qwen2.5:72b"}]}')
    assert res.returncode != 0, res.stdout
    assert "The plan cannot meet the demands" in res.stdout + res.stderr
    assert not (tmp_path / "facts").exists() or not any("herd_placed" in p.read_text() for p in (tmp_path / "facts").iterdir())
    res = run_playbook(*args)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "TASK [Show the plan" in res.stdout
    assert any("herd_placed" in p.read_text() for p in (tmp_path / "facts").iterdir())
