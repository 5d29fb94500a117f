#!/usr/bin/env python3
"""What `make demo` built: the plan, every endpoint, a curl for each.

    demo_summary.py [-i inventory/demo] [--no-run]

Reads the plan site.yml wrote (.cache/plan/<inventory>/plan.json and
plan.md), the inventory (addresses, ports) and .cache/demo/vars.yml (which
artifacts are stand-ins), prints them, then runs each curl from the
controller (the demo network is reachable from it) and shows the first bytes
of the answer, so a broken endpoint shows up here and not in a user's shell.
Exits non-zero when a curl fails (unless --no-run).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]

STANDIN_WHY = {
    "ollama": (
        "the Ollama binary is the STAND-IN tests/doubles/ollama (Ollama's HTTP API, fake "
        "generations, pulls that download nothing): no registry reachable here ships Ollama. "
        "Use the real one with OLLAMA_ARCHIVE=/path/ollama-linux-amd64.tgz OLLAMA_ARCHIVE_VERSION=x.y.z make demo."
    ),
    "dllama": (
        "distributed-llama's source is the STAND-IN tests/doubles/distributed-llama (its command-line "
        "grammar, ports and API routes, no inference), and its model/tokenizer files are header-only: "
        "GitHub is unreachable here. Use a real checkout with DLLAMA_SRC=/path/to/distributed-llama make demo "
        "(the header-only model still only exercises downloads and topology)."
    ),
}


def endpoints(plan: dict, hv: dict, variables: dict) -> list[dict]:
    def addr(host: str) -> str:
        return hv[host]["herd_cluster_address"]

    def var(host: str, name: str, default):
        return hv.get(host, {}).get(name, variables.get(name, default))

    out = []
    for host, entry in sorted(plan.get("hosts", {}).items()):
        models = [m["name"] for m in entry.get("ollama_models", [])]
        if not models:
            continue
        base = f"http://{addr(host)}:{var(host, 'ollama_port', 11434)}"
        gen = [m for m in models if "minilm" not in m and "embed" not in m] or models
        out.append({"what": f"Ollama on {host} ({', '.join(models)})", "url": base, "curl": ["curl", "-sS", f"{base}/api/tags"]})
        out.append(
            {
                "what": f"Ollama on {host}: generate",
                "url": base,
                "curl": [
                    "curl",
                    "-sS",
                    f"{base}/api/generate",
                    "-d",
                    json.dumps({"model": gen[0], "prompt": "Why is the sky blue?", "stream": False}),
                ],
            }
        )
    lbs = plan.get("_groups", {}).get("loadbalancers") or []
    for pool in plan.get("pools", []):
        for lb in lbs:
            base = f"http://{addr(lb)}:{pool['port']}"
            out.append(
                {
                    "what": f"nginx least_conn pool {pool['name']} on {lb} -> {', '.join(pool['backends'])}",
                    "url": base,
                    "curl": [
                        "curl",
                        "-sS",
                        f"{base}/api/generate",
                        "-d",
                        json.dumps({"model": pool["model"], "prompt": "Hello", "stream": False}),
                    ],
                }
            )
    heads = plan.get("_groups", {}).get("llama_cpp_head") or []
    for server in plan.get("llama_cpp", {}).get("servers", []):
        for head in heads:
            base = f"http://{addr(head)}:{server['port']}"
            workers = ", ".join(server.get("rpc_workers", []))
            out.append(
                {
                    "what": f"llama-server {server['name']} on {head} (RPC: {workers})",
                    "url": base,
                    "curl": ["curl", "-sS", f"{base}/health"],
                }
            )
            out.append(
                {
                    "what": f"llama-server {server['name']}: completion (layers on {workers})",
                    "url": base,
                    "curl": ["curl", "-sS", f"{base}/completion", "-d", json.dumps({"prompt": "Hello", "n_predict": 8})],
                }
            )
    dl = plan.get("dllama") or {}
    if dl.get("root"):
        root = dl["root"]
        base = f"http://{addr(root)}:{var(root, 'dllama_api_port', 9999)}"
        out.append(
            {
                "what": f"dllama API on {root} (workers: {', '.join(dl.get('workers', []))})",
                "url": base,
                "curl": ["curl", "-sS", f"{base}/v1/models"],
            }
        )
        out.append(
            {
                "what": "dllama API: chat completion",
                "url": base,
                "curl": [
                    "curl",
                    "-sS",
                    f"{base}/v1/chat/completions",
                    "-H",
                    "Content-Type: application/json",
                    "-d",
                    json.dumps({"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 16}),
                ],
            }
        )
    for router in plan.get("_groups", {}).get("gpu_router") or []:
        base = f"http://{addr(router)}:{var(router, 'gpu_router_metrics_port', 9110)}"
        out.append({"what": f"GPU router metrics on {router}", "url": base, "curl": ["curl", "-sS", f"{base}/metrics"]})
    return out


def inventory(path: str) -> tuple[dict, dict]:
    """(hostvars, {group: hosts}) of an inventory, from ansible-inventory."""
    exe = shutil.which("ansible-inventory", path=str(REPO / ".venv/bin") + os.pathsep + os.environ["PATH"])
    res = subprocess.run([exe, "-i", path, "--list"], check=True, capture_output=True, text=True, cwd=REPO)
    data = json.loads(res.stdout)

    def members(group: str) -> list[str]:
        g = data.get(group, {})
        hosts = list(g.get("hosts", []))
        for child in g.get("children", []):
            hosts += members(child)
        return hosts

    return data["_meta"]["hostvars"], {g: members(g) for g in ("loadbalancers", "llama_cpp_head", "gpu_router")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-i", "--inventory", default="inventory/demo")
    p.add_argument("--vars", default=str(REPO / ".cache" / "demo" / "vars.yml"))
    p.add_argument("--no-run", action="store_true", help="print the curls without running them")
    args = p.parse_args(argv)

    plan_dir = REPO / ".cache" / "plan" / Path(args.inventory).name
    plan = json.loads((plan_dir / "plan.json").read_text())
    variables = yaml.safe_load(Path(args.vars).read_text()) if Path(args.vars).exists() else {}
    hv, plan["_groups"] = inventory(args.inventory)

    print("=" * 78)
    print("llama-herd demo: the plan")
    print("=" * 78)
    print((plan_dir / "plan.md").read_text().rstrip())
    print(f"\n(also {plan_dir / 'plan.html'})\n")

    print("=" * 78)
    print("What is real and what is a stand-in")
    print("=" * 78)
    for name, art in (variables.get("demo_artifacts") or {}).items():
        print(f"- {name}: {art['what']} -> {'STAND-IN' if art['standin'] else 'real'}")
        if art["standin"] and name in STANDIN_WHY:
            print(f"  why: {STANDIN_WHY[name]}")
    print("- nginx, systemd, the hosts (Debian 12 containers), the plan, llama.cpp b11312 built from source: real\n")

    print("=" * 78)
    print("Endpoints (reachable from this machine on the demo network)")
    print("=" * 78)
    failed = 0
    for ep in endpoints(plan, hv, variables):
        print(f"\n# {ep['what']}\n{shlex.join(ep['curl'])}")
        if args.no_run:
            continue
        res = subprocess.run([*ep["curl"], "--max-time", "120", "-f"], capture_output=True, text=True)
        body = " ".join(res.stdout.split())
        if res.returncode == 0:
            print(f"  -> ok: {body[:240]}{' ...' if len(body) > 240 else ''}")
        else:
            failed += 1
            print(f"  -> FAILED (curl exit {res.returncode}): {res.stderr.strip()[:240]} {body[:120]}")
    print()
    if failed:
        print(f"{failed} endpoint(s) failed", file=sys.stderr)
        return 1
    print("`make down` removes the demo cluster.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
