"""After an inventory edit, playbooks/plan.yml says what changed since the
last plan, on the console and in plan.html: a copy of an example inventory
is planned, edited (a node added, a model asked for more replicas) and
planned again into the same report directory; then a node loses memory, and
the model it held moves. The plan action never
connects; any accidental connection goes to a podman container that does
not exist."""

from __future__ import annotations

import html
import json
import shutil

import yaml
from conftest import REPO, flat, run_playbook

NO_NETWORK = ["-e", "ansible_connection=containers.podman.podman"]
NEW_NODE = {
    "herd_cluster_address": "192.0.2.14",
    "herd_ram_mib": 65536,
    "herd_tier": "gpu",
    "herd_gpus": [{"vendor": "nvidia", "name": "GeForce RTX 4090", "compute_capability": "8.9", "vram_mib": 24576}],
}


def _plan(inventory, tmp_path):
    res = run_playbook(
        "-i", str(inventory), str(REPO / "playbooks/plan.yml"),
        "-e", f"herd_plan_report_dir={tmp_path / 'out'}", "-e", f"herd_state_dir={tmp_path / 'state'}", *NO_NETWORK,
        cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_an_inventory_edit_is_said_on_the_console_and_in_the_page(tmp_path, monkeypatch):
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path / "facts"))
    inventory = tmp_path / "inventory"
    shutil.copytree(REPO / "inventory/examples/seed000-ollama-lab", inventory)
    first = _plan(inventory, tmp_path)
    assert "Since the last plan" not in first  # nothing to compare with
    before = json.loads((tmp_path / "out/plan.json").read_text(encoding="utf-8"))

    hosts_yml = inventory / "hosts.yml"
    inv = yaml.safe_load(hosts_yml.read_text(encoding="utf-8"))
    inv["all"]["children"]["ollama_nodes"]["hosts"]["node-gpu-new"] = NEW_NODE
    small = next(m for m in inv["all"]["vars"]["herd_models"] if m["name"] == "qwen2.5:3b")
    small["replicas"] = 3
    hosts_yml.write_text(yaml.safe_dump(inv, sort_keys=False), encoding="utf-8")
    second = _plan(inventory, tmp_path)
    after = json.loads((tmp_path / "out/plan.json").read_text(encoding="utf-8"))

    gets = [f"{it['name']} ({'GPU' if it['on_gpu'] else 'RAM'}" for it in after["hosts"]["node-gpu-new"]["ollama_models"]]
    assert any(g.startswith("qwen2.5:3b (") for g in gets), after["hosts"]["node-gpu-new"]
    was = next(r for r in before["redundancy"] if r["model"] == "qwen2.5:3b")
    said = [
        f"new node node-gpu-new: gets {gets[0]}",
        f"qwen2.5:3b: 3 of 3 replicas placed (met), was {len(was['replicas'])} of 2.",
    ]
    console = flat(second)
    assert "Since the last plan (" in console
    page = html.unescape(flat((tmp_path / "out/plan.html").read_text(encoding="utf-8")))
    assert 'class="box changes"' in page
    for sentence in said:
        assert sentence in console, (sentence, second)
        assert sentence in page, sentence
    assert "new node node-gpu-new" not in page.split("Since the last plan")[0]  # said in its section

    # node-primary shrinks below qwen2.5:32b: the plan moves it and says why
    inv["all"]["children"]["ollama_nodes"]["hosts"]["node-primary"]["herd_ram_mib"] = 14336
    hosts_yml.write_text(yaml.safe_dump(inv, sort_keys=False), encoding="utf-8")
    third = _plan(inventory, tmp_path)
    moved = json.loads((tmp_path / "out/plan.json").read_text(encoding="utf-8"))
    [to] = [h for h, v in moved["hosts"].items() if any(it["name"] == "qwen2.5:32b" for it in v["ollama_models"])]
    item = next(it for it in moved["hosts"][to]["ollama_models"] if it["name"] == "qwen2.5:32b")
    sentence = f"qwen2.5:32b moved from node-primary to {to} (node-primary can no longer hold it)"
    reason = item["reason"].split(";")[0]  # the plan's own words, before the compute-buffer note
    page = html.unescape(flat((tmp_path / "out/plan.html").read_text(encoding="utf-8")))
    for text in (flat(third), page):
        assert sentence in text and reason in text, (sentence, reason)
        assert "new node node-gpu-new" not in text  # that was the run before's news


def test_a_previous_plan_that_cannot_be_read_is_said_and_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path / "facts"))
    (tmp_path / "out").mkdir()
    (tmp_path / "out/plan.json").write_text('{"hosts": ', encoding="utf-8")  # cut off mid-write
    out = flat(_plan(REPO / "inventory/examples/seed000-ollama-lab", tmp_path))
    assert "Since the last plan (1 change) - The previous plan " in out, out
    assert "plan.json cannot be read (" in out and "this plan is not compared with it; this run replaces it." in out
    json.loads((tmp_path / "out/plan.json").read_text(encoding="utf-8"))  # replaced by a whole plan
    assert "Since the last plan: no change" in flat(_plan(REPO / "inventory/examples/seed000-ollama-lab", tmp_path))
