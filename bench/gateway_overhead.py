#!/usr/bin/env python3
"""What the gateway costs: the same chat completions straight to a real
llama-server and through the real LiteLLM proxy in front of it, on loopback.

llama-server (a llama.cpp build: ``--llama-server``, e.g. from the artifact
the converge bench leaves in .cache/bench/llama_cpp-artifacts) serves a tiny
GGUF (``--model``); the proxy (a venv with roles/gateway/files/litellm.lock.txt
installed, ``--venv``) runs the config ``gateway.litellm_config`` renders for
it. Both paths speak OpenAI's ``/v1/chat/completions``. For each concurrency,
rounds alternate direct and gateway batches of ``--requests`` requests, so
both see the same machine load; each batch ends when its requests are done.
Prints one JSON object (p50/p95 latency, requests per second, and the
gateway/direct ratios measured in this run) and writes it to ``--out``.

    python3 bench/gateway_overhead.py --venv /tmp/gw23venv \\
        --llama-server /tmp/lcpp/bin/llama-server --model .cache/bench/models/herd-tiny-llama-q8_0.gguf
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gateway_failover as gf  # bench/ is not a package

MODEL = "herd-tiny"


def one(url: str, key: str | None, max_tokens: int) -> float | None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": max_tokens}
    t = time.monotonic()
    status, _headers, _raw = gf.http("POST", url + "/v1/chat/completions", body, key, timeout=120)
    return time.monotonic() - t if status == 200 else None


def batch(url: str, key: str | None, n: int, conc: int, max_tokens: int) -> dict:
    t0 = time.monotonic()
    with ThreadPoolExecutor(conc) as pool:
        lat = list(pool.map(lambda _i: one(url, key, max_tokens), range(n)))
    wall = time.monotonic() - t0
    ok = [x for x in lat if x is not None]
    return {"ok": len(ok), "failed": n - len(ok), "wall_s": wall, "latencies": ok}


def summary(batches: list[dict]) -> dict:
    lat = sorted(x for b in batches for x in b["latencies"])
    q = statistics.quantiles(lat, n=20) if len(lat) >= 2 else [lat[0]] * 19
    return {
        "requests": sum(b["ok"] + b["failed"] for b in batches),
        "failed": sum(b["failed"] for b in batches),
        "p50_ms": round(statistics.median(lat) * 1000, 1),
        "p95_ms": round(q[18] * 1000, 1),
        "req_per_s": round(sum(b["ok"] for b in batches) / sum(b["wall_s"] for b in batches), 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--venv", required=True, help="a venv with the gateway role's LiteLLM lock installed")
    ap.add_argument("--llama-server", required=True)
    ap.add_argument("--model", required=True, help="a GGUF file")
    ap.add_argument("--requests", type=int, default=40, help="requests per batch")
    ap.add_argument("--rounds", type=int, default=3, help="direct/gateway batch pairs per concurrency")
    ap.add_argument("--concurrency", default="1,4")
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--out")
    args = ap.parse_args()
    gw = gf._gateway()
    tmp = Path(tempfile.mkdtemp(prefix="gw-overhead-"))
    procs = []
    try:
        lport = gf.free_port()
        slog = open(tmp / "llama-server.log", "w")  # noqa: SIM115 (the server writes it while it runs)
        procs.append(
            subprocess.Popen(
                [
                    args.llama_server,
                    "-m",
                    args.model,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(lport),
                    "-c",
                    "2048",
                    "-np",
                    "4",
                    "--alias",
                    MODEL,
                    "--no-webui",
                ],
                stdout=slog,
                stderr=subprocess.STDOUT,
            )
        )
        direct = f"http://127.0.0.1:{lport}"
        gf.wait_http(direct + "/health", 120)
        plan = {"endpoints": [{"engine": "llama_server", "url": direct, "models": [{"name": MODEL, "kind": "chat"}]}]}
        cfg = gw.litellm_config(plan, {"metrics": False})
        proxy, gateway = gf.start_proxy(args.venv, cfg, tmp)
        procs.append(proxy)
        # Warm both paths (model loaded, connections pooled, LiteLLM's imports).
        for url, key in ((direct, None), (gateway, gf.KEY)):
            batch(url, key, 30, 2, args.max_tokens)
        result = {
            "litellm": subprocess.run([f"{args.venv}/bin/pip", "show", "litellm"], capture_output=True, text=True).stdout.split(
                "\n"
            )[1],
            "max_tokens": args.max_tokens,
            "requests_per_batch": args.requests,
            "rounds": args.rounds,
            "levels": [],
        }
        for conc in (int(c) for c in args.concurrency.split(",")):
            runs = {"direct": [], "gateway": []}
            for _r in range(args.rounds):
                runs["direct"].append(batch(direct, None, args.requests, conc, args.max_tokens))
                runs["gateway"].append(batch(gateway, gf.KEY, args.requests, conc, args.max_tokens))
            d, g = summary(runs["direct"]), summary(runs["gateway"])
            result["levels"].append(
                {
                    "concurrency": conc,
                    "direct": d,
                    "gateway": g,
                    "p50_added_ms": round(g["p50_ms"] - d["p50_ms"], 1),
                    "p50_ratio": round(g["p50_ms"] / d["p50_ms"], 2),
                    "throughput_ratio": round(g["req_per_s"] / d["req_per_s"], 2),
                }
            )
        result["load_avg"] = os.getloadavg()
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(20)
    gf.emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
