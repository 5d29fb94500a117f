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

DOC_PAGES = sorted(
    [
        REPO / "README.md",
        REPO / "CHANGELOG.md",
        *(REPO / "docs").rglob("*.md"),
        *(REPO / "bench").rglob("*.md"),
        *(REPO / "roles").glob("*/README*.md"),
        *(REPO / "tests" / "doubles").glob("*/README.md"),
        *(REPO / "tools").glob("*/README.md"),
    ]
)
# Inline links and images, [text](target) or [text](target "title") or
# [text](<target>), and reference definitions, [id]: target.
_LINK_RE = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'(][^)]*)?\)")
_REF_RE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
_FENCE_RE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.S | re.M)
_CODE_RE = re.compile(r"`[^`\n]*`")


def _prose(text: str) -> str:
    """The page without fenced code blocks and inline code, where a link is
    only an example."""
    return _CODE_RE.sub("", _FENCE_RE.sub("", text))


def _anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation
    other than - and _ dropped, spaces to -, repeats numbered -1, -2 ..."""
    seen: dict[str, int] = {}
    out = set()
    for line in _FENCE_RE.sub("", page.read_text()).splitlines():
        m = re.match(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    out.update(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", page.read_text()))
    return out


@pytest.mark.parametrize("path", sorted(role_docs.pages()), ids=lambda p: str(p.relative_to(REPO)))
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
    """Every relative link (inline, image or reference) names a file or
    directory of the repository, and a #fragment names a heading of the
    Markdown page it points at."""
    text = _prose(page.read_text())
    broken = []
    for target in [*_LINK_RE.findall(text), *_REF_RE.findall(text)]:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
            continue  # https:, mailto: ...
        file, _, fragment = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        missing_heading = fragment and path.suffix == ".md" and path.exists() and fragment.lower() not in _anchors(path)
        if not path.exists() or missing_heading:
            broken.append(target)
    assert not broken, f"{page.relative_to(REPO)}: links to missing files or headings {broken}"


def test_link_checker_sees_every_link_form(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("# A heading: here\n")
    page.write_text(
        '# Top\n[a](there.md#a-heading-here) [b](there.md "t") ![c](missing.png)\n'
        "[d](#top) [e](#nowhere) `[f](in-code.md)`\n\n```\n[g](in-fence.md)\n```\n\n[r]: gone.md\n"
    )
    text = _prose(page.read_text())
    found = [*_LINK_RE.findall(text), *_REF_RE.findall(text)]
    assert found == ["there.md#a-heading-here", "there.md", "missing.png", "#top", "#nowhere", "gone.md"]
    assert _anchors(tmp_path / "there.md") == {"a-heading-here"} and "top" in _anchors(page)


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
    reader who looks for it finds it (paths with placeholders are skipped; a
    README beside a tool may name the tool's files from its own directory)."""
    missing = sorted(
        {
            p
            for p in _PATH_RE.findall(page.read_text())
            if not (REPO / p.rstrip("/")).exists() and not (page.parent / p.rstrip("/")).exists() and ".cache" not in p
        }
    )
    assert not missing, f"{page.relative_to(REPO)} names files the repository does not have: {missing}"


def test_the_catalog_page_is_current():
    """docs/models.md lists the built-in catalog; tools/catalog_docs.py writes it."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, str(REPO / "tools" / "catalog_docs.py"), "--check"], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
