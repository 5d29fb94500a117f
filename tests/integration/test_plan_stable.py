"""playbooks/plan.yml three times on every example inventory, nothing
changed in between: plan.json, plan.md and plan.html are the same files each
time, although from the second run on the plan reads the placement record the
first one recorded (.herd-state/placement.json). Then twice more into the
first run's report directory, where each run finds the plan before it: the
same plan.json and plan.md, and a plan.html that says "no change" (the diff
is the page's, never plan.json's) and is itself the same both times. The
plan action never connects; any accidental connection goes to a podman
container that does not exist."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO, run_playbook

EXAMPLES = sorted(p.name for p in (REPO / "inventory/examples").iterdir() if p.is_dir())
NO_NETWORK = ["-e", "ansible_connection=containers.podman.podman"]


@pytest.mark.parametrize("example", EXAMPLES)
def test_plan_yml_writes_the_same_plan_three_times(example, tmp_path, monkeypatch):
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path / "facts"))
    runs: list[dict[str, bytes]] = []
    # runs 0-2 each into a new directory; 3 and 4 into run 0's
    for i, out in enumerate([tmp_path / f"plan{i}" for i in range(3)] + [tmp_path / "plan0"] * 2):
        res = run_playbook(
            "-i", str(REPO / "inventory/examples" / example), "playbooks/plan.yml",
            "-e", f"herd_plan_report_dir={out}", "-e", f"herd_state_dir={tmp_path / 'state'}", *NO_NETWORK,
        )  # fmt: skip
        assert res.returncode == 0, res.stdout + res.stderr
        if i >= 3:
            assert "Since the last plan: no change" in res.stdout, res.stdout
        runs.append({p.name: p.read_bytes() for p in sorted(Path(out).iterdir())})
    assert {"plan.json", "plan.md", "plan.html"} <= set(runs[0])
    assert (tmp_path / "state" / "placement.json").exists(), "plan.yml recorded no placement"
    for name in runs[0]:
        assert runs[1][name] == runs[0][name], f"{example}: {name} changed on the second run"
        assert runs[2][name] == runs[0][name], f"{example}: {name} changed on the third run"
        assert runs[4][name] == runs[3][name], f"{example}: {name} changed from the fourth run to the fifth"
    for name in ("plan.json", "plan.md"):
        assert runs[3][name] == runs[0][name], f"{example}: {name} changed when a previous plan was there"
    assert b"Since the last plan" not in runs[0]["plan.html"]
    assert b"Since the last plan: no change" in runs[3]["plan.html"]
