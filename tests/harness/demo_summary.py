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
    mons = plan.get("_groups", {}).get("monitoring") or []

    def prometheus(mon: str, what: str, query: str) -> dict:
        base = f"http://{addr(mon)}:{var(mon, 'monitoring_prometheus_port', 9090)}"
        return {"what": what, "url": base, "curl": ["curl", "-sS", f"{base}/api/v1/query", "--data-urlencode", f"query={query}"]}

    for router in plan.get("_groups", {}).get("gpu_router") or []:
        if mons:
            # The firewall opens the router's metrics to the monitoring hosts only.
            what = f"GPU router on {router}: the nodes it sees up, through Prometheus (its metrics answer {mons[0]} only)"
            out.append(prometheus(mons[0], what, "llama_herd_router_node_up"))
            continue
        base = f"http://{addr(router)}:{var(router, 'gpu_router_metrics_port', 9110)}"
        out.append({"what": f"GPU router metrics on {router}", "url": base, "curl": ["curl", "-sS", f"{base}/metrics"]})
    out += gateway_endpoints(plan, addr, var)
    for mon in mons:
        out.append(prometheus(mon, f"Prometheus on {mon}: scrape targets up, per job", "sum by (job) (up)"))
    return out


# The printed curls read the key from the environment (KEY_EXPORT sets it);
# the summary's own curls read it from stdin, so it is never an argument.
KEY_ENV = "HERD_GATEWAY_KEY"
KEY_HEADER = f"Authorization: Bearer ${KEY_ENV}"
KEY_EXPORT = (
    f'export {KEY_ENV}="$(.venv/bin/ansible-vault view --vault-password-file .cache/demo/vault-password'
    " .cache/demo/vault.yml | sed -n 's/^gateway_master_key: //p')\""
)


def gateway_endpoints(plan: dict, addr, var) -> list[dict]:
    """One URL for every model: the list, a chat per chat model, an embedding per embedding model."""
    kinds: dict[str, str] = {}
    for ep in plan.get("endpoints", []):
        for m in ep.get("models", []):
            kinds.setdefault(m["name"], m["kind"])
    out = []
    for gw in plan.get("_groups", {}).get("gateway") or []:
        base = f"http://{addr(gw)}:{var(gw, 'gateway_port', 4000)}"
        auth = ["-H", KEY_HEADER]
        out.append(
            {
                "what": f"gateway on {gw}: every model, one OpenAI-compatible URL",
                "url": base,
                "curl": ["curl", "-sS", f"{base}/v1/models", *auth],
            }
        )
        for name, kind in sorted(kinds.items()):
            if kind == "embedding":
                path, body = "/v1/embeddings", {"model": name, "input": "Why is the sky blue?"}
            else:
                path, body = (
                    "/v1/chat/completions",
                    {"model": name, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 8},
                )
            out.append(
                {
                    "what": f"gateway on {gw}: {name} ({kind})",
                    "url": base,
                    "curl": [
                        "curl",
                        "-sS",
                        f"{base}{path}",
                        *auth,
                        "-H",
                        "Content-Type: application/json",
                        "-d",
                        json.dumps(body),
                    ],
                }
            )
    return out


def gateway_key(vault: Path, password: Path) -> str | None:
    """The demo gateway's master key, decrypted as a user would (demo_secrets.py wrote it)."""
    if not (vault.exists() and password.exists()):
        return None
    exe = shutil.which("ansible-vault", path=str(REPO / ".venv/bin") + os.pathsep + os.environ["PATH"])
    res = subprocess.run(
        [exe, "view", "--vault-password-file", str(password), str(vault)], check=True, capture_output=True, text=True
    )
    return (yaml.safe_load(res.stdout) or {}).get("gateway_master_key")


def shown(argv: list[str]) -> str:
    """The curl as a user types it: the key header in double quotes, so the shell expands it."""
    return shlex.join(argv).replace(shlex.quote(KEY_HEADER), f'"{KEY_HEADER}"')


def run_curl(argv: list[str], key: str | None) -> subprocess.CompletedProcess:
    stdin = None
    if KEY_HEADER in argv:
        # curl -H @- reads the header from stdin: the key stays out of ps.
        argv = ["@-" if a == KEY_HEADER else a for a in argv]
        stdin = f"Authorization: Bearer {key}\n"
    return subprocess.run([*argv, "--max-time", "120", "-f"], input=stdin, capture_output=True, text=True)


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

    return data["_meta"]["hostvars"], {
        g: members(g) for g in ("loadbalancers", "llama_cpp_head", "gpu_router", "gateway", "monitoring")
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-i", "--inventory", default="inventory/demo")
    p.add_argument("--vars", default=str(REPO / ".cache" / "demo" / "vars.yml"))
    p.add_argument("--vault", default=str(REPO / ".cache" / "demo" / "vault.yml"))
    p.add_argument("--vault-password", default=str(REPO / ".cache" / "demo" / "vault-password"))
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
    print("- nginx, systemd, the hosts (Debian 12 containers), the plan, llama.cpp b11312 built from source: real")
    if plan["_groups"].get("gateway") or plan["_groups"].get("monitoring"):
        print("- the orchestrator: LiteLLM's proxy (pinned lock), Redis, Prometheus and the node exporters: real")
    print()

    print("=" * 78)
    print("Endpoints (reachable from this machine on the demo network)")
    print("=" * 78)
    failed = 0
    eps = endpoints(plan, hv, variables)
    key = None
    if any(KEY_HEADER in ep["curl"] for ep in eps):
        print(f"\n# The gateway's master key, from Ansible Vault (tests/harness/demo_secrets.py):\n{KEY_EXPORT}")
        if not args.no_run:
            key = gateway_key(Path(args.vault), Path(args.vault_password))
    for ep in eps:
        print(f"\n# {ep['what']}\n{shown(ep['curl'])}")
        if args.no_run:
            continue
        res = run_curl(ep["curl"], key)
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
    if plan["_groups"].get("monitoring"):
        print(
            f"Every node's services, GPUs and models: ansible-playbook -i {args.inventory} playbooks/status.yml"
            " -e @.cache/demo/vars.yml -e @.cache/demo/vault.yml --vault-password-file .cache/demo/vault-password"
        )
    print("`make down` removes the demo cluster.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
