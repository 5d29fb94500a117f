#!/usr/bin/env python3
"""The gateway's failover against the real LiteLLM proxy, on loopback.

Two Ollama stand-ins (tests/doubles/ollama) on 127.0.0.1 serve the same chat
and embedding model; the proxy (a venv with roles/gateway/files/litellm.lock.txt
installed, ``--venv``) runs the config ``gateway.litellm_config`` renders for
them. One backend is stopped, requests go out spread over more than one
cooldown period, then the backend comes back. Prints one JSON object and
writes it to ``--out`` if given. No Redis here (the in-memory cache); the
molecule scenario ``gateway`` runs the same check with Redis.

    python3 -m venv /tmp/gwvenv
    /tmp/gwvenv/bin/pip install --require-hashes -r roles/gateway/files/litellm.lock.txt
    python3 bench/gateway_failover.py --venv /tmp/gwvenv --requests 200 --cooldown 5
    python3 bench/gateway_failover.py --venv /tmp/gwvenv --requests 200 --cooldown 5 --without-group-failover
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOUBLE = ROOT / "tests/doubles/ollama/ollama.py"
KEY = "sk-bench-failover-0000000000000000"
CHAT, EMBED = "llama3.2:1b", "nomic-embed-text"


def _gateway():
    spec = importlib.util.spec_from_file_location("gateway", ROOT / "plugins/module_utils/gateway.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, key=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def wait_http(url, timeout, key=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if http("GET", url, key=key, timeout=5)[0] < 500:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not answer in {timeout} s")


class Node:
    def __init__(self, name: str, tmp: Path):
        self.name, self.port, self.models = name, free_port(), tmp / name
        self.log = tmp / f"{name}.log"
        self.proc = None

    def start(self):
        env = {
            **os.environ,
            "OLLAMA_HOST": f"127.0.0.1:{self.port}",
            "OLLAMA_MODELS": str(self.models),
            "OLLAMA_STANDIN_NODE": self.name,
        }
        log = open(self.log, "a")  # noqa: SIM115 (the server writes it while it runs)
        self.proc = subprocess.Popen([sys.executable, str(DOUBLE), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=log)
        wait_http(f"http://127.0.0.1:{self.port}/api/version", 20)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)

    def requests_served(self) -> int:
        text = self.log.read_text() if self.log.exists() else ""
        return sum(1 for line in text.splitlines() if "POST /api/chat" in line or "POST /api/embed" in line)


def start_proxy(venv: str, cfg: dict, tmp: Path) -> tuple[subprocess.Popen, str]:
    """The LiteLLM proxy of ``venv`` on a free loopback port with ``cfg``
    (logging to tmp/proxy.log); returns it and its base URL once alive."""
    (tmp / "config.yaml").write_text(json.dumps(cfg))
    port = free_port()
    env = {**os.environ, "LITELLM_MASTER_KEY": KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    log = open(tmp / "proxy.log", "w")  # noqa: SIM115 (the proxy writes it while it runs)
    proxy = subprocess.Popen(
        [f"{venv}/bin/litellm", "--config", str(tmp / "config.yaml"), "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/health/liveliness", 180)
    except BaseException:
        proxy.terminate()
        raise
    return proxy, url


def emit(result: dict, out: str | None) -> None:
    """Print the result as JSON, and write it to ``out`` when given."""
    text = json.dumps(result, indent=1)
    print(text)
    if out:
        Path(out).write_text(text + "\n")


def one_request(url, i):
    if i % 2 == 0:
        body = {"model": CHAT, "messages": [{"role": "user", "content": "Say hello."}]}
        path = "/v1/chat/completions"
    else:
        body, path = {"model": EMBED, "input": ["one herd", "one gateway"]}, "/v1/embeddings"
    t = time.monotonic()
    try:
        status, headers, raw = http("POST", url + path, body, KEY, timeout=120)
    except OSError as exc:
        return {"i": i, "status": 0, "error": str(exc)[:200]}
    out = {
        "i": i,
        "status": status,
        "s": round(time.monotonic() - t, 2),
        "api_base": headers.get("x-litellm-model-api-base") or headers.get("X-Litellm-Model-Api-Base"),
    }
    if status != 200:
        out["error"] = raw.decode(errors="replace")[:300]
    return out


def scrape_with_prometheus(binary: str, gateway_port: int, tmp: Path, auth: bool) -> dict:
    """Prometheus with the ``gateway`` job of module_utils/monitoring.py for
    a gateway on loopback: is it up, and does it store LiteLLM's series?"""
    sys.path.insert(0, str(ROOT / "collections"))
    from ansible_collections.llamaherd.cluster.plugins.module_utils.monitoring import scrape_jobs

    hv = {"gw": {"herd_cluster_address": "127.0.0.1", "gateway_port": gateway_port, "gateway_metrics_auth": auth}}
    jobs = [j for j in scrape_jobs(hv, {"gateway": ["gw"]}, {}, nodes=[]) if j["job"] == "gateway"]
    if not jobs:
        return {"gateway_job": False}
    (job,) = jobs
    cfg = {
        "global": {"scrape_interval": "2s"},
        "scrape_configs": [
            {
                "job_name": "gateway",
                "metrics_path": job["metrics_path"],
                "static_configs": [{"targets": [job["targets"][0]["target"]]}],
            }
        ],
    }
    (tmp / "prometheus.yml").write_text(json.dumps(cfg))
    port = free_port()
    prom = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(10)
        base = f"http://127.0.0.1:{port}/api/v1/query?query="

        def query(q):
            return json.loads(http("GET", base + urllib.parse.quote(q))[2])["data"]["result"]

        up = query('up{job="gateway"}')
        return {
            "gateway_job": True,
            "up": [r["value"][1] for r in up],
            "litellm_series": int(query('count({job="gateway",__name__=~"litellm_.+"})')[0]["value"][1] or 0),
        }
    finally:
        prom.terminate()
        prom.wait(20)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--venv", required=True)
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--cooldown", type=int, default=5, help="gateway_cooldown_time (s)")
    ap.add_argument("--spread", type=float, default=0, help="seconds to spread the requests over (default 3 cooldowns)")
    ap.add_argument(
        "--without-group-failover",
        action="store_true",
        help="drop fallbacks/max_fallbacks from the rendered config: the config before issue 23's fix",
    )
    ap.add_argument("--metrics-without-key", action="store_true", help="render with gateway_metrics_auth false")
    ap.add_argument("--prometheus", help="a prometheus binary: scrape the gateway job monitoring.scrape_jobs renders")
    ap.add_argument("--out")
    args = ap.parse_args()
    gw = _gateway()
    tmp = Path(tempfile.mkdtemp(prefix="gw-failover-"))
    a, b = Node("node-a", tmp), Node("node-b", tmp)
    for n in (a, b):
        n.start()
        for m in (CHAT, EMBED):
            http("POST", f"http://127.0.0.1:{n.port}/api/pull", {"model": m, "stream": False}, timeout=120)
    plan = {
        "endpoints": [
            {
                "engine": "ollama",
                "url": f"http://127.0.0.1:{n.port}",
                "models": [{"name": CHAT, "kind": "chat"}, {"name": EMBED, "kind": "embedding"}],
            }
            for n in (a, b)
        ]
    }
    settings = {"cooldown_time": args.cooldown, "metrics_auth": not args.metrics_without_key}
    cfg = gw.litellm_config(plan, settings)
    if args.without_group_failover:
        for k in ("fallbacks", "max_fallbacks"):
            cfg["router_settings"].pop(k, None)
    proxy, url = start_proxy(args.venv, cfg, tmp)
    port = int(url.rsplit(":", 1)[1])
    result = {"router_settings": cfg["router_settings"], "litellm_settings": cfg["litellm_settings"]}
    try:
        warm = [one_request(url, i) for i in range(4)]
        result["warm_failures"] = [r for r in warm if r["status"] != 200]
        a.stop()
        served_b = b.requests_served()
        spread = args.spread or 3 * args.cooldown
        gap = spread / max(args.requests - 1, 1)
        t0 = time.monotonic()
        rows = []
        for i in range(args.requests):
            time.sleep(max(0.0, t0 + i * gap - time.monotonic()))
            r = one_request(url, i)
            r["t"] = round(time.monotonic() - t0, 1)
            rows.append(r)
        result.update(
            requests=len(rows),
            spread_s=round(time.monotonic() - t0, 1),
            failures=[r for r in rows if r["status"] != 200],
            ok_on=sorted({r["api_base"] for r in rows if r["status"] == 200}, key=str),
            node_b_requests=b.requests_served() - served_b,
            max_latency_s=max(r.get("s", 0) for r in rows),
        )
        # The backend comes back: it must take traffic again once its cooldown is over.
        a.start()
        served_a = a.requests_served()
        time.sleep(args.cooldown + 1)
        back = [one_request(url, i) for i in range(12)]
        result["after_restart"] = {
            "failures": [r for r in back if r["status"] != 200],
            "node_a_requests": a.requests_served() - served_a,
        }
        # The prometheus callback of the open-source build (no licence key set).
        status, _, raw = http("GET", url + "/metrics/", key=KEY)
        names = sorted({ln.split("{")[0].split(" ")[0] for ln in raw.decode().splitlines() if ln.startswith("litellm_")})
        result["metrics"] = {
            "status_with_key": status,
            "status_without_key": http("GET", url + "/metrics/")[0],
            "litellm_series": len(names),
            "some": [n for n in names if "deployment" in n or "requests" in n][:8],
        }
        if args.prometheus:
            result["prometheus"] = scrape_with_prometheus(args.prometheus, port, tmp, not args.metrics_without_key)
    finally:
        proxy.terminate()
        for n in (a, b):
            if n.proc and n.proc.poll() is None:
                n.stop()
        proxy.wait(20)
    result["proxy_log"] = str(tmp / "proxy.log")
    emit(result, args.out)
    return 0 if not result["failures"] and not result["after_restart"]["failures"] else 1


if __name__ == "__main__":
    sys.exit(main())
