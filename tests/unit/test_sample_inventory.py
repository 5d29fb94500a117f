"""inventory/sample, the inventory a newcomer copies: it passes preflight
with only its placeholders explained, plans without error, and shows every
variable a user sets."""

from __future__ import annotations

import sys
from pathlib import Path

from ansible_collections.llamaherd.cluster.plugins.module_utils.inventory import HERD_VARS
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan, preflight_problems

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "harness"))
from plan_inputs import load_inventory  # noqa: E402  (tests/harness)

# Facts, the plan itself and the test harness's own: nobody writes these.
NOT_SET_BY_USERS = {
    "herd_measured",
    "herd_plan",
    "herd_placed",
    "herd_plan_report_dir",
    "herd_podman_network",
    "herd_podman_arch",
}


def test_preflight_passes_and_explains_only_the_placeholders():
    errors, warnings = preflight_problems(*load_inventory("sample"))
    assert errors == []
    assert [w.split(":")[0] + ":" + w.split(":")[1] for w in warnings] == [
        "inventory: herd_models[qwen2.5",
        "host pi-01: dllama_model_url",
    ], warnings


def test_the_plan_serves_every_model_without_a_warning():
    plan = build_plan(*load_inventory("sample"))
    assert plan["errors"] == [] and plan["warnings"] == []
    assert plan["llama_cpp"]["servers"] and plan["dllama"] and plan["pools"]


def test_every_variable_a_user_sets_is_in_the_sample():
    text = "\n".join(p.read_text() for p in (REPO / "inventory" / "sample").rglob("*.yml"))
    missing = sorted(v for v in HERD_VARS - NOT_SET_BY_USERS if v not in text)
    assert missing == []
