# Copyright: llama-herd developers
# Apache License 2.0
"""The plan as text: capability table (seed 000), placement per node,
redundancy map (seed 002), per-device RPC split (seed 003); Markdown, and a
self-contained HTML page (plan_report.html.j2 beside this file, rendered
with Jinja2 on the controller). Both read only the plan dict (plan.json)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .memory import GPU_COMPUTE_ASSUMPTION, OLLAMA_GPU_RESERVE_MIB

_CAN = {"gpu": "GPU", "ram": "RAM", "no": "no"}


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _col in head) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def _tps(it: Mapping[str, Any]) -> str:
    """Predicted decode tokens/s (memory bandwidth / weights read per token)."""
    return f"~{it['tokens_per_s']:g}" if it.get("tokens_per_s") else "-"


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
                rows.append([h, it["name"], it.get("alias", ""), where(it), it["memory_mib"], _tps(it), it["reason"]])
        lines += [*_table(["node", "model", "alias", "where", "MiB", "tok/s", "why"], rows), ""]
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
    if plan.get("unplaced"):
        lines += ["## Replicas not placed", ""]
        rows = [[u["model"], f"{u['missing']} of {u['asked']}", u["constraint"], u["why"]] for u in plan["unplaced"]]
        lines += [*_table(["model", "not placed", "constraint", "why"], rows), ""]
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
                f"**{sp['quant']}** ({label}), file {sp['file_mib'] / 1024:.1f} GiB, "
                f"tensor split {sp['tensor_split']}: {'fits' if sp['fits'] else 'does NOT fit'}",
                "",
            ]
            rows = [
                [
                    r["device"],
                    r["layers"],
                    r["weights_mib"],
                    r["kv_mib"],
                    r["compute_mib"],
                    r.get("other_mib", 0),
                    r["total_mib"],
                    r["usable_mib"],
                    "yes" if r["fits"] else "NO",
                ]
                for r in sp["rows"]
            ]
            lines += [
                *_table(
                    ["device", "layers", "weights MiB", "KV MiB", "compute MiB", "other MiB", "total MiB", "usable MiB", "fits"],
                    rows,
                ),
                "",
            ]
            if sp.get("compute_note"):
                lines += [f"GPU compute MiB: {sp['compute_note']}.", ""]
    d = plan.get("dllama") or {}
    if d.get("model"):
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


# ------------------------------------------------------------------ HTML
# The page is plan_report.html.j2 (next to this file; the action plugin
# renders it on the controller, so it is read from disk, never shipped to a
# managed node). _page() turns the plan into what the template draws: every
# number it shows, every bar segment with its MiB, so the template only lays
# things out.

TEMPLATE = Path(__file__).with_name("plan_report.html.j2")
_PALETTE = 10  # model colours: CSS classes m0 .. m9
_ROLE_BY_PORT_VAR = {
    "ollama_port": "Ollama",
    "llama_cpp_rpc_port": "llama.cpp RPC worker",
    "dllama_api_port": "distributed-llama root",
    "dllama_worker_port": "distributed-llama worker",
    "nginx_lb_status_port": "load balancer",
    "gpu_router_metrics_port": "GPU router",
}
_COMPUTE_RE = re.compile(r"(\d+ MiB) " + re.escape(GPU_COMPUTE_ASSUMPTION))


def short_reason(reason: str) -> tuple[str, bool]:
    """The reason without the compute-buffer sentence (a footnote says it once)."""
    short, n = _COMPUTE_RE.subn(r"\1 compute buffer", reason)
    return short, bool(n)


def where(item: Mapping[str, Any]) -> str:
    """Where an Ollama placement runs, in words."""
    if item.get("on_gpu"):
        return "GPU"
    return f"RAM + {item['gpu_layers']} layers on GPU" if item.get("gpu_layers") else "RAM"


def _anchor(host: str) -> str:
    return "host-" + re.sub(r"[^A-Za-z0-9_-]+", "-", host)


def _pct(mib: float, scale: float) -> float:
    return round(100.0 * mib / scale, 3) if scale > 0 else 0.0


def _bar(label: str, segments: list[dict[str, Any]], capacity: float, caption: str) -> dict[str, Any]:
    used = sum(s["mib"] for s in segments)
    scale = max(capacity, used, 1)
    for s in segments:
        s["pct"] = _pct(s["mib"], scale)
    return {
        "label": label,
        "segments": segments,
        "capacity": round(capacity),
        "used": used,
        "free": round(capacity - used),
        "over": used > capacity,
        "caption": caption,
    }


def all_hosts(plan: Mapping[str, Any]) -> list[str]:
    """Every host the plan mentions, in the plan's order."""
    seen: dict[str, None] = {}
    for h in plan.get("hosts") or {}:
        seen[h] = None
    for h in plan.get("node_usage") or {}:
        seen[h] = None
    for s in plan.get("rpc_splits") or []:
        for r in s["chosen"]["rows"]:
            seen[r["host"]] = None
    d = plan.get("dllama") or {}
    if d.get("root"):
        seen[d["root"]] = None
        for w in d.get("workers") or []:
            seen[w] = None
    for h in plan.get("exposure") or {}:
        seen[h] = None
    return list(seen)


def _ollama_bars(host: str, u: Mapping[str, Any], items: list[dict[str, Any]], colour: Mapping[str, int]) -> list[dict[str, Any]]:
    booked = u.get("booked") or []
    gpus = u.get("gpus") or []
    pools: list[tuple[str, str, list[dict[str, Any]]]] = []  # (kind, label, booked shares)
    if u.get("unified"):
        pools.append(("gpu", "Unified memory", booked))
    else:
        gpu_booked = [b for b in booked if b["pool"].startswith("GPU")]
        if u["gpu_budget_mib"] > 0 or gpu_booked or u["gpu_used_mib"]:
            label = "GPU" if len(gpus) <= 1 else f"GPU pool ({len(gpus)} GPUs)"
            pools.append(("gpu", label, gpu_booked))
        ram_booked = [b for b in booked if b["pool"] == "RAM"]
        if u["ram_budget_mib"] > 0 or ram_booked or u["ram_used_mib"]:
            pools.append(("ram", "RAM", ram_booked))
    bars = []
    for kind, label, shares in pools:
        segs = []
        for b in shares:
            where = f" on {b['pool']}" if b["pool"].startswith("GPU") and len(gpus) > 1 else ""
            segs.append(
                {
                    "kind": "booked",
                    "cls": "booked",
                    "name": b["who"],
                    "mib": int(b["mib"]),
                    "alias": "",
                    "where": f"booked first{where}",
                    "reason": f"{b['who']} was planned before Ollama and holds this memory{where}",
                    "note": False,
                }
            )
        for it in items:
            if kind == "gpu" and (it["on_gpu"] or u.get("unified")):
                mib, where = it["memory_mib"], "GPU" if not u.get("unified") else "unified memory"
            elif kind == "gpu" and it.get("gpu_offload_mib"):
                mib, where = it["gpu_offload_mib"], f"{it['gpu_layers']} layers offloaded to the GPU; why: see RAM"
            elif kind == "ram" and not it["on_gpu"]:
                mib = it["memory_mib"]
                where = f"RAM + {it['gpu_layers']} layers on GPU" if it["gpu_layers"] else "RAM"
            else:
                continue
            if it.get("tokens_per_s") and (kind == "gpu") == bool(it["on_gpu"]):
                where += f" · {_tps(it)} tok/s predicted"
            reason, note = short_reason(it["reason"])
            if kind == "gpu" and not it["on_gpu"] and not u.get("unified"):
                reason, note = "", False  # said once, on the RAM bar
            segs.append(
                {
                    "kind": "model",
                    "cls": f"m{colour.get(it['name'], 0) % _PALETTE}",
                    "name": it["name"],
                    "alias": it.get("alias") or "",
                    "mib": int(mib),
                    "where": where,
                    "reason": reason,
                    "note": note,
                    "context": it.get("context"),
                    "parallel": it.get("parallel"),
                }
            )
        budget = u[f"{kind}_budget_mib"]
        capacity = budget + sum(b["mib"] for b in shares)
        caption = f"{budget} MiB usable by Ollama" + (
            f" after {sum(b['mib'] for b in shares)} MiB booked by other engines" if shares else ""
        )
        meter = _bar(label, segs, capacity, caption)
        meter["kind"] = kind
        meter["host"] = host
        if u.get("unified"):
            meter["sub"] = "GPU and RAM are one pool"
        elif kind == "gpu" and len(gpus) > 1:
            meter["sub"] = "Ollama spreads a model across the GPUs"
        meter["ollama_used"] = u[f"{kind}_used_mib"]
        bars.append(meter)
    return bars


def _rpc_bar(row: Mapping[str, Any], model: str, in_card: bool = False) -> dict[str, Any]:
    segs = [
        {
            "kind": "weights",
            "cls": "rw",
            "name": f"{model}: weights",
            "mib": row["weights_mib"],
            "where": f"{row['layers']} layers",
        },
        {"kind": "kv", "cls": "rk", "name": f"{model}: KV cache", "mib": row["kv_mib"], "where": ""},
        {"kind": "compute", "cls": "rc", "name": f"{model}: compute buffer", "mib": row["compute_mib"], "where": ""},
    ]
    if row.get("other_mib"):
        segs.append(
            {
                "kind": "other",
                "cls": "rc",
                "name": f"{model}: other buffers",
                "mib": row["other_mib"],
                "where": "",
            }
        )
    for s in segs:
        s.update(reason="", note=s["kind"] == "compute" and "GPU" in row["device"], alias="")
    meter = _bar(row["device"], segs, row["usable_mib"] or 0, f"{row['usable_mib']} MiB usable of {row['device_mib']} MiB")
    meter.update(kind="rpc", host=row["host"], total=row["total_mib"], fits=row["fits"], layers=row["layers"])
    if in_card:  # the card names the host and the model once
        meter["label"] = row["device"].removeprefix(f"{row['host']} ")
        meter["sub"] = f"llama.cpp's {model}" + (f", {row['layers']} layers" if row["layers"] else "")
    return meter


def _split(sp: Mapping[str, Any], model: str, label: str) -> dict[str, Any]:
    return {
        "label": label,
        "quant": sp["quant"],
        "file_gib": f"{sp['file_mib'] / 1024:.1f}",
        "tensor_split": ", ".join(f"{x:g}" for x in sp["tensor_split"]),
        "fits": sp["fits"],
        "bars": [_rpc_bar(r, model) for r in sp["rows"]],
        "note": bool(sp.get("compute_note")),
    }


def page_data(plan: Mapping[str, Any], changes: list[Mapping[str, str]] | None = None) -> dict[str, Any]:
    """Everything the HTML page shows, computed from the plan alone (and
    plan_diff's changes since the last plan; None: there was none)."""
    hosts = all_hosts(plan)
    placed = {h: list(v.get("ollama_models") or []) for h, v in (plan.get("hosts") or {}).items()}
    usage = plan.get("node_usage") or {}
    models: dict[str, None] = {}
    for r in plan.get("redundancy") or []:
        models[r["model"]] = None
    for items in placed.values():
        for it in items:
            models[it["name"]] = None
    colour = {m: i for i, m in enumerate(models)}
    d = plan.get("dllama") or {}
    roles: dict[str, list[str]] = {h: [] for h in hosts}
    for h in usage:
        roles[h].append("Ollama")
    for h, rows in (plan.get("exposure") or {}).items():
        for r in rows:
            role = _ROLE_BY_PORT_VAR.get(r["var"])
            if role and role not in roles[h]:
                roles[h].append(role)
    splits = plan.get("rpc_splits") or []
    for s in splits:
        for r in s["chosen"]["rows"]:
            if "token embedding" in r["device"] and "llama.cpp head" not in roles[r["host"]]:
                roles[r["host"]].insert(0, "llama.cpp head")
    if d.get("root") and "distributed-llama root" not in roles[d["root"]]:
        roles[d["root"]].append("distributed-llama root")
    for w in d.get("workers") or []:
        if "distributed-llama worker" not in roles[w]:
            roles[w].append("distributed-llama worker")
    notes = {"compute": False}
    cards = []
    gpu_count = 0
    for h in hosts:
        u = usage.get(h)
        if u is not None:
            gpus = [f"{g['name']}, {g['vram_mib']} MiB" for g in u.get("gpus") or []]
        else:
            gpus = [
                f"{g.get('name') or g.get('vendor')}, {g.get('vram_mib')} MiB"
                for g in (plan.get("hosts") or {}).get(h, {}).get("llama_cpp_gpus") or []
            ]
        gpu_count += len(gpus)
        bars = _ollama_bars(h, u, placed.get(h, []), colour) if u is not None else []
        rpc = (
            []
            if u is not None
            else [_rpc_bar(r, s["model"], True) for s in splits for r in s["chosen"]["rows"] if r["host"] == h]
        )
        for b in [*bars, *rpc]:
            notes["compute"] |= any(s.get("note") for s in b["segments"])
        extra = []
        if d.get("model") and u is None:
            if h == d["root"]:
                extra.append(f"distributed-llama root of {d['model']}: {d['root_mib']} MiB of RAM")
            elif h in (d.get("workers") or []):
                extra.append(f"distributed-llama worker for {d['model']}: {d['per_node_mib']} MiB of RAM")
        cards.append(
            {
                "host": h,
                "id": _anchor(h),
                "roles": roles[h],
                "gpus": gpus,
                "ram_mib": u.get("ram_mib") if u else None,
                "bars": bars,
                "rpc": rpc,
                "extra": extra,
                "ollama": u is not None,
                "models": len(placed.get(h, [])),
                "over": any(b["over"] for b in [*bars, *rpc]),
            }
        )
    red = plan.get("redundancy") or []
    redundancy = [
        {
            "model": r["model"],
            "alias": r.get("alias") or "",
            "cls": f"m{colour.get(r['model'], 0) % _PALETTE}",
            "replicas": [{"host": h, "id": _anchor(h)} for h in r["replicas"]],
            "asked": r["asked"],
            "met": len(r["replicas"]) >= r["asked"],
        }
        for r in red
    ]
    max_reps = max([3, *(len(r["replicas"]) for r in red)]) if red else 0
    cap = plan.get("capability") or []
    cap_hosts = list(cap[0]["hosts"]) if cap else []
    rpc_splits = []
    for s in splits:
        chosen = _split(s["chosen"], s["model"], "chosen")
        alts = [_split(v, s["model"], "alternative") for v in (s.get("alternatives") or {}).values()]
        notes["compute"] |= chosen["note"] or any(a["note"] for a in alts)
        rpc_splits.append(
            {"model": s["model"], "ctx": s["ctx"], "parallel": s["parallel"], "chosen": chosen, "alternatives": alts}
        )
    served = {r["model"] for r in red if r["replicas"]}
    served |= {s["model"] for s in (plan.get("llama_cpp") or {}).get("servers") or []}
    if d.get("model"):
        served.add(d["model"])
    exposure = [
        {"host": h, "port": r["port"], "var": r["var"], "open_to": r["open_to"]}
        for h, rs in (plan.get("exposure") or {}).items()
        for r in rs
    ]
    endpoints = [
        {"address": e["url"].removeprefix("http://"), "serves": e["serves"], "api": e["api"]} for e in plan.get("endpoints") or []
    ]
    return {
        "solver": plan.get("solver"),
        "margin": plan.get("margin"),
        "errors": list(plan.get("errors") or []),
        "warnings": list(plan.get("warnings") or []),
        "measurement_changes": list(plan.get("measurement_changes") or []),
        "changes": None if changes is None else [dict(c) for c in changes],
        "solver_notes": list(plan.get("solver_notes") or []),
        "summary": {
            "nodes": len(hosts),
            "gpus": gpu_count,
            "served": len(served),
            "replicas_met": sum(min(len(r["replicas"]), r["asked"]) for r in red),
            "replicas_asked": sum(r["asked"] for r in red),
        },
        "cards": cards,
        "capability": {
            "hosts": cap_hosts,
            "rows": [
                {
                    "model": c["model"],
                    "cells": [
                        {
                            "host": h,
                            "can": c["hosts"][h]["can"],
                            "label": _CAN[c["hosts"][h]["can"]],
                            "need": c["hosts"][h]["need_mib"],
                        }
                        if h in c["hosts"]
                        else {"host": h, "can": "none", "label": "-", "need": None}
                        for h in cap_hosts
                    ],
                }
                for c in cap
            ],
        },
        "redundancy": redundancy,
        "max_reps": max_reps,
        "pools": list(plan.get("pools") or []),
        "rpc_splits": rpc_splits,
        "dllama": dict(d) if d.get("model") else None,
        "exposure": exposure,
        "endpoints": endpoints,
        "notes": notes,
        "ollama_reserve": OLLAMA_GPU_RESERVE_MIB,
        "compute_assumption": GPU_COMPUTE_ASSUMPTION,
    }


def html_report(plan: Mapping[str, Any], changes: list[Mapping[str, str]] | None = None) -> str:
    """plan.html: one self-contained page (inline CSS, no script, no request);
    with ``changes`` (plan_diff.plan_changes), what changed since the last plan."""
    import jinja2  # ships with ansible-core; imported here so markdown() needs nothing

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(TEMPLATE.read_text(encoding="utf-8")).render(**page_data(plan, changes))


# --------------------------------------------------------------- console
# What plan.yml prints: plain text, aligned, no line longer than CONSOLE_WIDTH
# (Ansible prints it as `msg: |-` with 8 columns of indent: 100 in all).
CONSOLE_WIDTH = 92


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _wrap(text: str, first: str = "", rest: str = "    ") -> list[str]:
    import textwrap

    return textwrap.wrap(
        text, CONSOLE_WIDTH, initial_indent=first, subsequent_indent=rest, break_long_words=True, break_on_hyphens=False
    ) or [first.rstrip()]


def _clean_path(path: str, cwd: str | None) -> str:
    path = os.path.normpath(path)
    if cwd and os.path.isabs(path):
        rel = os.path.relpath(path, cwd)
        if not rel.startswith(".."):
            return rel
    return path


def _columns(rows: list[tuple[str, ...]], right: tuple[int, ...] = (), caps: Mapping[int, int] | None = None) -> list[str]:
    """Rows as aligned text: two spaces in front, two between columns."""
    caps = caps or {}
    widths = [min(max(len(r[c]) for r in rows), caps.get(c, 999)) for c in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [
            f"{_clip(v, w):>{w}}" if c in right else f"{_clip(v, w):<{w}}" for c, (v, w) in enumerate(zip(r, widths, strict=True))
        ]
        out.append(("  " + "  ".join(cells)).rstrip())
    return out


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def console(
    plan: Mapping[str, Any],
    files: Mapping[str, str] | None = None,
    cwd: str | None = None,
    changes: list[Mapping[str, str]] | None = None,
) -> str:
    """The plan in a terminal: errors, warnings, what changed since the last
    plan (when there was one), per host one line per model, the other engines
    per device or node, and where the reports are."""
    summary = page_data(plan)["summary"]
    head = (
        f"llama-herd plan ({plan.get('solver')}, margin {plan.get('margin')}): {_n(summary['nodes'], 'node')}, "
        f"{_n(summary['gpus'], 'GPU')}, {_n(summary['served'], 'model')} served"
    )
    if summary["replicas_asked"]:
        head += f", replicas {summary['replicas_met']}/{summary['replicas_asked']}"
    out = _wrap(head, "", "  ")
    errors, warnings = plan.get("errors") or [], plan.get("warnings") or []
    if errors:
        out += ["", f"ERRORS ({len(errors)}): the plan cannot be deployed"]
        for e in errors:
            out += _wrap(e, "  - ")
    if warnings:
        out += ["", f"WARNINGS ({len(warnings)})"]
        for w in warnings:
            out += _wrap(w, "  - ")
    if changes is not None:
        out += ["", f"Since the last plan ({_n(len(changes), 'change')})" if changes else "Since the last plan: no change"]
        for c in changes:
            out += _wrap(c["text"], "  - ")
    if plan.get("measurement_changes"):
        out += ["", "What measuring changed (against the declared values)"]
        for c in plan["measurement_changes"]:
            out += _wrap(c, "  - ")
    rows: list[tuple[str, ...]] = []
    for host in plan.get("node_usage") or {}:
        items = (plan.get("hosts") or {}).get(host, {}).get("ollama_models") or []
        for i, it in enumerate(items):
            rows.append((host if i == 0 else "", it["name"], where(it), f"{it['memory_mib']} MiB", _tps(it)))
        if not items:
            rows.append((host, "-", "nothing placed", "", ""))
    if rows:
        out += [
            "",
            "Ollama (host, model, where, memory, predicted decode tok/s)",
            *_columns(rows, right=(3, 4), caps={0: 24, 1: 30}),
        ]
    for u in plan.get("unplaced") or []:
        out += _wrap(f"{u['model']}: {u['missing']} of {u['asked']} replicas not placed: {u['why']}", "  ! ")
    for s in plan.get("rpc_splits") or []:
        ch = s["chosen"]
        out += ["", f"llama.cpp {s['model']} {ch['quant']}, ctx {s['ctx']}: {'fits' if ch['fits'] else 'DOES NOT FIT'}"]
        out += _columns(
            [
                (
                    r["device"],
                    _n(r["layers"], "layer"),
                    str(r["total_mib"]),
                    f"/ {r['usable_mib']} MiB",
                    "" if r["fits"] else "NO",
                )
                for r in ch["rows"]
            ],
            right=(1, 2, 3),
            caps={0: 48},
        )
    d = plan.get("dllama") or {}
    if d.get("model"):
        out += ["", f"distributed-llama {d['model']}, {d['nodes']} nodes, max_seq_len {d['max_seq_len']}"]
        out += _columns(
            [(d["root"], "root", f"{d['root_mib']} MiB")] + [(w, "worker", f"{d['per_node_mib']} MiB") for w in d["workers"]],
            right=(2,),
            caps={0: 40},
        )
    if plan.get("pools"):
        out += ["", "Pools (load balancer port, backends)"]
        width = max(len(p["model"]) for p in plan["pools"])
        for p in plan["pools"]:
            lead = f"  {_clip(p['model'], 30):<{min(width, 30)}}  :{p['port']}  "
            out += _wrap(", ".join(p["backends"]), lead, " " * len(lead))
    if files:
        main = files.get("plan.html") or next(iter(files.values()))
        others = [os.path.basename(p) for p in files.values() if p != main]
        out += ["", *_wrap(f"Report: {_clean_path(main, cwd)}" + (f" (also {', '.join(others)})" if others else ""), "", "  ")]
    return "\n".join(line.rstrip() for line in out)
