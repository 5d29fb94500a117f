"""plan.html in a real browser: Debian's chromium, headless, through
chromedriver and Selenium. For every example inventory and the demo (and one
plan with errors): one card per host, every bar's segments add up to the
plan's MiB, every error and warning visible, and on a plan that follows an
edited one, every change since the last plan; no console error, no request
that leaves the file; screenshots at 1280 and 390 px wide go to a temporary
directory, or with HERD_RECORD_SHOTS=1 to
bench/results/plan-report/<example>-<width>.png for a person to look at (a
plain test run leaves the tree clean)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "collections"))
sys.path.insert(0, str(REPO / "tests" / "harness"))
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan_diff import plan_changes
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan_report import html_report
from plan_inputs import load_inventory, plan_hosts, seed000_after_an_edit

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian's chromium and chromium-driver are not installed (.ci/run installs them: apt-get install chromium chromium-driver)",
)
SHOTS = (
    REPO / "bench" / "results" / "plan-report"
    if os.environ.get("HERD_RECORD_SHOTS") == "1"
    else Path(tempfile.gettempdir()) / "llama-herd-plan-report"
)
INVENTORIES = [*(f"examples/{p.name}" for p in sorted((REPO / "inventory/examples").iterdir()) if p.is_dir()), "demo"]
WIDTHS = (1280, 390)


def _broken_plan():
    """A plan that cannot stand: a model no host holds, more replicas than hosts."""
    hosts = {"small-a": {"herd_ram_mib": 8192}, "small-b <b>": {"herd_ram_mib": 8192}}
    models = [{"name": "qwen2.5:72b"}, {"name": "llama3.2:3b", "replicas": 3}]
    hv = {h: {"herd_models": models, **v} for h, v in hosts.items()}
    return build_plan(hv, {"all": list(hosts), "ollama_nodes": list(hosts)})


def _changed_plan():
    """Seed 000 after an edit, with what changed against the plan before it."""
    import json

    before = json.loads(json.dumps(build_plan(*load_inventory("examples/seed000-ollama-lab"))))
    after = build_plan(*seed000_after_an_edit())
    changes = plan_changes(before, json.loads(json.dumps(after)))
    assert len(changes) >= 3, changes  # the premise: a node in, a node out, replicas up
    return after, changes


def _plans():
    """name -> (plan, its changes since the last plan or None)."""
    out = {name.split("/")[-1]: (build_plan(*load_inventory(name)), None) for name in INVENTORIES}
    out["broken-plan"] = (_broken_plan(), None)
    out["seed000-after-an-edit"] = _changed_plan()
    return out


@pytest.fixture(scope="module")
def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(20)
    try:
        yield drv
    finally:
        drv.quit()


def _shot(driver, path, width: int) -> None:
    """A full-page screenshot as a phone or a desktop of ``width`` CSS px sees it."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600}
    )
    height = driver.execute_script("return document.documentElement.scrollHeight")
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {"format": "png", "captureBeyondViewport": True, "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}},
    )
    import base64

    path.write_bytes(base64.b64decode(shot["data"]))


def test_plan_html_in_chromium(driver, tmp_path):
    from selenium.webdriver.common.by import By

    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, (plan, changes) in _plans().items():
        page = tmp_path / f"{name}.html"
        page.write_text(html_report(plan, changes), encoding="utf-8")
        driver.get_log("browser")  # drop what an earlier page logged
        driver.get(page.as_uri())
        cards = driver.find_elements(By.CSS_SELECTOR, "article.host-card")
        assert sorted(c.get_attribute("data-host") for c in cards) == sorted(plan_hosts(plan)), name
        assert all(c.is_displayed() for c in cards), name
        # The bars as drawn: segments add up to the plan's numbers.
        for host, u in plan["node_usage"].items():
            card = driver.find_element(By.CSS_SELECTOR, f'article.host-card[data-host="{host}"]')
            for bar in card.find_elements(By.CSS_SELECTOR, ".bar-block"):
                kind = bar.get_attribute("data-bar")
                segs = bar.find_elements(By.CSS_SELECTOR, ".seg")
                models = sum(int(s.get_attribute("data-mib")) for s in segs if s.get_attribute("data-kind") == "model")
                assert abs(models - u[f"{kind}_used_mib"]) <= 1, (name, host, kind)
                # Segment widths in pixels follow the MiB: nothing overflows the track.
                track = bar.find_element(By.CSS_SELECTOR, ".bar").size["width"]
                assert sum(s.size["width"] for s in segs) <= track + 2 * len(segs), (name, host, kind)
        for problem in [*plan["errors"], *plan["warnings"]]:
            shown = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".box li")]
            assert " ".join(problem.split()) in [" ".join(t.split()) for t in shown], (name, problem)
            assert any(e.is_displayed() for e in driver.find_elements(By.CSS_SELECTOR, ".box li")), name
        shown = [" ".join(e.text.split()) for e in driver.find_elements(By.CSS_SELECTOR, ".box.changes li") if e.is_displayed()]
        assert shown == [" ".join(c["text"].split()) for c in changes or []], name
        assert (changes is None) == (not driver.find_elements(By.CSS_SELECTOR, ".box.changes")), name
        # Nothing was fetched: no resource entries besides the page itself.
        fetched = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert fetched == [], (name, fetched)
        errors = [e for e in driver.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")]
        assert errors == [], (name, errors)
        # No horizontal page scroll at phone width (wide tables scroll inside their box).
        for width in WIDTHS:
            _shot(driver, SHOTS / f"{name}-{width}.png", width)
            overflow = driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, (name, width, overflow)
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
