"""Placement stickiness end to end, on this machine only (local connection):
playbooks/plan.yml keeps where it put each Ollama model in the placement
record beside the inventory (.herd-state/placement.json), a later --limit
run that adds a node keeps the models of the nodes outside the limit where
the record says, herd_plan_sticky=false plans without it, and a record an
older release cached as a fact is read when there is no file."""

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


def _record(tmp_path) -> dict:
    return json.loads((tmp_path / ".herd-state" / "placement.json").read_text())


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
    record = _record(tmp_path)
    assert record["ollama_models"] == {"node1": ["qwen2.5-coder:0.5b"], "node2": ["all-minilm", "qwen2.5-coder:0.5b"]}
    assert record["format"] == 1 and "deleting it" in record["about"]
    assert not any("herd_placed" in p.read_text() for p in (tmp_path / "facts").iterdir())  # one place only

    # A check-mode run records nothing.
    before = (tmp_path / ".herd-state" / "placement.json").read_text()
    res = run_playbook("-i", inv, *report, "--check", "playbooks/plan.yml", "-e", '{"herd_models": [{"name": "all-minilm"}]}')
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / ".herd-state" / "placement.json").read_text() == before

    # 2. Add node3 and drop the pin; plan within --limit node3: node1 and
    # node2 are outside the limit, their records come from the file.
    inv = _inventory(tmp_path, node3="node3: {herd_cluster_address: 127.0.0.3}")
    res = run_playbook("-i", inv, *report, "--limit", "node3", "playbooks/plan.yml")
    assert res.returncode == 0, res.stdout + res.stderr
    plan = _plan(tmp_path)
    assert _where(plan, "all-minilm") == ["node2"]
    assert _where(plan, "qwen2.5-coder:0.5b") == ["node1", "node2", "node3"]
    assert not any(n.startswith("stickiness") for n in plan["solver_notes"])  # nothing moved
    assert _record(tmp_path)["ollama_models"]["node3"] == ["qwen2.5-coder:0.5b"]

    # 3. The switch: plan without the record (the greedy's tie-break).
    res = run_playbook("-i", inv, *report, "--limit", "node3", "playbooks/plan.yml", "-e", "herd_plan_sticky=false")
    assert res.returncode == 0, res.stdout + res.stderr
    plan = _plan(tmp_path)
    assert _where(plan, "all-minilm") != ["node2"]
    assert not any(n.startswith("stickiness") for n in plan["solver_notes"])


def test_a_per_concern_playbook_alone_stops_on_plan_errors_and_records(tmp_path, monkeypatch):
    """playbooks/loadbalancer.yml imports plan.yml, which runs once per run:
    its last task marks the run as planned (group __herd_planned); marked
    earlier, the record would be skipped. A model too big for the declared
    RAM stops the run in preflight now, before any record is written (the
    plan's own stop in a per-concern playbook, on memory nobody declared:
    test_dllama_topology.py)."""
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path / "facts"))
    inv = _inventory(tmp_path)
    args = ["-i", inv, "-e", f"herd_plan_report_dir={tmp_path / 'plan'}", "--tags", "plan", "playbooks/loadbalancer.yml"]
    res = run_playbook(*args, "-e", '{"herd_models": [{"name": "qwen2.5:72b"}]}')
    assert res.returncode != 0, res.stdout
    assert "on the declared hardware: qwen2.5:72b needs" in res.stdout + res.stderr
    assert not (tmp_path / ".herd-state").exists()
    res = run_playbook(*args)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "TASK [Show the plan" in res.stdout
    assert (tmp_path / ".herd-state" / "placement.json").exists()


def test_an_older_releases_cached_record_is_read_once_then_the_file(tmp_path, monkeypatch):
    """Upgrading: no file yet, the fact cache holds herd_placed (as releases
    before the file cached it): the plan keeps it and writes the file."""
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path / "facts"))
    inv = _inventory(tmp_path)
    old_release = tmp_path / "old_release_plan.yml"  # the task those releases ended plan.yml with
    old_release.write_text(
        "- hosts: node2\n  gather_facts: false\n  tasks:\n    - ansible.builtin.set_fact:\n"
        "        herd_placed: {ollama_models: [qwen2.5-coder:0.5b, all-minilm]}\n        cacheable: true\n"
    )
    res = run_playbook("-i", inv, str(old_release))
    assert res.returncode == 0, res.stdout + res.stderr
    res = run_playbook(
        "-i", inv, "-e", f"herd_plan_report_dir={tmp_path / 'plan'}", "playbooks/measure.yml", "playbooks/plan.yml"
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert _where(_plan(tmp_path), "all-minilm") == ["node2"]  # without the record: node1 (the pin test above)
    assert _record(tmp_path)["ollama_models"]["node2"] == ["all-minilm", "qwen2.5-coder:0.5b"]


def test_a_damaged_record_stops_the_plan_and_says_how_to_recover(tmp_path, monkeypatch):
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path / "facts"))
    (tmp_path / ".herd-state").mkdir()
    (tmp_path / ".herd-state" / "placement.json").write_text("{not json")
    res = run_playbook("-i", _inventory(tmp_path), "-e", f"herd_plan_report_dir={tmp_path / 'plan'}", "playbooks/plan.yml")
    out = " ".join((res.stdout + res.stderr).split())
    assert res.returncode != 0
    assert "placement.json cannot be read: it is not JSON" in out and "Nothing was changed" in out
    assert "delete it to plan afresh" in out
    assert (tmp_path / ".herd-state" / "placement.json").read_text() == "{not json"


def test_a_record_that_cannot_be_written_stops_the_plan_in_words(tmp_path, monkeypatch):
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path / "facts"))
    (tmp_path / "a-file").write_text("not a directory")
    res = run_playbook(
        "-i", _inventory(tmp_path), "-e", f"herd_plan_report_dir={tmp_path / 'plan'}",
        "-e", f"herd_state_dir={tmp_path / 'a-file' / 'state'}", "playbooks/plan.yml",
    )  # fmt: skip
    out = " ".join((res.stdout + res.stderr).split())
    assert res.returncode != 0
    assert "The placement record cannot be written to" in out and "Fix: set herd_state_dir" in out
    assert "Traceback" not in out
