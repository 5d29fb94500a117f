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


def test_without_status_from_the_check_passes(tmp_path):
    """The default (no -e status_from) passes the first play: an inventory
    with no service group then stops in preflight, still before any host."""
    inv = tmp_path / "hosts.yml"
    inv.write_text("all:\n  hosts:\n    ghost:\n      ansible_host: 127.0.0.1\n")
    res = run_playbook("-i", str(inv), "playbooks/status.yml")
    out = res.stdout + res.stderr
    assert "is undefined" not in out, out[-2000:]
    assert "TASK [The source is prometheus or hosts]" in out and "Status | read" not in out
    assert res.returncode != 0 and "UNREACHABLE" not in out
