"""The plan diff (plan_diff.py) between plans of the example inventories,
as the herd_plan action loads them (Ansible's inventory loader: controller code)."""

from __future__ import annotations

import copy

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan_diff import plan_changes
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan_report import (
    CONSOLE_WIDTH,
    console,
)
from plan_inputs import INVENTORIES, load_inventory, seed000_after_an_edit
from plan_output import GOLDEN, as_plan_json, change_texts, console_files


@pytest.mark.parametrize("name", INVENTORIES)
def test_the_same_inputs_twice_change_nothing(name):
    first = as_plan_json(build_plan(*load_inventory(name)))
    again = as_plan_json(build_plan(*load_inventory(name)))
    assert plan_changes(first, again) == []
    assert plan_changes(first, first) == []


def test_llama_cpp_and_dllama_changes():
    hv, groups = load_inventory("examples/seed004-pi-dllama")
    old = build_plan(hv, groups)
    gone = old["dllama"]["workers"][-4:]  # 8 nodes -> 4: a power of two still
    fewer = {g: [h for h in hs if h not in gone] for g, hs in groups.items()}
    new = build_plan({h: v for h, v in hv.items() if h not in gone}, fewer)
    texts = change_texts(old, new)
    assert not new["errors"], new["errors"]
    assert f"node {gone[0]} is no longer in the plan; it ran a distributed-llama worker for llama3.1:8b" in texts[0], texts
    assert f"distributed-llama workers: removed {', '.join(gone)} (4 nodes, was 8)." in texts, texts
    rpc = as_plan_json(build_plan(*load_inventory("examples/seed003-v100s-rpc")))
    other = copy.deepcopy(rpc)
    other["llama_cpp"]["servers"][0]["quant"] = "Q4_K_M"
    assert change_texts(rpc, other) == [f"llama.cpp {rpc['llama_cpp']['servers'][0]['model']}: quant Q4_K_M, was Q8_0."]


def test_an_older_or_partial_plan_does_not_break_the_diff():
    new = as_plan_json(build_plan(*load_inventory("examples/seed000-ollama-lab")))
    texts = change_texts({"hosts": {}}, new)
    assert any(t.startswith("new node node-primary: gets ") for t in texts)
    assert change_texts({"errors": ["x"]}, {"errors": ["x"]}) == []


def test_console_after_an_edit_matches_its_golden_file():
    """plan.yml's summary after seed 000 is edited (a node in, a node out, a
    third replica); HERD_UPDATE_GOLDEN=1 rewrites the file."""
    import os

    before = as_plan_json(build_plan(*load_inventory("examples/seed000-ollama-lab")))
    after = as_plan_json(build_plan(*seed000_after_an_edit()))
    name = "seed000-after-an-edit"
    text = console(after, console_files(name), "/repo", plan_changes(before, after)) + "\n"
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("HERD_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path} is stale (HERD_UPDATE_GOLDEN=1 pytest ... rewrites it)"
    assert max(len(line) for line in text.splitlines()) <= CONSOLE_WIDTH
    assert "Since the last plan (" in text.splitlines()[2]  # right after the head line
