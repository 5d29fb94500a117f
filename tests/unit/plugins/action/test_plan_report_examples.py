"""plan.html and the console summary (plan_report.py) of each example
inventory's plan, as the herd_plan action loads them (Ansible's inventory
loader: controller code)."""

from __future__ import annotations

import html
import re

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils.memory import GPU_COMPUTE_ASSUMPTION
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan_report import CONSOLE_WIDTH, console, html_report, markdown
from plan_inputs import INVENTORIES, load_inventory, plan_hosts, simple
from plan_output import GOLDEN, PlanPage, bar_segments, console_files


@pytest.fixture(scope="module", params=INVENTORIES)
def example(request):
    plan = build_plan(*load_inventory(request.param))
    return request.param, plan, html_report(plan)


def test_every_host_has_one_card(example):
    name, plan, text = example
    page = PlanPage(text)
    cards = [a["data-host"] for _, a, _ in page.find("article", cls="host-card")]
    assert sorted(cards) == sorted(plan_hosts(plan)), name
    assert len(set(cards)) == len(cards)


def test_bar_segments_add_up_to_the_plan(example):
    name, plan, text = example
    page = PlanPage(text)
    checked = 0
    for host, u in plan["node_usage"].items():
        for _, bar, _ in page.find("div", cls="bar-block", data_host=host):
            kind = bar["data-bar"]
            segs = bar_segments(page, bar)
            models = sum(int(s["data-mib"]) for s in segs if s["data-kind"] == "model")
            assert abs(models - u[f"{kind}_used_mib"]) <= 1, (name, host, kind, models, u)
            booked = sum(int(s["data-mib"]) for s in segs if s["data-kind"] == "booked")
            pools = ("GPU",) if kind == "gpu" and not u["unified"] else ("RAM",) if kind == "ram" else ("GPU", "RAM")
            assert booked == sum(b["mib"] for b in u["booked"] if b["pool"].startswith(pools)), (name, host, kind)
            checked += 1
        # Each placed model shows on the pool it uses, with its MiB.
        for it in plan["hosts"][host]["ollama_models"]:
            shown = [int(s["data-mib"]) for _, s, _ in page.find("span", cls="seg") if it["name"] in s.get("title", "")]
            assert it["memory_mib"] in shown, (name, host, it["name"])
    for s in plan["rpc_splits"]:
        for r in s["chosen"]["rows"]:
            for _, bar, _ in page.find("div", cls="bar-block", data_bar="rpc", data_label=r["device"]):
                total = sum(int(x["data-mib"]) for x in bar_segments(page, bar))
                if abs(total - r["total_mib"]) <= 1:
                    checked += 1
                    break
            else:
                raise AssertionError(f"{name}: no bar for {r['device']} adds up to {r['total_mib']} MiB")
    assert checked or not (plan["node_usage"] or plan["rpc_splits"]), name


def test_segment_widths_stay_in_the_track(example):
    name, _plan, text = example
    page = PlanPage(text)
    for _, bar, _ in page.find("div", cls="bar-block"):
        widths = [float(re.search(r"width:([\d.]+)%", s["style"]).group(1)) for s in bar_segments(page, bar)]
        assert sum(widths) <= 100.01, (name, bar)


def test_nothing_is_fetched_and_no_script_runs(example):
    name, _plan, text = example
    assert "http://" not in text and "https://" not in text, name
    low = text.lower()
    for needle in ("<script", "<link", "@import", "url(", "<img", "<iframe", "src="):
        assert needle not in low, (name, needle)
    page = PlanPage(text)
    assert all(a["href"].startswith("#") for _, a, _ in page.find("a")), name


def test_tables_have_headers_with_scope(example):
    name, _plan, text = example
    page = PlanPage(text)
    ths = list(page.find("th"))
    assert ths, name
    assert all(a.get("scope") in ("col", "row") for _, a, _ in ths), name


def test_the_compute_assumption_is_a_footnote(example):
    name, plan, text = example
    reasons = [it["reason"] for h in plan["hosts"].values() for it in h["ollama_models"]]
    if any(GPU_COMPUTE_ASSUMPTION in r for r in reasons) or plan["rpc_splits"]:
        assert html.unescape(text).count(GPU_COMPUTE_ASSUMPTION) == 1, name
        assert 'id="fn-compute"' in text
    else:
        assert GPU_COMPUTE_ASSUMPTION not in html.unescape(text)


def test_light_and_dark_and_phone():
    text = html_report(build_plan(*load_inventory("demo")))
    assert "@media (prefers-color-scheme: dark)" in text
    assert 'name="viewport"' in text and "@media (max-width: 600px)" in text
    assert '<html lang="en">' in text
    assert "memory per node" in text.lower()


def test_markdown_is_unchanged_by_the_page():
    plan = build_plan(*load_inventory("examples/seed000-ollama-lab"))
    md = markdown(plan)
    assert md.startswith("# llama-herd plan") and "<" not in md.split("\n", 1)[0]
    html_report(plan)
    assert markdown(plan) == md


def _console_cases():
    cases = {name.split("/")[-1]: build_plan(*load_inventory(name)) for name in INVENTORIES}
    cases["broken-plan"] = simple(
        [{"name": "qwen2.5:72b", "context": 8192}, {"name": "llama3.2:3b", "replicas": 3}],
        {"small-a": {"herd_ram_mib": 8192}, "small-b": {"herd_ram_mib": 8192}, "tiny": {"herd_ram_mib": 2048}},
    )
    return cases


@pytest.mark.parametrize("name", [*(n.split("/")[-1] for n in INVENTORIES), "broken-plan"])
def test_console_matches_its_golden_file(name):
    """plan.yml's summary of each example; HERD_UPDATE_GOLDEN=1 rewrites the files."""
    import os

    text = console(_console_cases()[name], console_files(name), "/repo") + "\n"
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("HERD_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path} is stale (HERD_UPDATE_GOLDEN=1 pytest ... rewrites it)"
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= CONSOLE_WIDTH  # + Ansible's 8 columns of indent: 100
    assert all(line == line.rstrip() and "\t" not in line for line in lines)  # YAML prints it as a block
    assert lines[-1] == f"Report: .cache/plan/{name}/plan.html (also plan.json, plan.md)"


def test_console_says_errors_first_and_every_placement():
    plan = _console_cases()["broken-plan"]
    text = console(plan)
    assert text.splitlines()[2].startswith("ERRORS (2)")
    flat = " ".join(text.split())
    for e in plan["errors"]:
        assert " ".join(e.split()) in flat
    for host, v in plan["hosts"].items():
        for it in v["ollama_models"]:
            assert re.search(rf"{re.escape(it['name'])}\s+RAM\s+{it['memory_mib']} MiB", text), (host, it["name"])
