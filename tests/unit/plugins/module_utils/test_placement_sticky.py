"""Placement stickiness (issue 9): an inventory edit that adds a node keeps
every replica where the last plan put it (``herd_placed``, cached by
playbooks/plan.yml) unless moving is worth more. The keep bonus only breaks
ties, in every solver path."""

from __future__ import annotations

import random

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils import placement as P
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan

SOLVERS = ("greedy", "highs", "auto")


# ------------------------------------------------ the case found last session
def cluster(n: int, record: dict[str, list[str]] | None = None, extra: dict | None = None, **model_opts):
    """molecule/cluster's Ollama side: n CPU nodes of 4096 MiB, the coder
    pool on every node and one all-minilm (not pinned with hosts:)."""
    hosts = [f"herd-cl-ollama{i}" for i in range(1, n + 1)]
    models = [
        {"name": "qwen2.5-coder:0.5b", "replicas": n, "gpu": "never", "context": 2048},
        {"name": "all-minilm", "replicas": 1, "gpu": "never", **model_opts},
    ]
    hv = {h: {"herd_models": models, "herd_ram_mib": 4096, "herd_tier": "cpu"} for h in hosts}
    for h, v in (extra or {}).items():
        hv.setdefault(h, {"herd_models": models}).update(v)
    for h, names in (record or {}).items():
        hv.setdefault(h, {"herd_models": models})["herd_placed"] = {"ollama_models": names}
    return hv, {"all": list(hv), "ollama_nodes": hosts}


def placed(plan) -> dict[str, list[str]]:
    return {h: sorted(m["name"] for m in v["ollama_models"]) for h, v in plan["hosts"].items()}


def record_of(plan) -> dict[str, list[str]]:
    """What playbooks/plan.yml caches as herd_placed.ollama_models per host."""
    return {h: [m["name"] for m in v["ollama_models"]] for h, v in plan["hosts"].items()}


def test_without_a_record_highs_moved_all_minilm_to_the_new_node():
    """Documents the bug: the plan value is equal either way, and HiGHS's
    MILP breaks the tie on the new node (the greedy happens not to)."""
    two = build_plan(*cluster(2), solver="highs")
    assert "all-minilm" in placed(two)["herd-cl-ollama1"]
    three = build_plan(*cluster(3), solver="highs")
    assert three["errors"] == []
    assert "all-minilm" in placed(three)["herd-cl-ollama3"]
    assert not any(n.startswith("stickiness") for n in three["solver_notes"])


@pytest.mark.parametrize("solver", SOLVERS)
def test_adding_a_node_moves_nothing(solver):
    before = build_plan(*cluster(2), solver=solver)
    assert before["errors"] == []
    after = build_plan(*cluster(3, record_of(before)), solver=solver)
    assert after["errors"] == []
    for host, names in placed(before).items():
        assert placed(after)[host] == names, f"{solver}: {host} changed"
    assert placed(after)["herd-cl-ollama3"] == ["qwen2.5-coder:0.5b"]
    # nothing moved, so nothing about the record: the kept hosts read as
    # they did in the first plan (plans are byte-stable run after run)
    assert not any(n.startswith("stickiness") for n in after["solver_notes"])
    minilm = next(m for m in after["hosts"]["herd-cl-ollama1"]["ollama_models"] if m["name"] == "all-minilm")
    first = next(m for m in before["hosts"]["herd-cl-ollama1"]["ollama_models"] if m["name"] == "all-minilm")
    assert minilm["reason"] == first["reason"]
    new = after["hosts"]["herd-cl-ollama3"]["ollama_models"][0]
    assert "moved here" not in new["reason"]
    # the same input plans the same way
    again = build_plan(*cluster(3, record_of(before)), solver=solver)
    assert again["hosts"] == after["hosts"] and again["solver_notes"] == after["solver_notes"]


@pytest.mark.parametrize("solver", SOLVERS)
def test_the_record_follows_a_move_the_user_made(solver):
    """A record on ollama2 (e.g. an older plan) holds there too: the keep
    bonus, not the host order, decides the tie."""
    record = {"herd-cl-ollama1": ["qwen2.5-coder:0.5b"], "herd-cl-ollama2": ["qwen2.5-coder:0.5b", "all-minilm"]}
    after = build_plan(*cluster(3, record), solver=solver)
    assert "all-minilm" in placed(after)["herd-cl-ollama2"]


@pytest.mark.parametrize("solver", SOLVERS)
def test_gpu_instead_of_ram_still_wins(solver):
    """A strictly better option moves the model: all-minilm (gpu: preferred)
    was in ollama1's RAM; the new node has a GPU."""
    before = build_plan(*cluster(2, gpu="preferred"), solver=solver)
    assert "all-minilm" in placed(before)["herd-cl-ollama1"]
    gpu = {
        "herd-cl-ollama3": {
            "herd_gpus": [{"vendor": "nvidia", "name": "GTX 1050 Ti", "vram_mib": 4096, "compute_capability": "6.1"}]
        }
    }
    after = build_plan(*cluster(3, record_of(before), extra=gpu, gpu="preferred"), solver=solver)
    assert after["errors"] == []
    minilm = next(m for m in after["hosts"]["herd-cl-ollama3"]["ollama_models"] if m["name"] == "all-minilm")
    assert minilm["on_gpu"] is True
    assert "moved here from herd-cl-ollama1 (placed there by the last plan)" in minilm["reason"]
    assert any(n.startswith("all-minilm leaves herd-cl-ollama1 (placed there by the last plan)") for n in after["solver_notes"])
    assert "stickiness: 2 of 3 replicas stay where the last plan put them" in after["solver_notes"]


def test_records_of_gone_hosts_and_models_are_ignored():
    record = {
        "herd-cl-ollama1": ["qwen2.5-coder:0.5b", "all-minilm", "llama3.1:8b"],  # a model no longer in herd_models
        "herd-cl-ollama2": ["qwen2.5-coder:0.5b"],
        "herd-cl-old": ["all-minilm"],  # a host no longer in ollama_nodes
    }
    hv, groups = cluster(3, record)
    hv["herd-cl-ollama3"]["herd_placed"] = "garbage"  # a malformed record counts as none
    for solver in SOLVERS:
        p = build_plan(hv, groups, solver=solver)
        assert p["errors"] == []
        assert "herd-cl-old" not in p["hosts"]
        assert "all-minilm" in placed(p)["herd-cl-ollama1"]
        assert not any(n.startswith("stickiness") for n in p["solver_notes"])


def test_a_model_that_no_longer_fits_its_old_host_says_so():
    record = {"herd-cl-ollama1": ["qwen2.5-coder:0.5b", "all-minilm"], "herd-cl-ollama2": ["qwen2.5-coder:0.5b"]}
    hv, groups = cluster(3, record, hosts=["herd-cl-ollama2"])  # pinned elsewhere now
    p = build_plan(hv, groups)
    assert "all-minilm" in placed(p)["herd-cl-ollama2"]
    assert any(
        n.startswith("all-minilm leaves herd-cl-ollama1 (placed there by the last plan): it no longer fits there")
        for n in p["solver_notes"]
    )


@pytest.mark.parametrize("value", [False, "false", "no"])
def test_herd_plan_sticky_false_plans_without_the_record(value):
    record = {"herd-cl-ollama1": ["qwen2.5-coder:0.5b"], "herd-cl-ollama2": ["qwen2.5-coder:0.5b", "all-minilm"]}
    hv, groups = cluster(3, record)
    for v in hv.values():
        v["herd_plan_sticky"] = value
    p = build_plan(hv, groups, solver="greedy")
    assert p["errors"] == []
    assert "all-minilm" in placed(p)["herd-cl-ollama1"]  # the greedy's own tie-break
    assert not any(n.startswith("stickiness") for n in p["solver_notes"])


def test_herd_plan_sticky_must_be_a_switch():
    hv, groups = cluster(2)
    for v in hv.values():
        v["herd_plan_sticky"] = "maybe"
    p = build_plan(hv, groups)
    assert any(e.startswith("inventory: herd_plan_sticky: 'maybe' is not true or false. Fix:") for e in p["errors"])


# --------------------------------------------- every solver path, directly
def tie():
    """Three equal hosts; m fits anywhere; the last plan had it on c, the
    host every tie-break without the record puts last."""
    hosts = [P.Host(x, 0.0, 1000.0, order=i) for i, x in enumerate("abc")]
    d = P.Demand("m", 1, 0, "never", {h.name: {"ram": 100.0} for h in hosts}, keep=frozenset({"c"}))
    return [d], hosts


def test_every_path_keeps_a_tie():
    demands, hosts = tie()
    assert P.greedy(demands, hosts).assignment == {"m": [("c", "ram")]}
    assert P.greedy(demands, hosts, sticky=False).assignment == {"m": [("a", "ram")]}
    assert P.best_fit(demands, hosts).assignment == {"m": [("c", "ram")]}
    assert P.highs(demands, hosts).assignment == {"m": [("c", "ram")]}
    lp = P.highs(demands, hosts, relax=True)
    assert P.lp_rounding(demands, hosts, lp).assignment == {"m": [("c", "ram")]}
    start = P.Result("given", {"m": [("a", "ram")]}, 1000.0)
    moved = P.improve(demands, hosts, start)
    assert moved.assignment == {"m": [("c", "ram")]}
    assert moved.objective == start.objective  # the same value: only the tie changed
    for solver in SOLVERS:
        assert P.solve(demands, hosts, solver=solver).assignment == {"m": [("c", "ram")]}


def test_the_search_swaps_two_models_back_through_a_full_host():
    """a and b each hold one model and are full; the start has them swapped.
    Putting both back needs an eviction: x onto a evicts y, y onto b."""
    hosts = [P.Host("a", 0.0, 100.0, order=0), P.Host("b", 0.0, 100.0, order=1)]
    demands = [
        P.Demand("x", 1, 0, "never", {"a": {"ram": 100.0}, "b": {"ram": 100.0}}, keep=frozenset({"a"})),
        P.Demand("y", 1, 0, "never", {"a": {"ram": 100.0}, "b": {"ram": 100.0}}, keep=frozenset({"b"})),
    ]
    start = P.Result("given", {"x": [("b", "ram")], "y": [("a", "ram")]}, 2000.0)
    r = P.improve(demands, hosts, start)
    assert r.assignment == {"x": [("a", "ram")], "y": [("b", "ram")]}


@pytest.mark.parametrize("solver", SOLVERS)
def test_more_replicas_still_win(solver):
    """Keeping x on a (its record) leaves no host for y; moving x to b
    places both."""
    hosts = [P.Host("a", 0.0, 1000.0, order=0), P.Host("b", 0.0, 600.0, order=1)]
    demands = [
        P.Demand("x", 1, 0, "never", {"a": {"ram": 600.0}, "b": {"ram": 600.0}}, keep=frozenset({"a"})),
        P.Demand("y", 1, 0, "never", {"a": {"ram": 900.0}}),
    ]
    r = P.solve(demands, hosts, solver=solver)
    assert r.assignment == {"x": [("b", "ram")], "y": [("a", "ram")]}
    assert P.kept(demands, r.assignment) == 0


@pytest.mark.parametrize("solver", ("highs", "auto"))
def test_a_higher_priority_still_wins(solver):
    """One host, room for one model: the kept low-priority one gives way."""
    hosts = [P.Host("a", 0.0, 1000.0)]
    demands = [
        P.Demand("low", 1, 0, "never", {"a": {"ram": 800.0}}, keep=frozenset({"a"})),
        P.Demand("high", 1, 1, "never", {"a": {"ram": 800.0}}),
    ]
    assert P.solve(demands, hosts, solver=solver).assignment == {"low": [], "high": [("a", "ram")]}


def test_all_the_keep_bonuses_stay_below_one_value_point():
    demands, _hosts = _random(0)
    n = sum(len(d.keep & d.sizes.keys()) for d in demands)
    assert n > 10 and P.keep_unit(demands) * n == pytest.approx(P.KEEP_TOTAL) and P.KEEP_TOTAL < 1
    assert P.keep_unit([P.Demand("m", 1)]) == 0.0  # no record: values as before


def _random(seed: int):
    rng = random.Random(seed)
    hosts = [
        P.Host(f"h{i}", rng.choice([0.0, 6000.0]), rng.choice([8000.0, 16000.0]), rng.choice([None, 3]), False, i)
        for i in range(6)
    ]
    demands = []
    for j in range(8):
        size = rng.choice([500, 1900, 4700, 7000])
        d = P.Demand(f"m{j}", rng.randint(1, 3), rng.randint(0, 3), rng.choice(["preferred", "never"]))
        for h in hosts:
            d.sizes[h.name] = {m: size for m, cap in (("gpu", h.gpu_mib), ("ram", h.ram_mib)) if cap >= size}
        d.keep = frozenset(rng.sample([h.name for h in hosts], rng.randint(0, 3)))
        demands.append(d)
    return demands, hosts


@pytest.mark.parametrize("seed", range(4))
def test_a_record_never_lowers_the_value(seed):
    """The optimum with a record (any record) is the optimum without one."""
    demands, hosts = _random(seed)
    plain = [P.Demand(d.name, d.replicas, d.priority, d.gpu, d.sizes) for d in demands]
    with_record = P.solve(demands, hosts, solver="highs")
    without = P.solve(plain, hosts, solver="highs")
    assert P.check(demands, hosts, with_record.assignment) == []
    assert with_record.notes[-1].startswith("optimal (proven") and without.notes[-1].startswith("optimal (proven")
    assert with_record.objective == without.objective
    assert P.kept(demands, with_record.assignment) >= P.kept(demands, without.assignment)
    auto = P.solve(demands, hosts, time_limit=1.0)
    assert auto.objective <= with_record.objective + 1e-6
    a2 = P.solve(demands, hosts, time_limit=1.0)
    assert a2.assignment == auto.assignment  # deterministic


def test_fewer_replicas_keep_the_first_hosts_and_say_why_one_leaves():
    record = {h: ["qwen2.5-coder:0.5b"] for h in ("herd-cl-ollama1", "herd-cl-ollama2", "herd-cl-ollama3")}
    hv, groups = cluster(3, record)
    for v in hv.values():
        v["herd_models"] = [{"name": "qwen2.5-coder:0.5b", "replicas": 2, "gpu": "never", "context": 2048}]
    p = build_plan(hv, groups)
    assert p["errors"] == []
    assert "stickiness: 2 of 3 replicas stay where the last plan put them" in p["solver_notes"]
    assert sum(n.endswith("(placed there by the last plan): replicas lowered to 2") for n in p["solver_notes"]) == 1
