"""plan.html from the plan alone: a card per host, bars whose segments add up
to the plan's MiB, errors escaped and shown first, assumptions said once,
nothing fetched from anywhere."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils.memory import GPU_COMPUTE_ASSUMPTION
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan_report import CONSOLE_WIDTH, console, html_report, markdown
from markupsafe import escape
from plan_inputs import plan_hosts
from test_plan import REPO, load_inventory, simple

INVENTORIES = [*(f"examples/{p.name}" for p in sorted((REPO / "inventory/examples").iterdir()) if p.is_dir()), "demo"]


class _Page(HTMLParser):
    """Elements as (tag, attrs, path of enclosing (tag, attrs))."""

    def __init__(self, text: str):
        super().__init__()
        self.elements: list[tuple[str, dict[str, str], list[tuple[str, dict[str, str]]]]] = []
        self._stack: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        self.elements.append((tag, a, list(self._stack)))
        if tag not in ("meta", "br", "img", "input", "link"):
            self._stack.append((tag, a))

    def handle_endtag(self, tag):
        while self._stack:
            if self._stack.pop()[0] == tag:
                break

    def find(self, tag=None, cls=None, **attrs):
        for t, a, path in self.elements:
            if tag and t != tag:
                continue
            if cls and cls not in a.get("class", "").split():
                continue
            if all(a.get(k.replace("_", "-")) == v for k, v in attrs.items()):
                yield t, a, path


def _segments(page: _Page, bar_attrs: dict[str, str]) -> list[dict[str, str]]:
    return [a for _, a, path in page.find("span", cls="seg") if any(p[1] is bar_attrs for p in path)]


@pytest.fixture(scope="module", params=INVENTORIES)
def example(request):
    plan = build_plan(*load_inventory(request.param))
    return request.param, plan, html_report(plan)


def test_every_host_has_one_card(example):
    name, plan, text = example
    page = _Page(text)
    cards = [a["data-host"] for _, a, _ in page.find("article", cls="host-card")]
    assert sorted(cards) == sorted(plan_hosts(plan)), name
    assert len(set(cards)) == len(cards)


def test_bar_segments_add_up_to_the_plan(example):
    name, plan, text = example
    page = _Page(text)
    checked = 0
    for host, u in plan["node_usage"].items():
        for _, bar, _ in page.find("div", cls="bar-block", data_host=host):
            kind = bar["data-bar"]
            segs = _segments(page, bar)
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
                total = sum(int(x["data-mib"]) for x in _segments(page, bar))
                if abs(total - r["total_mib"]) <= 1:
                    checked += 1
                    break
            else:
                raise AssertionError(f"{name}: no bar for {r['device']} adds up to {r['total_mib']} MiB")
    assert checked or not (plan["node_usage"] or plan["rpc_splits"]), name


def test_segment_widths_stay_in_the_track(example):
    name, _plan, text = example
    page = _Page(text)
    for _, bar, _ in page.find("div", cls="bar-block"):
        widths = [float(re.search(r"width:([\d.]+)%", s["style"]).group(1)) for s in _segments(page, bar)]
        assert sum(widths) <= 100.01, (name, bar)


def test_nothing_is_fetched_and_no_script_runs(example):
    name, _plan, text = example
    assert "http://" not in text and "https://" not in text, name
    low = text.lower()
    for needle in ("<script", "<link", "@import", "url(", "<img", "<iframe", "src="):
        assert needle not in low, (name, needle)
    page = _Page(text)
    assert all(a["href"].startswith("#") for _, a, _ in page.find("a")), name


def test_tables_have_headers_with_scope(example):
    name, _plan, text = example
    page = _Page(text)
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


def test_errors_come_first_escaped_and_in_colour():
    plan = simple(
        [{"name": "qwen2.5:72b", "context": 8192}, {"name": "llama3.2:3b", "replicas": 3}],
        {"a<script>alert(1)</script>": {"herd_ram_mib": 8192}, "b&c": {"herd_ram_mib": 8192}},
    )
    plan["errors"].append('a "quoted" <b>error</b> & more')
    plan["warnings"].append("<i>a warning</i>")
    assert len(plan["errors"]) >= 3
    text = html_report(plan)
    assert "<script>" not in text and "<b>error</b>" not in text and "<i>a warning</i>" not in text
    for e in plan["errors"]:
        assert f'<li class="error">{escape(e)}</li>' in text, e
    for w in plan["warnings"]:
        assert f'<li class="warning">{escape(w)}</li>' in text, w
    # The errors box comes before the summary and the cards.
    assert text.index('class="box errors"') < text.index('id="h-summary"') < text.index("host-card")
    assert text.index('class="box errors"') < text.index('class="box warnings"')
    page = _Page(text)
    assert [a["data-host"] for _, a, _ in page.find("article", cls="host-card")] == ["a<script>alert(1)</script>", "b&c"]
    # Replicas met / asked counts the shortfall.
    assert re.search(r'class="tile bad"><span class="n">\d+ / 4</span>', text)


def test_booked_memory_is_its_own_segment():
    """A llama.cpp head on an Ollama node: its share of the GPU is drawn as
    a hatched segment, apart from the Ollama models."""
    from test_plan import _shared_box

    hv, groups = _shared_box([{"name": "qwen2.5:14b"}, {"name": "llama3.2:3b"}])
    plan = build_plan(hv, groups)
    u = plan["node_usage"]["box"]
    assert u["booked"] and sum(b["mib"] for b in u["booked"]) >= u["booked_mib"]
    page = _Page(html_report(plan))
    booked = [a for _, a, _ in page.find("span", cls="seg", data_kind="booked")]
    assert booked and all("llama.cpp" in a["title"] for a in booked)
    assert sum(int(a["data-mib"]) for a in booked) == sum(b["mib"] for b in u["booked"])


def test_markdown_is_unchanged_by_the_page():
    plan = build_plan(*load_inventory("examples/seed000-ollama-lab"))
    md = markdown(plan)
    assert md.startswith("# llama-herd plan") and "<" not in md.split("\n", 1)[0]
    html_report(plan)
    assert markdown(plan) == md


# ------------------------------------------------------------------ console
GOLDEN = REPO / "tests" / "unit" / "fixtures" / "plan_console"


def _console_cases():
    cases = {name.split("/")[-1]: build_plan(*load_inventory(name)) for name in INVENTORIES}
    cases["broken-plan"] = simple(
        [{"name": "qwen2.5:72b", "context": 8192}, {"name": "llama3.2:3b", "replicas": 3}],
        {"small-a": {"herd_ram_mib": 8192}, "small-b": {"herd_ram_mib": 8192}, "tiny": {"herd_ram_mib": 2048}},
    )
    return cases


def _files(name: str) -> dict[str, str]:
    return {n: f"/repo/playbooks/../.cache/plan/{name}/{n}" for n in ("plan.json", "plan.md", "plan.html")}


@pytest.mark.parametrize("name", [*(n.split("/")[-1] for n in INVENTORIES), "broken-plan"])
def test_console_matches_its_golden_file(name):
    """plan.yml's summary of each example; HERD_UPDATE_GOLDEN=1 rewrites the files."""
    import os

    text = console(_console_cases()[name], _files(name), "/repo") + "\n"
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


def test_console_path_is_clean():
    files = _files("demo")
    assert console({}, files, "/repo").endswith("Report: .cache/plan/demo/plan.html (also plan.json, plan.md)")
    assert console({}, files, "/elsewhere").endswith("Report: /repo/.cache/plan/demo/plan.html (also plan.json, plan.md)")
