"""What `make plan` prints: playbooks/plan.yml's summary of each example
inventory is the golden text the unit tests hold (tests/unit/fixtures/
plan_console), printed as one YAML block, every line within 100 columns,
the report's path relative to where ansible-playbook ran."""

from __future__ import annotations

import pytest
from conftest import REPO, run_playbook

EXAMPLES = [*(f"examples/{p.name}" for p in sorted((REPO / "inventory/examples").iterdir()) if p.is_dir()), "demo"]
GOLDEN = REPO / "tests" / "unit" / "fixtures" / "plan_console"
NO_NETWORK = ["-e", "ansible_connection=containers.podman.podman"]


def _summary_block(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("TASK [Show the plan"))
    msg = next(i for i in range(start, len(lines)) if lines[i].strip() == "msg: |-")
    block = []
    for line in lines[msg + 1 :]:
        if line and not line.startswith(" " * 8):
            break
        block.append(line)
    while block and not block[-1]:
        block.pop()
    return block


@pytest.mark.parametrize("example", EXAMPLES)
def test_plan_yml_prints_the_summary(example, tmp_path, monkeypatch):
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path / "facts"))
    res = run_playbook(
        "-i", str(REPO / "inventory" / example), str(REPO / "playbooks/plan.yml"),
        "-e", f"herd_plan_report_dir={tmp_path / 'out'}", "-e", f"herd_state_dir={tmp_path / 'state'}", *NO_NETWORK,
        cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    block = _summary_block(res.stdout)
    assert max(len(line) for line in block) <= 100, block
    text = [line[8:] for line in block]
    golden = (GOLDEN / f"{example.split('/')[-1]}.txt").read_text(encoding="utf-8").splitlines()
    assert text[:-1] == golden[:-1]
    assert text[-1] == "Report: out/plan.html (also plan.json, plan.md)"
