"""What the collection declares matches what it uses: the collections its roles
and playbooks call, the Python packages its controller-side code imports, the
ansible-core releases it is tested on, and the linters pre-commit runs."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SHIPPED_YAML = ("roles", "playbooks", "site.yml")
OWN = {"ansible.builtin", "llamaherd.cluster"}


def _pins(name: str) -> dict[str, str]:
    pins = {}
    for line in (REPO / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            pkg, _, version = line.partition("==")
            pins[re.sub(r"\[.*\]", "", pkg).lower()] = version
    return pins


def _collections_used() -> set[str]:
    used = set()
    fqcn = re.compile(r"\b([a-z_]+\.[a-z_]+)\.[a-z_]+:", re.MULTILINE)
    for top in SHIPPED_YAML:
        path = REPO / top
        for f in [path] if path.is_file() else path.rglob("*.yml"):
            used |= set(fqcn.findall(f.read_text()))
    return used - OWN


def test_galaxy_dependencies_are_the_collections_the_roles_call():
    deps = set(yaml.safe_load((REPO / "galaxy.yml").read_text())["dependencies"])
    assert deps == _collections_used()


def test_requirements_yml_lists_the_galaxy_dependencies_with_their_versions():
    deps = yaml.safe_load((REPO / "galaxy.yml").read_text())["dependencies"]
    listed = {c["name"]: c["version"] for c in yaml.safe_load((REPO / "requirements.yml").read_text())["collections"]}
    assert listed == deps


def test_test_only_collections_stay_out_of_the_dependencies():
    deps = set(yaml.safe_load((REPO / "galaxy.yml").read_text())["dependencies"])
    dev = {c["name"] for c in yaml.safe_load((REPO / "requirements-dev.yml").read_text())["collections"]}
    assert "containers.podman" in dev and not dev & deps


def test_requirements_txt_holds_what_the_controller_imports_and_no_test_tool():
    """requirements.txt: ansible, and the third-party packages plugins/ import."""
    runtime, dev = _pins("requirements.txt"), _pins("requirements-dev.txt")
    assert not set(runtime) & set(dev)
    stdlib = set(sys.stdlib_module_names) | {"ansible", "ansible_collections", "jinja2", "yaml"}
    imported = set()
    for f in (REPO / "plugins").rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - stdlib
    assert third_party and third_party <= set(runtime), third_party - set(runtime)
    assert {"ansible-core", "ansible"} <= set(runtime)
    assert not {"pytest", "molecule", "ansible-lint", "ruff", "yamllint"} & set(runtime)


def test_requires_ansible_is_the_tested_range():
    """From the pinned release to the newest the version matrix runs, no wider."""
    sys.path.insert(0, str(REPO / "tools"))
    import version_matrix

    spec = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())["requires_ansible"]
    pinned = _pins("requirements.txt")["ansible-core"]
    releases = sorted([".".join(pinned.split(".")[:2]), *version_matrix.CORES], key=lambda v: tuple(map(int, v.split("."))))
    newest = releases[-1].split(".")
    assert spec == f">={releases[0]}.0,<{newest[0]}.{int(newest[1]) + 1}.0"
    for release in version_matrix.CORES:
        assert (REPO / "tests" / "sanity" / f"ignore-{release}.txt").exists()


def test_pre_commit_runs_the_linters_of_make_lint():
    lint = re.search(r"^lint:.*\n((?:\t.*\n)+)", (REPO / "Makefile").read_text(), re.MULTILINE).group(1)
    make_cmds = {line.strip().removesuffix(" .") for line in lint.splitlines()}
    hooks = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())["repos"]
    assert all(r["repo"] == "local" for r in hooks)  # nothing fetched
    entries = {h["entry"].replace(" --force-exclude", "") for r in hooks for h in r["hooks"]}
    assert entries == make_cmds
