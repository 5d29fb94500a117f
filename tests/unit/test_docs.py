"""The docs stay true: the generated role references match the argument specs,
every llama-herd inventory variable is documented, and links resolve."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils.inventory import HERD_VARS

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("role_docs", REPO / "tools" / "role_docs.py")
role_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(role_docs)

DOC_PAGES = sorted([REPO / "README.md", *(REPO / "docs").rglob("*.md"), *(REPO / "bench").glob("*.md")])
_LINK_RE = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("path", sorted(role_docs.pages()), ids=lambda p: p.name)
def test_generated_role_reference_is_current(path):
    assert path.exists() and path.read_text() == role_docs.pages()[path], (
        f"{path.relative_to(REPO)} is out of date with the role's meta/argument_specs.yml: run tools/role_docs.py"
    )


def test_every_role_has_a_reference():
    roles = {p.name for p in (REPO / "roles").iterdir() if (p / "tasks").is_dir()}
    assert roles == set(role_docs.roles()), "a role without meta/argument_specs.yml has no generated reference"


@pytest.mark.parametrize("var", sorted(HERD_VARS))
def test_every_herd_variable_is_in_the_inventory_reference(var):
    text = (REPO / "docs" / "inventory.md").read_text()
    assert f"`{var}`" in text, (
        f"docs/inventory.md does not document {var} (preflight accepts it: module_utils/inventory.py HERD_VARS)"
    )


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(page):
    broken = []
    for target in _LINK_RE.findall(page.read_text()):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#", 1)[0]).resolve()
        if not path.exists():
            broken.append(target)
    assert not broken, f"{page.relative_to(REPO)}: links to missing files {broken}"


def _example_plan_markdown(name: str) -> str:
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager
    from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan
    from ansible_collections.llamaherd.cluster.plugins.module_utils.plan_report import markdown

    loader = DataLoader()
    im = InventoryManager(loader=loader, sources=[str(REPO / "inventory" / "examples" / name)])
    vm = VariableManager(loader=loader, inventory=im)
    hv = {h.name: json.loads(json.dumps(vm.get_vars(host=h), default=str)) for h in im.get_hosts()}
    groups = {g: [h.name for h in im.groups[g].get_hosts()] for g in im.groups}
    return markdown(build_plan(hv, groups))


_EXCERPT_RE = re.compile(r"make plan INV=inventory/examples/(\S+)\n```\n\n```text\n(.*?)```", re.S)


def test_clusters_page_quotes_the_current_plans():
    excerpts = _EXCERPT_RE.findall((REPO / "docs" / "clusters.md").read_text())
    assert len(excerpts) == 4, "docs/clusters.md should show the plan of each of the four example clusters"
    for name, excerpt in excerpts:
        lines = set(_example_plan_markdown(name).splitlines())
        stale = [line for line in excerpt.splitlines() if line.strip() and line.strip() != "..." and line not in lines]
        assert not stale, f"docs/clusters.md: the plan of {name} no longer prints {stale} (run make plan INV=...)"


_PATH_RE = re.compile(r"`((?:roles|docs|playbooks|plugins|tests|tools|inventory|molecule|bench|\.ci)/[A-Za-z0-9_./-]+)`")


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_repository_paths_named_in_docs_exist(page):
    """A file or directory of the repository named in backticks exists, so a
    reader who looks for it finds it (paths with placeholders are skipped)."""
    missing = sorted({p for p in _PATH_RE.findall(page.read_text()) if not (REPO / p.rstrip("/")).exists() and ".cache" not in p})
    assert not missing, f"{page.relative_to(REPO)} names files the repository does not have: {missing}"
