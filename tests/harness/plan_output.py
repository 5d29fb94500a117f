"""What the unit tests read back from a plan and what is made of it: plan.html's
elements, the console summary's file names and golden files, the
gateway's models, a plan as plan.json holds it. Shared by the tests under
tests/unit/plugins/module_utils/ and tests/unit/plugins/action/."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

from ansible_collections.llamaherd.cluster.plugins.module_utils.plan_diff import plan_changes

REPO = Path(__file__).resolve().parents[2]


class PlanPage(HTMLParser):
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


def bar_segments(page: PlanPage, bar_attrs: dict[str, str]) -> list[dict[str, str]]:
    """The segments of one memory bar of plan.html."""
    return [a for _, a, path in page.find("span", cls="seg") if any(p[1] is bar_attrs for p in path)]


# The console summary of each example, as plan.yml prints it.
GOLDEN = REPO / "tests" / "unit" / "fixtures" / "plan_console"


def console_files(name: str) -> dict[str, str]:
    """The report files plan.yml names for inventory name."""
    return {n: f"/repo/playbooks/../.cache/plan/{name}/{n}" for n in ("plan.json", "plan.md", "plan.html")}


def served(plan):
    """Every model the plan runs, from its placement records (not endpoints)."""
    names = {i["name"] for h in plan["hosts"].values() for i in h.get("ollama_models") or []}
    names |= {s["model"] for s in plan["llama_cpp"]["servers"]}
    if plan["dllama"].get("model"):
        names.add(plan["dllama"]["model"])
    return names


def by_model(models):
    """The gateway's deployments, by model name."""
    out = {}
    for d in models:
        out.setdefault(d["model_name"], []).append(d)
    return out


def as_plan_json(plan):
    """As plan.json holds it: what the diff is fed."""
    return json.loads(json.dumps(plan))


def change_texts(old, new, kind=None):
    """The texts of the changes from plan old to plan new (of one kind if given)."""
    return [c["text"] for c in plan_changes(as_plan_json(old), as_plan_json(new)) if kind is None or c["kind"] == kind]
