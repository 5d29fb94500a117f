"""The host_ports filter (plugins/filter/ports.py): controller code, so its
test is not under module_utils/."""

from __future__ import annotations

from ansible_collections.llamaherd.cluster.plugins.module_utils.ports import LLAMA_SERVER_PORT_START


def test_a_node_that_left_its_groups_drains_every_groups_port():
    """remove_node.yml: the node is in none of its groups any more (the
    inventory edit came first), so the filter's 'any' counts them all."""
    from ansible_collections.llamaherd.cluster.plugins.filter.ports import host_ports

    assert host_ports({"ollama_port": 11500}, []) == []
    every = host_ports({"ollama_port": 11500}, "any")
    assert {11500, 50052, 9990, 9999, LLAMA_SERVER_PORT_START} <= set(every)
