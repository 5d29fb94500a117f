#!/usr/bin/env python3
"""Behaviour probes for the nginx_lb scenario, run on the controller.

Each subcommand sends a bounded number of requests to a pool (through the
load balancer or straight to a backend) and prints one JSON document;
verify.yml asserts on it. Two APIs:

- ollama (default): POST /api/generate; which backend answered comes from
  the Ollama stand-in's X-Ollama-Standin-Node header;
- llama: llama-server's POST /completion (ignore_eos, so exactly n tokens);
  which backend answered comes from the "model" field of the (last) answer,
  which is the server's --alias (the scenario sets it to the host's name).

Standard library only.

    lbprobe.py [--api llama] spread     --url URL [--n 8]
    lbprobe.py [--api llama] leastconn  --url URL [--short 6]
    lbprobe.py [--api llama] failover   --url URL --stop-cmd CMD --start-cmd CMD --node NODE
    lbprobe.py hold       --url URL --n 2 --marker FILE [--key KEY]
"""

from __future__ import annotations

import argparse
import http.client
import json
import shlex
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MODEL = "qwen2.5:14b"
NODE_HEADER = "X-Ollama-Standin-Node"


KEY: str | None = None
API = "ollama"


def _request(num_predict: int, stream: bool) -> tuple[str, dict[str, Any]]:
    if API == "llama":
        return "/completion", {"prompt": "probe", "n_predict": num_predict, "stream": stream, "ignore_eos": True}
    return "/api/generate", {"model": MODEL, "prompt": "probe", "stream": stream, "options": {"num_predict": num_predict}}


def _answers(data: bytes) -> list[dict[str, Any]]:
    """The JSON documents of a response: NDJSON (Ollama) or one document / SSE lines (llama-server)."""
    out = []
    for line in data.splitlines():
        line = line.strip()
        if line.startswith(b"data: "):
            line = line[6:]
        if line:
            out.append(json.loads(line))
    return out


def generate(url: str, num_predict: int, stream: bool = False, timeout: float = 60, on_headers: Any = None) -> dict[str, Any]:
    """One /api/generate; never raises: the outcome is in the result."""
    parts = urlsplit(url)
    path, req = _request(num_predict, stream)
    body = json.dumps(req)
    out: dict[str, Any] = {"start": time.time(), "ok": False, "node": None, "status": None, "error": None}
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"}
        if KEY:
            headers["Authorization"] = f"Bearer {KEY}"
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        out["status"] = resp.status
        out["node"] = resp.getheader(NODE_HEADER)
        if on_headers:
            on_headers(out)
        data = resp.read()
        lines = _answers(data)
        if API == "llama":
            out["node"] = lines[-1].get("model") if lines else None
            out["ok"] = resp.status == 200 and bool(lines) and lines[-1].get("stop") is True
        else:
            out["ok"] = resp.status == 200 and bool(lines) and lines[-1].get("done") is True
        out["chunks"] = len(lines)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
        out["end"] = time.time()
    return out


def count(results: list[dict[str, Any]]) -> dict[str, int]:
    nodes: dict[str, int] = {}
    for r in results:
        if r["ok"]:
            nodes[r["node"]] = nodes.get(r["node"], 0) + 1
    return nodes


def cmd_spread(args: argparse.Namespace) -> dict[str, Any]:
    """n requests at once: how many each backend served."""
    with ThreadPoolExecutor(args.n) as pool:
        results = list(pool.map(lambda _: generate(args.url, args.num_predict), range(args.n)))
    return {"nodes": count(results), "failed": sum(not r["ok"] for r in results)}


def cmd_leastconn(args: argparse.Namespace) -> dict[str, Any]:
    """Hold one long streaming request, then send short ones one after another.

    least_conn sends every short request to the backend that is not busy;
    round robin alternates regardless.
    """
    started = threading.Event()
    holder: dict[str, Any] = {}

    def long_request() -> None:
        holder.update(generate(args.url, args.long_predict, stream=True, on_headers=lambda _: started.set()))
        started.set()

    thread = threading.Thread(target=long_request)
    thread.start()
    if not started.wait(10):
        return {"error": "the long request never started"}
    long_node = holder.get("node")
    shorts = [generate(args.url, 2) for _ in range(args.short)]
    thread.join(60)
    return {
        "long_node": long_node or holder.get("node"),
        "long_ok": holder.get("ok", False),
        "short_nodes": [r["node"] for r in shorts],
        "short_failed": sum(not r["ok"] for r in shorts),
    }


def run(cmd: str) -> None:
    subprocess.run(shlex.split(cmd), check=True, capture_output=True, timeout=120)


def cmd_failover(args: argparse.Namespace) -> dict[str, Any]:
    """Load with `concurrency` clients; stop a backend part way; start it again.

    Requests that started after the stop command returned must all succeed.
    The load goes on for duration - stop_after seconds after the stop command
    returned (a server that drains its requests takes a while to stop).
    Then, once it is back, requests must reach it again.
    """
    results: list[dict[str, Any]] = []
    lock = threading.Lock()
    deadline = [time.time() + args.stop_after + 120]

    def client() -> None:
        while time.time() < deadline[0]:
            r = generate(args.url, args.num_predict, timeout=30)
            with lock:
                results.append(r)

    threads = [threading.Thread(target=client) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    time.sleep(args.stop_after)
    stop_begin = time.time()
    run(args.stop_cmd)
    stop_done = time.time()
    deadline[0] = stop_done + max(1.0, args.duration - args.stop_after)
    for t in threads:
        t.join(args.duration + 60)

    before = [r for r in results if r["start"] < stop_begin]
    in_flight = [r for r in before if r["end"] > stop_begin]
    after = [r for r in results if r["start"] > stop_done]

    run(args.start_cmd)
    started = time.time()
    rejoin = None
    tries = 0
    while time.time() - started < args.rejoin_timeout:
        r = generate(args.url, 1, timeout=10)
        tries += 1
        if r["ok"] and r["node"] == args.node:
            rejoin = round(r["end"] - started, 2)
            break
        time.sleep(0.2)
    return {
        "total": len(results),
        "stop_s": round(stop_done - stop_begin, 2),
        "before_stop": len(before),
        "in_flight_at_stop": len(in_flight),
        "in_flight_failed": sum(not r["ok"] for r in in_flight),
        "after_stop": len(after),
        "after_stop_failed": sum(not r["ok"] for r in after),
        "after_stop_errors": sorted({str(r["error"] or r["status"]) for r in after if not r["ok"]}),
        "after_stop_nodes": count(after),
        "before_stop_nodes": count(before),
        "rejoined_after_s": rejoin,
        "rejoin_tries": tries,
    }


def cmd_hold(args: argparse.Namespace) -> dict[str, Any]:
    """n long streaming requests at once; touch the marker when all are streaming."""
    marker = Path(args.marker)
    marker.unlink(missing_ok=True)
    begun = threading.Barrier(args.n + 1)

    def one(_: int) -> dict[str, Any]:
        return generate(args.url, args.num_predict, stream=True, timeout=120, on_headers=lambda _: begun.wait(30))

    with ThreadPoolExecutor(args.n) as pool:
        futures = [pool.submit(one, i) for i in range(args.n)]
        begun.wait(30)
        marker.write_text(str(time.time()))
        results = [f.result() for f in futures]
    return {"requests": [{k: r.get(k) for k in ("node", "ok", "status", "chunks", "error", "end")} for r in results]}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--api", choices=["ollama", "llama"], default="ollama")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("spread")
    p.add_argument("--url", required=True)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--num-predict", type=int, default=20)
    p = sub.add_parser("leastconn")
    p.add_argument("--url", required=True)
    p.add_argument("--short", type=int, default=6)
    p.add_argument("--long-predict", type=int, default=80)
    p = sub.add_parser("failover")
    p.add_argument("--url", required=True)
    p.add_argument("--stop-cmd", required=True)
    p.add_argument("--start-cmd", required=True)
    p.add_argument("--node", required=True, help="the stopped backend's node name")
    p.add_argument("--concurrency", type=int, default=6)
    p.add_argument("--num-predict", type=int, default=10)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--stop-after", type=float, default=3)
    p.add_argument("--rejoin-timeout", type=float, default=30)
    p = sub.add_parser("hold")
    p.add_argument("--url", required=True)
    p.add_argument("--n", type=int, default=2)
    p.add_argument("--num-predict", type=int, default=400)
    p.add_argument("--marker", required=True)
    p.add_argument("--key", help="API key (Authorization: Bearer)")
    args = ap.parse_args(argv)
    global KEY, API
    KEY = getattr(args, "key", None)
    API = args.api
    handler = {"spread": cmd_spread, "leastconn": cmd_leastconn, "failover": cmd_failover, "hold": cmd_hold}[args.cmd]
    print(json.dumps(handler(args), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
