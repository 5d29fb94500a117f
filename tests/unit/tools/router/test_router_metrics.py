"""The metrics page: per node VRAM, per model placement, last optimization."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from llama_herd_router import decide as d
from llama_herd_router.metrics import MetricsServer, render
from llama_herd_router.ollama import Loaded
from llama_herd_router.router import OptimizeResult, Step

MIB = 2**20


def nodes():
    return [
        d.NodeState(
            "http://gpu:11434", "gpu", 4096, loaded=(Loaded("mxbai-embed-large:latest", 705, 705, 705 * MIB, 705 * MIB),)
        ),
        d.NodeState("http://cpu:11434", "cpu", 0, loaded=(Loaded("llama3.1:latest", 4700, 0, 4700 * MIB, 0),)),
        d.NodeState("http://gone:11434", "gone", 8192, reachable=False),
    ]


def test_render():
    last = OptimizeResult([Step("mxbai-embed-large", "loaded", "http://gpu:11434", "")], applied=True, finished_at=1700000000.5)
    page = render(nodes(), 0.8, ["mxbai-embed-large", "llama3.1:latest"], 3, 1700000001.0, last, loads_total=5)
    lines = set(page.splitlines())
    for line in (
        "# TYPE llama_herd_router_checks_total counter",
        "llama_herd_router_checks_total 3",
        'llama_herd_router_node_up{node="http://gone:11434"} 0',
        f'llama_herd_router_node_vram_total_bytes{{node="http://gpu:11434"}} {4096 * MIB}',
        f'llama_herd_router_node_vram_usable_bytes{{node="http://gpu:11434"}} {3276 * MIB}',
        f'llama_herd_router_node_vram_used_bytes{{node="http://gpu:11434"}} {705 * MIB}',
        f'llama_herd_router_node_vram_free_bytes{{node="http://gpu:11434"}} {2571 * MIB}',
        'llama_herd_router_node_vram_total_bytes{node="http://cpu:11434"} 0',
        'llama_herd_router_model_on_gpu{model="llama3.1:latest",node="http://cpu:11434"} 0',
        'llama_herd_router_model_on_gpu{model="mxbai-embed-large:latest",node="http://gpu:11434"} 1',
        'llama_herd_router_priority_model_on_gpu{model="mxbai-embed-large"} 1',
        'llama_herd_router_priority_model_on_gpu{model="llama3.1:latest"} 0',
        "llama_herd_router_last_optimization_success 1",
        "llama_herd_router_last_optimization_timestamp_seconds 1700000000.5",
        "# TYPE llama_herd_router_loads_total counter",
        "llama_herd_router_loads_total 5",
        "llama_herd_router_load_failures_total 0",
        'llama_herd_router_node_vram_known{node="http://gpu:11434",source="config"} 1',
        # A node that is down has no free VRAM, whatever its size.
        'llama_herd_router_node_vram_free_bytes{node="http://gone:11434"} 0',
    ):
        assert line in lines, line
    # A node that is down has no used-VRAM sample rather than a false 0.
    assert 'llama_herd_router_node_vram_used_bytes{node="http://gone:11434"}' not in page


def test_label_values_are_escaped():
    n = d.NodeState('http://a"b\\c:1', "x", None)
    assert 'node="http://a\\"b\\\\c:1"' in render([n], 0.8, [], 1, 0.0, None)


def test_server_serves_only_metrics_on_its_address():
    srv = MetricsServer("127.0.0.1", 0, render([], 0.8, [], 0, None, None))
    port = srv.httpd.server_address[1]
    srv.start()
    try:
        srv.update("llama_herd_router_up 1\n")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert resp.read() == b"llama_herd_router_up 1\n"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
        assert err.value.code == 404
    finally:
        srv.stop()
    assert srv.httpd.server_address[0] == "127.0.0.1"


def test_every_family_has_help_and_type_from_the_first_page():
    """Before the first check: HELP and TYPE on each family, counters at 0."""
    page = render([], 0.8, ["m"], 0, None, None)
    names = {line.split()[0].split("{")[0] for line in page.splitlines() if not line.startswith("#")}
    for name in names:
        assert f"# HELP {name} " in page and f"# TYPE {name} " in page, name
    assert "llama_herd_router_loads_total 0" in page.splitlines()
    assert "llama_herd_router_last_check_timestamp_seconds" not in page
