"""The repository builds into a collection artifact that installs, and a
playbook outside the repository calls a role from it by FQCN against a real
systemd host."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

import pytest
from conftest import REPO, VENV_BIN, ansible_env

IMAGE = "localhost/llamaherd/debian12-systemd:amd64"


def _run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    res = _run([str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out), str(REPO)], env=ansible_env())
    assert res.returncode == 0, res.stdout + res.stderr
    tarballs = list(out.glob("llamaherd-cluster-*.tar.gz"))
    assert len(tarballs) == 1
    # The artifact holds the collection, not the developer's checkout.
    listing = _run(["tar", "tzf", str(tarballs[0])]).stdout.split()
    assert "roles/herd_common/tasks/main.yml" in listing
    assert "plugins/module_utils/inventory.py" in listing
    assert "plugins/module_utils/plan_report.html.j2" in listing  # plan.html's template
    assert not [p for p in listing if p.startswith("bench/results/plan-report/") and p.endswith(".png")]
    assert not [p for p in listing if p.startswith((".venv", ".cache", "collections/", ".git/"))]
    # Galaxy refuses roles without a README; the repository's tests and benchmarks stay out,
    # except the sanity ignore file ansible-test reads from the artifact.
    assert {f"roles/{r}/README.md" for r in ("ollama", "herd_common")} <= set(listing)
    assert {f"tests/sanity/ignore-2.{minor}.txt" for minor in (19, 20, 21)} <= set(listing)
    assert "CHANGELOG.md" in listing and "changelogs/changelog.yaml" in listing
    assert not [p for p in listing if p.startswith(("requirements-dev", ".pre-commit", "changelogs/fragments"))]
    assert not [p for p in listing if p.startswith(("molecule/", "bench/", "tests/unit/", "tests/integration/"))]
    dest = tmp_path_factory.mktemp("colls")
    env = ansible_env()
    env.pop("ANSIBLE_CONFIG")
    res = _run(
        [str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--offline", "--force", "-p", str(dest), str(tarballs[0])],
        env=env,
        cwd=dest,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert (dest / "ansible_collections/llamaherd/cluster/MANIFEST.json").exists()
    return dest


def test_installed_collection_writes_plan_html(installed, tmp_path):
    """The plan action, run from the installed artifact, finds the page's
    template beside plan_report.py and writes plan.html (no host contacted)."""
    (tmp_path / "hosts.yml").write_text(
        "all:\n  vars:\n    herd_models: [{name: llama3.2:3b}]\n  children:\n    ollama_nodes:\n      hosts:\n"
        "        node:\n          ansible_connection: local\n          herd_ram_mib: 8192\n"
    )
    (tmp_path / "play.yml").write_text(
        "- name: Plan with an installed collection\n  hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: Plan by FQCN\n      llamaherd.cluster.herd_plan:\n"
        f"        report_dir: {tmp_path / 'plan'}\n        state_dir: {tmp_path / 'state'}\n      run_once: true\n"
    )
    env = ansible_env()
    env.pop("ANSIBLE_CONFIG")
    env["ANSIBLE_COLLECTIONS_PATH"] = str(installed)
    res = _run([str(VENV_BIN / "ansible-playbook"), "-i", "hosts.yml", "play.yml"], cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    page = (tmp_path / "plan" / "plan.html").read_text(encoding="utf-8")
    assert 'class="card host-card" id="host-node" data-host="node"' in page
    assert "llama3.2:3b" in page and "http://" not in page


@pytest.fixture
def podman_host():
    if _run(["podman", "image", "exists", IMAGE]).returncode != 0:
        pytest.fail(f"{IMAGE} is missing: run `make image` (tests/harness/herd_hosts.py image)")
    name = f"herd-colltest-{uuid.uuid4().hex[:6]}"
    res = _run(
        [
            "podman",
            "run",
            "-d",
            "--name",
            name,
            "--hostname",
            name,
            "--privileged",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1000:1000",
            IMAGE,
        ]
    )
    assert res.returncode == 0, res.stderr
    try:
        for _ in range(60):
            state = _run(["podman", "exec", name, "systemctl", "is-system-running"]).stdout.strip()
            if state in ("running", "degraded"):
                break
            subprocess.run(["sleep", "1"], check=False)
        info = json.loads(_run(["podman", "inspect", name]).stdout)[0]
        ip = info["NetworkSettings"]["IPAddress"] or next(iter(info["NetworkSettings"]["Networks"].values()))["IPAddress"]
        yield name, ip
    finally:
        _run(["podman", "rm", "-f", "-t", "2", name])


def test_installed_collection_role_runs_by_fqcn_outside_the_repo(installed, podman_host, tmp_path):
    name, ip = podman_host
    (tmp_path / "hosts.yml").write_text(
        f"all:\n  children:\n    ollama_nodes:\n      hosts:\n        node:\n"
        f"          ansible_host: {name}\n          ansible_connection: containers.podman.podman\n"
        f"          ansible_python_interpreter: /usr/bin/python3\n          herd_cluster_address: {ip}\n"
    )
    (tmp_path / "play.yml").write_text(
        "- name: Use llama-herd from an installed collection\n  hosts: all\n  tasks:\n"
        "    - name: Preflight by FQCN\n      llamaherd.cluster.herd_preflight:\n      run_once: true\n"
        "    - name: Base role by FQCN\n      ansible.builtin.include_role:\n        name: llamaherd.cluster.herd_common\n"
    )
    env = ansible_env()
    env.pop("ANSIBLE_CONFIG")
    env["ANSIBLE_COLLECTIONS_PATH"] = str(installed)
    env["ANSIBLE_ROLES_PATH"] = str(tmp_path)
    res = _run([str(VENV_BIN / "ansible-playbook"), "-i", "hosts.yml", "play.yml"], cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (
        str(installed)
        in _run([str(VENV_BIN / "ansible-galaxy"), "collection", "list", "llamaherd.cluster"], env=env, cwd=tmp_path).stdout
    )
    fact = _run(["podman", "exec", name, "cat", "/etc/ansible/facts.d/llama_herd.fact"]).stdout
    assert json.loads(fact)["groups"] == ["ollama_nodes"]
    assert os.path.commonpath([str(installed), str(REPO)]) != str(REPO)


def test_installed_collection_plans_an_example_inventory(installed, tmp_path):
    """The documented entry point of an installed collection: `ansible-playbook
    llamaherd.cluster.plan` from an empty directory, no ansible.cfg, an example
    inventory copied beside it. The plan runs (preflight, then placement) and
    its report lands beside the placement record, not in the collection."""
    inv = tmp_path / "mycluster"
    shutil.copytree(REPO / "inventory" / "demo", inv)
    env = ansible_env()
    env.pop("ANSIBLE_CONFIG")
    env["ANSIBLE_COLLECTIONS_PATH"] = str(installed)
    res = _run([str(VENV_BIN / "ansible-playbook"), "-i", str(inv), "llamaherd.cluster.plan"], cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "llama-herd plan" in res.stdout and "replicas" in res.stdout
    state = inv / ".herd-state"
    assert (state / "placement.json").is_file()
    plan = json.loads((state / "plan" / "plan.json").read_text(encoding="utf-8"))
    assert {"ollama1", "ollama2"} <= set(plan["hosts"])
    coll = installed / "ansible_collections" / "llamaherd" / "cluster"
    assert not (coll / ".cache").exists(), "the plan wrote into the installed collection"
    # The deploy entry point resolves too: site's preflight stops this
    # inventory (no model downloads) before any host is contacted.
    res = _run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(inv), "llamaherd.cluster.site", "--tags", "plan"],
        cwd=tmp_path,
        env=env,
    )
    assert res.returncode != 0
    assert "herd_models[herd-tiny-llama]: has no download" in res.stdout
    assert "unreachable=0" in res.stdout and "UNREACHABLE" not in res.stdout
