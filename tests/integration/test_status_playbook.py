"""playbooks/status.yml refuses a status_from it does not know before any
host is contacted (the demo inventory's hosts are not running here)."""

from __future__ import annotations

from conftest import run_playbook


def test_an_unknown_status_from_stops_before_any_host():
    res = run_playbook("-i", "inventory/demo", "playbooks/status.yml", "-e", "status_from=promethus")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "status_from=promethus is neither prometheus nor hosts. Nothing was contacted." in " ".join(out.split())
    assert "Status | read" not in out and "UNREACHABLE" not in out
