"""Capacity as issue 21 found it wrong: each device counted once, an APU's
GPU share, Ollama's reserve once per GPU, the reason's formula, one error
per cause."""

from __future__ import annotations

import math

from ansible_collections.llamaherd.cluster.plugins.module_utils import memory, placement
from ansible_collections.llamaherd.cluster.plugins.module_utils.catalog import extended_catalog
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan, resolve_model

RTX3090 = {"vendor": "nvidia", "name": "RTX 3090", "vram_mib": 24576, "compute_capability": "8.6"}
V100 = {"vendor": "nvidia", "name": "V100S", "vram_mib": 32768, "compute_capability": "7.0"}


def _plan(hosts: dict, models: list, **groups):
    hv = {h: {"herd_models": models, **v} for h, v in hosts.items()}
    return build_plan(hv, {"all": list(hosts), "ollama_nodes": list(hosts), **groups})


def test_a_head_also_listed_as_worker_counts_its_gpus_once():
    hosts = {
        "head": {"herd_gpus": [RTX3090, RTX3090], "herd_ram_mib": 65536},
        "w1": {"herd_gpus": [RTX3090, RTX3090], "herd_ram_mib": 65536},
    }
    models = [{"name": "qwen2.5:32b", "engine": "llama_cpp", "context": 4096}]
    p = _plan(hosts, models, ollama_nodes=[], llama_cpp_head=["head"], llama_cpp_workers=["head", "w1"])
    server = p["llama_cpp"]["servers"][0]
    assert len(server["devices"]) == 4, server["devices"]  # 4 cards, not 6 (or 8)
    assert server["rpc_workers"] == ["w1"]
    assert any("host head: is in both llama_cpp_head and llama_cpp_workers" in w for w in p["warnings"]), p["warnings"]


def test_an_apu_places_on_gpu_only_its_assignable_share():
    apu = {"vendor": "amd", "name": "Radeon 8060S", "vram_mib": 98304, "unified_memory": True, "gfx_target": "gfx1151"}
    p = _plan({"apu": {"herd_gpus": [apu], "herd_ram_mib": 131072, "herd_vram_safety_margin": 0.8}}, [{"name": "qwen2.5:14b"}])
    usage = p["node_usage"]["apu"]
    assert usage["gpu_budget_mib"] == round(98304 * 0.8 - memory.OLLAMA_GPU_RESERVE_MIB)
    assert usage["ram_budget_mib"] == round(131072 * 0.8 - memory.OLLAMA_GPU_RESERVE_MIB)
    (item,) = p["hosts"]["apu"]["ollama_models"]
    assert "98304 MiB GPU-assignable x 0.8" in item["reason"], item["reason"]


def test_the_solver_keeps_an_apus_gpu_use_within_its_share():
    host = placement.Host("apu", gpu_mib=100, ram_mib=160, unified=True)
    d = [placement.Demand(f"m{i}", 1, sizes={"apu": {"gpu": 60, "ram": 60}}) for i in range(2)]
    for solver in ("greedy", "highs", "auto"):
        r = placement.solve(d, [host], solver=solver)
        modes = sorted(m for places in r.assignment.values() for _h, m in places)
        assert modes == ["gpu", "ram"], (solver, r.assignment)  # not two on GPU: 120 > 100
        assert placement.check(d, [host], r.assignment) == []
    assert placement.check(d, [host], {"m0": [("apu", "gpu")], "m1": [("apu", "gpu")]}) == [
        "apu: GPU over its share of unified memory"
    ]


def test_ollamas_reserve_is_taken_once_per_gpu_not_again_per_model():
    p = _plan(
        {"n": {"herd_gpus": [RTX3090, RTX3090], "herd_ram_mib": 65536, "herd_vram_safety_margin": 0.8}}, [{"name": "qwen2.5:14b"}]
    )
    (item,) = p["hosts"]["n"]["ollama_models"]
    assert p["node_usage"]["n"]["gpu_budget_mib"] == round(2 * (24576 * 0.8 - memory.OLLAMA_GPU_RESERVE_MIB))
    assert item["on_gpu"] and item["memory_mib"] == round(p["node_usage"]["n"]["gpu_used_mib"])
    entry, _why = resolve_model({"name": "qwen2.5:14b"}, extended_catalog(None))
    need = memory.ollama_memory(entry, entry["file_mib"], 4096, on_gpu=False)
    assert item["memory_mib"] == math.ceil(need["total_mib"])  # weights + KV + compute, no second reserve
    assert "2 x (24576 MiB x 0.8 - 457 MiB Ollama reserve)" in item["reason"], item["reason"]


def test_the_cuda_13_error_is_printed_once_per_host():
    models = [{"name": "qwen2.5:32b", "engine": "llama_cpp", "context": 4096}]
    hosts = {"head": {"herd_gpus": [V100, V100, V100, V100], "herd_ram_mib": 131072, "herd_cuda_version": "13.0"}}
    p = _plan(hosts, models, ollama_nodes=[], llama_cpp_head=["head"])
    cuda = [e for e in p["errors"] if "herd_cuda_version" in e]
    assert len(cuda) == 1 and "(4 GPUs)" in cuda[0], cuda
