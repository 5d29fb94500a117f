#!/usr/bin/env python3
"""A backend that accepts connections and never answers, behind the real
LiteLLM proxy, on loopback.

Two Ollama stand-ins (tests/doubles/ollama) serve the same models; the proxy
(a venv with roles/gateway/files/litellm.lock.txt installed, ``--venv``) runs
the config ``gateway.litellm_config`` renders for them, with short timings
so the run is quick (request timeout, health check interval and timeout:
``--timeout``, ``--interval``, ``--check-timeout``). After a warm-up, node A
is stopped and a listener that accepts and never answers takes its port.
Requests (chat and embeddings in turn) start every ``--gap`` seconds, each
in its own thread, so the run ends after about ``--requests`` x ``--gap``
plus the slowest request. ``--without-health-routing`` drops
``enable_health_check_routing`` from the rendered config: the config before
it. Prints one JSON object, also to ``--out``.

    python3 bench/gateway_hang.py --venv /tmp/gw23venv
    python3 bench/gateway_hang.py --venv /tmp/gw23venv --without-health-routing
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gateway_failover as gf  # bench/ is not a package


def hang(port: int, stop: threading.Event) -> None:
    """Accept on ``port`` and never answer (a backend stuck in its request loop)."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(64)
    srv.settimeout(0.5)
    held = []
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            held.append(srv.accept()[0])
    for c in held:
        c.close()
    srv.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--venv", required=True)
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--gap", type=float, default=1.0, help="seconds between request starts")
    ap.add_argument("--timeout", type=int, default=10, help="gateway_timeout (s)")
    ap.add_argument("--interval", type=int, default=5, help="gateway_health_check_interval (s)")
    ap.add_argument("--check-timeout", type=int, default=3, help="gateway_health_check_timeout (s)")
    ap.add_argument("--without-health-routing", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args()
    gw = gf._gateway()
    tmp = Path(tempfile.mkdtemp(prefix="gw-hang-"))
    a, b = gf.Node("node-a", tmp), gf.Node("node-b", tmp)
    for n in (a, b):
        n.start()
        for m in (gf.CHAT, gf.EMBED):
            gf.http("POST", f"http://127.0.0.1:{n.port}/api/pull", {"model": m, "stream": False}, timeout=120)
    plan = {
        "endpoints": [
            {
                "engine": "ollama",
                "url": f"http://127.0.0.1:{n.port}",
                "models": [{"name": gf.CHAT, "kind": "chat"}, {"name": gf.EMBED, "kind": "embedding"}],
            }
            for n in (a, b)
        ]
    }
    settings = {
        "timeout": args.timeout,
        "health_check_interval": args.interval,
        "health_check_timeout": args.check_timeout,
        "metrics": False,
    }
    cfg = gw.litellm_config(plan, settings)
    if args.without_health_routing:
        cfg["general_settings"].pop("enable_health_check_routing", None)
    proxy, url = gf.start_proxy(args.venv, cfg, tmp)
    stop = threading.Event()
    result = {"settings": settings, "health_routing": not args.without_health_routing}
    try:
        result["warm_failures"] = [r for r in (gf.one_request(url, i) for i in range(4)) if r["status"] != 200]
        a.stop()
        threading.Thread(target=hang, args=(a.port, stop), daemon=True).start()
        rows: list[dict] = []
        t0 = time.monotonic()

        def go(i: int) -> None:
            r = gf.one_request(url, i)
            r["start"] = round(i * args.gap, 1)
            rows.append(r)

        threads = []
        for i in range(args.requests):
            time.sleep(max(0.0, t0 + i * args.gap - time.monotonic()))
            t = threading.Thread(target=go, args=(i,))
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        rows.sort(key=lambda r: r["i"])
        slow = [r for r in rows if r.get("s", 0) > 2]
        result.update(
            requests=len(rows),
            wall_s=round(time.monotonic() - t0, 1),
            failed=[r for r in rows if r["status"] != 200],
            slow_over_2s=len(slow),
            slow=[{"start": r["start"], "s": r.get("s")} for r in slow],
            last_slow_start=max((r["start"] for r in slow), default=None),
            max_s=max(r.get("s", 0) for r in rows),
            median_s=sorted(r.get("s", 0) for r in rows)[len(rows) // 2],
        )
    finally:
        stop.set()
        proxy.terminate()
        b.stop()
        proxy.wait(20)
    gf.emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
