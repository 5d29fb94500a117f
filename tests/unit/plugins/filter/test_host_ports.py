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


def test_a_drain_leaves_out_the_ports_prometheus_scrapes():
    """Prometheus keeps its scrape connections to the node exporter open: a
    drain that waited on port 9100 never ended (the cluster scenario with a
    monitoring group). metrics=False keeps the request ports only."""
    from ansible_collections.llamaherd.cluster.plugins.filter.ports import host_ports
    from ansible_collections.llamaherd.cluster.plugins.module_utils.ports import METRICS_PORT_VARS, PORT_VARS

    every = set(host_ports({}, "any"))
    requests = set(host_ports({}, "any", metrics=False))
    scraped = {PORT_VARS[v][1] for v in METRICS_PORT_VARS}
    assert scraped <= every and not scraped & requests
    assert requests == every - scraped
    assert {11434, 50052, 9990, 9999, 4000, LLAMA_SERVER_PORT_START} <= requests
