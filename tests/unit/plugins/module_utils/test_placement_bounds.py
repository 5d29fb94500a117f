"""The solver's bound is honest and its search deterministic (issue 21):
on small random instances an independent formulation (built here, solved
exactly by SciPy's HiGHS MILP, and relaxed) checks what solve() reports."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils import placement as P
from scipy.optimize import Bounds, LinearConstraint, milp


def _instance(seed: int, n_hosts: int = 6, n_models: int = 7):
    rng = random.Random(seed)
    hosts = []
    for i in range(n_hosts):
        unified = rng.random() < 0.25
        pool = rng.choice([16000, 24000, 48000])
        gpu = pool * 0.75 if unified else rng.choice([0, 8000, 16000, 24000])
        hosts.append(P.Host(f"h{i}", gpu, pool, rng.choice([None, 2, 3]), unified, i))
    demands = []
    for j in range(n_models):
        size = rng.choice([2000, 5000, 9000, 14000, 21000])
        d = P.Demand(f"m{j}", rng.randint(1, 3), rng.choice([0, 1, 5]), rng.choice(["preferred", "required", "never"]))
        for h in hosts:
            opts = {
                m: size for m, cap in (("gpu", h.gpu_mib), ("ram", h.ram_mib)) if cap >= size and not (h.unified and m == "ram")
            }
            if opts:
                d.sizes[h.name] = opts
        demands.append(d)
    return demands, hosts


def _exact(demands, hosts, relax: bool) -> float:
    """The model written out again, independently of placement.highs."""
    var = []  # (model, host, mode, size, value)
    for d in demands:
        for h in hosts:
            for mode, size in d.sizes.get(h.name, {}).items():
                if (d.gpu == "required" and mode != "gpu") or (d.gpu == "never" and mode != "ram"):
                    continue
                worth = 1000 + d.priority + (100 + 10 * d.priority if mode == "gpu" and d.gpu != "never" else 0)
                var.append((d.name, h.name, mode, size, worth))
    rows, ub = [], []

    def row(pred, coef, cap):
        rows.append([coef(v) if pred(v) else 0.0 for v in var])
        ub.append(cap)

    for d in demands:
        row(lambda v, d=d: v[0] == d.name, lambda v: 1.0, d.replicas)
        for h in hosts:
            row(lambda v, d=d, h=h: v[0] == d.name and v[1] == h.name, lambda v: 1.0, 1)
    for h in hosts:
        if h.unified:
            row(lambda v, h=h: v[1] == h.name, lambda v: v[3], max(h.gpu_mib, h.ram_mib))
            row(lambda v, h=h: v[1] == h.name and v[2] == "gpu", lambda v: v[3], h.gpu_mib)
        else:
            row(lambda v, h=h: v[1] == h.name and v[2] == "gpu", lambda v: v[3], h.gpu_mib)
            row(lambda v, h=h: v[1] == h.name and v[2] == "ram", lambda v: v[3], h.ram_mib)
        if h.max_models is not None:
            row(lambda v, h=h: v[1] == h.name, lambda v: 1.0, h.max_models)
    if not var:
        return 0.0
    res = milp(
        -np.array([v[4] for v in var], dtype=float),
        constraints=LinearConstraint(np.array(rows), -np.inf, np.array(ub, dtype=float)),
        integrality=np.zeros(len(var)) if relax else np.ones(len(var)),
        bounds=Bounds(0, 1),
    )
    assert res.status == 0, res.message
    return -res.fun


@pytest.mark.parametrize("seed", range(8))
def test_the_reported_bound_holds_against_an_independent_lp_and_milp(seed):
    demands, hosts = _instance(seed)
    r = P.solve(demands, hosts)
    assert P.check(demands, hosts, r.assignment) == []
    optimum = _exact(demands, hosts, relax=False)
    lp = _exact(demands, hosts, relax=True)
    assert r.objective <= optimum + 1e-6
    assert r.bound is not None and r.bound_source
    # never a bound that a better placement exceeds, never looser than the LP
    assert optimum - 1e-6 <= r.bound <= lp + 1e-6
    reported = P.gap(r.objective, r.bound)
    true_gap = (optimum - r.objective) / optimum if optimum else 0.0
    assert reported + 1e-9 >= true_gap
    assert r.bound_source in r.notes[-1]
    if reported <= 1e-9:
        assert r.objective == pytest.approx(optimum) and r.notes[-1].startswith("optimal (proven")
    else:
        assert f"{100 * reported:.3f}%" in r.notes[-1] and str(math.floor(r.bound + 1e-6)) in r.notes[-1]


def test_solve_reaches_the_exact_optimum_and_the_heuristics_mostly_do():
    """solve() is exact on every small instance; the heuristics alone
    (greedy and best-fit, then the local search, no HiGHS) on at least 5 of
    8 (today they miss a replica or a GPU slot on three: a pin, not a goal)."""
    exact = 0
    for seed in range(8):
        demands, hosts = _instance(seed)
        optimum = _exact(demands, hosts, relax=False)
        assert P.solve(demands, hosts).objective == pytest.approx(optimum)
        heur = max(P.improve(demands, hosts, s).objective for s in (P.greedy(demands, hosts), P.best_fit(demands, hosts)))
        assert heur <= optimum + 1e-6
        exact += heur == pytest.approx(optimum)
    assert exact >= 5


def test_the_local_search_is_bounded_by_work_not_time_and_repeats_exactly():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "bench"))
    from placement_quality import hard_cluster

    demands, hosts = hard_cluster(60, 240)
    start = P.greedy(demands, hosts)
    small = P.improve(demands, hosts, start, work=3000)
    assert small.notes[-1].endswith("stopped at its work budget")
    again = P.improve(demands, hosts, start, work=3000)
    assert small.assignment == again.assignment
    full = P.improve(demands, hosts, start)
    assert full.objective >= small.objective >= start.objective
    assert P.check(demands, hosts, full.assignment) == []
    assert P.search_work(10) == P.SEARCH_WORK_MIN and P.search_work(10**9) == P.SEARCH_WORK_MAX


@pytest.mark.parametrize("seed", range(4))
def test_the_vectorized_greedy_places_exactly_as_the_greedy(seed):
    """Big clusters take the NumPy greedy; same rule, same answer."""
    demands, hosts = _instance(seed, n_hosts=12, n_models=10)
    for i, d in enumerate(demands):
        d.keep = frozenset({f"h{(i * 5) % 12}"}) & d.sizes.keys()
    assert P.greedy_vectorized(demands, hosts).assignment == P.greedy(demands, hosts).assignment
    # ... also when it reads the sizes from the pair arrays (solve does above MAX_MILP_VARS)
    arrays = P._pair_arrays(demands, hosts)
    assert P.greedy_vectorized(demands, hosts, arrays=arrays).assignment == P.greedy(demands, hosts).assignment
    assert P.n_options(demands, hosts) == len(P.options(demands, hosts))


def test_the_local_search_survives_a_chain_that_moves_the_model_itself():
    """A move's eviction chain can take a replica of the model whose places
    the search is walking through (found on a 10-host mixed fleet with speed
    and keep records; it raised KeyError): the search goes on, feasible."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "bench"))
    from placement_quality import hard_cluster

    demands, hosts = hard_cluster(10, 30, seed=23)
    for k, d in enumerate(demands):
        if k % 2 == 0:
            d.speed = {h.name: {"gpu": (j % 7) / 7, "ram": (j % 3) / 9} for j, h in enumerate(hosts)}
        if k % 3 == 0:
            d.keep = frozenset(h.name for h in hosts[k % 7 :: 11])
    start = P.greedy(demands, hosts)
    r = P.improve(demands, hosts, start)
    assert P.check(demands, hosts, r.assignment) == []
    assert P.score(demands, r.assignment) >= P.score(demands, start.assignment)
