# Copyright: llama-herd developers
# Apache License 2.0
"""What changed since the last plan: two plan.json dicts (the one the report
directory held, the one just computed) -> one sentence per change, in the
style of plan.measurement_changes. Pure and ordered by the new plan, so the
same two plans always give the same sentences and a plan compared with
itself gives none. The result is shown in plan.html and on the console; it
is never part of plan.json (a plan does not depend on the one before it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .plan_report import all_hosts, short_reason, where

# Per host and pool, planned memory that moves less than this is estimate
# noise (a catalog refresh, a rounding), not news.
MEMORY_THRESHOLD_MIB = 512


def _ollama(plan: Mapping[str, Any]) -> dict[str, dict[str, Mapping[str, Any]]]:
    """model -> host -> placement item, in the plan's order."""
    got: dict[str, dict[str, Mapping[str, Any]]] = {}
    for host, rec in (plan.get("hosts") or {}).items():
        for item in (rec or {}).get("ollama_models") or []:
            if isinstance(item, Mapping) and item.get("name"):
                got.setdefault(item["name"], {})[host] = item
    return got


def _placed(item: Mapping[str, Any]) -> str:
    return f"{item['name']} ({where(item)}, {item.get('memory_mib')} MiB)"


def _why(item: Mapping[str, Any]) -> str:
    return short_reason(str(item.get("reason") or ""))[0]


def _holds(plan: Mapping[str, Any], host: str) -> list[str]:
    """What a host runs in a plan, one phrase per model or device."""
    out = [_placed(it) for it in ((plan.get("hosts") or {}).get(host) or {}).get("ollama_models") or []]
    for s in plan.get("rpc_splits") or []:
        for r in (s.get("chosen") or {}).get("rows") or []:
            if r.get("host") == host:
                device = str(r.get("device", "")).removeprefix(f"{host} ")
                out.append(f"llama.cpp {s.get('model')} on {device} ({r.get('layers')} layers, {r.get('total_mib')} MiB)")
    d = plan.get("dllama") or {}
    if not d.get("model"):
        return out
    if d.get("root") == host:
        out.append(f"the distributed-llama root of {d.get('model')} ({d.get('root_mib')} MiB of RAM)")
    elif host in (d.get("workers") or []):
        out.append(f"a distributed-llama worker for {d.get('model')} ({d.get('per_node_mib')} MiB of RAM)")
    return out


def _memory(plan: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """host -> pool ("GPU", "RAM", "unified memory") -> MiB every engine plans there."""
    out: dict[str, dict[str, int]] = {}

    def add(host: str, pool: str, mib: Any) -> None:
        pools = out.setdefault(host, {})
        pools[pool] = pools.get(pool, 0) + int(mib or 0)

    # Ollama's own use; what it saw booked is counted below, from its source.
    for host, u in (plan.get("node_usage") or {}).items():
        if u.get("unified"):
            add(host, "unified memory", u.get("gpu_used_mib"))
        else:
            add(host, "GPU", u.get("gpu_used_mib"))
            add(host, "RAM", u.get("ram_used_mib"))
    for s in plan.get("rpc_splits") or []:
        for r in (s.get("chosen") or {}).get("rows") or []:
            add(r.get("host"), "GPU" if "GPU" in str(r.get("device", "")) else "RAM", r.get("total_mib"))
    d = plan.get("dllama") or {}
    if d.get("model"):
        add(d["root"], "RAM", d.get("root_mib"))
        for w in d.get("workers") or []:
            add(w, "RAM", d.get("per_node_mib"))
    return out


def _cannot_hold(plan: Mapping[str, Any], model: str, host: str) -> bool:
    for c in plan.get("capability") or []:
        if c.get("model") == model:
            return ((c.get("hosts") or {}).get(host) or {}).get("can") == "no"
    return False


def _left(new: Mapping[str, Any], model: str, host: str, gone_hosts: set[str]) -> str:
    """Why a model left a host, when the plan says."""
    if host in gone_hosts:
        return f" ({host} left the plan)"
    if _cannot_hold(new, model, host):
        return f" ({host} can no longer hold it)"
    return ""


def _ollama_changes(old: Mapping[str, Any], new: Mapping[str, Any], gone_hosts: set[str], new_hosts: set[str]) -> list[str]:
    before, after = _ollama(old), _ollama(new)
    out = []
    for model in [*after, *(m for m in before if m not in after)]:
        was, now = before.get(model, {}), after.get(model, {})
        if not was:
            on = ", ".join(f"{h} ({where(it)}, {it.get('memory_mib')} MiB)" for h, it in now.items())
            out.append(f"new model {model}: runs on {on}.")
            continue
        if not now:
            out.append(f"{model} is no longer planned; it ran on {', '.join(was)}.")
            continue
        lost = [h for h in was if h not in now]
        gained = [h for h in now if h not in was]

        for a, b in zip(lost, gained, strict=False):
            out.append(f"{model} moved from {a} to {b}{_left(new, model, a, gone_hosts)}: {where(now[b])} there, {_why(now[b])}.")
        for a in lost[len(gained) :]:
            if a not in gone_hosts:  # a node that left says what it ran
                out.append(f"{model} no longer runs on {a}{_left(new, model, a, gone_hosts)}.")
        for b in gained[len(lost) :]:
            if b not in new_hosts:  # a new node says what it gets
                out.append(f"{model} now also runs on {b}: {where(now[b])}, {_why(now[b])}.")
        for h in (h for h in now if h in was):
            o, n = was[h], now[h]
            if o.get("on_gpu") and not n.get("on_gpu"):
                out.append(f"{model} no longer fits on {h}'s GPU: {where(n)} there, {_why(n)}.")
            elif n.get("on_gpu") and not o.get("on_gpu"):
                out.append(f"{model} now fits on {h}'s GPU (it ran from {where(o)}): {_why(n)}.")
            elif where(o) != where(n):
                out.append(f"{model} on {h}: {where(n)}, was {where(o)}: {_why(n)}.")
    return out


def _replica_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    before = {r.get("model"): r for r in old.get("redundancy") or []}
    out = []
    for r in new.get("redundancy") or []:
        o = before.get(r.get("model"))
        if o is None:
            continue
        now, was = (len(r.get("replicas") or []), r.get("asked")), (len(o.get("replicas") or []), o.get("asked"))
        if now != was:
            met = "met" if now[0] >= (now[1] or 0) else "short"
            out.append(f"{r['model']}: {now[0]} of {now[1]} replicas placed ({met}), was {was[0]} of {was[1]}.")
    return out


def _memory_changes(old: Mapping[str, Any], new: Mapping[str, Any], hosts: list[str]) -> list[str]:
    before, after = _memory(old), _memory(new)
    out = []
    for h in hosts:
        diffs = []
        was, now = before.get(h, {}), after.get(h, {})
        for pool in [*now, *(p for p in was if p not in now)]:
            delta = now.get(pool, 0) - was.get(pool, 0)
            if abs(delta) >= MEMORY_THRESHOLD_MIB:
                diffs.append(f"{pool} {now.get(pool, 0)} MiB planned, was {was.get(pool, 0)} MiB ({delta:+d} MiB)")
        if diffs:
            out.append(f"host {h}: {'; '.join(diffs)}.")
    return out


def _llama_cpp_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    def servers(plan: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
        return {s.get("model"): s for s in (plan.get("llama_cpp") or {}).get("servers") or []}

    def fits(plan: Mapping[str, Any]) -> dict[str, bool]:
        return {s.get("model"): bool((s.get("chosen") or {}).get("fits")) for s in plan.get("rpc_splits") or []}

    before, after = servers(old), servers(new)
    old_fits, new_fits = fits(old), fits(new)
    out = []
    for m, s in after.items():
        devices = ", ".join(s.get("devices") or [])
        o = before.get(m)
        if o is None:
            out.append(f"new llama.cpp server {m}: {s.get('quant')} over {devices}.")
            continue
        if s.get("quant") != o.get("quant"):
            out.append(f"llama.cpp {m}: quant {s.get('quant')}, was {o.get('quant')}.")
        if s.get("devices") != o.get("devices"):
            out.append(f"llama.cpp {m}: split over {devices}, was over {', '.join(o.get('devices') or [])}.")
        if m in new_fits and m in old_fits and new_fits[m] != old_fits[m]:
            out.append(f"llama.cpp {m}: {'now fits' if new_fits[m] else 'no longer fits'} on its devices.")
    out += [f"llama.cpp server {m} is no longer planned." for m in before if m not in after]
    return out


def _dllama_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    o, n = old.get("dllama") or {}, new.get("dllama") or {}
    # Only a planned model is news (without one the plan just names the nodes).
    o, n = (o if o.get("model") else {}), (n if n.get("model") else {})
    if not o.get("root") and not n.get("root"):
        return []
    if not o.get("root"):
        return [f"new distributed-llama {n.get('model')}: root {n['root']}, workers {', '.join(n.get('workers') or [])}."]
    if not n.get("root"):
        return [f"distributed-llama {o.get('model')} is no longer planned (root was {o['root']})."]
    out = []
    if n.get("model") != o.get("model"):
        out.append(f"distributed-llama serves {n.get('model')}, was {o.get('model')}.")
    if n["root"] != o["root"]:
        out.append(f"distributed-llama root {n['root']}, was {o['root']}.")
    added = [w for w in n.get("workers") or [] if w not in (o.get("workers") or [])]
    removed = [w for w in o.get("workers") or [] if w not in (n.get("workers") or [])]
    if added or removed:
        parts = ([f"added {', '.join(added)}"] if added else []) + ([f"removed {', '.join(removed)}"] if removed else [])
        out.append(f"distributed-llama workers: {'; '.join(parts)} ({n.get('nodes')} nodes, was {o.get('nodes')}).")
    return out


def plan_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, str]]:
    """Each change as {"kind", "text"}; kind is one of error-new, error-fixed,
    settings, node-new, node-gone, model, replicas, llama_cpp, dllama,
    memory (the order they come in). Empty when nothing changed."""
    out: list[dict[str, str]] = []

    def add(kind: str, texts: list[str]) -> None:
        out.extend({"kind": kind, "text": t} for t in texts)

    old_errors, new_errors = list(old.get("errors") or []), list(new.get("errors") or [])
    add("error-new", [f"new error: {e}" for e in new_errors if e not in old_errors])
    add("error-fixed", [f"no longer an error: {e}" for e in old_errors if e not in new_errors])
    settings = []
    if old.get("margin") != new.get("margin"):
        settings.append(f"safety margin {new.get('margin')}, was {old.get('margin')}.")
    if old.get("solver") != new.get("solver"):
        settings.append(f"solver {new.get('solver')}, was {old.get('solver')}.")
    add("settings", settings)
    old_hosts, new_hosts = all_hosts(old), all_hosts(new)
    added, gone = [h for h in new_hosts if h not in old_hosts], [h for h in old_hosts if h not in new_hosts]
    texts = []
    for h in added:
        holds = _holds(new, h)
        texts.append(f"new node {h}: " + (f"gets {', '.join(holds)}." if holds else "no model is placed on it."))
    add("node-new", texts)
    texts = []
    for h in gone:
        holds = _holds(old, h)
        texts.append(f"node {h} is no longer in the plan" + (f"; it ran {', '.join(holds)}." if holds else "."))
    add("node-gone", texts)
    add("model", _ollama_changes(old, new, set(gone), set(added)))
    add("replicas", _replica_changes(old, new))
    add("llama_cpp", _llama_cpp_changes(old, new))
    add("dllama", _dllama_changes(old, new))
    add("memory", _memory_changes(old, new, [h for h in new_hosts if h in old_hosts]))
    return out
