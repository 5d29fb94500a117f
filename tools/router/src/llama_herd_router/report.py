"""Rendering: seed 001's reports as text, and the same facts as JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import decide as d
from ._herd import catalog
from .router import OptimizeResult

RULE = "=" * 70


def _mark(v: d.Verdict) -> str:
    if v.ok:
        return "✅"
    if v.kind == d.NO_GPU:
        return "⏏️ "
    if v.kind == d.DOWN:
        return "⚠️ "
    return "❌"


def node_json(n: d.NodeState, margin: float) -> dict[str, Any]:
    return {
        "url": n.url,
        "name": n.name,
        "kind": n.kind,
        "reachable": n.reachable,
        "error": n.error or None,
        "version": n.version or None,
        "vram_mib": n.vram_mib,
        "vram_source": n.vram_source,
        "vram_note": n.vram_note,
        "usable_mib": n.usable_mib(margin) if n.has_gpu else 0,
        "used_mib": n.used_mib,
        "free_mib": n.free_mib(margin) if n.has_gpu else 0,
        "loaded": [
            {"name": m.name, "size_mib": m.size_mib, "size_vram_mib": m.size_vram_mib, "on_gpu": m.on_gpu} for m in n.loaded
        ],
    }


def decision_json(dec: d.Decision) -> dict[str, Any]:
    return {
        "model": dec.model,
        "size_mib": dec.size_mib,
        "on_gpu": dec.on_gpu,
        "best": None if dec.best is None else {"url": dec.best.url, "kind": "GPU", "reason": dec.best.reason},
        "cpu_node": dec.cpu_node,
        "result": dec.result,
        "nodes": [
            {"url": v.url, "name": v.name, "node_kind": v.node_kind, "verdict": v.kind, "ok": v.ok, "reason": v.reason}
            for v in dec.verdicts
        ],
    }


def optimize_json(res: OptimizeResult) -> dict[str, Any]:
    return {
        "applied": res.applied,
        "ok": res.ok,
        "result": optimize_result(res),
        "steps": [
            {"model": s.model, "action": s.action, "node": s.node, "message": s.message, "unloaded_from": s.unloaded}
            for s in res.steps
        ],
    }


def status_text(nodes: Sequence[d.NodeState], margin: float, models: Sequence[str], sizes: Mapping[str, int]) -> str:
    """A node table, then seed 001's per-GPU-node "Can fit these models"."""
    rows = [("NODE", "KIND", "VRAM", "FROM", "USABLE", "USED", "FREE", "LOADED (MB in VRAM/size)")]
    for n in nodes:
        gpu = n.has_gpu
        loaded = ", ".join(f"{m.name} {m.size_vram_mib}/{m.size_mib}" for m in n.loaded) or "-"
        rows.append(
            (
                n.url,
                n.kind,
                "?" if n.vram_mib is None else str(n.vram_mib),
                n.vram_source,
                str(n.usable_mib(margin)) if gpu else "-",
                str(n.used_mib) if n.reachable else "-",
                str(n.free_mib(margin)) if gpu and n.reachable else ("0" if gpu else "-"),
                loaded if n.reachable else f"unreachable: {n.error}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["🎯 GPU ROUTING STATUS", RULE]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in rows]
    lines += ["", "VRAM from: config = vram_mib in the config (the gpu_router role renders the collection's GPU facts);"]
    lines += ["           observed = learned from the node's /api/ps size_vram; unknown = neither yet"]
    for n in nodes:
        if n.vram_source != d.VRAM_CONFIG:
            lines.append(f"   {n.url}: {n.vram_note}")
    unknown = [n.url for n in nodes if n.vram_mib is None]
    if unknown:
        lines += [
            "",
            f"⚠️  VRAM unknown on {len(unknown)} node(s): nothing is routed to their GPU, and check/optimize say NOT VERIFIED",
        ]
    for n in nodes:
        if not (n.reachable and n.has_gpu):
            continue
        lines += [
            "",
            f"🚀 GPU Node: {n.url}",
            f"   Total VRAM: {n.vram_mib} MB",
            f"   Usable VRAM: {n.usable_mib(margin)} MB ({round(margin * 100)}% safety)",
            f"   Free VRAM: {n.free_mib(margin)} MB",
        ]
        if models:
            lines += ["", "   📦 Can fit these models:"]
            for m in models:
                v = d.verdict(n, m, d.model_size(m, nodes, sizes), margin)
                size = d.model_size(m, nodes, sizes)
                shown = f"{size} MB" if size is not None else "size unknown"
                lines.append(f"      {'✅' if v.ok else '❌'} {m} ({shown})" + ("" if v.ok else f" - {v.reason}"))
    return "\n".join(lines)


def route_text(dec: d.Decision) -> str:
    """Seed 001's "ROUTING DECISION FOR" report."""
    size = "unknown" if dec.size_mib is None else f"{dec.size_mib} MB"
    lines = [f"🧠 ROUTING DECISION FOR: {dec.model}", RULE, f"   Model size: {size}", ""]
    lines += [f"   {_mark(v)} {v.url} ({v.node_kind}): {v.reason}" for v in dec.verdicts]
    lines.append("")
    if dec.best is not None:
        lines += [f"   🏆 Best choice: {dec.best.url} (GPU)", f"      Reason: {dec.best.reason}"]
    elif dec.unknown_vram:
        lines.append(f"   {dec.result}")
        if dec.cpu_node is not None:
            lines.append(f"   Meanwhile: {dec.cpu_node} (CPU), unverified")
    elif dec.cpu_node is not None:
        lines += [f"   🏆 Best choice: {dec.cpu_node} (CPU)", "      Reason: Model must run on CPU"]
    else:
        lines.append(f"   {dec.result}")
    return "\n".join(lines)


def check_text(dec: d.Decision) -> str:
    """Seed 001's "CHECKING FIT FOR" report."""
    size = "unknown" if dec.size_mib is None else f"{dec.size_mib} MB"
    lines = [f"✅ CHECKING FIT FOR: {dec.model}", RULE, f"📦 Model size: {size}", "", "📍 Node compatibility:"]
    lines += [f"   {'✅' if v.ok else '❌'} {v.url}: {v.reason}" for v in dec.verdicts]
    lines.append("")
    if dec.best is not None:
        lines.append(f"Result: Model fits on GPU at {dec.best.url}")
    else:
        lines.append(dec.result)
    return "\n".join(lines)


def models_rows(sizes: Mapping[str, int]) -> list[tuple[str, int]]:
    """The known models (the catalog, then the config's model_sizes), smallest first."""
    known: dict[str, int] = {}
    for name in catalog.CATALOG:
        size = catalog.model_size_mib(name)
        if size:
            known[name] = int(size)
    known.update(sizes)
    return sorted(known.items(), key=lambda kv: (kv[1], kv[0]))


def models_text(rows: Sequence[tuple[str, int]]) -> str:
    lines = ["📚 KNOWN MODELS DATABASE", RULE, "📦 Model sizes:"]
    lines += [f"   {name:<28} {size:>6} MB ({size / 1024:.2f} GB)" for name, size in rows]
    return "\n".join(lines)


def optimize_text(res: OptimizeResult) -> str:
    lines = [f"🔧 OPTIMIZING {len(res.steps)} PRIORITY MODELS" + ("" if res.applied else " (report only)"), RULE]
    for s in res.steps:
        lines.append(f"🎯 Routing decision for: {s.model}")
        if s.decision is not None and s.decision.best is not None:
            lines.append(f"   ✅ Best choice: {s.decision.best.url} (GPU)")
        elif s.decision is not None:
            lines.append(f"   ❌ {s.decision.result}")
    lines += ["", "🚀 Executing Routing Plan" if res.applied else "📝 Routing Plan (nothing changed)", RULE]
    for s in res.steps:
        mark = {"loaded": "✅", "on_gpu": "✅", "load": "📍", "cpu": "⏏️ ", "failed": "❌", "unverified": "❓"}[s.action]
        lines.append(f"   {mark} {s.message}")
        lines += [f"      unloaded the CPU copy at {u}" for u in s.unloaded]
    lines.append("")
    lines.append(optimize_result(res))
    return "\n".join(lines)


def optimize_result(res: OptimizeResult) -> str:
    """One honest line: success only for what was verified."""
    failed = [s.model for s in res.steps if s.action == "failed"]
    unverified = [s for s in res.steps if s.action == "unverified"]
    if failed:
        return f"Result: {len(failed)} priority model(s) failed to load on GPU: {', '.join(failed)}"
    if unverified:
        urls = sorted({u for s in unverified if s.decision for u in s.decision.unknown_vram})
        return (
            f"Result: NOT VERIFIED: VRAM unknown on {len(urls)} node(s) ({', '.join(urls)}); "
            f"{len(unverified)} priority model(s) not placed. Set vram_mib for these nodes "
            "(the gpu_router role does), or load a model there once so /api/ps shows size_vram"
        )
    on_gpu = sum(1 for s in res.steps if s.action in ("on_gpu", "loaded", "load"))
    cpu = [s.model for s in res.steps if s.action == "cpu"]
    verb = "would be" if not res.applied else "are"
    if not cpu:
        return f"Result: all {on_gpu} priority models {verb} on GPU" + ("" if res.applied else " (nothing changed)")
    return f"Result: {on_gpu} of {len(res.steps)} priority models {verb} on GPU; must run on CPU: {', '.join(cpu)}"
