"""Preflight on the controller: the example inventories pass without contacting
any host, and each broken inventory is rejected with host, variable and fix."""

from __future__ import annotations

import re
import sys

import pytest
import yaml
from conftest import REPO, flat, run_playbook

sys.path.insert(0, str(REPO / "collections"))
sys.path.insert(0, str(REPO / "tests" / "harness"))
import demo_secrets
from preflight_cases import CASES, build_inventory, case_messages

EXAMPLES = sorted(p.name for p in (REPO / "inventory/examples").iterdir() if p.is_dir())
# Any accidental connection goes to a podman container that does not exist,
# never to the documentation addresses in the inventories.
NO_NETWORK = ["-e", "ansible_connection=containers.podman.podman"]


def test_there_are_at_least_ten_broken_inventories():
    assert len({c["name"] for c in CASES}) == len(CASES) >= 10


def test_base_inventory_passes(tmp_path):
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump(build_inventory({})))
    res = run_playbook("-i", str(inv), "playbooks/preflight.yml", *NO_NETWORK)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("example", [*EXAMPLES, "demo"])
def test_example_inventories_pass_on_the_controller_alone(example, tmp_path):
    path = REPO / "inventory" / ("demo" if example == "demo" else f"examples/{example}")
    secrets = []
    if example == "demo":
        # The demo's orchestrator runs the gateway, whose secrets have no
        # default: they come from Ansible Vault, as make demo passes them.
        demo_secrets.main(["--out", str(tmp_path)])
        secrets = ["-e", f"@{tmp_path / 'vault.yml'}", "--vault-password-file", str(tmp_path / "vault-password")]
    res = run_playbook("-i", str(path), "playbooks/preflight.yml", *NO_NETWORK, *secrets)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "inventory ok" in res.stdout or "ok=" in res.stdout


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_broken_inventory_is_rejected_with_a_fix(case, tmp_path):
    """Errors stop the run; a case marked warning: true passes with the warning."""
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump(build_inventory(case)))
    res = run_playbook("-i", str(inv), "playbooks/preflight.yml", *NO_NETWORK)
    out = flat(res.stdout + res.stderr)
    if case.get("warning"):
        # A mistake that may be deliberate: the run goes on, the warning says why it may not be.
        assert res.returncode == 0 and "[WARNING]" in out, out
    else:
        assert res.returncode != 0, out
        assert "nothing was changed" in out
    for words in case["expect"]:
        assert flat(words) in out, f"missing {words!r} in: {out[-2000:]}"
    # The docs test computes the messages in-process: the run prints the same.
    errors, warnings = case_messages(case, tmp_path)
    for message in errors + warnings:
        assert flat(message) in out, f"the run did not print {message!r}"


# One case of each kind: an address, a GPU, a host variable's type, a group,
# a model the catalog does not know, a context, an inventory-wide setting,
# more replicas than nodes, a catalog entry without its shape.
SITE_CASES = [
    "missing-cluster-address",
    "unknown-gpu-vendor",
    "ram-not-a-number",
    "group-name-near-miss",
    "model-name-typo",
    "context-above-trained",
    "safety-margin-out-of-range",
    "replicas-more-than-nodes",
    "catalog-entry-without-shape",
]


@pytest.mark.parametrize("name", SITE_CASES)
def test_site_stops_at_preflight_before_touching_a_host(name, tmp_path):
    """site.yml with the broken inventory: only preflight's plays run, no
    host is contacted (every host is unreachable by construction)."""
    case = next(c for c in CASES if c["name"] == name)
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump(build_inventory(case)))
    res = run_playbook("-i", str(inv), "site.yml", *NO_NETWORK)
    out = res.stdout
    assert res.returncode != 0
    plays = [line for line in out.splitlines() if line.startswith("PLAY [")]
    assert plays and all("Preflight" in p for p in plays), plays
    assert "UNREACHABLE" not in out
    assert "changed=0" in out and "changed=1" not in out


# A deploy run (an entry playbook that deploys the engine) needs the files the
# role downloads; a plan-only run only warns.
DOWNLOAD_CASES = [
    ("dllama-root-without-model", "site.yml"),
    ("dllama-root-without-model", "playbooks/distributed_llama.yml"),
    ("llama-cpp-model-without-download", "site.yml"),
    ("llama-cpp-model-without-download", "playbooks/llama_cpp.yml"),
]


@pytest.mark.parametrize(("name", "playbook"), DOWNLOAD_CASES, ids=[f"{n}-{p.split('/')[-1]}" for n, p in DOWNLOAD_CASES])
def test_a_deploy_run_stops_on_a_missing_download(name, playbook, tmp_path):
    case = next(c for c in CASES if c["name"] == name)
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump(build_inventory(case)))
    res = run_playbook("-i", str(inv), playbook, *NO_NETWORK)
    out = flat(res.stdout + res.stderr)
    assert res.returncode != 0, out
    assert "nothing was changed" in out
    for words in case["expect"]:
        assert flat(words) in out, f"missing {words!r} in: {out[-2000:]}"
    plays = [line for line in res.stdout.splitlines() if line.startswith("PLAY [")]
    assert plays and all("Preflight" in p for p in plays), plays
    assert "UNREACHABLE" not in res.stdout


@pytest.mark.parametrize(
    ("name", "args"),
    [
        # Another engine's entry playbook: llama.cpp's download is not its concern.
        ("llama-cpp-model-without-download", ["playbooks/ollama.yml"]),
        # site.yml with a limit that leaves the dllama root out.
        ("dllama-root-without-model", ["site.yml", "--limit", "ollama-a"]),
    ],
    ids=["ollama-playbook", "site-limit-without-root"],
)
def test_a_run_that_does_not_reach_the_host_only_warns(name, args, tmp_path):
    """Preflight passes with the warning; the run goes on to measure, which
    fails only because the test's hosts do not exist."""
    case = next(c for c in CASES if c["name"] == name)
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump(build_inventory(case)))
    res = run_playbook("-i", str(inv), *args, *NO_NETWORK)
    out = flat(res.stdout + res.stderr)
    assert "[WARNING]" in out and "nothing was changed" not in out, out
    for words in case["expect"]:
        assert flat(words) in out, f"missing {words!r} in: {out[-2000:]}"
    plays = [line for line in res.stdout.splitlines() if line.startswith("PLAY [")]
    assert any("Measure" in p for p in plays), plays


def test_each_host_keeps_its_own_facts_after_preflight(tmp_path):
    """Facts gathered after preflight belong to their host, with facts cached
    in memory (Ansible's default, and molecule's). ansible-core 2.21 hands a
    run_once task's fact layer to every host as one shared dict
    (https://github.com/ansible/ansible/issues/87148); without preflight's first
    task every host here reported the last host's environment. Local
    connections: each host's setup runs on the controller with an environment
    naming the host."""
    inv_data = build_inventory({})
    inv_data["all"]["vars"]["ansible_connection"] = "local"
    # The controller's own Python: interpreter discovery may find a pyenv
    # shim that has no version selected outside a checkout.
    inv_data["all"]["vars"]["ansible_python_interpreter"] = "{{ ansible_playbook_python }}"
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump(inv_data))
    playbook = tmp_path / "facts.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {"ansible.builtin.import_playbook": str(REPO / "playbooks" / "preflight.yml")},
                {
                    "name": "Gather a fact that differs per host",
                    "hosts": "all",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "ansible.builtin.setup": {"gather_subset": ["!all", "env"]},
                            "environment": {"HERD_TEST_HOST": "{{ inventory_hostname }}"},
                        },
                        {
                            "ansible.builtin.debug": {
                                "msg": "facts of {{ inventory_hostname }}: {{ ansible_facts.env.HERD_TEST_HOST }}"
                            }
                        },
                    ],
                },
            ]
        )
    )
    res = run_playbook("-i", str(inv), str(playbook), env={"ANSIBLE_CACHE_PLUGIN": "memory"})
    assert res.returncode == 0, res.stdout + res.stderr
    reported = re.findall(r"facts of (\S+): (\S+?)[\"'\s]", res.stdout)
    assert len(reported) >= 2, res.stdout
    assert all(host == seen for host, seen in reported), reported
