"""The one port table: what a host serves on, and no second copy of it."""

from __future__ import annotations

import ast
from pathlib import Path

from ansible_collections.llamaherd.cluster.plugins.module_utils.ports import LLAMA_SERVER_PORT_START, PORT_VARS, service_ports

PLUGINS = Path(__file__).resolve().parents[4] / "plugins"


def test_a_node_in_several_groups_serves_each_groups_port():
    hv = {"ollama_port": 11500}
    assert service_ports(hv, ["ollama_nodes", "llama_cpp_workers", "dllama_workers"]) == [9990, 11500, 50052]


def test_a_head_serves_the_plans_instances_else_the_default_one():
    assert service_ports({}, ["llama_cpp_head"], servers=[{"port": 8081}, {"port": 8082}]) == [8081, 8082]
    assert service_ports({}, ["llama_cpp_head"]) == [LLAMA_SERVER_PORT_START]
    assert service_ports({"llama_cpp_servers": [{"port": 9000}]}, ["llama_cpp_head"]) == [9000]


def test_no_other_plugin_writes_a_default_port_down_again():
    """Each default lives in ports.py; elsewhere code reads it from there
    (numbers in code, not in docstrings or comments, are checked)."""
    defaults = {p for _, p in PORT_VARS.values()} | {LLAMA_SERVER_PORT_START}
    found = []
    for path in sorted(PLUGINS.rglob("*.py")):
        if path.name == "ports.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and type(node.value) is int and node.value in defaults:
                found.append(f"{path.relative_to(PLUGINS)}:{node.lineno}: {node.value}")
    assert found == []
