"""module_utils imports form no cycle, and every import sits at the top of
its module (a function-local import is how a cycle hides)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

MODULE_UTILS = Path(__file__).resolve().parents[4] / "plugins" / "module_utils"
PREFIX = "ansible_collections.llamaherd.cluster.plugins.module_utils."
MODULES = sorted(p.stem for p in MODULE_UTILS.glob("*.py") if p.stem != "__init__")


def _imports(tree: ast.AST) -> list[tuple[str, bool]]:
    """(module_utils sibling, at module level) for each import of one."""
    top = {id(n) for n in getattr(tree, "body", [])}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                names = [node.module] if node.module else [a.name for a in node.names]
            elif (node.module or "").startswith(PREFIX):
                names = [node.module[len(PREFIX) :]]
            else:
                continue
            out += [(n.split(".")[0], id(node) in top) for n in names if n.split(".")[0] in MODULES]
    return out


GRAPH = {m: _imports(ast.parse((MODULE_UTILS / f"{m}.py").read_text())) for m in MODULES}


@pytest.mark.parametrize("module", MODULES)
def test_siblings_are_imported_at_the_top(module):
    assert [name for name, at_top in GRAPH[module] if not at_top] == []


def test_no_import_cycle():
    edges = {m: {name for name, _ in GRAPH[m]} for m in MODULES}
    done: set[str] = set()

    def visit(m: str, path: list[str]) -> None:
        assert m not in path, " -> ".join([*path[path.index(m) :], m])
        if m in done:
            return
        for n in sorted(edges[m]):
            visit(n, [*path, m])
        done.add(m)

    for m in MODULES:
        visit(m, [])
