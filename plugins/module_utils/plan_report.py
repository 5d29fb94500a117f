# Copyright: llama-herd developers
# Apache License 2.0
"""The plan as text: capability table (seed 000), placement per node,
redundancy map (seed 002), per-device RPC split (seed 003); Markdown, and
HTML with a per-node memory bar chart. Pure string building."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

_CAN = {"gpu": "GPU", "ram": "RAM", "no": "no"}


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def markdown(plan: Mapping[str, Any]) -> str:
    lines = [f"# llama-herd plan (solver: {plan.get('solver')}, safety margin {plan.get('margin')})", ""]
    if plan.get("errors"):
        lines += ["## Errors", ""] + [f"- {e}" for e in plan["errors"]] + [""]
    if plan.get("warnings"):
        lines += ["## Warnings", ""] + [f"- {w}" for w in plan["warnings"]] + [""]
    if plan.get("measurement_changes"):
        lines += ["## What measurement changed (against the declared values)", ""]
        lines += [f"- {c}" for c in plan["measurement_changes"]] + [""]
    cap = plan.get("capability") or []
    if cap:
        hosts = list(cap[0]["hosts"])
        lines += ["## Capability (which node can hold which model)", ""]
        rows = [[c["model"], *(f"{_CAN[c['hosts'][h]['can']]} ({c['hosts'][h]['need_mib']} MiB)" for h in hosts)] for c in cap]
        lines += [*_table(["model", *hosts], rows), ""]
    placed = {h: v.get("ollama_models", []) for h, v in (plan.get("hosts") or {}).items()}
    if any(placed.values()):
        lines += ["## Placement per node", ""]
        rows = []
        for h, items in placed.items():
            for it in items:
                where = "GPU" if it["on_gpu"] else (f"RAM + {it['gpu_layers']} layers on GPU" if it["gpu_layers"] else "RAM")
                rows.append([h, it["name"], it.get("alias", ""), where, it["memory_mib"], it["reason"]])
        lines += [*_table(["node", "model", "alias", "where", "MiB", "why"], rows), ""]
    red = plan.get("redundancy") or []
    if red:
        lines += ["## Redundancy map", ""]
        rows = []
        for r in red:
            reps = r["replicas"]
            rows.append(
                [
                    r.get("alias") or r["model"],
                    reps[0] if reps else "-",
                    reps[1] if len(reps) > 1 else "-",
                    reps[2] if len(reps) > 2 else "-",
                    ", ".join(reps[3:]) or "-",
                    f"{len(reps)}/{r['asked']}",
                ]
            )
        lines += [*_table(["model", "primary", "backup 1", "backup 2", "more", "placed"], rows), ""]
    if plan.get("pools"):
        lines += ["## Load-balanced pools", ""]
        lines += [
            *_table(
                ["pool", "model", "port", "backends"],
                [[p["name"], p["model"], p["port"], ", ".join(p["backends"])] for p in plan["pools"]],
            ),
            "",
        ]
    for s in plan.get("rpc_splits") or []:
        lines += [f"## llama.cpp RPC split: {s['model']} (ctx {s['ctx']}, parallel {s['parallel']})", ""]
        for label, sp in [("chosen", s["chosen"]), *((f"alternative {q}", v) for q, v in s["alternatives"].items())]:
            lines += [
                f"**{sp['quant']}** ({label}), file {sp['file_mib'] / 1024:.1f} GiB, tensor split {sp['tensor_split']}: {'fits' if sp['fits'] else 'does NOT fit'}",
                "",
            ]
            rows = [
                [
                    r["device"],
                    r["layers"],
                    r["weights_mib"],
                    r["kv_mib"],
                    r["compute_mib"],
                    r["total_mib"],
                    r["usable_mib"],
                    "yes" if r["fits"] else "NO",
                ]
                for r in sp["rows"]
            ]
            lines += [
                *_table(["device", "layers", "weights MiB", "KV MiB", "compute MiB", "total MiB", "usable MiB", "fits"], rows),
                "",
            ]
            if sp.get("compute_note"):
                lines += [f"GPU compute MiB: {sp['compute_note']}.", ""]
    d = plan.get("dllama") or {}
    if d:
        lines += [
            "## distributed-llama",
            "",
            f"root {d['root']}, workers {', '.join(d['workers'])} ({d['nodes']} nodes), model {d['model']}, "
            f"max_seq_len {d['max_seq_len']}, {d['per_node_mib']} MiB per worker, {d['root_mib']} MiB on the root",
            "",
        ]
    if plan.get("exposure"):
        lines += ["## Exposure (who can reach each port, after the firewall role)", ""]
        rows = [[h, r["port"], r["var"], r["open_to"]] for h, rs in plan["exposure"].items() for r in rs]
        lines += [*_table(["host", "port", "variable", "open to"], rows), ""]
    if plan.get("endpoints"):
        lines += ["## Endpoints (what users call)", ""]
        lines += [*_table(["url", "serves", "api"], [[e["url"], e["serves"], e["api"]] for e in plan["endpoints"]]), ""]
    return "\n".join(lines)


def html_report(plan: Mapping[str, Any]) -> str:
    md = markdown(plan)
    bars = []
    for host, u in (plan.get("node_usage") or {}).items():
        for kind in ("gpu", "ram"):
            budget, used = u[f"{kind}_budget_mib"], u[f"{kind}_used_mib"]
            if budget <= 0 or (kind == "ram" and u.get("unified")):
                continue
            pct = min(100.0, 100.0 * used / budget)
            bars.append(
                f'<div class="row"><span class="lbl">{html.escape(host)} {kind.upper()}</span>'
                f'<span class="bar"><span class="fill" style="width:{pct:.1f}%"></span></span>'
                f"<span>{used} / {budget} MiB"
                + (f" (Ollama; {u['booked_mib']} MiB went to other engines first)" if u.get("booked_mib") else "")
                + "</span></div>"
            )
    for s in plan.get("rpc_splits") or []:
        for r in s["chosen"]["rows"]:
            if not r["usable_mib"]:
                continue
            pct = min(100.0, 100.0 * r["total_mib"] / r["usable_mib"])
            bars.append(
                f'<div class="row"><span class="lbl">{html.escape(r["device"])}</span>'
                f'<span class="bar"><span class="fill{"" if r["fits"] else " over"}" style="width:{pct:.1f}%"></span></span>'
                f"<span>{r['total_mib']} / {r['usable_mib']} MiB</span></div>"
            )
    style = (
        "body{font-family:sans-serif;margin:2em}.row{display:flex;gap:1em;align-items:center;margin:.2em 0}"
        ".lbl{width:22em}.bar{display:inline-block;width:30em;height:1em;background:#eee}"
        ".fill{display:block;height:100%;background:#4a7}.over{background:#c33}pre{white-space:pre-wrap}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>llama-herd plan</title><style>{style}</style></head><body>"
        f"<h1>llama-herd plan</h1><h2>Memory per node (used / usable)</h2>{''.join(bars)}"
        f"<pre>{html.escape(md)}</pre></body></html>\n"
    )
