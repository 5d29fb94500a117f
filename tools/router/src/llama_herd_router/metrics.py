"""Prometheus metrics in the text exposition format (version 0.0.4).

Gauges and counters, rebuilt after every check, served by a stdlib HTTP
server on ``metrics_address:metrics_port`` (the cluster address, not
0.0.0.0). Only ``GET /metrics`` answers; everything else is a 404. Every
family has HELP and TYPE from the first scrape on (``promtool check
metrics`` is clean at every moment); loads are a counter, so a scrape
interval longer than the check interval misses none.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import decide as d
from .ollama import same_model
from .router import OptimizeResult

MIB = 2**20
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_HELP = {
    "llama_herd_router_up": "1 while the router runs.",
    "llama_herd_router_checks_total": "Cluster checks since start.",
    "llama_herd_router_last_check_timestamp_seconds": "When the cluster was last checked.",
    "llama_herd_router_node_up": "1 if the node answered its last check.",
    "llama_herd_router_node_vram_total_bytes": "Total VRAM of the node (0: no GPU).",
    "llama_herd_router_node_vram_usable_bytes": "Usable VRAM: the plan's budget when configured, else total VRAM x safety margin.",
    "llama_herd_router_node_vram_used_bytes": "VRAM used by loaded models (/api/ps size_vram).",
    "llama_herd_router_node_vram_free_bytes": "Usable VRAM not used by models (0 while the node is down).",
    "llama_herd_router_node_vram_known": "1 if the node's VRAM is known; source: config, observed (/api/ps) or unknown.",
    "llama_herd_router_model_loaded": "1 for each model loaded on a node.",
    "llama_herd_router_model_on_gpu": "1 if the loaded model is fully on GPU (size_vram == size).",
    "llama_herd_router_model_vram_bytes": "Part of the loaded model in VRAM.",
    "llama_herd_router_priority_model_on_gpu": "1 if the priority model is fully on GPU on some node.",
    "llama_herd_router_last_optimization_success": (
        "1 if the last optimization placed every priority model it could, verified (0 when a node's VRAM is unknown)."
    ),
    "llama_herd_router_last_optimization_timestamp_seconds": "When the last optimization finished.",
    "llama_herd_router_loads_total": "Models loaded onto GPU and verified in /api/ps since start.",
    "llama_herd_router_load_failures_total": "Loads onto GPU that failed or were not fully on GPU since start.",
}


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(
    nodes: Sequence[d.NodeState],
    margin: float,
    priority: Sequence[str],
    checks: int,
    checked_at: float | None,
    last: OptimizeResult | None,
    loads_total: int = 0,
    load_failures_total: int = 0,
) -> str:
    """The metrics page for the cluster state ``nodes``."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {name: [] for name in _HELP}

    def add(name: str, value: float, **labels: str) -> None:
        samples[name].append((labels, value))

    add("llama_herd_router_up", 1)
    add("llama_herd_router_checks_total", checks)
    add("llama_herd_router_loads_total", loads_total)
    add("llama_herd_router_load_failures_total", load_failures_total)
    if checked_at is not None:
        add("llama_herd_router_last_check_timestamp_seconds", checked_at)
    for n in nodes:
        add("llama_herd_router_node_up", 1 if n.reachable else 0, node=n.url)
        add("llama_herd_router_node_vram_known", 0 if n.vram_mib is None else 1, node=n.url, source=n.vram_source)
        if n.vram_mib is not None:
            add("llama_herd_router_node_vram_total_bytes", n.vram_mib * MIB, node=n.url)
            add("llama_herd_router_node_vram_usable_bytes", (n.usable_mib(margin) if n.has_gpu else 0) * MIB, node=n.url)
            add("llama_herd_router_node_vram_free_bytes", (n.free_mib(margin) if n.has_gpu else 0) * MIB, node=n.url)
        if n.reachable:
            add("llama_herd_router_node_vram_used_bytes", sum(m.size_vram_bytes for m in n.loaded), node=n.url)
        for m in n.loaded:
            add("llama_herd_router_model_loaded", 1, model=m.name, node=n.url)
            add("llama_herd_router_model_on_gpu", 1 if m.on_gpu else 0, model=m.name, node=n.url)
            add("llama_herd_router_model_vram_bytes", m.size_vram_bytes, model=m.name, node=n.url)
    for model in priority:
        on_gpu = any(m.on_gpu for n in nodes for m in n.loaded if same_model(m.name, model))
        add("llama_herd_router_priority_model_on_gpu", 1 if on_gpu else 0, model=model)
    if last is not None:
        add("llama_herd_router_last_optimization_success", 1 if last.ok else 0)
        add("llama_herd_router_last_optimization_timestamp_seconds", last.finished_at)
    out = []
    for name, rows in samples.items():
        if not rows:
            continue
        kind = "counter" if name.endswith("_total") else "gauge"
        out += [f"# HELP {name} {_HELP[name]}", f"# TYPE {name} {kind}"]
        for labels, value in rows:
            lab = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
            val = repr(float(value)) if isinstance(value, float) and not value.is_integer() else str(int(value))
            out.append(f"{name}{{{lab}}} {val}" if lab else f"{name} {val}")
    return "\n".join(out) + "\n"


class MetricsServer:
    """Serves the latest metrics page at ``http://address:port/metrics``."""

    def __init__(self, address: str, port: int, page: str) -> None:
        self._page = page
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404, "only /metrics is served here")
                    return
                body = server.page.encode()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # quiet: scrapes are not news
                return

        self.httpd = ThreadingHTTPServer((address, port), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="metrics", daemon=True)

    @property
    def page(self) -> str:
        with self._lock:
            return self._page

    def update(self, page: str) -> None:
        with self._lock:
            self._page = page

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
