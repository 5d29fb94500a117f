"""The monitoring role's alerting rules, rendered from their template with
molecule/monitoring's values, checked and unit-tested with Debian's promtool
(``make system-deps`` installs it; skipped without). molecule/monitoring's
verify runs the same test cases against the file the role installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles/monitoring"
CASES = REPO / "tests/unit/fixtures/monitoring/rules_test.yml"
PROMTOOL = shutil.which("promtool")


def _render() -> str:
    values = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    scenario = yaml.safe_load((REPO / "molecule/monitoring/molecule.yml").read_text())
    values.update(scenario["provisioner"]["inventory"]["group_vars"]["all"])
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["comment"] = lambda text: f"# {text}"
    return env.from_string((ROLE / "templates/llama-herd.rules.yml.j2").read_text()).render(ansible_managed="test", **values)


def _alerts() -> list[str]:
    return [r["alert"] for g in yaml.safe_load(_render())["groups"] for r in g["rules"]]


def test_every_alert_has_test_cases():
    cases = yaml.safe_load(CASES.read_text())
    tested = {t["alertname"] for case in cases["tests"] for t in case.get("alert_rule_test", [])}
    assert sorted(set(_alerts()) - tested) == []
    # And some case expects it to fire: a rule that never fires passes only its [] cases.
    firing = {t["alertname"] for case in cases["tests"] for t in case.get("alert_rule_test", []) if t.get("exp_alerts")}
    assert sorted(set(_alerts()) - firing) == []


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (make system-deps)")
def test_promtool_checks_and_tests_the_rules(tmp_path):
    (tmp_path / "llama-herd.rules.yml").write_text(_render())
    shutil.copy(CASES, tmp_path / "rules_test.yml")
    check = subprocess.run(
        [PROMTOOL, "check", "rules", "llama-herd.rules.yml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in check.stdout
    test = subprocess.run(
        [PROMTOOL, "test", "rules", "rules_test.yml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert test.returncode == 0, test.stdout + test.stderr


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (make system-deps)")
def test_the_cases_catch_a_broken_rule(tmp_path):
    """The cases can fail: a rule with the margin comparison turned round."""
    broken = _render().replace(
        "> on (job, instance, host) group_left llama_herd_plan_vram_safety_margin",
        "< on (job, instance, host) group_left llama_herd_plan_vram_safety_margin",
    )
    assert broken != _render()
    (tmp_path / "llama-herd.rules.yml").write_text(broken)
    shutil.copy(CASES, tmp_path / "rules_test.yml")
    test = subprocess.run(
        [PROMTOOL, "test", "rules", "rules_test.yml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert test.returncode != 0 and "HerdGpuMemoryAboveMargin" in test.stdout + test.stderr


def test_the_dashboard_is_valid_and_names_only_metrics_that_exist():
    """The Grafana dashboard (files/grafana): valid JSON, unique panel ids,
    every query on the provisioned data source, and every llama_herd_*
    metric it reads is one the node metrics or the GPU router write.
    molecule/monitoring runs each query against the real Prometheus."""
    import json
    import re
    import sys

    from ansible_collections.llamaherd.cluster.plugins.module_utils.node_metrics import FAMILIES

    sys.path.insert(0, str(REPO / "tools/router/src"))
    from llama_herd_router.metrics import _HELP

    dashboard = json.loads((ROLE / "files/grafana/llama-herd-overview.json").read_text())
    uid = re.search(r"uid: (\S+)", (ROLE / "templates/grafana-datasources.yaml.j2").read_text()).group(1)
    panels = dashboard["panels"]
    assert dashboard["uid"] and len({p["id"] for p in panels}) == len(panels)
    targets = [t for p in panels for t in p["targets"]]
    assert targets and all(t["expr"].strip() and t["datasource"]["uid"] == uid for t in targets)
    assert all(p["datasource"]["uid"] == uid and {"x", "y", "w", "h"} <= set(p["gridPos"]) for p in panels)
    used = {m for t in targets for m in re.findall(r"\bllama_herd_[a-z_]+", t["expr"])}
    assert used and used <= set(FAMILIES) | set(_HELP), used - set(FAMILIES) - set(_HELP)
    assert (ROLE / "vars/main.yml").read_text().count("llama-herd-overview.json") == 1
