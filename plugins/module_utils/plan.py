# Copyright: llama-herd developers
# Apache License 2.0
"""The cluster plan: inventory (+ cached facts) -> ``herd_plan``.

One pure function, :func:`build_plan`, used by the ``herd_plan`` action and
the reports. It never contacts a host. The shape of the result is the
contract every role playbook reads (see docs/plan.md):

``solver``, ``hosts.<host>.ollama_models``, ``pools``, ``llama_cpp.servers``,
``dllama``, ``errors``, ``warnings`` (+ ``capability``, ``rpc_splits``,
``redundancy``, ``margin`` for the reports).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any

from . import bandwidth, memory, ports
from .catalog import OLLAMA_DEFAULT_QUANT, SHAPE_KEYS, extended_catalog, lookup, merge_entry, model_size_mib, quant_from_tag
from .dllama import per_node_mib, topology_problems
from .firewall import exposure
from .gpu_router import priority_models, router_nodes
from .host_view import build_gpus, cluster_address, gpu_warnings, host_gpus, host_ram_mib
from .inventory import ENGINE_NAMES, derived_groups, validate_inventory
from .llama_cpp import (
    cuda_driver_check,
    cuda_toolkit_problem,
    host_nvidia_driver,
    memory_kwargs,
    parse_server_args,
    server_settings,
)
from .loadbalancer import lb_pools, pool_port_problems, slug
from .placement import GPU, RAM, Demand, Host, kept, solve
from .rocm import host_gfx_target, host_hsa_override

DEFAULT_CTX = 4096
POOL_PORT_START = 11435
LLAMA_SERVER_PORT_START = ports.LLAMA_SERVER_PORT_START
FOUR_BIT = ("Q4_0", "Q4_1", "Q4_K_S", "Q4_K_M", "IQ4_NL", "IQ4_XS", "Q3_K_M", "Q3_K_S", "Q3_K_L", "Q2_K")


def _gib(mib: float) -> str:
    return f"{mib / 1024:.1f} GiB"


def model_key(m: Mapping[str, Any]) -> str:
    """The catalog name of a herd_models item: its ``shape`` when it gives
    one (the same model under another name, e.g. on a second engine), else
    its name."""
    shape = m.get("shape")
    return shape if isinstance(shape, str) and shape else str(m["name"])


def resolve_model(m: Mapping[str, Any], catalog: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, Any] | None, str | None]:
    """The shape + size entry for a herd_models item (its ``shape``, another
    catalog name, when it gives one), or (None, why)."""
    entry = lookup(model_key(m), catalog) or {}
    for k in ("params_b",):
        if k in m:
            entry[k] = m[k]
    quant = str(
        m.get("quant") or quant_from_tag(m["name"]) or quant_from_tag(model_key(m)) or entry.get("quant") or OLLAMA_DEFAULT_QUANT
    )
    try:
        quant = memory.normalize_quant(quant)
    except memory.MemoryError_ as exc:
        return None, f"herd_models[{m['name']}].quant: {exc}"
    if entry.get("tensors") and str(entry.get("quant", "")).upper() != quant:
        entry.pop("tensors")  # the GGUF header describes another quantization of this model
    entry["quant"] = quant
    if m.get("size_bytes"):
        entry.setdefault("size_mib", {})[quant] = int(m["size_bytes"]) / memory.MIB
    missing = [k for k in SHAPE_KEYS if k not in entry]
    if missing:
        close = difflib.get_close_matches(model_key(m), sorted(catalog), n=1, cutoff=0.8)
        meant = f"did you mean {close[0]}? Otherwise " if close and lookup(model_key(m), catalog) is None else ""
        return None, (
            f"herd_models[{m['name']}]: the catalog does not know this model's shape ({', '.join(missing)} missing). Fix: {meant}"
            f"add it to herd_model_catalog as {m['name']}: {{n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab, "
            f"params_b, size_mib}}, or read it from the GGUF with llamaherd.cluster.gguf_info"
        )
    size = model_size_mib(entry["name"] if "name" in entry else m["name"], quant, catalog)
    if size is None and entry.get("params_b"):
        size = memory.weight_bytes(float(entry["params_b"]) * 1e9, quant) / memory.MIB
    if m.get("size_bytes"):
        size = int(m["size_bytes"]) / memory.MIB
    if size is None:
        return None, f"herd_models[{m['name']}]: unknown file size. Fix: set size_bytes or params_b"
    entry["file_mib"] = float(size)
    return entry, None


# ----------------------------------------------------------------- Ollama
def ollama_node_settings(hv: Mapping[str, Any]) -> dict[str, Any]:
    """What an Ollama server runs every model with unless the model has its
    own num_ctx; playbooks/ollama.yml deploys exactly these (an explicit
    OLLAMA_CONTEXT_LENGTH also keeps Ollama's VRAM-tier default, 32768 on a
    24 GiB card, from applying unplanned)."""
    return {
        "context_length": int(hv.get("ollama_context_length") or DEFAULT_CTX),
        "num_parallel": int(hv.get("ollama_num_parallel") or 1),
        "kv_cache_type": str(hv.get("ollama_kv_cache_type") or "f16").lower(),
        "flash_attention": bool(hv.get("ollama_flash_attention", False)),
    }


def ollama_gpu_record(hv: Mapping[str, Any]) -> dict[str, Any]:
    """An Ollama node's GPUs as the plan sees them (measured over declared)
    and its ROCm override, for the ollama role: {gpus, vendors, gfx_target,
    gfx_source, hsa_override, hsa_source}. ValueError on a malformed ROCm
    setting (preflight names it first)."""
    hv = {k: v for k, v in hv.items() if v is not None}
    gpus = host_gpus(hv)
    gfx, gfx_source = host_gfx_target(hv)
    override, hsa_source = host_hsa_override(hv)
    return {
        "gpus": gpus,
        "vendors": sorted({str(g.get("vendor", "")).lower() for g in gpus}),
        "gfx_target": gfx,
        "gfx_source": gfx_source,
        "hsa_override": override,
        "hsa_source": hsa_source,
    }


def _ollama_settings(m: Mapping[str, Any], hv: Mapping[str, Any]) -> tuple[int, int, str, bool]:
    """(context, parallel, KV type, flash attention) of model ``m`` on a node:
    its own context (deployed as the model's num_ctx), the rest the node's."""
    node = ollama_node_settings(hv)
    ctx = int(m.get("context") or node["context_length"])
    return ctx, node["num_parallel"], node["kv_cache_type"], node["flash_attention"]


def _ollama_host(
    name: str, hv: Mapping[str, Any], margin: float, order: int, booked: Mapping[tuple[str, str], list[tuple[str, float]]]
) -> tuple[Host, dict[str, Any]]:
    gpus = host_gpus(hv)
    ram = host_ram_mib(hv)
    unified = any(g.get("unified_memory") for g in gpus)
    reserve = memory.OLLAMA_GPU_RESERVE_MIB
    vram_total = sum(int(g.get("vram_mib", 0)) for g in gpus)
    # What llama.cpp and distributed-llama booked on this host first.
    taken = {key: sum(mib for _who, mib in users) for (h, key), users in booked.items() if h == name}
    if unified:
        # One pool, of which the GPU may map only what the firmware assigns
        # it (herd_gpus vram_mib, e.g. 96 of 128 GiB): two budgets (issue 21).
        pool = memory.usable_mib(max(vram_total, ram or 0), margin) - reserve - sum(taken.values())
        ram_budget = max(pool, 0.0)
        gpu_side = memory.usable_mib(vram_total, margin) - reserve - sum(taken.values()) if vram_total else pool
        gpu_budget = max(min(gpu_side, pool), 0.0)
    else:
        gpu_budget = sum(
            max(memory.usable_mib(int(g.get("vram_mib", 0)), margin) - reserve - taken.get(f"GPU{i}", 0), 0)
            for i, g in enumerate(gpus)
        )
        ram_budget = max(memory.usable_mib(ram, margin) - taken.get("RAM", 0), 0.0) if ram else 0.0
    others = sorted({who for (h, _key), users in booked.items() if h == name for who, _mib in users})
    # Per pool, for the report's bars: GPU<i> / RAM -> who took how much.
    shares = [
        {"pool": key, "who": who, "mib": math.ceil(mib)}
        for (h, key), users in sorted(booked.items())
        if h == name
        for who, mib in users
    ]
    cap = hv.get("ollama_max_loaded_models", hv.get("herd_max_loaded_models"))
    gpu_gbps, ram_gbps, gbps_source = bandwidth.host_gbps(hv, gpus)
    info = {
        "gpu_gbps": gpu_gbps,
        "ram_gbps": ram_gbps,
        "gbps_source": gbps_source,
        "gpus": gpus,
        "vram_mib": vram_total,
        "ram_mib": ram,
        "unified": unified,
        "gpu_budget_mib": gpu_budget,
        "ram_budget_mib": ram_budget,
        "tier": hv.get("herd_tier"),
        "booked_mib": round(sum(taken.values())),
        "booked": shares,
        "shared": f"; {round(sum(taken.values()))} MiB of this host went to {' and '.join(others)} first" if others else "",
    }
    return Host(name, gpu_budget, ram_budget, int(cap) if cap else None, unified, order), info


def _flow(value: Any) -> str:
    """A list or a word as the inventory writes it: [a, b] or a."""
    return f"[{', '.join(map(str, value))}]" if isinstance(value, list) else str(value)


def _limits_fix(limits: list[str]) -> str:
    """How to let more nodes serve a model limited by its hosts/labels/tier."""
    ways = {
        "hosts": "name more Ollama nodes in its hosts",
        "labels": "add its labels to herd_labels on the nodes that should serve it",
        "tier": "set herd_tier to its tier on the nodes that should serve it",
    }
    return ", ".join(ways[k] for k in limits) + ", or remove " + " and ".join(limits) + " from the model"


def _eligible(m: Mapping[str, Any], host: str, hv: Mapping[str, Any]) -> bool:
    if m.get("hosts") and host not in m["hosts"]:
        return False
    if m.get("tier"):
        tiers = m["tier"] if isinstance(m["tier"], list) else [m["tier"]]
        if hv.get("herd_tier") not in tiers:
            return False
    labels = m.get("labels") or []
    return set(labels) <= set(hv.get("herd_labels") or [])


def last_placement(nodes: Iterable[str], hostvars: Mapping[str, Mapping[str, Any]]) -> dict[str, set[str]]:
    """model -> the Ollama nodes the last successful plan put it on, from the
    ``herd_placed`` fact playbooks/plan.yml caches on each host. Hosts no
    longer in ollama_nodes are ignored; a malformed record counts as none."""
    out: dict[str, set[str]] = {}
    for h in nodes:
        rec = hostvars.get(h, {}).get("herd_placed")
        names = rec.get("ollama_models") if isinstance(rec, Mapping) else None
        for m in names if isinstance(names, list) else []:
            name = m.get("name") if isinstance(m, Mapping) else m
            if isinstance(name, str):
                out.setdefault(name, set()).add(h)
    return out


def _gpu_formula(info: Mapping[str, Any], margin: float) -> str:
    """How a host's usable GPU memory was reckoned, as the reason prints it:
    the reserve once per GPU, and an APU's GPU-assignable share."""
    reserve = memory.OLLAMA_GPU_RESERVE_MIB
    vram = [int(g.get("vram_mib", 0)) for g in info["gpus"]]
    if info["unified"]:
        raw = info["vram_mib"] or max(info["ram_mib"] or 0, 0)
        return f"unified memory ({raw} MiB GPU-assignable x {margin} - {reserve} MiB Ollama reserve)"
    if len(vram) > 1 and len(set(vram)) == 1:
        return f"VRAM ({len(vram)} x ({vram[0]} MiB x {margin} - {reserve} MiB Ollama reserve))"
    if len(vram) > 1:
        return (
            "VRAM ("
            + " + ".join(f"({v} MiB x {margin} - {reserve} MiB)" for v in vram)
            + f", {reserve} MiB Ollama reserve per GPU)"
        )
    return f"VRAM ({info['vram_mib']} MiB x {margin} - {reserve} MiB Ollama reserve)"


def _place_ollama(plan, models, hostvars, groups, margin, solver, catalog, sticky, booked):
    nodes = list(groups.get("ollama_nodes", []))
    last = last_placement(nodes, hostvars) if sticky else {}
    hosts: list[Host] = []
    infos: dict[str, dict[str, Any]] = {}
    for i, h in enumerate(nodes):
        host, info = _ollama_host(h, hostvars.get(h, {}), margin, i, booked)
        hosts.append(host)
        infos[h] = info
        if info["ram_mib"] is None and not info["gpus"]:
            plan["warnings"].append(
                f"host {h}: herd_ram_mib: unknown, so no model can be placed in its RAM. Fix: set herd_ram_mib or run gpu_facts."
            )
    # Each device's bandwidth over the cluster's fastest: the speed term of the objective.
    fastest = max(
        (max(infos[h.name]["gpu_gbps"] if h.gpu_mib > 0 else 0.0, infos[h.name]["ram_gbps"]) for h in hosts), default=0.0
    )
    speed = {
        h.name: {GPU: infos[h.name]["gpu_gbps"] / fastest, RAM: infos[h.name]["ram_gbps"] / fastest} if fastest else {}
        for h in hosts
    }
    demands: list[Demand] = []
    needs: dict[str, dict[str, dict[str, Any]]] = {}
    entries: dict[str, dict[str, Any]] = {}
    for m in models:
        entry, why = resolve_model(m, catalog)
        if entry is None:
            plan["errors"].append(why)
            continue
        entries[m["name"]] = entry
        d = Demand(m["name"], int(m.get("replicas", 1)), int(m.get("priority", 0)), str(m.get("gpu", "preferred")))
        d.keep = frozenset(last.get(m["name"], ()))
        d.speed = speed
        needs[m["name"]] = {}
        for host in hosts:
            hv = hostvars.get(host.name, {})
            ctx, par, kv, fa = _ollama_settings(m, hv)
            ctx = min(ctx, int(entry.get("n_ctx_train") or ctx))  # Ollama caps num_ctx at the training context
            try:
                # on_gpu=False: Ollama's reserve is per GPU, taken once in the host's budget (_ollama_host)
                need = memory.ollama_memory(entry, entry["file_mib"], ctx, par, kv, fa, on_gpu=False)
            except memory.MemoryError_ as exc:
                plan["errors"].append(f"host {host.name}: {m['name']}: {exc}")
                continue
            needs[m["name"]][host.name] = {**need, "ctx": ctx, "parallel": par}
            if not _eligible(m, host.name, hv):
                continue
            sizes = {}
            if host.gpu_mib > 0 and need["total_mib"] <= host.gpu_mib:
                sizes[GPU] = need["total_mib"]
            if not host.unified and host.ram_mib > 0 and need["total_mib"] <= host.ram_mib:
                sizes[RAM] = need["total_mib"]
            if sizes:
                d.sizes[host.name] = sizes
        demands.append(d)
    result = solve(demands, hosts, solver=solver)
    plan["solver"] = result.solver
    plan["solver_notes"] = result.notes
    moved_from = _stickiness(plan, demands, result)
    hmap = {h.name: h for h in hosts}
    used_gpu = {h.name: 0.0 for h in hosts}
    used_ram = {h.name: 0.0 for h in hosts}
    # node_usage's used MiB: the sum of the whole MiB each model shows.
    shown_gpu = dict.fromkeys(used_gpu, 0)
    shown_ram = dict.fromkeys(used_ram, 0)
    # GPU placements first (their memory is fixed), then RAM with partial offload.
    placed: list[tuple[str, str, str]] = []
    for mode_pass in (GPU, RAM):
        for d in sorted(demands, key=lambda d: (-d.priority, d.name)):
            for host, mode in result.assignment.get(d.name, []):
                if mode == mode_pass:
                    placed.append((d.name, host, mode))
    for name, host, mode in placed:
        m = next(x for x in models if x["name"] == name)
        need = needs[name][host]
        h = hmap[host]
        info = infos[host]
        item: dict[str, Any] = {"name": name}
        if m.get("alias"):
            item["alias"] = m["alias"]
        if "keep_alive" in m:
            item["keep_alive"] = str(m["keep_alive"])
        n_layer = int(need["n_layer"])
        total = need["total_mib"]
        if mode == GPU:
            used_gpu[host] += total
            shown_gpu[host] += math.ceil(total)
            if h.unified:
                used_ram[host] += total
                shown_ram[host] += math.ceil(total)
            free = h.gpu_mib - used_gpu[host]
            item.update(on_gpu=True, gpu_layers=n_layer)
            item["reason"] = (
                f"fits in {h.gpu_mib:.0f} MiB usable {_gpu_formula(info, margin)}, {free:.0f} MiB free; "
                f"{need['compute_mib']:.0f} MiB {memory.GPU_COMPUTE_ASSUMPTION}"
            )
        else:
            used_ram[host] += total
            shown_ram[host] += math.ceil(total)
            gpu_free = h.gpu_mib - used_gpu[host]
            layers = 0
            if info["gpus"] and gpu_free > need["compute_mib"]:
                layers = int(min(n_layer, max(0, (gpu_free - need["compute_mib"]) // need["per_layer_mib"])))
                offload = layers * need["per_layer_mib"] + (need["compute_mib"] if layers else 0)
                used_gpu[host] += offload
                shown_gpu[host] += math.ceil(offload)
            item.update(on_gpu=False, gpu_layers=layers)
            if layers:
                item["gpu_offload_mib"] = math.ceil(offload)
            if info["gpus"]:
                why = f"needs {math.ceil(total)} MiB, more than the {max(gpu_free, 0):.0f} MiB of VRAM left"
                if m.get("gpu") == "never":
                    why = "gpu: never"
                ram = f"({h.ram_mib:.0f} MiB usable, {h.ram_mib - used_ram[host]:.0f} MiB free)"
                if layers == n_layer:
                    # Every layer fits, the rest (output, compute, the share
                    # Ollama keeps on the CPU) does not: not "from RAM".
                    item["reason"] = f"{why}: all {n_layer} layers on the GPU, the rest of it in RAM {ram}"
                else:
                    item["reason"] = f"{why}: runs from RAM {ram}" + (
                        f", {layers} of {n_layer} layers offloaded to the GPU" if layers else ""
                    )
            else:
                item["reason"] = (
                    f"no GPU: runs from RAM, fits in {h.ram_mib:.0f} MiB usable ({info['ram_mib']} MiB x {margin}), "
                    f"{h.ram_mib - used_ram[host]:.0f} MiB free"
                )
        item["reason"] += info["shared"]
        if moved_from.get((name, host)):
            item["reason"] += f"; moved here from {moved_from[(name, host)]}"
        item["memory_mib"] = math.ceil(total)
        # Decode speed from bandwidth: the weights on the GPU at its speed, the rest at RAM's.
        on_gpu_mib = need["weights_mib"] if mode == GPU else min(item["gpu_layers"] * need["per_layer_mib"], need["weights_mib"])
        item["tokens_per_s"] = bandwidth.tokens_per_s(
            on_gpu_mib, need["weights_mib"] - on_gpu_mib, info["gpu_gbps"], info["ram_gbps"]
        )
        item["context"] = need["ctx"]
        item["parallel"] = need["parallel"]
        plan["hosts"].setdefault(host, {"ollama_models": []})["ollama_models"].append(item)

    # Unplaced replicas: say what is missing, and what other engines took.
    shared = [f"{h} gave {infos[h]['booked_mib']} MiB to other engines first" for h in nodes if infos[h]["booked_mib"]]
    shared_note = f" ({'; '.join(shared)})" if shared else ""
    for d in demands:
        got = len(result.assignment.get(d.name, []))
        if got >= d.replicas:
            continue
        m = next(x for x in models if x["name"] == d.name)
        wanted = {"required": GPU, "never": RAM}.get(d.gpu)
        options = sorted(h for h, sizes in d.sizes.items() if wanted is None or wanted in sizes)
        hn = needs.get(d.name, {})
        if not hn:
            continue
        need_min = min(v["total_mib"] for v in hn.values())
        ctx = next(iter(hn.values()))["ctx"]
        # Too few nodes pass its hosts/labels/tier limits: no measurement changes that.
        allowed = [h for h in nodes if _eligible(m, h, hostvars.get(h, {}))]
        n_errors = len(plan["errors"])
        if len(allowed) < d.replicas:
            limits = [k for k in ("hosts", "labels", "tier") if m.get(k)]
            constraint = f"its {', '.join(limits)} limits" if limits else "distinct hosts (fewer nodes than replicas)"
            said = ", ".join(f"{k}: {_flow(m[k])}" for k in limits)
            if not allowed:
                plan["errors"].append(
                    f"herd_models[{d.name}]: no Ollama node meets its {said} (the nodes: {', '.join(nodes)}). "
                    f"Fix: {_limits_fix(limits)}"
                )
            elif limits:
                plan["errors"].append(
                    f"herd_models[{d.name}].replicas: {d.replicas} replicas, but only {len(allowed)} Ollama node(s) meet its "
                    f"{said} ({', '.join(allowed)}) and each replica needs its own node. Fix: lower replicas to "
                    f"{len(allowed)}, or {_limits_fix(limits)}"
                )
            else:
                plan["errors"].append(
                    f"herd_models[{d.name}].replicas: {d.replicas} replicas, but ollama_nodes has {len(nodes)} host(s) "
                    f"({', '.join(nodes)}) and each replica needs its own node. Fix: lower replicas to {len(nodes)}, "
                    "or put more hosts in ollama_nodes"
                )
        elif not options:
            constraint = "memory: no host can hold it"
        elif len(options) < d.replicas:
            constraint = "distinct hosts: every other host that could hold it is too small"
        else:
            holding = {h for h, _mode in result.assignment.get(d.name, [])}
            capped = [
                h.name
                for h in hosts
                if h.name in options
                and h.name not in holding
                and h.max_models is not None
                and sum(h.name in {x for x, _mode in places} for places in result.assignment.values()) >= h.max_models
            ]
            constraint = (
                f"the count cap (herd_max_loaded_models) on {', '.join(capped)}, memory on the rest"
                if capped
                else "memory: the hosts that could hold it are full with higher-value models"
            )
        biggest = max(hosts, key=lambda x: max(x.gpu_mib, x.ram_mib), default=None)
        if len(allowed) < d.replicas:
            pass
        elif not options:
            if d.gpu == "required":
                biggest = max(hosts, key=lambda x: x.gpu_mib, default=None)
            largest = (biggest.gpu_mib if d.gpu == "required" else max(biggest.gpu_mib, biggest.ram_mib)) if biggest else 0
            policy = " on GPU (gpu: required)" if d.gpu == "required" else ""
            plan["errors"].append(
                f"{d.name} needs {_gib(need_min)} at ctx {ctx}{policy}; the largest host"
                f"{' (' + biggest.name + ')' if biggest else ''} has {_gib(largest)} usable. Fix: add memory, lower its context, "
                f"use a smaller quantization, or drop the model" + shared_note
            )
        elif len(options) < d.replicas:
            plan["errors"].append(
                f"{d.name}: replicas {d.replicas} but only {len(options)} host(s) can hold it ({', '.join(options)}); "
                f"each replica needs its own host. Fix: lower replicas to {len(options)} or add hosts with {_gib(need_min)} free"
                + shared_note
            )
        else:
            plan["errors"].append(
                f"{d.name}: placed {got} of {d.replicas} replicas; the hosts that could hold it ({', '.join(options)}) are full "
                f"with higher-value models. Fix: lower replicas or context, or raise priority" + shared_note
            )
        plan.setdefault("unplaced", []).append(
            {
                "model": d.name,
                "asked": d.replicas,
                "missing": d.replicas - got,
                "constraint": constraint,
                "why": plan["errors"][n_errors] if len(plan["errors"]) > n_errors else constraint,
            }
        )
        del m

    # Pools: a model on two or more Ollama nodes.
    used_ports = {int(m["pool_port"]) for m in models if m.get("pool_port")}
    next_port = POOL_PORT_START
    order = {h: i for i, h in enumerate(nodes)}
    for m in models:
        places = sorted((h for h, _mode in result.assignment.get(m["name"], [])), key=order.get)
        if len(places) < 2:
            continue
        port = m.get("pool_port")
        if not port:
            while next_port in used_ports:
                next_port += 1
            port = next_port
            used_ports.add(port)
        plan["pools"].append({"name": slug(m["name"]), "model": m["name"], "port": int(port), "backends": places})

    # Capability table (seed 000): can each node hold each model at all?
    for m in models:
        if m["name"] not in needs:
            continue
        row = {"model": m["name"], "hosts": {}}
        for host in hosts:
            n = needs[m["name"]].get(host.name)
            if n is None:
                continue
            t = n["total_mib"]
            if host.gpu_mib >= t:
                cap = "gpu"
            elif not host.unified and host.ram_mib >= t:
                cap = "ram"
            else:
                cap = "no"
            row["hosts"][host.name] = {"can": cap, "need_mib": round(t)}
        plan["capability"].append(row)
    # Redundancy map (seed 002): primary / backups per model.
    # The primary is the replica predicted fastest (then inventory order).
    tps = {(it["name"], h): it.get("tokens_per_s", 0.0) for h, v in plan["hosts"].items() for it in v.get("ollama_models", [])}
    for m in models:
        places = [h for h, _mode in result.assignment.get(m["name"], [])]
        places.sort(key=lambda h, name=m["name"]: -tps.get((name, h), 0.0))
        plan["redundancy"].append(
            {"model": m["name"], "alias": m.get("alias"), "replicas": places, "asked": int(m.get("replicas", 1))}
        )
    plan["node_usage"] = {
        h.name: {
            "gpu_budget_mib": round(h.gpu_mib),
            "gpu_used_mib": shown_gpu[h.name],
            "ram_budget_mib": round(h.ram_mib),
            "ram_used_mib": shown_ram[h.name],
            "unified": h.unified,
            "booked_mib": infos[h.name]["booked_mib"],
            "booked": infos[h.name]["booked"],
            "gpus": [
                {"name": str(g.get("name") or g.get("vendor") or "GPU"), "vram_mib": int(g.get("vram_mib", 0))}
                for g in infos[h.name]["gpus"]
            ],
            "ram_mib": infos[h.name]["ram_mib"],
        }
        for h in hosts
    }


def _stickiness(plan, demands, result) -> dict[tuple[str, str], str]:
    """Say in ``solver_notes`` how much of the last plan's placement stays
    and why a replica leaves a host it had; (model, new host) -> 'old host
    (placed there by the last plan): why' for the reasons."""
    recorded = sum(len(d.keep) for d in demands)
    stayed = kept(demands, result.assignment)
    if stayed == recorded:
        return {}  # nothing moved: the plan reads as it did the first time
    moved: dict[tuple[str, str], str] = {}
    notes = [f"stickiness: {stayed} of {recorded} replicas stay where the last plan put them"]
    for d in demands:
        now = [h for h, _mode in result.assignment.get(d.name, [])]
        left = sorted(d.keep - set(now))
        came = [h for h in now if h not in d.keep]
        for i, old in enumerate(left):
            if old not in d.sizes:
                why = "it no longer fits there or is no longer allowed there"
            elif len(d.keep) > d.replicas and i >= len(came):
                why = f"replicas lowered to {d.replicas}"
            elif result.solver == "greedy":
                why = "the greedy found no room for it there after the models placed before it"
            else:
                why = "the plan is worth more with it elsewhere (more replicas, higher priorities, or GPU instead of RAM)"
            where = f"{old} (placed there by the last plan): {why}"
            notes.append(f"{d.name} leaves {where}" + (f"; now on {came[i]}" if i < len(came) else ""))
            if i < len(came):
                moved[(d.name, came[i])] = where
    plan["solver_notes"] = [*plan["solver_notes"], *notes]
    return moved


# -------------------------------------------------------------- llama.cpp
def rpc_devices(head: str, workers: list[str], hostvars: Mapping[str, Mapping[str, Any]], margin: float) -> list[dict[str, Any]]:
    """Devices in llama.cpp's order: RPC workers first (in --rpc order), then
    the head's own GPUs. A CPU-only worker is one device (its RAM)."""
    devs = []
    for w in workers:
        hv = hostvars.get(w, {})
        gpus = host_gpus(hv)
        if gpus:
            for i, g in enumerate(gpus):
                total = int(g["vram_mib"])
                devs.append(
                    {
                        "host": w,
                        "device": f"{w} GPU{i} ({g.get('name', g.get('vendor'))})",
                        "total_mib": total,
                        "reserve_mib": memory.LLAMA_FIT_RESERVE_MIB,
                        "gpu": g,
                        "key": f"GPU{i}",
                    }
                )
        else:
            ram = host_ram_mib(hv) or 0
            devs.append({"host": w, "device": f"{w} CPU", "total_mib": ram, "reserve_mib": 0, "gpu": None, "key": "RAM"})
    for i, g in enumerate(host_gpus(hostvars.get(head, {}))):
        total = int(g["vram_mib"])
        devs.append(
            {
                "host": head,
                "device": f"{head} GPU{i} ({g.get('name', g.get('vendor'))})",
                "total_mib": total,
                "reserve_mib": memory.LLAMA_FIT_RESERVE_MIB,
                "gpu": g,
                "key": f"GPU{i}",
            }
        )
    for d in devs:
        d["usable_mib"] = memory.usable_mib(d["total_mib"], margin) - d["reserve_mib"]
    return devs


def rpc_split(
    entry: Mapping[str, Any],
    quant: str,
    devices: list[dict[str, Any]],
    ctx: int,
    parallel: int,
    file_mib: float | None,
    head: str,
    head_ram: int | None,
    margin: float,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Per-device memory of one llama-server over RPC (seed 003's table).
    ``settings``: the instance's memory flags (llama_cpp.server_settings)."""
    st = server_settings(settings or {})
    weights = [max(d["usable_mib"], 0.0) for d in devices]
    low = min((w for w in weights if w > 0), default=1.0)
    # No device with known memory: an even split, which then does not fit.
    split = [round(w / low, 3) for w in weights] if any(w > 0 for w in weights) else [1.0] * len(weights)
    # A GGUF header's tensors (gguf_info) give the exact bytes of each layer;
    # otherwise the shape gives them, scaled to the file size the catalog knows.
    header = entry.get("tensors") if entry.get("quant") == quant else None
    tensors = [(str(n), str(t), int(e)) for n, t, e in header] if header else None
    mem = memory.llama_server_memory(
        entry,
        tensors=tensors,
        weight_type=quant,
        ctx=ctx,
        parallel=parallel,
        split=split or None,
        repack=True,
        **memory_kwargs(st),
    )
    model_total = sum(v["model"] for v in mem["devices"].values())
    scale = (file_mib * memory.MIB / model_total) if (file_mib and model_total and not tensors) else 1.0
    rows = []
    ok = True
    for i, d in enumerate(devices):
        v = mem["devices"].get(f"dev{i}", {"model": 0, "kv": 0, "compute": 0, "repack": 0})
        total = (v["model"] * scale + v["kv"] + v["compute"]) / memory.MIB
        fits = total <= d["usable_mib"]
        ok &= fits
        rows.append(
            {
                "device": d["device"],
                "host": d["host"],
                "layers": sum(1 for x in mem["layers"][:-1] if x == i) + (1 if mem["layers"][-1] == i else 0),
                "weights_mib": round(v["model"] * scale / memory.MIB),
                "kv_mib": round(v["kv"] / memory.MIB),
                "compute_mib": round(v["compute"] / memory.MIB),
                "other_mib": 0,
                "total_mib": round(total),
                "usable_mib": round(d["usable_mib"]),
                "device_mib": d["total_mib"],
                "fits": fits,
            }
        )
    cpu = mem["devices"]["cpu"]
    # Besides weights, KV and compute the head holds the CPU's repacked copy
    # of Q4 weights, the output (logits) buffer and the prompt cache (-cram),
    # which may grow to its limit.
    other = (cpu["repack"] * scale + cpu["output"]) / memory.MIB + st["cache_ram_mib"]
    head_total = (cpu["model"] * scale + cpu["kv"] + cpu["compute"]) / memory.MIB + other
    head_fits = head_ram is None or head_total <= memory.usable_mib(head_ram, margin)
    rows.append(
        {
            "device": f"{head} CPU (token embedding{', layers' if not devices else ''})",
            "host": head,
            "layers": sum(1 for x in mem["layers"] if x is None),
            "weights_mib": round(cpu["model"] * scale / memory.MIB),
            "kv_mib": round(cpu["kv"] / memory.MIB),
            "compute_mib": round(cpu["compute"] / memory.MIB),
            "other_mib": round(other),
            "total_mib": round(head_total),
            "usable_mib": round(memory.usable_mib(head_ram, margin)) if head_ram else None,
            "device_mib": head_ram,
            "fits": head_fits,
        }
    )
    return {
        "quant": quant,
        "tensor_split": split,
        "rows": rows,
        "fits": ok and head_fits,
        "file_mib": round(file_mib or model_total / memory.MIB),
        "compute_note": memory.GPU_COMPUTE_ASSUMPTION if devices else None,
    }


def _plan_llama_cpp(plan, models, hostvars, groups, margin, catalog, booked):
    lmodels = [m for m in models if m.get("engine") == "llama_cpp"]
    if not lmodels:
        return
    heads = list(groups.get("llama_cpp_head", []))
    if not heads:
        plan["errors"].append(
            f"inventory: llama_cpp_head: {', '.join(m['name'] for m in lmodels)} use engine llama_cpp but no host is in llama_cpp_head. "
            "Fix: put one host in llama_cpp_head."
        )
        return
    head = heads[0]
    workers = list(groups.get("llama_cpp_workers", []))
    if head in workers:
        # Its GPUs are the head's own devices already; as an RPC worker too
        # they would count twice in the split (issue 21).
        workers.remove(head)
        plan["warnings"].append(
            f"host {head}: is in both llama_cpp_head and llama_cpp_workers; the head uses its own GPUs directly, "
            "so the plan does not add it as an RPC worker of itself. Fix: remove it from llama_cpp_workers."
        )
    # CUDA toolkit vs compute capability (seed 003: CUDA 13 cannot build for CC 7.0).
    for h in [head, *workers]:
        hv = hostvars.get(h, {})
        cuda = hv.get("herd_cuda_version")
        whys = {}  # one error per host and cause, not one per GPU
        for g in plan["hosts"][h]["llama_cpp_gpus"]:
            if cuda and g.get("vendor") == "nvidia" and g.get("compute_capability"):
                why = cuda_toolkit_problem(cuda, g["compute_capability"])
                if why:
                    whys[why] = whys.get(why, 0) + 1
        for why, n in whys.items():
            plan["errors"].append(f"host {h}: herd_cuda_version: {why}" + (f" ({n} GPUs)." if n > 1 else "."))
        # The toolkit vs the driver measured by gpu_facts (or declared).
        found = cuda_driver_check(h, hv)
        if found:
            level, var, problem, fix = found
            plan["errors" if level == "error" else "warnings"].append(f"host {h}: {var}: {problem}. Fix: {fix}.")
    devices = rpc_devices(head, workers, hostvars, margin)
    for i, m in enumerate(lmodels):
        entry, why = resolve_model(m, catalog)
        if entry is None:
            plan["errors"].append(why)
            continue
        # The model's keys and its llama-server arguments give one record;
        # the estimate below and the launched command both read it.
        fields, passthrough, problems = parse_server_args(m.get("extra_args"))
        if problems:  # preflight names each; the plan only refuses to size it
            plan["errors"].append(f"herd_models[{m['name']}].extra_args: {problems[0][0]}. Fix: {problems[0][1]}.")
            continue
        if m.get("kv_cache_type"):
            fields.setdefault("cache_type_k", str(m["kv_cache_type"]).lower())
            fields.setdefault("cache_type_v", str(m["kv_cache_type"]).lower())
        given_ctx = fields.pop("context", m.get("context"))
        # -c 0: llama.cpp runs the context the model was trained with.
        ctx = int(entry.get("n_ctx_train") or DEFAULT_CTX) if given_ctx == 0 else int(given_ctx or DEFAULT_CTX)
        par = int(fields.pop("parallel", None) or m.get("parallel") or 1)
        settings = server_settings(fields)
        quantized_kv = {settings["cache_type_k"], settings["cache_type_v"]} - {"f16", "f32", "bf16"}
        if quantized_kv and settings["flash_attn"] != "on":
            plan["errors"].append(
                f"herd_models[{m['name']}]: a quantized KV cache ({settings['cache_type_k']}/{settings['cache_type_v']}) "
                "needs flash attention, which -fa off turns off. Fix: remove -fa off, or use kv_cache_type: f16."
            )
            continue
        quant = entry["quant"]
        head_ram = host_ram_mib(hostvars.get(head, {}))
        split = rpc_split(entry, quant, devices, ctx, par, entry["file_mib"], head, head_ram, margin, settings)
        # The alternatives the seed weighs (Q4_K_M vs Q8_0), for the table and the advice.
        alts = {}
        for q in ("Q4_K_M", "Q8_0"):
            if q != quant:
                alt_entry = {k: v for k, v in entry.items() if k != "tensors"}
                alt_file = model_size_mib(entry.get("name", m["name"]), q, catalog)
                alts[q] = rpc_split(alt_entry, q, devices, ctx, par, alt_file, head, head_ram, margin, settings)
        plan["rpc_splits"].append({"model": m["name"], "ctx": ctx, "parallel": par, "chosen": split, "alternatives": alts})
        who = f"llama.cpp's {m['name']}"
        for d, row in zip([*devices, {"host": head, "key": "RAM"}], split["rows"], strict=True):
            if row["total_mib"] > 0:
                booked.setdefault((d["host"], d["key"]), []).append((who, row["total_mib"]))
        volta = bool(devices) and all(
            d["gpu"] and d["gpu"].get("vendor") == "nvidia" and float(d["gpu"].get("compute_capability", 99)) < 7.5
            for d in devices
        )
        if not split["fits"]:
            worst = max((r for r in split["rows"] if not r["fits"]), key=lambda r: r["total_mib"] - (r["usable_mib"] or 0))
            better = [q for q, s in alts.items() if s["fits"]]
            plan["errors"].append(
                f"{m['name']} {quant} at ctx {ctx} does not fit: {worst['device']} needs {_gib(worst['total_mib'])}, "
                f"{_gib(worst['usable_mib'] or 0)} usable (x {margin}). Fix: "
                + (f"use quant {better[0]}, " if better else "")
                + "lower the context, add RPC workers, or raise herd_vram_safety_margin"
            )
        elif volta and quant in FOUR_BIT and alts.get("Q8_0", {}).get("fits"):
            plan["warnings"].append(
                f"{m['name']}: quant {quant} on Volta (compute capability 7.0, no INT4 tensor cores) is dequantization-bound; "
                "Q8_0 fits across these GPUs and runs about 1.5-2x faster (seed 003). Fix: set quant: Q8_0"
            )
        server = {
            "name": slug(m["name"]),
            "model": m["name"],
            "port": LLAMA_SERVER_PORT_START + i,
            "context": ctx,
            "parallel": par,
            "n_gpu_layers": 999 if devices else 0,
            "tensor_split": split["tensor_split"],
            "rpc_workers": workers,
            "devices": [d["device"] for d in devices],
            "quant": quant,
            **settings,
            "extra_args": passthrough,
        }
        if m.get("gguf"):
            server["gguf"] = m["gguf"]
        plan["llama_cpp"]["servers"].append(server)


# ------------------------------------------------------ distributed-llama
def _plan_dllama(plan, models, hostvars, groups, margin, catalog, booked):
    dmodels = [m for m in models if m.get("engine") == "dllama"]
    roots = list(groups.get("dllama_root", []))
    workers = list(groups.get("dllama_workers", []))
    if not dmodels:
        # Nothing to size, but the plan still names the nodes: the play
        # takes them from here, never from the groups.
        if len(roots) == 1:
            plan["dllama"] = {"root": roots[0], "workers": workers, "nodes": 1 + len(workers)}
        return
    if len(dmodels) > 1:
        plan["warnings"].append(
            f"inventory: herd_models: {len(dmodels)} dllama models; one root serves one model, so only {dmodels[0]['name']} is planned."
        )
    if len(roots) != 1:
        plan["errors"].append(
            f"inventory: dllama_root: distributed-llama needs exactly one root, found {len(roots)}. Fix: put one host in dllama_root."
        )
        return
    m = dmodels[0]
    entry, why = resolve_model(m, catalog)
    if entry is None:
        plan["errors"].append(why)
        return
    nodes = 1 + len(workers)
    wtype = str(m.get("quant") or "q40").lower()
    wtype = {"q4_0": "q40", "q8_0": "q80"}.get(wtype, wtype)
    btype = str(m.get("buffer_float_type") or "q80")
    for var, problem, fix in topology_problems(nodes, int(entry["n_head_kv"]), wtype, btype):
        plan["errors"].append(f"inventory: {var}: {problem}. Fix: {fix}.")
    # The context: the model's herd_models context, else the root's
    # dllama_max_seq_len (the role's own variable), else the default.
    # playbooks/distributed_llama.yml hands the root this value.
    root_seq = hostvars.get(roots[0], {}).get("dllama_max_seq_len")
    try:
        root_seq = int(root_seq) if root_seq not in (None, "") else None
    except (TypeError, ValueError):
        plan["errors"].append(
            f"host {roots[0]}: dllama_max_seq_len: {root_seq!r} is not a number. Fix: a token count such as 4096."
        )
        return
    if m.get("context"):
        seq = int(m["context"])
        if root_seq is not None and root_seq != seq:
            plan["warnings"].append(
                f"host {roots[0]}: dllama_max_seq_len: {root_seq}, but herd_models sets context {seq} for {m['name']}; "
                f"the root runs with {seq}. Fix: keep only one of them."
            )
    elif root_seq is not None:
        seq = root_seq
    else:
        seq = min(DEFAULT_CTX, int(entry.get("n_ctx_train", DEFAULT_CTX)))
    try:
        root_mib = per_node_mib(entry, seq, nodes, wtype, root=True)
        worker_mib = per_node_mib(entry, seq, nodes, wtype, root=False)
    except (memory.MemoryError_, ValueError) as exc:
        plan["errors"].append(f"{m['name']}: {exc}")
        return
    for h, need in [(roots[0], root_mib), *((w, worker_mib) for w in workers)]:
        ram = host_ram_mib(hostvars.get(h, {}))
        if ram is None:
            plan["warnings"].append(
                f"host {h}: herd_ram_mib: unknown; cannot check that {need:.0f} MiB fits. Fix: set herd_ram_mib."
            )
        elif need > memory.usable_mib(ram, margin):
            plan["errors"].append(
                f"host {h}: {m['name']} needs {need:.0f} MiB per node at {nodes} nodes and max_seq_len {seq}; "
                f"{memory.usable_mib(ram, margin):.0f} MiB usable ({ram} MiB x {margin}). Fix: more nodes, a shorter context, or a smaller model"
            )
    for h, need in [(roots[0], root_mib), *((w, worker_mib) for w in workers)]:
        booked.setdefault((h, "RAM"), []).append((f"distributed-llama's {m['name']}", math.ceil(need)))
    plan["dllama"] = {
        "root": roots[0],
        "workers": workers,
        "nodes": nodes,
        "model": m["name"],
        "max_seq_len": seq,
        "per_node_mib": math.ceil(worker_mib),
        "root_mib": math.ceil(root_mib),
        "weights_float_type": wtype,
        "buffer_float_type": btype,
    }


# ------------------------------------------------------------------- plan
def plan_switch(value: Any) -> bool | None:
    """herd_plan_sticky: a bool, or the words -e key=value passes as strings
    (only the controller's plan reads it); None when it is neither."""
    if isinstance(value, bool):
        return value
    return {"true": True, "yes": True, "false": False, "no": False}.get(str(value).strip().lower())


def build_plan(
    hostvars: Mapping[str, Mapping[str, Any]],
    groups: Mapping[str, Iterable[str]],
    solver: str = "auto",
) -> dict[str, Any]:
    """The whole plan from the inventory; never raises on bad input: problems
    go to ``errors`` (blocking) and ``warnings``."""
    groups = {g: list(h) for g, h in groups.items()}
    plan: dict[str, Any] = {
        "solver": "none",
        "hosts": {},
        "pools": [],
        "llama_cpp": {"servers": []},
        "dllama": {},
        "errors": [],
        "warnings": [],
        "capability": [],
        "redundancy": [],
        "rpc_splits": [],
        "node_usage": {},
    }
    members = list(groups.get("all", list(hostvars)))
    any_hv: Mapping[str, Any] = next((hostvars[h] for h in members if "herd_models" in hostvars.get(h, {})), {})
    if not any_hv and members:
        any_hv = hostvars.get(members[0], {})
    margin = any_hv.get("herd_vram_safety_margin", memory.DEFAULT_MARGIN)
    try:
        memory.usable_mib(0, margin)
    except memory.MemoryError_ as exc:
        plan["errors"].append(f"inventory: herd_vram_safety_margin: {exc}. Fix: use {memory.DEFAULT_MARGIN}.")
        margin = memory.DEFAULT_MARGIN
    plan["margin"] = margin
    models = [dict(m) for m in (any_hv.get("herd_models") or []) if isinstance(m, Mapping) and m.get("name")]
    # herd_model_catalog from every host, merged in inventory order: a group
    # var is the same everywhere, and an entry set_fact put on any one host
    # (e.g. from gguf_info where the file lives) counts.
    extra: dict[str, Any] = {}
    for h in members:
        declared = hostvars.get(h, {}).get("herd_model_catalog")
        for name, entry in (declared if isinstance(declared, Mapping) else {}).items():
            if isinstance(entry, Mapping):
                extra[name] = merge_entry(extra.get(name), entry)
    catalog = extended_catalog(extra)
    for h in members:  # measured vs declared GPUs (host_gpus decides which the plan uses)
        plan["warnings"] += gpu_warnings(h, hostvars.get(h, {}))
    for h in groups.get("ollama_nodes", []):
        rec = plan["hosts"].setdefault(h, {"ollama_models": []})
        rec["ollama_settings"] = ollama_node_settings(hostvars.get(h, {}))
        try:
            rec["ollama_gpu"] = ollama_gpu_record(hostvars.get(h, {}))
        except ValueError as exc:
            plan["errors"].append(f"host {h}: {exc}")
    # What llama.cpp is built for on each of its hosts (playbooks/llama_cpp.yml
    # hands it to the role): measured GPUs over declared, as planned.
    for h in dict.fromkeys([*groups.get("llama_cpp_head", []), *groups.get("llama_cpp_workers", [])]):
        gpus, problems = build_gpus(h, hostvars.get(h, {}))
        rec = plan["hosts"].setdefault(h, {"ollama_models": []})
        rec["llama_cpp_gpus"] = gpus
        # The driver the role's toolkit choice must respect (measured over declared).
        driver = host_nvidia_driver(hostvars.get(h, {}))
        rec["nvidia_driver_version"] = driver[0] if driver else ""
        plan["errors"] += problems
    ollama_models = [m for m in models if m.get("engine", "ollama") == "ollama"]
    if ollama_models and not groups.get("ollama_nodes"):
        plan["errors"].append(
            "inventory: ollama_nodes: herd_models lists Ollama models but no host is in ollama_nodes. Fix: add hosts to ollama_nodes."
        )
    # One budget per device: llama.cpp and distributed-llama run where the
    # groups put them, so they are booked first; Ollama is placed in what
    # they leave (booked: (host, "GPU<i>" | "RAM") -> [(who, MiB)]).
    booked: dict[tuple[str, str], list[tuple[str, float]]] = {}
    _plan_llama_cpp(plan, models, hostvars, groups, margin, catalog, booked)
    # What the head downloads (the llama_cpp role's llama_cpp_models): each
    # llama.cpp model that names its file by checksum.
    plan["llama_cpp"]["models"] = [
        {k: m[k] for k in ("name", "url", "parts", "sha256", "size_bytes") if k in m}
        for m in models
        if m.get("engine") == "llama_cpp" and m.get("sha256")
    ]
    _plan_dllama(plan, models, hostvars, groups, margin, catalog, booked)
    _overbooked(plan, booked, hostvars, margin)
    if ollama_models and groups.get("ollama_nodes"):
        sticky = plan_switch(any_hv.get("herd_plan_sticky", True))
        if sticky is None:
            plan["errors"].append(
                f"inventory: herd_plan_sticky: {any_hv['herd_plan_sticky']!r} is not true or false. "
                "Fix: -e herd_plan_sticky=false to plan without the last placement, or remove it."
            )
        _place_ollama(plan, ollama_models, hostvars, groups, margin, solver, catalog, sticky is not False, booked)
    _context_problems(plan, models, catalog)
    # A pool's listener must not take a port another service uses on its load balancer.
    plan["errors"] += [f"host {h}: {v}: {p}. Fix: {f}." for h, v, p, f in pool_port_problems(hostvars, groups, plan)]
    # Each load balancer's pools with backends resolved to address and port
    # (the loadbalancer and firewall plays read this record): the plan's
    # pools, the host's nginx_lb_pools merged over them by name.
    for h in groups.get("loadbalancers", []):
        try:
            resolved = lb_pools(plan, hostvars, hostvars.get(h, {}).get("nginx_lb_pools"))
        except ValueError as exc:
            text = str(exc)
            plan["errors"].append(f"host {h}: {text.removeprefix('inventory: ')}" if text.startswith("inventory: ") else text)
            resolved = []
        plan["hosts"].setdefault(h, {"ollama_models": []})["lb_pools"] = resolved
    plan["endpoints"] = endpoints(plan, hostvars, groups, models, catalog)
    # The GPU router's record (its role reads nothing else): the Ollama nodes
    # with the plan's GPU budget each, the models it keeps on GPU (most
    # important first) and the margin.
    plan["router"] = {
        "nodes": router_nodes(groups.get("ollama_nodes", []), hostvars, plan),
        "priority_models": priority_models(models),
        "margin": margin,
    }
    # Who can reach each port once the firewall role ran (herd_firewall), per
    # host; a malformed level or port is preflight's to report.
    plan["exposure"] = {}
    for h in members:
        try:
            rows = exposure(h, hostvars, groups)
        except (ValueError, TypeError):
            continue
        if rows:
            plan["exposure"][h] = rows
    return plan


def _overbooked(plan: dict[str, Any], booked: Mapping[tuple[str, str], list[tuple[str, float]]], hostvars, margin) -> None:
    """Two users of one device (llama.cpp and distributed-llama, or two
    llama-servers over the same workers) must fit together; alone, each is
    checked where it is planned. A unified-memory host is one device."""
    pools: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for (h, key), users in booked.items():
        gpus = host_gpus(hostvars.get(h, {}))
        unified = any(g.get("unified_memory") for g in gpus)
        pools.setdefault((h, "MEM" if unified else key), []).extend(users)
    for (h, key), users in sorted(pools.items()):
        if len(users) < 2:
            continue
        hv = hostvars.get(h, {})
        gpus, ram = host_gpus(hv), host_ram_mib(hv)
        if key == "MEM":
            label, total = "unified memory", max(sum(int(g.get("vram_mib", 0)) for g in gpus), ram or 0)
        elif key == "RAM":
            label, total = "RAM", ram
        else:
            g = gpus[int(key[3:])]
            label, total = f"{key} ({g.get('name') or g.get('vendor')})", int(g.get("vram_mib", 0))
        need = sum(mib for _who, mib in users)
        if not total or need <= memory.usable_mib(total, margin):
            continue
        each = " and ".join(f"{who} ({mib:.0f} MiB)" for who, mib in users)
        plan["errors"].append(
            f"host {h}: {label}: {each} need {need:.0f} MiB together, {memory.usable_mib(total, margin):.0f} MiB usable "
            f"({total} MiB x {margin}). Fix: move one of them to another host (its group in the inventory), "
            "or make one smaller (quant, context)"
        )


def _context_problems(plan: dict[str, Any], models: list[dict[str, Any]], catalog: Mapping[str, Any]) -> None:
    """A context above the model's trained context: llama.cpp and
    distributed-llama run it past what the model learned, Ollama silently
    caps it; so it is an error, or for Ollama with allow_context_cap a warning."""
    for m in models:
        entry = lookup(model_key(m), catalog) or {}
        trained, ctx = entry.get("n_ctx_train"), m.get("context")
        if ctx is None and m.get("engine") == "llama_cpp":
            ctx = parse_server_args(m.get("extra_args"))[0].get("context")
        if not trained or not isinstance(ctx, int) or isinstance(ctx, bool) or ctx <= int(trained):
            continue
        engine = str(m.get("engine") or "ollama")
        var = f"herd_models[{m['name']}].context"
        if engine == "ollama" and m.get("allow_context_cap") is True:
            plan["warnings"].append(f"{var}: {ctx} is above the trained context {trained}; Ollama caps it at {trained}.")
        elif engine == "ollama":
            plan["errors"].append(
                f"{var}: {ctx} is above the model's trained context {trained}, and Ollama would silently cap it at "
                f"{trained}. Fix: set context: {trained} or less, or allow_context_cap: true to accept the cap"
            )
        else:
            plan["errors"].append(
                f"{var}: {ctx} is above the model's trained context {trained}; {ENGINE_NAMES.get(engine, engine)} would run it past what the "
                f"model was trained on. Fix: set context: {trained} or less"
            )


def declared_plan_problems(
    plan: Mapping[str, Any], measured: bool = False, declared: bool = False
) -> tuple[list[str], list[str]]:
    """(errors, warnings) preflight reports from a plan built before any host
    was contacted. What no measurement can change (a model the catalog does
    not know, a malformed quant, an inventory-wide setting) is an error. What
    depends on memory is an error too once every model host's memory is
    known: ``measured`` (cached), or ``declared`` by the user (prefixed, so a
    wrong declaration is the fix); else a warning, since measure.yml may
    still find more."""
    errors, warnings = [], []
    for e in plan.get("errors") or []:
        if measured or e.startswith(("herd_models[", "inventory:")):
            errors.append(e)
        elif declared:
            errors.append(f"on the declared hardware: {e}")
        else:
            warnings.append(f"on the declared hardware: {e}")
    # A model's own warnings (a capped context) hold whatever is measured.
    warnings += [w for w in plan.get("warnings") or [] if w.startswith("herd_models[")]
    return errors, warnings


def preflight_problems(
    hostvars: Mapping[str, Mapping[str, Any]],
    groups: Mapping[str, Iterable[str]],
    known: Mapping[str, Mapping[str, Any]] | None = None,
    deploying: Mapping[str, Iterable[str]] | None = None,
) -> tuple[list[str], list[str]]:
    """(errors, warnings) of preflight: the inventory's checks, then, when
    they pass, the plan on ``known`` (declared values and cached
    measurements; default ``hostvars``). ``deploying`` as for
    ``validate_inventory``. The herd_preflight action and the docs test both
    call this, so the page quotes what users see."""
    report = validate_inventory(hostvars, groups, deploying)
    errors, warnings = list(report.errors), list(report.warnings)
    known = known if known is not None else hostvars
    # A driver gpu_facts measured in an earlier run (cached: in ``known``
    # only) wins over the declared one the inventory check saw; it does not
    # depend on memory, so it is never an "on the declared hardware" doubt.
    llama_hosts = {h for g in ("llama_cpp_head", "llama_cpp_workers") for h in groups.get(g, []) or []}
    for h in sorted(llama_hosts):
        hv, kv = hostvars.get(h) or {}, known.get(h) or {}
        if kv.get("herd_measured") == hv.get("herd_measured"):
            continue
        declared, found = cuda_driver_check(h, hv), cuda_driver_check(h, kv)
        if declared:
            msg = f"host {h}: {declared[1]}: {declared[2]}. Fix: {declared[3]}."
            errors, warnings = [e for e in errors if e != msg], [w for w in warnings if w != msg]
        if found:
            (errors if found[0] == "error" else warnings).append(f"host {h}: {found[1]}: {found[2]}. Fix: {found[3]}.")
    if not errors:
        # Every model host measured already (the fact cache) or its memory
        # declared: what does not fit stops here, before any host is
        # contacted. A host whose RAM nobody stated may still have more.
        nodes = derived_groups(groups)["herd_model_nodes"]
        measured = bool(nodes) and all(isinstance((known.get(h) or {}).get("herd_measured"), Mapping) for h in nodes)
        declared = bool(nodes) and all(
            isinstance((known.get(h) or {}).get("herd_measured"), Mapping) or (known.get(h) or {}).get("herd_ram_mib")
            for h in nodes
        )
        plan_errors, plan_warnings = declared_plan_problems(build_plan(known, groups), measured, declared)
        errors += plan_errors
        warnings += plan_warnings
    return errors, warnings


def measurement_changes(
    declared: Mapping[str, Any], measured: Mapping[str, Any], hostvars: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """What measurement changed against the plan on declared values: per host
    where gpu_facts found other GPUs or RAM than the inventory declares, the
    figures, then each Ollama model that lost or changed a place and each new
    error. One sentence each; empty when measuring changed nothing."""
    out = []
    for h in sorted(hostvars):
        hv = hostvars[h]
        if not isinstance(hv.get("herd_measured"), Mapping):
            continue
        plain = {k: v for k, v in hv.items() if k != "herd_measured"}
        was_gpu = sum(int(g.get("vram_mib") or 0) for g in host_gpus(plain))
        now_gpu = sum(int(g.get("vram_mib") or 0) for g in host_gpus(hv))
        was_ram, now_ram = host_ram_mib(plain), host_ram_mib(hv)
        diffs = []
        if was_gpu != now_gpu:
            diffs.append(f"GPU memory declared {was_gpu} MiB, measured {now_gpu} MiB")
        if was_ram is not None and was_ram != now_ram:
            diffs.append(f"RAM declared {was_ram} MiB, measured {now_ram} MiB")
        if diffs:
            out.append(f"host {h}: {'; '.join(diffs)}.")

    def places(plan: Mapping[str, Any]) -> dict[str, dict[str, bool]]:
        got: dict[str, dict[str, bool]] = {}
        for host, rec in (plan.get("hosts") or {}).items():
            for item in rec.get("ollama_models") or []:
                got.setdefault(item["name"], {})[host] = bool(item.get("on_gpu"))
        return got

    before, after = places(declared), places(measured)
    for model in sorted(set(before) | set(after)):
        was, now = before.get(model, {}), after.get(model, {})
        for host in sorted(set(was) | set(now)):
            if host in was and host not in now:
                out.append(
                    f"{model} no longer runs on {host}"
                    + (f" (now on {', '.join(sorted(set(now) - set(was)))})" if set(now) - set(was) else "")
                    + "."
                )
            elif host in now and host not in was:
                if not set(was) - set(now):
                    out.append(f"{model} now also runs on {host}.")
            elif was[host] and not now[host]:
                out.append(f"{model} no longer fits on {host}'s GPU: it runs from RAM there.")
            elif now[host] and not was[host]:
                out.append(f"{model} now fits on {host}'s GPU (it would have run from RAM).")
    old_errors = set(declared.get("errors") or [])
    out += [f"new problem: {e}" for e in measured.get("errors") or [] if e not in old_errors]
    return out


def endpoints(
    plan: Mapping[str, Any],
    hostvars: Mapping[str, Mapping[str, Any]],
    groups: Mapping[str, Iterable[str]],
    models: Iterable[Mapping[str, Any]] = (),
    catalog: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """What users call once the plan is deployed: each pool on each load
    balancer, each llama-server, the distributed-llama API, each Ollama node
    with its models; ``{url, serves, api, engine, models}`` in that order.

    ``engine`` is ``ollama_pool``, ``llama_server``, ``dllama`` or
    ``ollama``; ``models`` says, for each model served there, its
    ``aliases`` (herd_models ``alias``), its ``kind`` (the catalog's:
    ``chat``, ``embedding`` or ``vision``) and whether it runs ``on_gpu``
    there (a pool: on every backend). The gateway routes from these."""
    declared = {str(m["name"]): m for m in models if isinstance(m, Mapping) and m.get("name")}
    hosts = plan.get("hosts") or {}

    def url(host: str, port: Any) -> str:
        addr = str(cluster_address(host, hostvars.get(host, {})) or host)
        return f"http://{'[' + addr + ']' if ':' in addr else addr}:{port}"

    def port(host: str, var: str) -> Any:
        return hostvars.get(host, {}).get(var, ports.default_port(var))

    def placed(host: str, name: str) -> Mapping[str, Any]:
        return next((i for i in hosts.get(host, {}).get("ollama_models") or [] if i.get("name") == name), {})

    def served(name: str, on_gpu: bool) -> dict[str, Any]:
        m = declared.get(name, {})
        entry = lookup(model_key(m), catalog) if m else lookup(name, catalog)
        return {
            "name": name,
            "aliases": [str(m["alias"])] if m.get("alias") else [],
            "kind": str((entry or {}).get("kind") or "chat"),
            "on_gpu": bool(on_gpu),
        }

    out: list[dict[str, Any]] = []
    for lb in groups.get("loadbalancers", []):
        for pool in plan.get("pools") or []:
            gpu = all(placed(h, pool["model"]).get("on_gpu") for h in pool["backends"])
            out.append(
                {
                    "url": url(lb, pool["port"]),
                    "serves": pool["model"],
                    "api": f"Ollama, pool of {len(pool['backends'])}",
                    "engine": "ollama_pool",
                    "models": [served(pool["model"], gpu)],
                }
            )
    heads = list(groups.get("llama_cpp_head", []))
    for server in (plan.get("llama_cpp") or {}).get("servers") or []:
        if heads:
            out.append(
                {
                    "url": url(heads[0], server["port"]),
                    "serves": server["model"],
                    "api": "llama-server (OpenAI /v1)",
                    "engine": "llama_server",
                    "models": [served(server["model"], bool(server.get("n_gpu_layers")))],
                }
            )
    d = plan.get("dllama") or {}
    if d.get("model"):
        out.append(
            {
                "url": url(d["root"], port(d["root"], "dllama_api_port")),
                "serves": d["model"],
                "api": "dllama-api (OpenAI /v1)",
                "engine": "dllama",
                "models": [served(d["model"], False)],  # distributed-llama runs on CPUs
            }
        )
    for h in groups.get("ollama_nodes", []):
        items = hosts.get(h, {}).get("ollama_models") or []
        if items:
            out.append(
                {
                    "url": url(h, port(h, "ollama_port")),
                    "serves": ", ".join(i["name"] for i in items),
                    "api": "Ollama",
                    "engine": "ollama",
                    "models": [served(i["name"], bool(i.get("on_gpu"))) for i in items],
                }
            )
    return out
