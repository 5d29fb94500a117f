"""Unit tests for placement.py and plan.py on plans made here: bad demands
fail with a message that names what to change. The example inventories
plan in tests/unit/plugins/action/test_plan_examples.py."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils import placement
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import (
    build_plan,
    declared_plan_problems,
    ollama_gpu_record,
    slug,
)
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan_report import html_report, markdown
from plan_inputs import shared_box, simple

REPO = Path(__file__).resolve().parents[4]


def test_unplaceable_names_the_gap():
    p = simple([{"name": "qwen2.5:72b", "context": 8192}], {"a": {"herd_ram_mib": 38400}})
    assert any(e.startswith("qwen2.5:72b needs") and "ctx 8192" in e and "30.0 GiB usable" in e for e in p["errors"])


def test_replicas_more_than_hosts_that_fit():
    hosts = {"a": {"herd_ram_mib": 16384}, "b": {"herd_ram_mib": 16384}, "tiny": {"herd_ram_mib": 2048}}
    p = simple([{"name": "llama3.2:3b", "replicas": 3}], hosts)
    assert any("replicas 3 but only 2 host(s) can hold it (a, b)" in e for e in p["errors"]), p["errors"]
    assert p["pools"][0]["backends"] == ["a", "b"]


def test_replicas_more_than_nodes_is_not_about_memory():
    """More replicas than Ollama nodes (or than nodes its labels allow): an
    error no measurement changes, so it starts with herd_models[ (preflight
    stops on it before any host is contacted)."""
    p = simple([{"name": "llama3.2:3b", "replicas": 3}], {"a": {"herd_ram_mib": 16384}, "b": {"herd_ram_mib": 16384}})
    assert p["errors"] == [
        "herd_models[llama3.2:3b].replicas: 3 replicas, but ollama_nodes has 2 host(s) (a, b) and each replica needs "
        "its own node. Fix: lower replicas to 2, or put more hosts in ollama_nodes"
    ]
    p = simple([{"name": "llama3.2:3b", "labels": ["cuda"]}], {"a": {"herd_ram_mib": 16384, "herd_labels": ["rocm"]}})
    assert p["errors"][0].startswith("herd_models[llama3.2:3b]: no Ollama node meets its labels: [cuda] (the nodes: a)")
    assert declared_plan_problems(p)[0] == p["errors"]


def test_unknown_quant_and_model():
    p = simple([{"name": "llama3.2:3b", "quant": "Q7_X"}, {"name": "mystery:9b"}], {"a": {"herd_ram_mib": 16384}})
    assert any("unknown quantization 'Q7_X'" in e for e in p["errors"])
    assert any("mystery:9b" in e and "herd_model_catalog" in e for e in p["errors"])


def test_gpu_required_and_priority():
    hosts = {
        "gpu": {"herd_ram_mib": 16384, "herd_gpus": [{"vendor": "nvidia", "vram_mib": 4096, "compute_capability": "6.1"}]},
        "cpu": {"herd_ram_mib": 16384},
    }
    p = simple(
        [{"name": "mxbai-embed-large", "gpu": "required", "priority": 5}, {"name": "llama3.2:1b", "gpu": "required"}], hosts
    )
    gpu = [m["name"] for m in p["hosts"]["gpu"]["ollama_models"]]
    assert "mxbai-embed-large" in gpu
    assert all(m["on_gpu"] for m in p["hosts"]["gpu"]["ollama_models"])
    assert p["hosts"]["cpu"]["ollama_models"] == []


def test_slug():
    assert slug("qwen2.5:72b") == "qwen2-5-72b"


def _random_problem(n_hosts, n_models, seed):
    import random

    rng = random.Random(seed)
    hosts = [
        placement.Host(f"h{i}", rng.choice([0, 8000, 20000]), rng.choice([16000, 32000, 64000]), None, False, i)
        for i in range(n_hosts)
    ]
    demands = []
    for j in range(n_models):
        size = rng.choice([500, 2000, 5000, 12000, 30000])
        d = placement.Demand(f"m{j}", rng.randint(1, 3), rng.randint(0, 5))
        for h in hosts:
            d.sizes[h.name] = {k: size for k, cap in (("gpu", h.gpu_mib), ("ram", h.ram_mib)) if cap >= size}
        demands.append(d)
    return demands, hosts


@pytest.mark.parametrize("seed", range(5))
def test_highs_never_worse_than_greedy_and_feasible(seed):
    demands, hosts = _random_problem(8, 10, seed)
    g = placement.solve(demands, hosts, solver="greedy")
    h = placement.solve(demands, hosts, solver="highs")
    assert placement.check(demands, hosts, g.assignment) == []
    assert placement.check(demands, hosts, h.assignment) == []
    assert h.objective >= g.objective - 1e-6
    lp = placement.highs(demands, hosts, relax=True)
    assert h.objective <= lp.objective + 1e-6


def test_check_catches_violations():
    d = placement.Demand("m", 1, sizes={"a": {"gpu": 10}})
    assert placement.check([d], [placement.Host("a", 5, 0)], {"m": [("a", "gpu")]}) == ["a: GPU over budget"]


def test_solver_name_validated():
    with pytest.raises(ValueError, match="unknown solver"):
        placement.solve([], [], solver="cplex")


def test_preflight_takes_unresolvable_models_as_errors_and_capacity_as_warnings():
    from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan, declared_plan_problems

    models = [{"name": "qwen2.5:3bb"}, {"name": "qwen2.5:72b"}]
    hv = {"n1": {"herd_models": models, "herd_ram_mib": 4096}}
    errors, warnings = declared_plan_problems(build_plan(hv, {"all": ["n1"], "ollama_nodes": ["n1"]}))
    assert len(errors) == 1 and errors[0].startswith("herd_models[qwen2.5:3bb]")
    assert "did you mean qwen2.5:3b?" in errors[0]
    assert len(warnings) == 1 and warnings[0].startswith("on the declared hardware: qwen2.5:72b needs")


def test_preflight_stops_what_does_not_fit_once_every_model_hosts_memory_is_known():
    from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import preflight_problems

    measured = {"ram_mib": 4096, "arch": "x86_64", "gpus": [], "gpu_sources": ["nvidia-smi"]}
    hv = {
        "n1": {"herd_models": [{"name": "qwen2.5:72b"}], "herd_cluster_address": "192.0.2.1", "herd_measured": measured},
        "n2": {"herd_models": [{"name": "qwen2.5:72b"}], "herd_cluster_address": "192.0.2.2"},
    }
    groups = {"all": ["n1", "n2"], "ollama_nodes": ["n1", "n2"]}
    errors, warnings = preflight_problems(hv, groups)
    assert errors == [] and any("qwen2.5:72b needs" in w for w in warnings)  # n2's memory is unknown
    hv["n2"]["herd_ram_mib"] = 4096  # declared: the user's word stops it, naming the declaration
    errors, _ = preflight_problems(hv, groups)
    assert len(errors) == 1 and errors[0].startswith("on the declared hardware: qwen2.5:72b needs")
    hv["n2"]["herd_measured"] = measured
    errors, _ = preflight_problems(hv, groups)
    assert len(errors) == 1 and errors[0].startswith("qwen2.5:72b needs")


@pytest.mark.parametrize(
    ("model", "kind"),
    [
        ({"name": "qwen2.5:3b", "context": 65536}, "error"),
        ({"name": "qwen2.5:3b", "context": 65536, "allow_context_cap": True}, "warning"),
        ({"name": "qwen2.5:3b", "context": 32768}, None),
        ({"name": "llama3.1:8b", "engine": "llama_cpp", "context": 262144, "allow_context_cap": True}, "error"),
    ],
)
def test_context_above_the_trained_context(model, kind):
    from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan

    hv = {"n1": {"herd_models": [model], "herd_ram_mib": 1 << 20}}
    plan = build_plan(hv, {"all": ["n1"], "ollama_nodes": ["n1"], "llama_cpp_head": ["n1"]})
    found = {
        "error": [e for e in plan["errors"] if "above the model's trained context" in e],
        "warning": [w for w in plan["warnings"] if "above the trained context" in w],
    }
    for k, v in found.items():
        assert bool(v) == (k == kind), (k, plan)


def test_a_host_splits_gpu_and_ram_one_way_whatever_the_solver_returned():
    """Two models on one host, room on the GPU for one: both splits are worth
    the same (neither has a priority), so the larger one takes the GPU."""
    hosts = [placement.Host("h", gpu_mib=1000, ram_mib=4000)]
    demands = [
        placement.Demand("a", 1, sizes={"h": {"gpu": 600, "ram": 600}}),
        placement.Demand("b", 1, sizes={"h": {"gpu": 900, "ram": 900}}),
    ]
    for given in ({"a": [("h", "gpu")], "b": [("h", "ram")]}, {"a": [("h", "ram")], "b": [("h", "gpu")]}):
        assert placement.settle_modes(demands, hosts, given) == {"a": [("h", "ram")], "b": [("h", "gpu")]}
    # a priority point is worth more than filling the GPU
    demands[0].priority = 1
    assert placement.settle_modes(demands, hosts, {"a": [("h", "ram")], "b": [("h", "gpu")]})["a"] == [("h", "gpu")]


def test_one_budget_per_gpu_across_engines():
    """The llama.cpp head's share of the 4090 is booked first; Ollama gets
    what is left, and its reason says where the rest went."""
    hv, groups = shared_box([{"name": "qwen2.5:14b"}, {"name": "llama3.2:3b"}])
    p = build_plan(hv, groups)
    assert p["errors"] == [], p["errors"]
    head_row = next(r for r in p["rpc_splits"][0]["chosen"]["rows"] if r["device"].startswith("box GPU0"))
    usable = 24564 * p["margin"]
    on_gpu = sum(m["memory_mib"] for m in p["hosts"]["box"]["ollama_models"] if m["on_gpu"])
    assert head_row["total_mib"] + on_gpu <= usable
    assert p["node_usage"]["box"]["booked_mib"] >= head_row["total_mib"]
    reasons = [m["reason"] for m in p["hosts"]["box"]["ollama_models"]]
    assert all("went to llama.cpp's qwen2.5:32b first" in r for r in reasons), reasons
    # Without the head on the box, Ollama has the whole card again.
    alone = build_plan(hv, {**groups, "llama_cpp_head": ["w1"], "llama_cpp_workers": []})
    assert alone["node_usage"]["box"]["gpu_budget_mib"] - p["node_usage"]["box"]["gpu_budget_mib"] >= head_row["total_mib"]


def test_a_model_that_only_fit_before_the_booking_names_it():
    hv, groups = shared_box([{"name": "qwen2.5:32b-instruct-q4_K_M", "gpu": "required"}])
    p = build_plan(hv, groups)
    assert any(
        e.startswith("qwen2.5:32b-instruct-q4_K_M needs") and "box gave" in e and "MiB to other engines first" in e
        for e in p["errors"]
    ), p["errors"]


def test_two_engines_over_one_ram_stop_with_the_device_named():
    """A CPU box that is both an RPC worker and a distributed-llama worker:
    each fits alone, together they do not."""
    ram = {"herd_ram_mib": 8192}
    models = [
        {"name": "llama3.1:8b", "engine": "llama_cpp", "context": 4096},
        {"name": "llama3.1:8b", "engine": "dllama", "context": 4096, "quant": "q40"},
    ]
    hv = {h: {**ram, "herd_models": models} for h in ("head", "cpu1", "root")}
    groups = {
        "all": list(hv),
        "llama_cpp_head": ["head"],
        "llama_cpp_workers": ["cpu1"],
        "dllama_root": ["root"],
        "dllama_workers": ["cpu1"],
    }
    p = build_plan(hv, groups)
    msg = [e for e in p["errors"] if e.startswith("host cpu1: RAM: llama.cpp's llama3.1:8b (")]
    assert msg and "distributed-llama's llama3.1:8b (" in msg[0] and "need" in msg[0] and "Fix: move one of them" in msg[0], p[
        "errors"
    ]


V100 = {"vendor": "nvidia", "index": 0, "name": "Tesla V100S-PCIE-32GB", "vram_mib": 32768, "compute_capability": "7.0"}


def _rpc_worker(**hv):
    hosts = {"w": {"herd_models": [], "herd_ram_mib": 65536, **hv}}
    return build_plan(hosts, {"all": ["w"], "llama_cpp_workers": ["w"]})


def test_llama_cpp_is_built_for_the_gpus_the_plan_sees():
    from ansible_collections.llamaherd.cluster.plugins.module_utils.llama_cpp import cmake_flags

    measured = {"gpus": [V100], "gpu_sources": ["nvidia-smi"]}
    p = _rpc_worker(herd_measured=measured)  # measured, not declared
    assert p["errors"] == [] and p["hosts"]["w"]["llama_cpp_gpus"] == [V100]
    assert "-DCMAKE_CUDA_ARCHITECTURES=70" in cmake_flags(p["hosts"]["w"]["llama_cpp_gpus"])
    # Declared but measured absent: built for the CPU.
    p = _rpc_worker(herd_gpus=[V100], herd_measured={"gpus": [], "gpu_sources": ["nvidia-smi"]})
    assert p["hosts"]["w"]["llama_cpp_gpus"] == [] and "-DGGML_CUDA=ON" not in cmake_flags([])
    # An old driver's nvidia-smi without compute_cap: the declared value fills it in.
    bare = {k: v for k, v in V100.items() if k != "compute_capability"}
    p = _rpc_worker(herd_gpus=[V100], herd_measured={"gpus": [bare], "gpu_sources": ["nvidia-smi"]})
    assert p["hosts"]["w"]["llama_cpp_gpus"][0]["compute_capability"] == "7.0"
    # ... and without a declaration the plan says what to add.
    p = _rpc_worker(herd_measured={"gpus": [bare], "gpu_sources": ["nvidia-smi"]})
    assert p["errors"] == [
        "host w: herd_gpus: nvidia GPU 0 (Tesla V100S-PCIE-32GB) has no compute_capability (the driver's tool did not "
        "report it), so llama.cpp cannot be built for it. Fix: declare it in herd_gpus, e.g. compute_capability: '7.0'."
    ]


def test_no_role_reads_the_inventorys_gpus_or_models():
    """Roles take the plan's records (llama_cpp_gpus, llama_cpp_servers,
    ollama_gpu, ollama_models, ...), which the plays hand them; herd_gpus and
    herd_models are the inventory's, read only by the plan. A role, or a
    concern's play, may name them in a message (advice to the user), never in
    an expression."""
    import re

    jinja = re.compile(r"\{[{%].*?[}%]\}", re.S)
    bare = re.compile(r"^\s*(?:- )?(?:when|that|loop|until):.*$", re.M)
    readers = []
    for path in [*(REPO / "roles").rglob("*"), *(REPO / "playbooks" / "plays").glob("*.yml")]:
        if not path.is_file() or path.suffix not in (".yml", ".j2") or path.name == "argument_specs.yml":
            continue
        text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
        for m in [*jinja.finditer(text), *bare.finditer(text)]:
            if re.search(r"\bherd_(gpus|models|measured)\b", m.group(0)):
                readers.append(f"{path.relative_to(REPO)}: {m.group(0)[:80]}")
        if path.is_relative_to(REPO / "roles"):
            # A role's rendered text (alerts, messages) names the plan's record too.
            readers += [
                f"{path.relative_to(REPO)}: {line.strip()[:80]}"
                for line in text.splitlines()
                if re.search(r"\bherd_(gpus|models|measured)\b", line)
            ]
    assert readers == []
    plays = REPO / "playbooks" / "plays"
    assert "herd_plan.hosts[inventory_hostname].llama_cpp_gpus" in (plays / "llama_cpp.yml").read_text()
    assert "herd_plan.hosts[inventory_hostname].ollama_gpu" in (plays / "ollama.yml").read_text()
    assert "herd_plan.llama_cpp.models" in (plays / "llama_cpp.yml").read_text()


def test_the_heads_downloads_are_the_plans():
    model = {"name": "llama3.1:8b", "engine": "llama_cpp", "quant": "Q4_K_M", "context": 4096}
    url = "https://models.invalid/llama-3.1-8b-q4_k_m.gguf"
    hosts = {
        "h": {"herd_ram_mib": 65536, "herd_models": [{**model, "url": url, "sha256": "ab" * 32}, {**model, "name": "qwen2.5:3b"}]}
    }
    p = build_plan(hosts, {"all": ["h"], "llama_cpp_head": ["h"]})
    # Only a model that names its file by checksum is downloaded; the rest of its entry stays in the plan.
    assert p["llama_cpp"]["models"] == [{"name": "llama3.1:8b", "url": url, "sha256": "ab" * 32}]


def test_the_plan_gives_each_ollama_node_its_gpus_and_rocm_override():
    hv = {
        "apu": {
            "herd_gpus": [{"vendor": "amd", "name": "Radeon 8060S", "vram_mib": 65536, "gfx_target": "gfx1151"}],
            "herd_ram_mib": 131072,
        },
        "cpu": {"herd_ram_mib": 16384},
    }
    p = simple([], hv)
    apu, cpu = p["hosts"]["apu"]["ollama_gpu"], p["hosts"]["cpu"]["ollama_gpu"]
    assert apu["vendors"] == ["amd"] and apu["gfx_target"] == "gfx1151" and apu["hsa_override"] == "11.5.1"
    assert cpu == {"gpus": [], "vendors": [], "gfx_target": "", "gfx_source": "", "hsa_override": "", "hsa_source": ""}


def test_what_measurement_changed_is_said_against_the_declared_plan():
    from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import measurement_changes

    models = [{"name": "qwen2.5:14b"}]
    probe = simple(models, {"ws": {"herd_gpus": [{"vendor": "nvidia", "vram_mib": 65536}], "herd_ram_mib": 65536}})
    need = probe["hosts"]["ws"]["ollama_models"][0]["memory_mib"]
    declared_mib = math.ceil((need + 457 + 64) / 0.8)  # fits as declared, with 64 MiB to spare
    gpu = {"vendor": "nvidia", "name": "RTX 3090", "vram_mib": declared_mib, "compute_capability": "8.6"}
    hv = {"ws": {"herd_models": models, "herd_gpus": [gpu], "herd_ram_mib": 65536}}
    groups = {"all": ["ws"], "ollama_nodes": ["ws"]}
    declared = build_plan(hv, groups)
    measured_gpu = {**gpu, "vram_mib": declared_mib - 256}  # what nvidia-smi reports is a little less
    hv["ws"]["herd_measured"] = {"gpus": [measured_gpu], "gpu_sources": ["nvidia-smi"], "ram_mib": 64000}
    measured = build_plan(hv, groups)
    assert measurement_changes(declared, measured, hv) == [
        f"host ws: GPU memory declared {declared_mib} MiB, measured {declared_mib - 256} MiB; RAM declared 65536 MiB, measured 64000 MiB.",
        "qwen2.5:14b no longer fits on ws's GPU: it runs from RAM there.",
    ]
    assert measurement_changes(declared, declared, {"ws": {k: v for k, v in hv["ws"].items() if k != "herd_measured"}}) == []


def test_one_model_on_two_engines_shares_its_catalog_shape():
    """Issue 25: the same model on Ollama and over RPC: two entries, the
    second with its own name and shape: <the catalog name>."""
    models = [
        {"name": "llama3.1:8b"},
        {"name": "llama3.1-8b-rpc", "engine": "llama_cpp", "shape": "llama3.1:8b", "context": 4096},
    ]
    hv = {
        "n1": {"herd_models": models, "herd_ram_mib": 32768},
        "head": {"herd_models": models, "herd_ram_mib": 32768},
        "w1": {"herd_models": models, "herd_ram_mib": 32768},
    }
    groups = {"all": ["n1", "head", "w1"], "ollama_nodes": ["n1"], "llama_cpp_head": ["head"], "llama_cpp_workers": ["w1"]}
    p = build_plan(hv, groups)
    assert p["errors"] == []
    server = p["llama_cpp"]["servers"][0]
    assert server["model"] == "llama3.1-8b-rpc" and server["quant"] == "Q4_K_M"
    assert p["hosts"]["n1"]["ollama_models"][0]["name"] == "llama3.1:8b"
    # Without the shape the catalog does not know the name.
    models[1].pop("shape")
    assert any(e.startswith("herd_models[llama3.1-8b-rpc]: the catalog does not know") for e in build_plan(hv, groups)["errors"])


def test_keep_alive_reaches_the_nodes_record_as_ollama_reads_it():
    p = simple(
        [{"name": "llama3.2:1b", "keep_alive": -1}, {"name": "nomic-embed-text"}],
        {"n": {"herd_ram_mib": 16384}},
    )
    items = {m["name"]: m for m in p["hosts"]["n"]["ollama_models"]}
    assert items["llama3.2:1b"]["keep_alive"] == "-1"
    assert "keep_alive" not in items["nomic-embed-text"]


AMD = {"vendor": "amd", "name": "Radeon 8060S", "vram_mib": 65536, "gfx_target": "gfx1151"}


def test_ollama_gpu_record_declared():
    gpu = ollama_gpu_record(
        {"herd_gpus": [AMD], "ollama_gfx_target": "", "ollama_hsa_override_gfx_version": "", "herd_measured": None}
    )
    assert gpu["vendors"] == ["amd"] and gpu["gpus"] == [AMD]
    assert (gpu["gfx_target"], gpu["gfx_source"]) == ("gfx1151", "herd_gpus[0].gfx_target")
    assert (gpu["hsa_override"], gpu["hsa_source"]) == ("11.5.1", "herd_gpus[0].gfx_target")


def test_ollama_gpu_record_measured_wins_then_explicit_wins():
    measured = {"gpus": [{**AMD, "gfx_target": "gfx1100", "index": 0}], "ram_mib": 65536}
    gpu = ollama_gpu_record({"herd_gpus": [AMD], "herd_measured": measured})
    assert (gpu["gfx_target"], gpu["hsa_override"]) == ("gfx1100", "11.0.0")
    assert gpu["gpus"][0]["gfx_target"] == "gfx1100"  # the plan's view: measured GPUs
    gpu = ollama_gpu_record({"herd_gpus": [AMD], "herd_measured": measured, "ollama_gfx_target": "gfx1103"})
    assert (gpu["gfx_target"], gpu["hsa_override"], gpu["hsa_source"]) == ("gfx1103", "11.0.3", "ollama_gfx_target")
    gpu = ollama_gpu_record({"herd_gpus": [AMD], "ollama_hsa_override_gfx_version": "11.0.0"})
    assert (gpu["gfx_target"], gpu["hsa_override"]) == ("gfx1151", "11.0.0")


def test_ollama_gpu_record_cpu_only():
    assert ollama_gpu_record({}) == {
        "gpus": [],
        "vendors": [],
        "gfx_target": "",
        "gfx_source": "",
        "hsa_override": "",
        "hsa_source": "",
    }


def test_ollama_gpu_record_rejects():
    with pytest.raises(ValueError, match="'gfx11' is not a gfx target"):
        ollama_gpu_record({"ollama_gfx_target": "gfx11"})


def test_dllama_nodes_come_from_the_plan_without_a_dllama_model():
    """No dllama model in herd_models: the plan still names the root and the
    workers (the play reads only the plan), sizes nothing, and the report,
    console and endpoints leave distributed-llama out."""
    from ansible_collections.llamaherd.cluster.plugins.module_utils.plan_report import console

    models = [{"name": "qwen2.5:3b"}]
    hv = {h: {"herd_ram_mib": 8192, "herd_models": models} for h in ("ollama", "root", "w1")}
    groups = {"all": list(hv), "ollama_nodes": ["ollama"], "dllama_root": ["root"], "dllama_workers": ["w1"]}
    p = build_plan(hv, groups)
    assert not p["errors"], p["errors"]
    assert p["dllama"] == {"root": "root", "workers": ["w1"], "nodes": 2}
    assert "distributed-llama" not in markdown(p)
    assert "distributed-llama" not in "\n".join(console(p))
    assert not [e for e in p.get("endpoints") or [] if e.get("engine") == "dllama"]
    html_report(p)  # renders without a planned model
