"""plan_diff: what changed between two plan.json dicts, one sentence each;
a plan compared with itself (or with the same inputs planned again) has no
change; the console and plan.html say the changes, or that there were none."""

from __future__ import annotations

from ansible_collections.llamaherd.cluster.plugins.module_utils.plan_diff import MEMORY_THRESHOLD_MIB, plan_changes
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan_report import (
    console,
    html_report,
    short_reason,
)
from plan_inputs import simple
from plan_output import PlanPage, as_plan_json, change_texts


def _two_nodes(a_ram=16384, replicas=1, models=None):
    models = models or [{"name": "llama3.2:3b", "replicas": replicas}]
    return simple(models, {"a": {"herd_ram_mib": a_ram}, "b": {"herd_ram_mib": 16384}})


def test_a_model_that_moves_says_from_where_to_where_and_why():
    old, new = _two_nodes(), _two_nodes(a_ram=2048)
    assert [h for h, v in old["hosts"].items() if v["ollama_models"]] == ["a"]  # the premise
    item = new["hosts"]["b"]["ollama_models"][0]
    moved = change_texts(old, new, "model")
    assert moved == [f"llama3.2:3b moved from a to b (a can no longer hold it): RAM there, {short_reason(item['reason'])[0]}."]
    assert item["reason"] and item["reason"] in moved[0]
    # its memory went with it, and the hosts' lines say how much
    memory = change_texts(old, new, "memory")
    assert memory == [
        f"host a: RAM 0 MiB planned, was {item['memory_mib']} MiB (-{item['memory_mib']} MiB).",
        f"host b: RAM {item['memory_mib']} MiB planned, was 0 MiB (+{item['memory_mib']} MiB).",
    ]


def test_a_new_node_says_what_it_gets_and_a_gone_node_what_it_ran():
    old = simple([{"name": "llama3.2:3b", "replicas": 1}], {"a": {"herd_ram_mib": 16384}})
    new = simple([{"name": "llama3.2:3b", "replicas": 2}], {"a": {"herd_ram_mib": 16384}, "b": {"herd_ram_mib": 16384}})
    item = new["hosts"]["b"]["ollama_models"][0]
    assert change_texts(old, new, "node-new") == [f"new node b: gets llama3.2:3b (RAM, {item['memory_mib']} MiB)."]
    assert change_texts(old, new, "model") == []  # the node's line says it; not twice
    assert change_texts(old, new, "replicas") == ["llama3.2:3b: 2 of 2 replicas placed (met), was 1 of 1."]
    back = change_texts(new, old)
    assert f"node b is no longer in the plan; it ran llama3.2:3b (RAM, {item['memory_mib']} MiB)." in back
    assert "llama3.2:3b: 1 of 1 replicas placed (met), was 2 of 2." in back


def test_a_model_that_goes_from_gpu_to_ram_says_so():
    gpu = {"vendor": "nvidia", "vram_mib": 8192, "compute_capability": "8.6"}
    hosts = {"a": {"herd_ram_mib": 32768, "herd_gpus": [gpu]}}
    old = simple([{"name": "llama3.2:3b"}], hosts)
    new = simple([{"name": "llama3.2:3b", "context": 65536}], hosts)
    assert old["hosts"]["a"]["ollama_models"][0]["on_gpu"] and not new["hosts"]["a"]["ollama_models"][0]["on_gpu"]
    [text] = change_texts(old, new, "model")
    assert text.startswith("llama3.2:3b no longer fits on a's GPU: RAM") and "more than" in text
    assert change_texts(new, old, "model")[0].startswith("llama3.2:3b now fits on a's GPU (it ran from RAM")


def test_new_and_gone_models():
    old = _two_nodes(models=[{"name": "llama3.2:3b"}])
    new = _two_nodes(models=[{"name": "llama3.2:3b"}, {"name": "qwen2.5:3b"}])
    [text] = change_texts(old, new, "model")
    assert text.startswith("new model qwen2.5:3b: runs on ")
    assert change_texts(new, old, "model") == [
        f"qwen2.5:3b is no longer planned; it ran on {text.split('runs on ')[1].split(' ')[0]}."
    ]


def test_errors_new_and_fixed():
    ok = _two_nodes()
    bad = simple([{"name": "qwen2.5:72b", "context": 8192}], {"a": {"herd_ram_mib": 8192}})
    assert bad["errors"]
    new = plan_changes(as_plan_json(ok), as_plan_json(bad))
    assert [c["text"] for c in new if c["kind"] == "error-new"] == [f"new error: {e}" for e in bad["errors"]]
    assert new[0]["kind"] == "error-new"  # the first thing said
    fixed = plan_changes(as_plan_json(bad), as_plan_json(ok))
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


def test_console_and_page_say_the_changes_or_that_there_were_none():
    old, new = _two_nodes(), _two_nodes(a_ram=2048)
    changes = plan_changes(as_plan_json(old), as_plan_json(new))
    text = console(new, None, None, changes)
    assert f"Since the last plan ({len(changes)} changes)" in text
    assert "llama3.2:3b moved from a to b" in " ".join(text.split())
    assert "Since the last plan: no change" in console(new, None, None, [])
    assert "Since the last plan" not in console(new)  # first plan: nothing to compare with
    page = PlanPage(html_report(new, changes))
    [(_, box, _)] = page.find("section", cls="changes")
    assert box["data-changes"] == str(len(changes))
    assert [a["data-kind"] for _, a, _ in page.find("li", cls="change")] == [c["kind"] for c in changes]
    assert "moved from a to b" in html_report(new, changes)
    assert "Since the last plan: no change" in html_report(new, [])
    assert "Since the last plan" not in html_report(new)
