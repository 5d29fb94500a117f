"""plan.html from the plan alone: a card per host, bars whose segments add up
to the plan's MiB, errors escaped and shown first, assumptions said once,
nothing fetched from anywhere."""

from __future__ import annotations

import re

from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan_report import console, html_report
from markupsafe import escape
from plan_inputs import shared_box, simple
from plan_output import PlanPage, console_files


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
    page = PlanPage(text)
    assert [a["data-host"] for _, a, _ in page.find("article", cls="host-card")] == ["a<script>alert(1)</script>", "b&c"]
    # Replicas met / asked counts the shortfall.
    assert re.search(r'class="tile bad"><span class="n">\d+ / 4</span>', text)


def test_booked_memory_is_its_own_segment():
    """A llama.cpp head on an Ollama node: its share of the GPU is drawn as
    a hatched segment, apart from the Ollama models."""

    hv, groups = shared_box([{"name": "qwen2.5:14b"}, {"name": "llama3.2:3b"}])
    plan = build_plan(hv, groups)
    u = plan["node_usage"]["box"]
    assert u["booked"] and sum(b["mib"] for b in u["booked"]) >= u["booked_mib"]
    page = PlanPage(html_report(plan))
    booked = [a for _, a, _ in page.find("span", cls="seg", data_kind="booked")]
    assert booked and all("llama.cpp" in a["title"] for a in booked)
    assert sum(int(a["data-mib"]) for a in booked) == sum(b["mib"] for b in u["booked"])


# ------------------------------------------------------------------ console


def test_console_path_is_clean():
    files = console_files("demo")
    assert console({}, files, "/repo").endswith("Report: .cache/plan/demo/plan.html (also plan.json, plan.md)")
    assert console({}, files, "/elsewhere").endswith("Report: /repo/.cache/plan/demo/plan.html (also plan.json, plan.md)")
