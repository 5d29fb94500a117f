"""plan_diff: what changed between two plan.json dicts, one sentence each;
a plan compared with itself (or with the same inputs planned again) has no
change; the console and plan.html say the changes, or that there were none."""

from __future__ import annotations

import copy
import json

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan_diff import MEMORY_THRESHOLD_MIB, plan_changes
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan_report import (
    CONSOLE_WIDTH,
    console,
    html_report,
    short_reason,
)
from plan_inputs import seed000_after_an_edit
from test_plan import load_inventory, simple
from test_plan_report import GOLDEN, INVENTORIES, _files, _Page


def _json(plan):
    """As plan.json holds it: what the diff is fed."""
    return json.loads(json.dumps(plan))


def _texts(old, new, kind=None):
    return [c["text"] for c in plan_changes(_json(old), _json(new)) if kind is None or c["kind"] == kind]


@pytest.mark.parametrize("name", INVENTORIES)
def test_the_same_inputs_twice_change_nothing(name):
    first = _json(build_plan(*load_inventory(name)))
    again = _json(build_plan(*load_inventory(name)))
    assert plan_changes(first, again) == []
    assert plan_changes(first, first) == []


def _two_nodes(a_ram=16384, replicas=1, models=None):
    models = models or [{"name": "llama3.2:3b", "replicas": replicas}]
    return simple(models, {"a": {"herd_ram_mib": a_ram}, "b": {"herd_ram_mib": 16384}})


def test_a_model_that_moves_says_from_where_to_where_and_why():
    old, new = _two_nodes(), _two_nodes(a_ram=2048)
    assert [h for h, v in old["hosts"].items() if v["ollama_models"]] == ["a"]  # the premise
    item = new["hosts"]["b"]["ollama_models"][0]
    moved = _texts(old, new, "model")
    assert moved == [f"llama3.2:3b moved from a to b (a can no longer hold it): RAM there, {short_reason(item['reason'])[0]}."]
    assert item["reason"] and item["reason"] in moved[0]
    # its memory went with it, and the hosts' lines say how much
    memory = _texts(old, new, "memory")
    assert memory == [
        f"host a: RAM 0 MiB planned, was {item['memory_mib']} MiB (-{item['memory_mib']} MiB).",
        f"host b: RAM {item['memory_mib']} MiB planned, was 0 MiB (+{item['memory_mib']} MiB).",
    ]


def test_a_new_node_says_what_it_gets_and_a_gone_node_what_it_ran():
    old = simple([{"name": "llama3.2:3b", "replicas": 1}], {"a": {"herd_ram_mib": 16384}})
    new = simple([{"name": "llama3.2:3b", "replicas": 2}], {"a": {"herd_ram_mib": 16384}, "b": {"herd_ram_mib": 16384}})
    item = new["hosts"]["b"]["ollama_models"][0]
    assert _texts(old, new, "node-new") == [f"new node b: gets llama3.2:3b (RAM, {item['memory_mib']} MiB)."]
    assert _texts(old, new, "model") == []  # the node's line says it; not twice
    assert _texts(old, new, "replicas") == ["llama3.2:3b: 2 of 2 replicas placed (met), was 1 of 1."]
    back = _texts(new, old)
    assert f"node b is no longer in the plan; it ran llama3.2:3b (RAM, {item['memory_mib']} MiB)." in back
    assert "llama3.2:3b: 1 of 1 replicas placed (met), was 2 of 2." in back


def test_a_model_that_goes_from_gpu_to_ram_says_so():
    gpu = {"vendor": "nvidia", "vram_mib": 8192, "compute_capability": "8.6"}
    hosts = {"a": {"herd_ram_mib": 32768, "herd_gpus": [gpu]}}
    old = simple([{"name": "llama3.2:3b"}], hosts)
    new = simple([{"name": "llama3.2:3b", "context": 65536}], hosts)
    assert old["hosts"]["a"]["ollama_models"][0]["on_gpu"] and not new["hosts"]["a"]["ollama_models"][0]["on_gpu"]
    [text] = _texts(old, new, "model")
    assert text.startswith("llama3.2:3b no longer fits on a's GPU: RAM") and "more than" in text
    assert _texts(new, old, "model")[0].startswith("llama3.2:3b now fits on a's GPU (it ran from RAM")


def test_new_and_gone_models():
    old = _two_nodes(models=[{"name": "llama3.2:3b"}])
    new = _two_nodes(models=[{"name": "llama3.2:3b"}, {"name": "qwen2.5:3b"}])
    [text] = _texts(old, new, "model")
    assert text.startswith("new model qwen2.5:3b: runs on ")
    assert _texts(new, old, "model") == [f"qwen2.5:3b is no longer planned; it ran on {text.split('runs on ')[1].split(' ')[0]}."]


def test_errors_new_and_fixed():
    ok = _two_nodes()
    bad = simple([{"name": "qwen2.5:72b", "context": 8192}], {"a": {"herd_ram_mib": 8192}})
    assert bad["errors"]
    new = plan_changes(_json(ok), _json(bad))
    assert [c["text"] for c in new if c["kind"] == "error-new"] == [f"new error: {e}" for e in bad["errors"]]
    assert new[0]["kind"] == "error-new"  # the first thing said
    fixed = plan_changes(_json(bad), _json(ok))
    assert [c["text"] for c in fixed if c["kind"] == "error-fixed"] == [f"no longer an error: {e}" for e in bad["errors"]]


def _usage(ram_used):
    return {"node_usage": {"a": {"gpu_used_mib": 0, "ram_used_mib": ram_used, "unified": False}}}


def test_memory_moves_under_the_threshold_are_not_news():
    assert plan_changes(_usage(10000), _usage(10000 + MEMORY_THRESHOLD_MIB - 1)) == []
    assert plan_changes(_usage(10000), _usage(10000 + MEMORY_THRESHOLD_MIB)) == [
        {
            "kind": "memory",
            "text": f"host a: RAM {10000 + MEMORY_THRESHOLD_MIB} MiB planned, was 10000 MiB (+{MEMORY_THRESHOLD_MIB} MiB).",
        }
    ]


def test_llama_cpp_and_dllama_changes():
    hv, groups = load_inventory("examples/seed004-pi-dllama")
    old = build_plan(hv, groups)
    gone = old["dllama"]["workers"][-4:]  # 8 nodes -> 4: a power of two still
    fewer = {g: [h for h in hs if h not in gone] for g, hs in groups.items()}
    new = build_plan({h: v for h, v in hv.items() if h not in gone}, fewer)
    texts = _texts(old, new)
    assert not new["errors"], new["errors"]
    assert f"node {gone[0]} is no longer in the plan; it ran a distributed-llama worker for llama3.1:8b" in texts[0], texts
    assert f"distributed-llama workers: removed {', '.join(gone)} (4 nodes, was 8)." in texts, texts
    rpc = _json(build_plan(*load_inventory("examples/seed003-v100s-rpc")))
    other = copy.deepcopy(rpc)
    other["llama_cpp"]["servers"][0]["quant"] = "Q4_K_M"
    assert _texts(rpc, other) == [f"llama.cpp {rpc['llama_cpp']['servers'][0]['model']}: quant Q4_K_M, was Q8_0."]


def test_an_older_or_partial_plan_does_not_break_the_diff():
    new = _json(build_plan(*load_inventory("examples/seed000-ollama-lab")))
    texts = _texts({"hosts": {}}, new)
    assert any(t.startswith("new node node-primary: gets ") for t in texts)
    assert _texts({"errors": ["x"]}, {"errors": ["x"]}) == []


def test_console_and_page_say_the_changes_or_that_there_were_none():
    old, new = _two_nodes(), _two_nodes(a_ram=2048)
    changes = plan_changes(_json(old), _json(new))
    text = console(new, None, None, changes)
    assert f"Since the last plan ({len(changes)} changes)" in text
    assert "llama3.2:3b moved from a to b" in " ".join(text.split())
    assert "Since the last plan: no change" in console(new, None, None, [])
    assert "Since the last plan" not in console(new)  # first plan: nothing to compare with
    page = _Page(html_report(new, changes))
    [(_, box, _)] = page.find("section", cls="changes")
    assert box["data-changes"] == str(len(changes))
    assert [a["data-kind"] for _, a, _ in page.find("li", cls="change")] == [c["kind"] for c in changes]
    assert "moved from a to b" in html_report(new, changes)
    assert "Since the last plan: no change" in html_report(new, [])
    assert "Since the last plan" not in html_report(new)


def test_console_after_an_edit_matches_its_golden_file():
    """plan.yml's summary after seed 000 is edited (a node in, a node out, a
    third replica); HERD_UPDATE_GOLDEN=1 rewrites the file."""
    import os

    before = _json(build_plan(*load_inventory("examples/seed000-ollama-lab")))
    after = _json(build_plan(*seed000_after_an_edit()))
    name = "seed000-after-an-edit"
    text = console(after, _files(name), "/repo", plan_changes(before, after)) + "\n"
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("HERD_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path} is stale (HERD_UPDATE_GOLDEN=1 pytest ... rewrites it)"
    assert max(len(line) for line in text.splitlines()) <= CONSOLE_WIDTH
    assert "Since the last plan (" in text.splitlines()[2]  # right after the head line
