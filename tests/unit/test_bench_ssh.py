"""bench/converge.py --connection ssh: the extra inventory source reaches every
bench host over SSH at its bench address, with literal values that beat
bench/inventory's podman connection."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_converge", REPO / "bench" / "converge.py")
converge = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(converge)


def test_every_bench_host_once_with_its_container_and_address():
    hosts = converge.inventory_hosts(yaml.safe_load((REPO / "bench" / "inventory" / "hosts.yml").read_text()))
    assert set(hosts) == {"lb1", "ollama1", "ollama2", "head1", "rpc1", "rpc2"}
    assert hosts["ollama1"] == ("herd-bench-ollama1", "10.89.65.11")
    assert all(c.startswith("herd-bench-") and ip.startswith("10.89.65.") for c, ip in hosts.values())


def test_overlay_is_literal_ssh_per_host():
    key = Path("/k/id_ed25519")
    data = converge.ssh_overlay({"ollama1": ("herd-bench-ollama1", "10.89.65.11")}, key)
    hv = data["all"]["hosts"]["ollama1"]
    assert hv["ansible_connection"] == "ssh"
    assert hv["ansible_host"] == "10.89.65.11"
    assert hv["ansible_user"] == "root"
    assert hv["ansible_ssh_private_key_file"] == str(key)
    for opt in ("ControlMaster=auto", "ControlPersist=60s", "StrictHostKeyChecking=no", "IdentitiesOnly=yes"):
        assert opt in hv["ansible_ssh_common_args"]
    assert "{{" not in yaml.safe_dump(data)
