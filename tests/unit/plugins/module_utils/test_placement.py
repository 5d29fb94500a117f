"""Unit tests for plugins/module_utils/placement.py: how ``auto`` sizes
HiGHS's effort (the rest is covered through the plan in test_plan.py)."""

from __future__ import annotations

import time

from ansible_collections.llamaherd.cluster.plugins.module_utils import placement as P


def test_milp_time_limit_shrinks_with_size():
    assert P.milp_time_limit(500, 4.0) == 4.0
    assert P.milp_time_limit(P.MILP_FULL_TIME_VARS, 4.0) == 4.0
    assert P.milp_time_limit(20_000, 4.0) == 2.0
    assert P.milp_time_limit(P.MAX_MILP_VARS, 4.0) == 0.8
    assert P.milp_time_limit(10**6, 4.0) == P.MIN_MILP_SECONDS


def _big(n_hosts: int, n_models: int) -> tuple[list[P.Demand], list[P.Host]]:
    hosts = [P.Host(f"h{i:03d}", 8000.0 if i % 2 else 0.0, 16000.0, None, False, i) for i in range(n_hosts)]
    demands = []
    for j in range(n_models):
        d = P.Demand(f"m{j:03d}", 1 + j % 3, j % 5)
        size = 500.0 + 37 * j
        for h in hosts:
            d.sizes[h.name] = {m: size for m, cap in (("gpu", h.gpu_mib), ("ram", h.ram_mib)) if cap >= size}
        demands.append(d)
    return demands, hosts


def test_auto_lets_the_greedy_answer_huge_problems():
    demands, hosts = _big(300, 120)
    n = len(P.options(demands, hosts))
    assert n > P.MAX_MILP_VARS
    t0 = time.perf_counter()
    r = P.solve(demands, hosts)
    wall = time.perf_counter() - t0
    assert r.solver == "greedy"
    assert any("the greedy answered without HiGHS" in note for note in r.notes)
    assert P.check(demands, hosts, r.assignment) == []
    # seconds is the whole call's wall time, not only the greedy's
    assert r.seconds <= wall and r.seconds >= 0.5 * wall


def test_auto_is_optimal_on_small_problems():
    demands, hosts = _big(10, 6)
    r = P.solve(demands, hosts)
    assert r.solver in ("greedy", "highs", "highs-lp", "greedy+search", "best-fit+search")
    assert r.notes[-1].startswith("optimal (proven")
    assert r.objective >= P.highs(demands, hosts).objective - 1e-6  # the optimum
    assert r.objective >= P.greedy(demands, hosts).objective


def test_lp_rounding_is_feasible_and_never_below_the_greedy_in_solve():
    import random

    for seed in range(4):
        rng = random.Random(seed)
        hosts = [
            P.Host(f"h{i}", rng.choice([0.0, 6000.0, 20000.0]), rng.choice([13000.0, 50000.0]), rng.choice([None, 2]), False, i)
            for i in range(12)
        ]
        demands = []
        for j in range(20):
            size = rng.choice([500, 1900, 4700, 9000, 20000]) * rng.uniform(1.05, 1.3)
            d = P.Demand(f"m{j}", rng.randint(1, 3), rng.randint(0, 9), rng.choice(["preferred", "never", "required"]))
            for h in hosts:
                d.sizes[h.name] = {m: size for m, cap in (("gpu", h.gpu_mib), ("ram", h.ram_mib)) if cap >= size}
            demands.append(d)
        lp = P.highs(demands, hosts, relax=True)
        r = P.lp_rounding(demands, hosts, lp)
        assert P.check(demands, hosts, r.assignment) == []
        assert r.objective <= lp.objective + 1e-6
        best = P.solve(demands, hosts)
        assert P.check(demands, hosts, best.assignment) == []
        assert best.objective >= max(r.objective, P.greedy(demands, hosts).objective) - 1e-6


def _chain_case():
    """Three GPUs of 10, 6 and 3 GiB; the greedy puts p (priority) on the
    biggest and r on the next, then q (9 GiB) fits nowhere. Placing q needs a
    chain: q onto a, p from a to b, r from b to c."""
    hosts = [P.Host("a", 10.0, 0.0, order=0), P.Host("b", 6.0, 0.0, order=1), P.Host("c", 3.0, 0.0, order=2)]
    demands = [
        P.Demand("p", 1, 5, "required", {h.name: {"gpu": 6.0} for h in hosts if h.gpu_mib >= 6}),
        P.Demand("r", 1, 4, "required", {h.name: {"gpu": 3.0} for h in hosts}),
        P.Demand("q", 1, 0, "required", {"a": {"gpu": 9.0}}),
    ]
    return demands, hosts


def test_search_places_what_needs_an_eviction_chain():
    demands, hosts = _chain_case()
    g = P.greedy(demands, hosts)
    assert g.assignment["q"] == []
    r = P.improve(demands, hosts, g)
    assert r.assignment == {"p": [("b", "gpu")], "r": [("c", "gpu")], "q": [("a", "gpu")]}
    assert P.check(demands, hosts, r.assignment) == []
    assert r.solver == "greedy+search"
    # one level of eviction is not enough: p has nowhere to go while r holds b
    assert P.improve(demands, hosts, g, depth=1).assignment["q"] == []


def test_search_is_deterministic_and_never_worse_on_dense_clusters():
    import random

    rng = random.Random(7)
    hosts = [
        P.Host(f"h{i:02d}", rng.choice([0.0, 3276.0, 19660.0]), rng.choice([13107.0, 52428.0]), 3, False, i) for i in range(16)
    ]
    demands = []
    for j in range(30):
        size = rng.choice([500, 1900, 4700, 9000, 20000]) * rng.uniform(1.05, 1.3)
        d = P.Demand(f"m{j:02d}", rng.randint(1, 4), rng.randint(0, 9), rng.choice(["preferred", "never", "required"]))
        for h in hosts:
            d.sizes[h.name] = {m: size for m, cap in (("gpu", h.gpu_mib), ("ram", h.ram_mib)) if cap >= size}
        demands.append(d)
    for start in (P.greedy(demands, hosts), P.best_fit(demands, hosts)):
        a, b = P.improve(demands, hosts, start), P.improve(demands, hosts, start)
        assert a.assignment == b.assignment
        assert P.check(demands, hosts, a.assignment) == []
        assert a.objective >= start.objective
    lp = P.highs(demands, hosts, relax=True)
    r = P.solve(demands, hosts, time_limit=1.0)  # the MILP's share is not under test here
    assert r.objective <= lp.objective + 1e-6
    assert r.objective >= P.greedy(demands, hosts).objective
    assert r.notes[-1].startswith("optimal (proven") or r.notes[-1].startswith("within ")


def test_gap_rounds_the_bound_down_to_whole_values():
    assert P.gap(206173.0, 206173.94) == 0.0
    assert P.gap(206000.0, 206173.94) == (206173 - 206000) / 206173
    assert P.gap(5.0, None) is None


def _mixed(seed: int, n_hosts: int = 10, n_models: int = 14) -> tuple[list[P.Demand], list[P.Host]]:
    """Issue 21's mix, small: capped hosts, APUs (unified pool), CPU-only
    hosts, GPU required/preferred/never, priorities, 1-5 replicas."""
    import random

    rng = random.Random(seed)
    hosts = []
    for i in range(n_hosts):
        kind = rng.choice(["gpu", "apu", "cpu"])
        cap = rng.choice([None, 1, 2, 3])
        if kind == "apu":
            pool = rng.choice([40000.0, 90000.0])
            hosts.append(P.Host(f"h{i}", pool * 0.75, pool, cap, True, i))
        else:
            gpu = 0.0 if kind == "cpu" else rng.choice([6000.0, 19000.0, 40000.0])
            hosts.append(P.Host(f"h{i}", gpu, rng.choice([13000.0, 26000.0, 52000.0]), cap, False, i))
    demands = []
    for j in range(n_models):
        d = P.Demand(
            f"m{j}",
            rng.choice([1, 1, 2, 3, 5]),
            rng.choice([0, 0, 1, 5, 9]),
            rng.choice(["preferred", "preferred", "never", "required"]),
        )
        size = rng.choice([500.0, 1900.0, 4700.0, 9000.0, 20000.0]) * rng.uniform(1.05, 1.3)
        for h in hosts:
            opts = {m: size for m, room in (("gpu", h.gpu_mib), ("ram", 0.0 if h.unified else h.ram_mib)) if room >= size}
            if rng.random() < 0.2 and opts:  # per-host sizes differ (context, slots)
                opts = {m: s * 1.1 for m, s in opts.items()}
            if opts:
                d.sizes[h.name] = opts
        demands.append(d)
    return demands, hosts


def test_lagrangian_bound_is_valid_against_highs():
    """The Lagrangian bound is never below the MILP optimum (so never below
    any placement), nor below the LP relaxation (the best it can reach), and
    its steps bring it close to the LP."""
    close = 0
    for seed in range(12):
        demands, hosts = _mixed(seed)
        milp = P.highs(demands, hosts, time_limit=20.0)
        lp = P.highs(demands, hosts, relax=True)
        assert milp.notes == [], milp.notes  # proven optimal
        lag = P.lagrangian(demands, hosts, target=P.greedy(demands, hosts).objective)
        assert lag.bound >= lp.bound - 1e-6 * lp.bound
        assert lag.bound >= milp.objective - 1e-6
        for r in (P.greedy(demands, hosts), P.best_fit(demands, hosts), milp):
            assert lag.bound >= r.objective - 1e-6
        close += lag.bound <= lp.bound * 1.01
    assert close >= 10


def test_auto_reports_the_lagrangian_bound_above_the_milp_size():
    demands, hosts = _big(300, 120)
    r = P.solve(demands, hosts)
    assert r.bound_source is not None and r.bound_source.startswith("Lagrangian relaxation, ")
    assert r.bound >= r.objective
    assert r.objective >= P.greedy_vectorized(demands, hosts).objective
    assert "Lagrangian relaxation, " in r.notes[-1]  # the proof note names its source


def test_scarce_first_greedy_places_the_model_with_few_hosts():
    """Two GPU hosts with room for one big model each; a priority model that
    fits anywhere comes first in the greedy's order and takes the roomier
    GPU, which is the only one the gpu: required model fits. Fewest options
    first places both."""
    hosts = [P.Host("a", 20000.0, 64000.0, None, False, 0), P.Host("b", 12000.0, 64000.0, None, False, 1)]
    flexible = P.Demand("flex", 1, 9, "preferred", {"a": {"gpu": 11000.0, "ram": 11000.0}, "b": {"gpu": 11000.0, "ram": 11000.0}})
    narrow = P.Demand("narrow", 1, 0, "required", {"a": {"gpu": 15000.0}})
    demands = [flexible, narrow]
    plain = P.greedy_vectorized(demands, hosts)
    scarce = P.greedy_vectorized(demands, hosts, scarce=True)
    assert plain.assignment["narrow"] == []
    assert scarce.assignment == {"flex": [("b", "gpu")], "narrow": [("a", "gpu")]}
    assert P.check(demands, hosts, scarce.assignment) == []
    r = P.solve(demands, hosts, solver="greedy")  # the plain greedy's order stays the greedy solver's
    assert r.assignment["narrow"] == []


def test_auto_gives_highs_the_rest_of_its_time_only_above_the_enough_gap(monkeypatch):
    """HiGHS's MILP gets a short try; the rest of the time limit only while
    the placement in hand is not proven within ENOUGH_GAP."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "bench"))
    from placement_quality import hard_cluster

    demands, hosts = hard_cluster(50, 200)  # HiGHS does not finish within the short try here
    highs = P.highs
    calls: list[float] = []

    def recording(*args, **kwargs):
        if not kwargs.get("relax"):
            calls.append(kwargs["time_limit"])
        return highs(*args, **kwargs)

    monkeypatch.setattr(P, "highs", recording)
    monkeypatch.setattr(P, "ENOUGH_GAP", 1.0)  # any proven gap is enough
    r = P.solve(demands, hosts)
    assert calls == [P.SHORT_MILP_SECONDS]
    assert r.bound_source == "HiGHS's MILP dual bound" and r.bound >= r.objective
    calls.clear()
    monkeypatch.setattr(P, "ENOUGH_GAP", -1.0)  # never enough: HiGHS gets what is left
    r = P.solve(demands, hosts, time_limit=1.5)
    assert len(calls) == 2 and calls[0] == P.SHORT_MILP_SECONDS and P.MIN_MILP_SECONDS <= calls[1] <= 1.5
    assert r.bound >= r.objective and P.check(demands, hosts, r.assignment) == []
