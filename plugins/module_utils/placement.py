# Copyright: llama-herd developers
# Apache License 2.0
"""Placement: which replica of which model goes on which host, GPU or RAM.

A multi-knapsack with conflicts: every (model, host, mode) option has a size
(MiB, per host since context and parallel slots are host settings) and a
value; each host has a GPU budget, a RAM budget and an optional cap on loaded
models; each model wants ``replicas`` copies on distinct hosts.

Two solvers, same input and output:

* ``highs``: SciPy's HiGHS MILP (optimal, or within ``mip_rel_gap`` when the
  time limit stops it); SciPy is imported lazily.
* ``greedy``: replicas in decreasing priority and size, each on the host with
  the most free GPU memory where it fits, else the most free RAM (seed 001's
  "routes to nodes with most free space").

``solve(..., solver="auto")`` runs the greedy and best-fit, a local search
from each under a counted work budget, then (when SciPy is present and the
problem is not huge) HiGHS's LP relaxation rounded to a placement
(``highs-lp``: optimal when it reaches the LP bound), then the MILP: a short
try, then what is left of ``time_limit`` only while the gap is above
ENOUGH_GAP; it keeps the best, says which one answered and which bound
proves how close it is. Above MAX_MILP_VARS the scarce-first greedy joins
the heuristics and a Lagrangian relaxation (``lagrangian``) gives the
bound. Pure Python otherwise; no Ansible imports.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import contains, methodcaller

GPU, RAM = "gpu", "ram"
PLACE_VALUE = 1000.0  # a placed replica
GPU_VALUE = 100.0  # ... on GPU (policy preferred/required)
PRIORITY_VALUE = 10.0  # per priority point, on GPU
# Speed: a replica earns up to SPEED_VALUE x (1 + priority), in proportion
# to its device's memory bandwidth against the cluster's fastest
# (Demand.speed), rounded to a whole number. Below a replica (1000) and
# below GPU vs RAM (100 + 10 x priority) for priorities under 199: another
# replica, or a GPU instead of RAM, always wins; among places that are
# otherwise equal, a priority model goes to the fastest device that holds it.
SPEED_VALUE = 5.0
# Stickiness: a replica on a host where the last plan put it (Demand.keep)
# earns a share of KEEP_TOTAL. Real values are whole numbers, so all the
# shares together (< 1) only break ties: a placement worth more (another
# replica, a priority point, GPU instead of RAM) still wins.
KEEP_TOTAL = 0.5
# solver="auto": above this many (model, host, mode) options HiGHS needs
# seconds just to build and presolve the model (207k options at 1000 nodes:
# over 7 s), so the heuristics answer and a Lagrangian relaxation bounds them
# (bench/placement_quality.py). Between
# MILP_FULL_TIME_VARS and this, HiGHS's time limit shrinks with the size.
MAX_MILP_VARS = 50_000
MILP_FULL_TIME_VARS = 10_000
MIN_MILP_SECONDS = 0.5
# The local search (improve) is bounded by its work budget (search_work),
# not by the size; best-fit (one pass over every host per replica) runs up
# to this many options.
MAX_BEST_FIT_VARS = 400_000
# ... and the local search up to this many (it ranks every option once).
MAX_SEARCH_VARS = 2_000_000
# When the heuristics are this close to the LP bound, HiGHS's MILP gets only
# SHORT_MILP_SECONDS to close the rest.
GOOD_GAP = 0.01
SHORT_MILP_SECONDS = 0.5
# solve(auto) stops looking for a better placement (HiGHS's MILP), or for a
# tighter Lagrangian bound, once the placement in hand is proven within this
# of the bound: issue 21 asks for 1% up to 200 nodes, this keeps half of it
# in reserve.
ENOUGH_GAP = 0.005


@dataclass
class Host:
    name: str
    gpu_mib: float = 0.0  # usable GPU budget (after margin and reserves)
    ram_mib: float = 0.0  # usable RAM budget (after margin)
    max_models: int | None = None
    # APUs: GPU and RAM are one pool of max(gpu_mib, ram_mib), of which the
    # GPU may use at most gpu_mib (its firmware-assigned share)
    unified: bool = False
    order: int = 0


@dataclass
class Demand:
    name: str
    replicas: int
    priority: int = 0
    gpu: str = "preferred"  # required | preferred | never
    # host -> {mode: MiB}; a missing host or mode is not an option
    sizes: dict[str, dict[str, float]] = field(default_factory=dict)
    # hosts where the last plan put a replica (a tie-break, see KEEP_TOTAL)
    keep: frozenset[str] = frozenset()
    # host -> {mode: 0..1}, the device's bandwidth over the cluster's fastest (see SPEED_VALUE)
    speed: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class Result:
    solver: str
    assignment: dict[str, list[tuple[str, str]]]  # model -> [(host, mode)]
    objective: float
    bound: float | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    x: list[float] | None = None  # the LP relaxation's values per option (relax=True)
    bound_source: str | None = None  # what proved ``bound``: the LP relaxation or HiGHS's MILP dual bound


def _value(d: Demand, mode: str, host: str | None = None, unit: float = 0.0) -> float:
    """A replica's value; ``unit`` (keep_unit) more on a host in ``d.keep``."""
    v = PLACE_VALUE + d.priority
    if mode == GPU and d.gpu != "never":
        v += GPU_VALUE + PRIORITY_VALUE * d.priority
    if host is not None and d.speed:
        v += speed_bonus(d, host, mode)
    if unit and host in d.keep:
        v += unit
    return v


def speed_bonus(d: Demand, host: str, mode: str) -> float:
    """What the device's speed adds to a replica's value (see SPEED_VALUE)."""
    return float(round(SPEED_VALUE * (1 + d.priority) * d.speed.get(host, {}).get(mode, 0.0)))


def keep_unit(demands: Sequence[Demand]) -> float:
    """The bonus of one kept replica: KEEP_TOTAL shared by every (model, host)
    the last plan used that is still an option (0 without a record)."""
    n = sum(len(d.keep & d.sizes.keys()) for d in demands)
    return KEEP_TOTAL / n if n else 0.0


def kept(demands: Sequence[Demand], assignment: dict[str, list[tuple[str, str]]]) -> int:
    """How many replicas stay on a host where the last plan put them."""
    by = {d.name: d for d in demands}
    return sum(h in by[m].keep for m, places in assignment.items() for h, _mode in places)


def score(demands: Sequence[Demand], assignment: dict[str, list[tuple[str, str]]]) -> float:
    """The objective plus the keep bonus: what the solvers compare."""
    return objective(demands, assignment) + keep_unit(demands) * kept(demands, assignment)


def options(demands: Sequence[Demand], hosts: Sequence[Host]) -> list[tuple[int, str, str, float, float]]:
    """Every allowed (demand index, host, mode, MiB, value), in a fixed order;
    the value includes the keep bonus."""
    names = {h.name for h in hosts}
    unit = keep_unit(demands)
    out = []
    for i, d in enumerate(demands):
        for h in hosts:
            if h.name not in names or h.name not in d.sizes:
                continue
            for mode in (GPU, RAM):
                if mode not in d.sizes[h.name]:
                    continue
                if (d.gpu == "required" and mode != GPU) or (d.gpu == "never" and mode != RAM):
                    continue
                out.append((i, h.name, mode, float(d.sizes[h.name][mode]), _value(d, mode, h.name, unit)))
    return out


def n_options(demands: Sequence[Demand], hosts: Sequence[Host]) -> int:
    """len(options(...)) without building them (millions on big clusters)."""
    names = {h.name for h in hosts}
    n = 0
    for d in demands:
        # map() keeps the loops in C: 7.4 M options at 3,000 nodes
        szs = d.sizes.values() if d.sizes.keys() <= names else [sz for h, sz in d.sizes.items() if h in names]
        n += sum(sum(map(contains, szs, repeat(m))) for m in _modes(d))
    return n


def _greedy_order(demands: list[Demand]) -> list[int]:
    """The greedy's order: priority first, then the biggest option, then the name."""

    def biggest(d: Demand) -> float:
        return max(chain.from_iterable(map(methodcaller("values"), d.sizes.values())), default=0.0)

    return sorted(range(len(demands)), key=lambda i: (-demands[i].priority, -biggest(demands[i]), demands[i].name))


def _scarce_order(demands: list[Demand]) -> list[int]:
    """Models with the fewest (host, mode) options first, then the greedy's
    order: a model that fits few places gets them before flexible ones fill
    them (on issue 21's mixed fleet the greedy's order leaves ``gpu:
    required`` models unplaced that fit; bench/placement_quality.py)."""
    rank = {i: k for k, i in enumerate(_greedy_order(demands))}
    n = [sum(m in sz for sz in d.sizes.values() for m in _modes(d)) for d in demands]
    return sorted(range(len(demands)), key=lambda i: (n[i], rank[i]))


def greedy_vectorized(
    demands: Sequence[Demand],
    hosts: Sequence[Host],
    scarce: bool = False,
    order: list[int] | None = None,
    arrays: dict | None = None,
) -> Result:
    """The greedy's rule (most room, GPU before RAM, kept hosts first, then
    host order) with NumPy over the hosts: for clusters of thousands of
    hosts, where the pure-Python greedy takes seconds per thousand replicas.
    ``scarce``: models in :func:`_scarce_order` (or ``order``); ``arrays``:
    :func:`_pair_arrays` of the same input, where each model's sizes are
    already in NumPy (reading them from the dicts again takes seconds at
    3,000 nodes). Falls back to :func:`greedy` without NumPy."""
    try:
        import numpy as np
    except ImportError:
        return greedy(demands, hosts)
    t0 = time.perf_counter()
    hs = sorted(hosts, key=lambda h: (h.order, h.name))
    col = {h.name: k for k, h in enumerate(hs)}
    free_gpu = np.array([h.gpu_mib for h in hs], dtype=float)
    free_ram = np.array([_pool(h) if h.unified else h.ram_mib for h in hs], dtype=float)
    unified = np.array([h.unified for h in hs])
    cap = np.array([h.max_models if h.max_models is not None else 1 << 30 for h in hs])
    count = np.zeros(len(hs), dtype=int)
    assignment: dict[str, list[tuple[str, str]]] = {d.name: [] for d in demands}

    if order is None:
        order = _scarce_order(list(demands)) if scarce else _greedy_order(list(demands))
    group = {} if arrays is None else {i: g for g, i in enumerate(arrays["model"].tolist())}
    for i in order:
        d = demands[i]
        sizes = {m: np.full(len(hs), np.nan) for m in _modes(d)}
        if arrays is not None:
            # the pair arrays leave out options bigger than their empty host
            # (or on a host capped at 0 models): the greedy never takes those
            g = group.get(i)
            if g is not None:
                lo = int(arrays["starts"][g])
                hi = lo + int(arrays["counts"][g])
                ks = arrays["host"][lo:hi]
                for m, s, v in ((GPU, arrays["sg"], arrays["vg"]), (RAM, arrays["sr"], arrays["vr"])):
                    if m in sizes:
                        ok = np.isfinite(v[lo:hi])
                        sizes[m][ks[ok]] = s[lo:hi][ok]
        else:
            for h, sz in d.sizes.items():
                k = col.get(h)
                if k is not None:
                    for m, v in sz.items():
                        if m in sizes:
                            sizes[m][k] = v
        taken = np.zeros(len(hs), dtype=bool)
        keep = np.array([h.name in d.keep for h in hs]) if d.keep else None
        for _replica in range(d.replicas):
            best = None
            for mode, size in sizes.items():
                room = np.where(unified, np.minimum(free_gpu, free_ram), free_gpu) if mode == GPU else free_ram
                left = room - size
                ok = ~np.isnan(size) & ~taken & (count < cap) & (left >= 0)
                if not ok.any():
                    continue
                pick = ok & keep if keep is not None and (ok & keep).any() else ok
                k = int(np.argmax(np.where(pick, left, -np.inf)))  # first (lowest order) of the roomiest
                best = (k, mode)
                break
            if best is None:
                break
            k, mode = best
            v = sizes[mode][k]
            if mode == GPU:
                free_gpu[k] -= v
                if hs[k].unified:
                    free_ram[k] -= v
            else:
                free_ram[k] -= v
            count[k] += 1
            taken[k] = True
            assignment[d.name].append((hs[k].name, mode))
    name = "scarce-first greedy" if scarce else "greedy"
    return Result(name, assignment, objective(demands, assignment), seconds=time.perf_counter() - t0)


def objective(demands: Sequence[Demand], assignment: dict[str, list[tuple[str, str]]]) -> float:
    by = {d.name: d for d in demands}
    return sum(_value(by[m], mode, host) for m, places in assignment.items() for host, mode in places)


def check(demands: Sequence[Demand], hosts: Sequence[Host], assignment: dict[str, list[tuple[str, str]]]) -> list[str]:
    """Constraint violations of an assignment (empty when feasible)."""
    by = {d.name: d for d in demands}
    used = {h.name: {GPU: 0.0, RAM: 0.0, "n": 0} for h in hosts}
    hmap = {h.name: h for h in hosts}
    problems = []
    for m, places in assignment.items():
        if len({h for h, _mode in places}) != len(places):
            problems.append(f"{m}: two replicas on one host")
        if len(places) > by[m].replicas:
            problems.append(f"{m}: more replicas than asked")
        for h, mode in places:
            used[h][mode] += by[m].sizes[h][mode]
            used[h]["n"] += 1
    for name, u in used.items():
        h = hmap[name]
        if h.unified:
            if u[GPU] + u[RAM] > _pool(h) + 1e-6:
                problems.append(f"{name}: unified memory over budget")
            if u[GPU] > h.gpu_mib + 1e-6:
                problems.append(f"{name}: GPU over its share of unified memory")
        else:
            if u[GPU] > h.gpu_mib + 1e-6:
                problems.append(f"{name}: GPU over budget")
            if u[RAM] > h.ram_mib + 1e-6:
                problems.append(f"{name}: RAM over budget")
        if h.max_models is not None and u["n"] > h.max_models:
            problems.append(f"{name}: more than {h.max_models} models")
    return problems


def _pool(host: Host) -> float:
    """An APU's whole unified pool."""
    return max(host.gpu_mib, host.ram_mib)


def _free(hosts: Sequence[Host]) -> dict[str, dict[str, float]]:
    """Free MiB per host and mode; an APU's RAM entry is its whole pool."""
    return {h.name: {GPU: h.gpu_mib, RAM: _pool(h) if h.unified else h.ram_mib} for h in hosts}


def _room(free: dict[str, float], host: Host, mode: str) -> float:
    """Free MiB for one more replica in ``mode`` (an APU's GPU share and pool both bind)."""
    if host.unified and mode == GPU:
        return min(free[GPU], free[RAM])
    return free[mode]


def _take(free: dict[str, float], host: Host, mode: str, size: float) -> None:
    """Book ``size`` MiB of a host's free memory (on an APU, GPU use takes
    from its share and from the pool)."""
    free[mode] -= size
    if host.unified and mode == GPU:
        free[RAM] -= size


def greedy(demands: Sequence[Demand], hosts: Sequence[Host], sticky: bool = True) -> Result:
    """``sticky``: among the hosts where a replica fits in the same mode, one
    in ``d.keep`` wins over the one with the most room."""
    t0 = time.perf_counter()
    free = _free(hosts)
    count = {h.name: 0 for h in hosts}
    hmap = {h.name: h for h in hosts}
    assignment: dict[str, list[tuple[str, str]]] = {d.name: [] for d in demands}

    order = _greedy_order(demands)
    for i in order:
        d = demands[i]
        modes = [GPU] if d.gpu == "required" else [RAM] if d.gpu == "never" else [GPU, RAM]
        for _replica in range(d.replicas):
            taken = {h for h, _mode in assignment[d.name]}
            best = None
            for mode in modes:
                cands = []
                for h in hosts:
                    if h.name in taken or mode not in d.sizes.get(h.name, {}):
                        continue
                    if h.max_models is not None and count[h.name] >= h.max_models:
                        continue
                    size = d.sizes[h.name][mode]
                    room = _room(free[h.name], h, mode) - size
                    if room >= 0:
                        cands.append((sticky and h.name not in d.keep, -room, h.order, h.name))
                if cands:
                    best = (min(cands)[3], mode)
                    break
            if best is None:
                break
            h, mode = best
            size = d.sizes[h][mode]
            _take(free[h], hmap[h], mode, size)
            count[h] += 1
            assignment[d.name].append(best)
    return Result("greedy", assignment, objective(demands, assignment), seconds=time.perf_counter() - t0)


def highs(
    demands: Sequence[Demand], hosts: Sequence[Host], time_limit: float = 4.0, gap: float = 1e-4, relax: bool = False
) -> Result:
    """The MILP: maximise the value of placed replicas under every budget."""
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_matrix

    t0 = time.perf_counter()
    opts = options(demands, hosts)
    n = len(opts)
    if n == 0:
        return Result("highs", {d.name: [] for d in demands}, 0.0, bound=0.0)
    rows, cols, vals, ub = [], [], [], []
    r = 0
    # replicas per model
    by_model: dict[int, list[int]] = {}
    by_mh: dict[tuple[int, str], list[int]] = {}
    by_host: dict[str, list[int]] = {}
    for k, (i, h, _mode, _size, _v) in enumerate(opts):
        by_model.setdefault(i, []).append(k)
        by_mh.setdefault((i, h), []).append(k)
        by_host.setdefault(h, []).append(k)
    for i, ks in by_model.items():
        rows += [r] * len(ks)
        cols += ks
        vals += [1.0] * len(ks)
        ub.append(demands[i].replicas)
        r += 1
    for ks in by_mh.values():
        if len(ks) > 1:
            rows += [r] * len(ks)
            cols += ks
            vals += [1.0] * len(ks)
            ub.append(1)
            r += 1
    hmap = {h.name: h for h in hosts}
    for hname, ks in by_host.items():
        h = hmap[hname]
        if h.unified:
            rows += [r] * len(ks)
            cols += ks
            vals += [opts[k][3] for k in ks]
            ub.append(_pool(h))
            r += 1
            km = [k for k in ks if opts[k][2] == GPU]
            if km and h.gpu_mib < _pool(h):
                rows += [r] * len(km)
                cols += km
                vals += [opts[k][3] for k in km]
                ub.append(h.gpu_mib)
                r += 1
        else:
            for mode, cap in ((GPU, h.gpu_mib), (RAM, h.ram_mib)):
                km = [k for k in ks if opts[k][2] == mode]
                if km:
                    rows += [r] * len(km)
                    cols += km
                    vals += [opts[k][3] for k in km]
                    ub.append(cap)
                    r += 1
        if h.max_models is not None:
            rows += [r] * len(ks)
            cols += ks
            vals += [1.0] * len(ks)
            ub.append(h.max_models)
            r += 1
    a = coo_matrix((vals, (rows, cols)), shape=(r, n)).tocsr()
    c = -np.array([o[4] for o in opts])
    res = milp(
        c,
        constraints=LinearConstraint(a, -np.inf, np.array(ub, dtype=float)),
        integrality=np.zeros(n) if relax else np.ones(n),
        bounds=Bounds(0, 1),
        options={"time_limit": time_limit, "mip_rel_gap": gap, "presolve": True},
    )
    seconds = time.perf_counter() - t0
    assignment: dict[str, list[tuple[str, str]]] = {d.name: [] for d in demands}
    if res.x is None:
        return Result("highs", assignment, float("-inf"), seconds=seconds, notes=[f"HiGHS: {res.message}"])
    bound = -float(getattr(res, "mip_dual_bound", res.fun) or res.fun) if not relax else -float(res.fun)
    if relax:
        return Result(
            "lp",
            assignment,
            -float(res.fun),
            bound=-float(res.fun),
            seconds=seconds,
            x=[float(v) for v in res.x],
            bound_source="HiGHS's LP relaxation",
        )
    for k, x in enumerate(res.x):
        if x > 0.5:
            i, h, mode, _s, _v = opts[k]
            assignment[demands[i].name].append((h, mode))
    host_order = {h.name: h.order for h in hosts}
    for places in assignment.values():
        places.sort(key=lambda p: host_order[p[0]])
    notes = [] if res.status == 0 else [f"HiGHS stopped early: {res.message}"]
    return Result(
        "highs",
        assignment,
        objective(demands, assignment),
        bound=bound,
        seconds=seconds,
        notes=notes,
        bound_source="HiGHS's MILP dual bound",
    )


def lp_rounding(demands: Sequence[Demand], hosts: Sequence[Host], lp: Result) -> Result:
    """Round the LP relaxation: options in decreasing LP value (then value
    per MiB), each taken when it still fits. Often reaches the LP bound, which
    proves it optimal without branching."""
    opts = options(demands, hosts)
    x = lp.x or [0.0] * len(opts)
    hmap = {h.name: h for h in hosts}
    free = _free(hosts)
    count = {h.name: 0 for h in hosts}
    left = {i: d.replicas for i, d in enumerate(demands)}
    taken: set[tuple[int, str]] = set()
    assignment: dict[str, list[tuple[str, str]]] = {d.name: [] for d in demands}
    order = sorted(range(len(opts)), key=lambda k: (-round(x[k], 6), -opts[k][4] / max(opts[k][3], 1.0), k))
    for k in order:
        i, h, mode, size, _v = opts[k]
        host = hmap[h]
        if left[i] <= 0 or (i, h) in taken or (host.max_models is not None and count[h] >= host.max_models):
            continue
        if _room(free[h], host, mode) < size:
            continue
        _take(free[h], host, mode, size)
        count[h] += 1
        left[i] -= 1
        taken.add((i, h))
        assignment[demands[i].name].append((h, mode))
    host_order = {h.name: h.order for h in hosts}
    for places in assignment.values():
        places.sort(key=lambda p: host_order[p[0]])
    return Result("highs-lp", assignment, objective(demands, assignment), bound=lp.bound, bound_source=lp.bound_source)


def best_fit(demands: Sequence[Demand], hosts: Sequence[Host]) -> Result:
    """Best-fit decreasing, the bin-packing classic: first replicas before
    second ones (every model gets a copy before any gets two), larger models
    first, each on the host where it leaves the least room, GPU before RAM.
    Packs dense clusters tighter than the greedy's "most free space"."""
    hmap = {h.name: h for h in hosts}
    free = _free(hosts)
    count = {h.name: 0 for h in hosts}
    assignment: dict[str, list[tuple[str, str]]] = {d.name: [] for d in demands}
    biggest = [max((s for sz in d.sizes.values() for s in sz.values()), default=0.0) for d in demands]
    todo = sorted(((r, -biggest[i], d.name, i) for i, d in enumerate(demands) for r in range(d.replicas)))
    for _r, _b, _n, i in todo:
        d = demands[i]
        taken = {h for h, _mode in assignment[d.name]}
        best = None
        for mode in _modes(d):
            for h in hosts:
                if h.name in taken or mode not in d.sizes.get(h.name, {}):
                    continue
                if h.max_models is not None and count[h.name] >= h.max_models:
                    continue
                left = _room(free[h.name], h, mode) - d.sizes[h.name][mode]
                key = (h.name not in d.keep, left, h.order)  # a kept host first
                if left >= 0 and (best is None or key < best[0]):
                    best = (key, h.name, mode)
            if best is not None:
                break
        if best is None:
            continue
        _score, h, mode = best
        size = d.sizes[h][mode]
        _take(free[h], hmap[h], mode, size)
        count[h] += 1
        assignment[d.name].append((h, mode))
    host_order = {h.name: h.order for h in hosts}
    for places in assignment.values():
        places.sort(key=lambda p: host_order[p[0]])
    return Result("best-fit", assignment, objective(demands, assignment))


def _modes(d: Demand) -> tuple[str, ...]:
    return (GPU,) if d.gpu == "required" else (RAM,) if d.gpu == "never" else (GPU, RAM)


# settle_modes enumerates every GPU/RAM split of a host's models up to this
# many (2^12 splits); beyond it the solver's split stands.
MAX_SETTLE_MODELS = 12


def settle_modes(
    demands: Sequence[Demand], hosts: Sequence[Host], assignment: dict[str, list[tuple[str, str]]]
) -> dict[str, list[tuple[str, str]]]:
    """The same models on each host, split between GPU and RAM one way only:
    of the splits that fit, the one worth most, then the one using the most
    GPU memory, then the first by model names. Solvers return any of several
    equally good splits, and which one can change with the last plan's record
    (its keep bonus counts hosts, not modes); the plan must not."""
    by = {d.name: d for d in demands}
    hmap = {h.name: h for h in hosts}
    on_host: dict[str, list[tuple[str, str]]] = {}
    for m, places in assignment.items():
        for h, mode in places:
            on_host.setdefault(h, []).append((m, mode))
    chosen: dict[tuple[str, str], str] = {}
    for hname, items in on_host.items():
        host = hmap[hname]
        fixed = _free([host])[hname]
        movable = []
        for m, mode in sorted(items):
            sizes = by[m].sizes.get(hname, {})
            if _modes(by[m]) == (GPU, RAM) and GPU in sizes and RAM in sizes:
                movable.append(m)
            else:
                _take(fixed, host, mode, sizes[mode])
        if not movable or len(movable) > MAX_SETTLE_MODELS:
            continue
        best: tuple | None = None
        for mask in range(1 << len(movable)):
            free = dict(fixed)
            gain = gpu = 0.0
            on_gpu = []
            for i, m in enumerate(movable):
                mode = GPU if mask >> i & 1 else RAM
                size = by[m].sizes[hname][mode]
                _take(free, host, mode, size)
                if mode == GPU:
                    gain += _value(by[m], GPU, hname) - _value(by[m], RAM, hname)
                    gpu += size
                    on_gpu.append(m)
            if free[GPU] < -1e-6 or free[RAM] < -1e-6:
                continue
            key = (-gain, -gpu, tuple(on_gpu))
            if best is None or key < best:
                best = key
        if best is None:
            continue  # cannot happen: the solver's own split fits
        for m in movable:
            chosen[(m, hname)] = GPU if m in best[2] else RAM
    return {m: [(h, chosen.get((m, h), mode)) for h, mode in places] for m, places in assignment.items()}


def improve(
    demands: Sequence[Demand],
    hosts: Sequence[Host],
    start: Result,
    depth: int = 2,
    max_moves: int = 5000,
    label: str = "local search",
    work: int | None = None,
) -> Result:
    """Local search from a feasible placement: place a missing replica, move
    a RAM replica onto a GPU, or move a replica back to a host where the last
    plan put it (``Demand.keep``), directly or by evicting one replica from the
    target host that is then re-placed elsewhere (or dropped when that still
    gains). Only strictly improving moves, tried in a fixed order, so the
    result is deterministic; it stops when no move gains (or after
    ``max_moves``, or when ``work`` is spent: candidate (host, mode) slots
    looked at, default :func:`search_work`; counted, not timed, so the same
    input gives the same answer on any machine). Closes most of the greedy's
    gap on dense clusters where HiGHS's MILP spends seconds in its root node."""
    budget = [search_work(n_options(demands, hosts)) if work is None else work]

    # One move's search may use at most a share of it: a replica that cannot
    # be placed would otherwise spend it all on a depth-2 search that fails.
    per_move = max(budget[0] // max(len(demands), 1), 2000)
    call = [per_move]

    def spent() -> bool:
        return budget[0] <= 0

    hmap = {h.name: h for h in hosts}
    order = {h.name: h.order for h in hosts}
    index = {d.name: i for i, d in enumerate(demands)}
    unit = keep_unit(demands)

    # (host, mode) options per demand, best first: higher value, then host
    # order; each with its value, size and host order (looked up millions of times)
    ranked = [
        [
            (h, m, -neg_value, d.sizes[h][m], o)
            for neg_value, o, h, m in sorted(
                (-_value(d, m, x.name, unit), x.order, x.name, m)
                for x in hosts
                if x.name in d.sizes
                for m in _modes(d)
                if m in d.sizes[x.name]
            )
        ]
        for d in demands
    ]
    modes_of = [_modes(d) for d in demands]
    # _value's terms in its order (so the same float): the model's, then the speed and keep bonus
    base = [{m: _value(d, m) for m in (GPU, RAM)} for d in demands]

    def value(i: int, h: str, m: str) -> float:
        d = demands[i]
        v = base[i][m]
        if d.speed:
            v += speed_bonus(d, h, m)
        if unit and h in d.keep:
            v += unit
        return v

    def n_at(i: int, h: str) -> int:
        """How many of ranked[i]'s slots are on host h."""
        sz = demands[i].sizes.get(h)
        return sum(m in sz for m in modes_of[i]) if sz else 0

    place: list[dict[str, str]] = [{} for _demand in demands]
    on: dict[str, dict[int, str]] = {h.name: {} for h in hosts}  # host -> {demand: mode}
    used = {h.name: {GPU: 0.0, RAM: 0.0} for h in hosts}
    unified = {h.name for h in hosts if h.unified}
    pool = {h.name: _pool(h) for h in hosts}
    budget_of = {h.name: {GPU: h.gpu_mib, RAM: h.ram_mib} for h in hosts}
    cap = {h.name: h.max_models for h in hosts if h.max_models is not None}

    def size(i: int, h: str, m: str) -> float:
        return demands[i].sizes[h][m]

    def room(h: str, m: str) -> float:
        u = used[h]
        if h in unified:
            total = pool[h] - u[GPU] - u[RAM]
            return min(total, budget_of[h][GPU] - u[GPU]) if m == GPU else total
        return budget_of[h][m] - u[m]

    def full(h: str) -> bool:
        c = cap.get(h)
        return c is not None and len(on[h]) >= c

    def add(i: int, h: str, m: str) -> None:
        place[i][h] = m
        on[h][i] = m
        used[h][m] += size(i, h, m)

    def drop(i: int, h: str) -> str:
        m = place[i].pop(h)
        del on[h][i]
        used[h][m] -= size(i, h, m)
        return m

    def direct(i: int, skip: frozenset = frozenset()) -> tuple[str, str] | None:
        pl = place[i]
        # the work counts every slot not skipped, as if each were looked at
        n = len(ranked[i]) - sum(n_at(i, h) for h in skip.union(pl))
        budget[0] -= n
        call[0] -= n
        best, best_v = None, 0.0
        for h, m, v, s, o in ranked[i]:
            if best is not None and v < best_v:
                break  # ranked by value: no later slot can win
            if h in skip or h in pl:
                continue
            c = cap.get(h)
            if c is not None and len(on[h]) >= c:
                continue  # full(h), inlined: the hottest loop of the search
            u = used[h]
            if h in unified:
                r = pool[h] - u[GPU] - u[RAM]
                if m == GPU:
                    r = min(r, budget_of[h][GPU] - u[GPU])
            else:
                r = budget_of[h][m] - u[m]
            if r >= s - 1e-9:  # room(h, m), inlined
                key = (-v, r - s, o)
                if best is None or key < best[0]:
                    best, best_v = (key, h, m), v
        return None if best is None else (best[1], best[2])

    # an upper bound on what one replica of each demand is worth anywhere
    top = [max((v for _h, _m, v, _s, _o in r), default=0.0) for r in ranked]

    def apply(actions) -> None:
        for op, j, h, m in actions:
            add(j, h, m) if op == "add" else drop(j, h)

    def undo(actions) -> None:
        for op, j, h, m in reversed(actions):
            drop(j, h) if op == "add" else add(j, h, m)

    def best_insert(i: int, depth: int, blocked: frozenset = frozenset()):
        """The best way to add one replica of i: (gain, actions), or None.
        Evicts one replica j from the target host: j moves to its other mode
        on the same host (GPU <-> RAM), or is re-placed elsewhere the same
        way (a chain up to ``depth`` long), or is dropped; ``blocked`` hosts
        are already part of the chain."""
        got = direct(i, blocked)
        best = (value(i, got[0], got[1]), [("add", i, got[0], got[1])]) if got else None
        if depth <= 0:
            return best
        skip = blocked.union(place[i])
        for h, m, v, s, _o in ranked[i]:
            if h in skip:
                continue
            if best is not None and v <= best[0] + 1e-9:
                break  # slots come by value: lower ones seldom win and cost the most to search
            host = hmap[h]
            for j, mj in sorted(on[h].items()):
                budget[0] -= 1
                call[0] -= 1
                if spent() or call[0] <= 0:
                    return best  # the state is whole here: every eviction tried so far is undone
                lost = value(j, h, mj)
                if v - lost + top[j] <= (best[0] if best else 0.0) + 1e-9:
                    continue  # even re-placing j at its best value would not gain
                drop(j, h)
                if room(h, m) >= s - 1e-9:
                    sub = best_insert(j, depth - 1, blocked | {h})
                    gain = v - lost + (sub[0] if sub else 0.0)
                    if gain > 1e-9 and (best is None or gain > best[0] + 1e-9):
                        best = (gain, [("drop", j, h, mj), *(sub[1] if sub else []), ("add", i, h, m)])
                for mj2 in () if host.unified else _modes(demands[j]):
                    if mj2 == mj or mj2 not in demands[j].sizes[h] or room(h, mj2) < size(j, h, mj2) - 1e-9:
                        continue
                    add(j, h, mj2)
                    if room(h, m) >= s - 1e-9 and not full(h):
                        gain = v - lost + value(j, h, mj2)
                        if gain > 1e-9 and (best is None or gain > best[0] + 1e-9):
                            best = (gain, [("drop", j, h, mj), ("add", j, h, mj2), ("add", i, h, m)])
                    drop(j, h)
                add(j, h, mj)
        return best

    for name, places in start.assignment.items():
        for h, m in places:
            add(index[name], h, m)
    moves = 0
    improved = True
    while improved and moves < max_moves and not spent():
        improved = False
        by_value = sorted(range(len(demands)), key=lambda i: (-_value(demands[i], _modes(demands[i])[0]), demands[i].name))
        for i in by_value:
            d = demands[i]
            if spent():
                break
            while len(place[i]) < d.replicas and moves < max_moves and not spent():
                call[0] = per_move
                mv = best_insert(i, depth)
                if mv is None:
                    break
                apply(mv[1])
                moves += 1
                improved = True
            # Re-place a replica that could gain: RAM to GPU, or back to a kept host.
            for h, m in sorted(place[i].items(), key=lambda p: order[p[0]]):
                if place[i].get(h) != m:
                    continue  # an earlier move of this loop evicted or re-moded it (a chain can reach i itself)
                to_gpu = m == RAM and d.gpu == "preferred"
                home = unit and h not in d.keep and any(k in d.sizes and k not in place[i] for k in d.keep)
                faster = d.speed and top[i] > value(i, h, m) + 1e-9  # a faster device could hold it
                if not (to_gpu or home or faster) or moves >= max_moves or spent():
                    continue
                here = value(i, h, m)
                drop(i, h)
                call[0] = per_move
                mv = best_insert(i, depth)
                if mv is not None and mv[0] > here + 1e-9:
                    apply(mv[1])
                    moves += 1
                    improved = True
                else:
                    add(i, h, m)
    assignment = {d.name: sorted(((h, m) for h, m in place[i].items()), key=lambda p: order[p[0]]) for i, d in enumerate(demands)}
    out = Result(
        f"{start.solver}+search", assignment, objective(demands, assignment), bound=start.bound, bound_source=start.bound_source
    )
    out.notes = [*start.notes, f"{label}: {moves} improving moves" + ("" if not spent() else ", stopped at its work budget")]
    return out


# improve()'s work budget: candidate slots it may look at per placement
# option, at least SEARCH_WORK_MIN (small clusters search to the end), at
# most SEARCH_WORK_MAX (about a second of CPU on a 2-core machine; measured
# in bench/placement_quality.py).
SEARCH_WORK_PER_OPTION = 100
SEARCH_WORK_MIN = 400_000
SEARCH_WORK_MAX = 1_500_000


def search_work(n_options: int) -> int:
    return min(SEARCH_WORK_MAX, max(SEARCH_WORK_MIN, SEARCH_WORK_PER_OPTION * n_options))


def milp_time_limit(n_options: int, time_limit: float) -> float:
    """HiGHS's time limit for ``solver="auto"``: the full limit up to
    MILP_FULL_TIME_VARS options, then shrinking with the size (the greedy's
    answer is already in hand), never below MIN_MILP_SECONDS."""
    if n_options <= MILP_FULL_TIME_VARS:
        return time_limit
    return max(MIN_MILP_SECONDS, time_limit * MILP_FULL_TIME_VARS / n_options)


def gap(objective_: float, bound: float | None) -> float | None:
    """Relative gap to a bound; values are whole numbers, so the bound is
    rounded down first (an LP bound of 206173.9 proves 206173 optimal)."""
    if not bound:
        return None
    b = math.floor(bound + 1e-6)
    return max(0.0, (b - objective_) / b)


def solve(demands: Sequence[Demand], hosts: Sequence[Host], solver: str = "auto", time_limit: float = 4.0) -> Result:
    """Place every demand; ``solver`` is auto, highs or greedy. The result's
    ``seconds`` is the wall time of the whole call; ``bound`` is the best
    proven upper bound on the objective (LP or MILP), when one is known."""
    if solver not in ("auto", "highs", "greedy"):
        raise ValueError(f"unknown solver {solver!r}; use auto, highs or greedy")
    t0 = time.perf_counter()
    n = n_options(demands, hosts)
    sticky = keep_unit(demands) > 0

    def better(a: Result, b: Result) -> bool:
        return score(demands, a.assignment) > score(demands, b.assignment) + 1e-9

    arrays, order = None, None
    if solver == "auto" and n > max(MAX_MILP_VARS, MAX_BEST_FIT_VARS):
        # both greedies and the Lagrangian bound read the same pair arrays
        with contextlib.suppress(ImportError):  # no NumPy: the greedies read the dicts
            arrays, order = _pair_arrays(demands, hosts), _greedy_order(list(demands))
    g = greedy(demands, hosts) if n <= MAX_BEST_FIT_VARS else greedy_vectorized(demands, hosts, order=order, arrays=arrays)
    if sticky and n <= MAX_BEST_FIT_VARS:  # keeping costs the greedy nothing: the plain greedy wins when it places more value
        plain = greedy(demands, hosts, sticky=False)
        if plain.objective > g.objective + 1e-9:
            g = plain

    def done(r: Result) -> Result:
        if sticky and solver != "greedy" and n <= MAX_SEARCH_VARS:
            # The MILP's gap tolerance and the LP-bound shortcut look at the
            # value only: move what can still go back where the last plan had it.
            p = improve(demands, hosts, r, label="local search toward the last plan")
            if better(p, r) and not check(demands, hosts, p.assignment):
                p.solver = r.solver if r.solver.endswith("+search") else p.solver
                p.bound, p.bound_source = r.bound, r.bound_source
                r = p
        r.assignment = settle_modes(demands, hosts, r.assignment)
        r.objective = objective(demands, r.assignment)
        r.seconds = time.perf_counter() - t0
        g_ = gap(r.objective, r.bound)
        if g_ is not None:
            b = math.floor(r.bound + 1e-6)
            src = r.bound_source or "a bound"
            r.notes.append(
                f"optimal (proven by {src}, {b})" if g_ <= 1e-9 else f"within {100 * g_:.3f}% of the proven bound {b} ({src})"
            )
        return r

    if solver == "greedy":
        return done(g)
    best = g
    if solver == "auto" and n <= MAX_SEARCH_VARS:
        # The local search from both starts, each with half the work budget.
        starts = [g, best_fit(demands, hosts)] if n <= MAX_BEST_FIT_VARS else [g]
        for start in starts:
            r = improve(demands, hosts, start, work=search_work(n) // len(starts))
            if better(r, best) and not check(demands, hosts, r.assignment):
                best = r
    if solver == "auto" and n > MAX_MILP_VARS:
        try:
            arrays = _pair_arrays(demands, hosts) if arrays is None else arrays
            scarce = _scarce_order_of(demands, arrays, greedy_order=order)
            r = greedy_vectorized(demands, hosts, scarce=True, order=scarce, arrays=arrays)
            if better(r, best) and not check(demands, hosts, r.assignment):
                best = r
            lag = lagrangian(demands, hosts, target=best.objective, arrays=arrays, enough=ENOUGH_GAP)
        except ImportError:
            lag = None
        if lag is not None:
            # A Lagrangian repair (pairs by reduced value, then what fits) placed
            # less than the greedy on the bench (h1000/2000: 2,106,327 against
            # 2,149,063) and took seconds: the multipliers give only the bound.
            best.bound, best.bound_source = lag.bound, f"Lagrangian relaxation, {lag.steps} step{'s' if lag.steps != 1 else ''}"
        best.notes.append(
            f"{n} placement options is more than {MAX_MILP_VARS}: the {best.solver} answered without HiGHS "
            "(it would need seconds just to build the model)"
            + (", bounded by a Lagrangian relaxation" if lag is not None else ", so no bound was proved")
        )
        return done(best)
    # time_limit is the whole call's: HiGHS gets what the heuristics left.
    limit = time_limit if solver == "highs" else milp_time_limit(n, time_limit)

    def left() -> float:
        return max(limit - (time.perf_counter() - t0), MIN_MILP_SECONDS)

    try:
        lp = highs(demands, hosts, time_limit=left(), relax=True)
    except ImportError as exc:
        if solver == "highs":
            raise
        best.notes.append(f"SciPy is not available ({exc}): no bound, no MILP")
        return done(best)
    if solver == "auto" and lp.x is None:
        best.notes.append(
            f"the LP relaxation did not finish within the time limit ({lp.notes[-1] if lp.notes else ''}): no bound"
        )
        return done(best)
    if solver == "auto" and lp.x is not None:
        r = lp_rounding(demands, hosts, lp)
        if better(r, best) and not check(demands, hosts, r.assignment):
            best = r
        best.bound, best.bound_source = lp.bound, "HiGHS's LP relaxation"
        g_ = gap(best.objective, lp.bound)
        if g_ is not None and g_ <= 1e-9:
            best.notes.append(f"{best.solver} reached the LP bound: no branching needed")
            return done(best)
        if g_ is not None and g_ <= GOOD_GAP:
            # HiGHS's MILP seldom closes such a gap on dense clusters within
            # seconds (it stays in its root node); a short try only.
            limit = min(limit, SHORT_MILP_SECONDS)

    def merge(best: Result, h: Result) -> Result:
        """The better of the placement in hand and HiGHS's, with the lower bound of the two."""
        milp_better = h.bound is not None and (best.bound is None or h.bound < best.bound)
        if h.objective > float("-inf") and not better(best, h) and not check(demands, hosts, h.assignment):
            if not milp_better:
                h.bound, h.bound_source = best.bound, best.bound_source
            return h
        best.notes += [n for n in [*h.notes, f"{best.solver} beat HiGHS's MILP within its time limit"] if n not in best.notes]
        if milp_better:
            best.bound, best.bound_source = h.bound, h.bound_source
        return best

    if solver == "auto" and left() > SHORT_MILP_SECONDS:
        # HiGHS proves most of its dual bound at its root node, within tenths
        # of a second; its branching seldom beats the local search after that
        # (bench/placement_quality.py, h50/200: the bound 214,155 after 0.3 s,
        # 214,146 after 4 s, no better placement). A short try first, the rest
        # of the time only while the proven gap is above ENOUGH_GAP.
        h = highs(demands, hosts, time_limit=SHORT_MILP_SECONDS)
        finished = h.objective > float("-inf") and not h.notes
        best = merge(best, h)
        g_ = gap(best.objective, best.bound)
        if finished or (g_ is not None and g_ <= ENOUGH_GAP):
            return done(best)
    return done(merge(best, highs(demands, hosts, time_limit=left())))


# --- Lagrangian relaxation (the bound and a repair heuristic above MAX_MILP_VARS) ---
#
# Relax every host's memory rows (GPU and RAM, or an APU's pool and GPU share)
# and its count cap (herd_max_loaded_models) with multipliers >= 0. What is
# left separates per model: each takes its ``replicas`` best distinct hosts by
# reduced value (value minus the priced memory and count, the better mode per
# host), positive ones only. For any multipliers that is an upper bound on
# every feasible placement's objective; subgradient steps (Polyak's rule
# toward the best placement known) lower it. The subproblem is integral, so
# the best it can reach is the LP bound. Steps are counted, not timed.
#
# Its work budget: pair (model, host) evaluations, LAGRANGE_WORK in all, at
# least LAGRANGE_MIN_STEPS and at most LAGRANGE_MAX_STEPS steps.
# (a step over h3000/5000's 5.5 M pairs takes about 0.9 s of CPU here, so it
# gets few; h200/600 gets all 300).
LAGRANGE_WORK = 20_000_000
LAGRANGE_MIN_STEPS = 1
LAGRANGE_MAX_STEPS = 300
# Polyak's step factor, halved after this many steps without a lower bound
# (tuned on h200/600 of bench/placement_quality.py: 0.06% above the LP in 300 steps)
LAGRANGE_THETA = 0.5
LAGRANGE_PATIENCE = 15
LAGRANGE_AIM = 1.0


@dataclass
class Lagrangian:
    bound: float  # the best (lowest) bound over all steps
    steps: int


def _pair_arrays(demands: Sequence[Demand], hosts: Sequence[Host]) -> dict:
    """(model, host) pairs as NumPy arrays, grouped by model (models with more
    replicas first): size and value per mode (NaN / -inf where not an option).
    Options that cannot fit their host even when it is empty are left out
    (no feasible placement uses them)."""
    import numpy as np

    hs = sorted(hosts, key=lambda h: (h.order, h.name))
    col = {h.name: k for k, h in enumerate(hs)}
    gcap = np.array([h.gpu_mib for h in hs], dtype=float)
    rcap = np.array([_pool(h) if h.unified else h.ram_mib for h in hs], dtype=float)
    unified = np.array([h.unified for h in hs], dtype=bool)
    ccap = np.array([h.max_models if h.max_models is not None else -1 for h in hs], dtype=float)
    order = sorted(range(len(demands)), key=lambda i: (-demands[i].replicas, i))
    # every (model, host) of d.sizes first, in one list per column (what
    # keeps this quick at 7.4 M options, 3,000 nodes), then the pairs that are
    # no option dropped at once in NumPy
    ds = [demands[i] for i in order]
    n_p = [len(d.sizes) for d in ds]
    nan = float("nan")
    host = np.array([col.get(h, -1) for d in ds for h in d.sizes], dtype=np.int64)
    sg = np.array([sz.get(GPU, nan) for d in ds for sz in d.sizes.values()], dtype=float)
    sr = np.array([sz.get(RAM, nan) for d in ds for sz in d.sizes.values()], dtype=float)
    if len(host):
        sg[np.repeat([GPU not in _modes(d) for d in ds], n_p)] = nan
        sr[np.repeat([RAM not in _modes(d) for d in ds], n_p)] = nan

    def per_pair(mode: str) -> np.ndarray:
        """Each pair's value in ``mode`` (_value: the model's, plus the device's speed bonus)."""
        v = np.repeat(np.array([_value(d, mode) for d in ds], dtype=float), n_p)
        if any(d.speed for d in ds):
            v = v + np.array([speed_bonus(d, h, mode) if d.speed else 0.0 for d in ds for h in d.sizes], dtype=float)
        return v

    keep = (host >= 0) & ~(np.isnan(sg) & np.isnan(sr))
    run = np.repeat(np.arange(len(order)), n_p)
    per_model = np.bincount(run[keep], minlength=len(order))
    model_of = [i for i, c in zip(order, per_model.tolist(), strict=True) if c > 0]
    counts = [c for c in per_model.tolist() if c > 0]
    vg, vr = per_pair(GPU)[keep], per_pair(RAM)[keep]
    host, sg, sr = host[keep], sg[keep], sr[keep]
    # an option bigger than its host's budget (or on a host capped at 0) is never part of a placement
    roomy_g = np.minimum(gcap, np.where(unified, rcap, np.inf))[host] if len(host) else sg
    dead = (ccap[host] == 0) if len(host) else np.zeros(0, dtype=bool)
    g_ok = ~np.isnan(sg) & (sg <= roomy_g + 1e-9) & ~dead
    r_ok = ~np.isnan(sr) & (sr <= rcap[host] + 1e-9) & ~dead if len(host) else np.zeros(0, dtype=bool)
    vg = np.where(g_ok, vg, -np.inf)
    vr = np.where(r_ok, vr, -np.inf)
    sg = np.where(g_ok, sg, 0.0)
    sr = np.where(r_ok, sr, 0.0)
    counts_a = np.array(counts, dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(counts_a)[:-1])) if len(counts) else np.zeros(0, dtype=np.int64)
    replicas = np.array([demands[i].replicas for i in model_of], dtype=np.int64)
    return {
        "hosts": hs,
        "host": host,
        "sg": sg,
        "sr": sr,
        "vg": vg,
        "vr": vr,
        "unified": unified,
        "gcap": gcap,
        "rcap": rcap,
        "ccap": ccap,
        "model": np.array(model_of, dtype=np.int64),
        "starts": starts,
        "counts": counts_a,
        "replicas": replicas,
    }


def _scarce_order_of(demands: Sequence[Demand], a: dict, greedy_order: list[int] | None = None) -> list[int]:
    """:func:`_scarce_order` from the pair arrays (options that fit an empty
    host, counted by NumPy: the Python count takes seconds at 3,000 nodes)."""
    import numpy as np

    n = [0] * len(demands)
    if len(a["starts"]):
        per = np.add.reduceat(np.isfinite(a["vg"]).astype(np.int64) + np.isfinite(a["vr"]), a["starts"])
        for i, c in zip(a["model"].tolist(), per.tolist(), strict=True):
            n[i] = c
    rank = {i: k for k, i in enumerate(_greedy_order(list(demands)) if greedy_order is None else greedy_order)}
    return sorted(range(len(demands)), key=lambda i: (n[i], rank[i]))


def _top_replicas(a: dict, w):
    """Per model, the sum of its ``replicas`` largest positive pair values in
    ``w`` (one pair per host already), and how much of each pair is taken
    (fractions where ties share the last places). Models come with the most
    replicas first, so pass r looks only at the prefix still wanting more."""
    import numpy as np

    w = np.maximum(w, 0.0)
    x = np.zeros(len(w))
    starts, counts, need = a["starts"], a["counts"], a["replicas"].copy()
    total = np.zeros(len(starts))
    for r in range(int(need.max()) if len(need) else 0):
        g = int(np.count_nonzero(a["replicas"] > r))  # models with replicas > r: a prefix
        if g == 0:
            break
        end = int(starts[g - 1] + counts[g - 1])
        ww, st, cn = w[:end], starts[:g], counts[:g]
        m = np.maximum.reduceat(ww, st)
        m = np.where(need[:g] > 0, m, 0.0)
        mrep = np.repeat(m, cn)
        mark = (ww == mrep) & (mrep > 0)
        cnt = np.add.reduceat(mark.astype(np.int64), st)
        take = np.minimum(cnt, need[:g])
        if not take.any():
            break
        total[:g] += m * take
        frac = np.where(cnt > 0, take / np.maximum(cnt, 1), 0.0)
        x[:end] += np.where(mark, np.repeat(frac, cn), 0.0)
        need[:g] -= take
        ww[mark] = 0.0
    return total, x


def lagrangian(
    demands: Sequence[Demand],
    hosts: Sequence[Host],
    target: float = 0.0,
    work: int | None = None,
    arrays: dict | None = None,
    enough: float = 0.0,
) -> Lagrangian:
    """Lagrangian bound on the objective (see LAGRANGE_WORK); ``target`` is
    the best placement's objective known (Polyak's step aims at it); the
    steps stop once the bound is within ``enough`` (relative) of it."""
    import numpy as np

    a = _pair_arrays(demands, hosts) if arrays is None else arrays
    n = max(len(a["host"]), 1)
    steps = min(LAGRANGE_MAX_STEPS, max(LAGRANGE_MIN_STEPS, (LAGRANGE_WORK if work is None else work) // n))
    host, sg, sr, vg, vr = a["host"], a["sg"], a["sr"], a["vg"], a["vr"]
    uni = a["unified"]
    nh = len(a["hosts"])
    # multipliers in units of the row's whole budget (u = price x budget), so MiB and counts step alike
    gcap = np.maximum(a["gcap"], 1.0)
    rcap = np.maximum(a["rcap"], 1.0)
    capped = a["ccap"] > 0
    ccap = np.where(capped, a["ccap"], 1.0)
    ug, ur, uc = np.zeros(nh), np.zeros(nh), np.zeros(nh)
    theta, stall, best_val = LAGRANGE_THETA, 0, float("inf")
    done = 0
    for _step in range(steps):
        done += 1
        lg, lr, mu = ug / gcap, ur / rcap, np.where(capped, uc / ccap, 0.0)
        pg = vg - sg * (lg[host] + np.where(uni[host], lr[host], 0.0)) - mu[host]
        pr = vr - sr * lr[host] - mu[host]
        on_gpu = pg >= pr
        w = np.where(on_gpu, pg, pr)
        total, x = _top_replicas(a, w)
        val = float(total.sum() + ug.sum() + ur.sum() + uc[capped].sum())
        if val < best_val - 1e-9:
            best_val, stall = val, 0
            if best_val - target <= enough * best_val:
                break  # close enough: it only proves the placement in hand
        else:
            stall += 1
            if stall >= LAGRANGE_PATIENCE:
                theta, stall = theta / 2, 0
        # subgradient in u: 1 - use / budget per row
        xg = np.where(on_gpu, x, 0.0)
        xr = x - xg
        use_g = np.bincount(host, weights=xg * sg, minlength=nh)
        use_r = np.bincount(host, weights=xr * sr + np.where(uni[host], xg * sg, 0.0), minlength=nh)
        use_c = np.bincount(host, weights=x, minlength=nh)
        dg, dr = 1.0 - use_g / gcap, 1.0 - use_r / rcap
        dc = np.where(capped, 1.0 - use_c / ccap, 0.0)
        # a row that cannot be cut further (price 0, slack) has no say in the step
        dg = np.where((ug <= 0) & (dg > 0), 0.0, dg)
        dr = np.where((ur <= 0) & (dr > 0), 0.0, dr)
        dc = np.where((uc <= 0) & (dc > 0), 0.0, dc)
        norm = float(dg @ dg + dr @ dr + dc @ dc)
        if norm <= 1e-12 or val - target <= 1e-9:
            break  # the relaxed optimum is feasible in every row that has a price: nothing to gain
        aim = best_val - LAGRANGE_AIM * (best_val - target)
        t = theta * max(val - aim, 1e-6 * abs(val)) / norm
        ug, ur, uc = np.maximum(ug - t * dg, 0.0), np.maximum(ur - t * dr, 0.0), np.maximum(uc - t * dc, 0.0)
    return Lagrangian(best_val if best_val < float("inf") else 0.0, done)
