"""The plan of each example inventory, as the herd_plan action loads it
(Ansible's inventory loader: controller code, so not under module_utils/)."""

from __future__ import annotations

import json

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan_report import html_report, markdown
from plan_inputs import REPO, load_inventory


def test_seed000_plan():
    p = build_plan(*load_inventory("examples/seed000-ollama-lab"))
    assert p["errors"] == []
    assert p["solver"] in ("highs", "highs-lp")
    pool = next(x for x in p["pools"] if x["model"] == "qwen2.5:72b")
    assert pool == {
        "name": "qwen2-5-72b",
        "model": "qwen2.5:72b",
        "port": 11435,
        "backends": ["node-gpu-mobile", "node-gpu-primary"],
    }
    mobile = {m["name"]: m for m in p["hosts"]["node-gpu-mobile"]["ollama_models"]}
    assert mobile["qwen2.5:72b"]["on_gpu"] is True  # 64 GB unified memory
    primary = {m["name"]: m for m in p["hosts"]["node-gpu-primary"]["ollama_models"]}
    big = primary["qwen2.5:72b"]
    assert big["on_gpu"] is False and 0 < big["gpu_layers"] < 80  # RAM offload with part on the 4090
    assert "runs from RAM" in big["reason"]
    # seed 000's capability table: 30 GB and 14 GB nodes cannot hold the 72B
    row = next(r for r in p["capability"] if r["model"] == "qwen2.5:72b")
    assert row["hosts"]["node-primary"]["can"] == "no" and row["hosts"]["node-secondary"]["can"] == "no"
    assert row["hosts"]["node-gpu-primary"]["can"] == "ram"


def test_seed002_redundancy():
    p = build_plan(*load_inventory("examples/seed002-homelab-tiers"))
    assert p["errors"] == []
    red = {r["model"]: r for r in p["redundancy"]}
    assert len(red["qwen2.5:72b"]["replicas"]) == 3
    for host, v in p["hosts"].items():
        assert len(v["ollama_models"]) <= 3, host  # ollama_max_loaded_models: 3
        assert not (host.startswith("pi5") and v["ollama_models"]), host
    item = p["hosts"]["akshat-pc"]["ollama_models"][0]
    assert item["alias"].startswith("XL-LOC-FRE-")


def test_seed003_table_and_advice():
    hv, groups = load_inventory("examples/seed003-v100s-rpc")
    p = build_plan(hv, groups)
    assert p["errors"] == []
    s = p["llama_cpp"]["servers"][0]
    assert s["rpc_workers"] == ["v100s-2", "v100s-3"] and s["tensor_split"] == [1.0, 1.0, 1.0]
    split = p["rpc_splits"][0]
    assert split["chosen"]["quant"] == "Q8_0" and split["chosen"]["fits"]
    q8 = [r for r in split["chosen"]["rows"] if "GPU" in r["device"]]
    q4 = [r for r in split["alternatives"]["Q4_K_M"]["rows"] if "GPU" in r["device"]]
    # seed 003: 77.3 GB vs 47.4 GB over three cards: ~26 GB vs ~16 GB per GPU
    assert all(25 * 1024 < r["weights_mib"] < 27 * 1024 for r in q8)
    assert all(15 * 1024 < r["weights_mib"] < 17 * 1024 for r in q4)
    # At the 0.8 margin Q8_0 no longer fits: the error names the fix.
    for h in hv.values():
        h["herd_vram_safety_margin"] = 0.8
    p = build_plan(hv, groups)
    assert any("use quant Q4_K_M" in e for e in p["errors"])
    # Q4_K_M on Volta: advice to prefer Q8_0
    for h in hv.values():
        h["herd_vram_safety_margin"] = 0.9
        h["herd_models"][0]["quant"] = "Q4_K_M"
    p = build_plan(hv, groups)
    assert any("no INT4 tensor cores" in w for w in p["warnings"])
    # CUDA 13 cannot build for a V100S
    for h in hv.values():
        h["herd_cuda_version"] = "13.0"
    p = build_plan(hv, groups)
    assert any("herd_cuda_version" in e and "7.0" in e for e in p["errors"])


def test_seed004_and_six_nodes():
    hv, groups = load_inventory("examples/seed004-pi-dllama")
    p = build_plan(hv, groups)
    assert p["errors"] == []
    assert p["dllama"]["nodes"] == 8 and p["dllama"]["root"] == "pi-01"
    groups["dllama_workers"] = groups["dllama_workers"][:5]
    p = build_plan(hv, groups)
    assert any("power-of-two" in e and "use 4 or 8" in e for e in p["errors"])


def test_dllama_context_from_the_roots_max_seq_len():
    """herd_models context wins; without it the root's dllama_max_seq_len
    (the role variable) is what the plan checks memory for."""
    hv, groups = load_inventory("examples/seed004-pi-dllama")
    root = build_plan(hv, groups)["dllama"]["root"]
    model = next(m for m in hv[root]["herd_models"] if m.get("engine") == "dllama")
    for h in hv.values():
        h["herd_models"] = [dict(model, context=None)]
    hv[root]["dllama_max_seq_len"] = 1024
    p = build_plan(hv, groups)
    assert p["errors"] == [] and p["dllama"]["max_seq_len"] == 1024
    short = p["dllama"]["per_node_mib"]
    hv[root]["dllama_max_seq_len"] = 8192
    p = build_plan(hv, groups)
    assert p["dllama"]["max_seq_len"] == 8192 and p["dllama"]["per_node_mib"] > short
    for h in hv.values():
        h["herd_models"] = [dict(model, context=2048)]
    p = build_plan(hv, groups)
    assert p["dllama"]["max_seq_len"] == 2048
    assert any(w.startswith(f"host {root}: dllama_max_seq_len: 8192, but herd_models sets context 2048") for w in p["warnings"])
    hv[root]["dllama_max_seq_len"] = "long"
    p = build_plan(hv, groups)
    assert any(e.startswith(f"host {root}: dllama_max_seq_len: 'long' is not a number") for e in p["errors"])


def test_demo_is_tiny():
    p = build_plan(*load_inventory("demo"))
    assert p["errors"] == []
    for v in p["hosts"].values():
        for m in v["ollama_models"]:
            assert m["memory_mib"] < 3276
    assert p["pools"][0]["backends"] == ["ollama1", "ollama2"]
    assert p["llama_cpp"]["servers"][0]["rpc_workers"] == ["rpc1", "rpc2"]
    assert p["dllama"]["nodes"] == 2
    assert "<html" not in markdown(p) and "memory per node" in html_report(p).lower()


def test_seed003_memory_fit_table():
    """Seed 003's "Memory Fit Analysis": Q4_K_M 47.4 GB vs Q8_0 77.3 GB
    (83002634240 bytes, so GiB) over 3 x 32 GB V100S at ctx 4096: ~26 GB of
    weights and ~6 GB left per card for Q8_0, ~16 GB and ~16 GB for Q4_K_M."""
    p = build_plan(*load_inventory("examples/seed003-v100s-rpc"))
    split = p["rpc_splits"][0]
    assert split["ctx"] == 4096
    q8, q4 = split["chosen"], split["alternatives"]["Q4_K_M"]
    assert round(q8["file_mib"] / 1024, 1) == 77.3 and round(q4["file_mib"] / 1024, 1) == 47.4
    for sp, weights_gib, left_gib in ((q8, 26, 6), (q4, 16, 16)):
        gpus = [r for r in sp["rows"] if "GPU" in r["device"]]
        assert len(gpus) == 3 and all(r["device_mib"] == 32768 for r in gpus)
        # every byte of the file is somewhere: the three cards plus the head's CPU (token embedding)
        assert abs(sum(r["weights_mib"] for r in sp["rows"]) - sp["file_mib"]) <= 3
        for r in gpus:
            assert abs(r["weights_mib"] / 1024 - weights_gib) < 1.0, r
            assert abs((r["device_mib"] - r["weights_mib"]) / 1024 - left_gib) < 1.0, r


def test_seed000_capability_table():
    """Seed 000: qwen2.5:72b "requires ~45GB"; the two 64 GB nodes can hold
    it (the APU on its unified memory, the 4090 box in RAM), the 30 GB and
    14 GB nodes cannot."""
    p = build_plan(*load_inventory("examples/seed000-ollama-lab"))
    row = next(r for r in p["capability"] if r["model"] == "qwen2.5:72b")
    assert {h: v["can"] for h, v in row["hosts"].items()} == {
        "node-primary": "no",
        "node-secondary": "no",
        "node-gpu-mobile": "gpu",
        "node-gpu-primary": "ram",
    }
    assert all(44 * 1024 < v["need_mib"] < 47 * 1024 for v in row["hosts"].values())


def test_gpu_compute_buffer_assumption_is_stated():
    """CUDA compute buffers are unmeasured: the plan uses the CPU backend's
    graph-reserve fit for GPUs unchanged, and says so where it is used."""
    from ansible_collections.llamaherd.cluster.plugins.module_utils import memory

    p = build_plan(*load_inventory("examples/seed003-v100s-rpc"))
    split = p["rpc_splits"][0]["chosen"]
    assert split["compute_note"] == memory.GPU_COMPUTE_ASSUMPTION
    assert "graph reserve" in split["compute_note"] and "unmeasured" in split["compute_note"]
    assert f"GPU compute MiB: {memory.GPU_COMPUTE_ASSUMPTION}." in markdown(p)
    # The V100S rows carry exactly the CPU fit (Qwen2-72B shape, 4096 cells,
    # ubatch 512, flash attention) plus the pipeline-parallel input copies, no CUDA factor.
    gpu = next(r for r in split["rows"] if "GPU" in r["device"])
    local = memory.llama_compute_bytes(8192, 29568, 64, 8, 128, 4096, 512, True)
    mask, hidden = 4096 * 512 * 2, 8192 * 512 * 4
    assert gpu["compute_mib"] == round((local + (memory.SCHED_COPIES - 1) * (mask + hidden)) / memory.MIB) == 301
    p = build_plan(*load_inventory("examples/seed000-ollama-lab"))
    item = next(m for m in p["hosts"]["node-gpu-primary"]["ollama_models"] if m["on_gpu"])
    assert item["reason"].endswith(memory.GPU_COMPUTE_ASSUMPTION)


EXAMPLE_INVENTORIES = sorted(p.name for p in (REPO / "inventory/examples").iterdir() if p.is_dir())


@pytest.mark.parametrize("example", [*EXAMPLE_INVENTORIES, "demo"])
@pytest.mark.parametrize("solver", ["auto", "greedy"])
def test_a_plan_is_the_same_run_after_run(example, solver):
    """The same inputs plan the same, byte for byte, although the second run
    reads the first one's placement record (herd_placed, as plan.yml caches
    it) and the first does not."""
    hv, groups = load_inventory("demo" if example == "demo" else f"examples/{example}")
    texts = []
    for _ in range(3):
        plan = build_plan(hv, groups, solver=solver)
        texts.append(json.dumps(plan, sort_keys=True))
        for host, v in plan["hosts"].items():
            hv[host] = {**hv[host], "herd_placed": {"ollama_models": [m["name"] for m in v["ollama_models"]]}}
    assert texts[1] == texts[0], f"{example}: the second plan differs from the first"
    assert texts[2] == texts[0]


def test_the_plan_ends_with_the_endpoints_users_call():
    hv, groups = load_inventory("demo")
    p = build_plan(hv, groups)
    got = {(e["api"].split(" ")[0], e["serves"]) for e in p["endpoints"]}
    assert ("Ollama,", "qwen2.5-coder:0.5b") in got  # the pool, on the load balancer
    assert ("llama-server", "herd-tiny-llama") in got and ("dllama-api", "herd-tiny-dllama") in got
    lb = groups["loadbalancers"][0]
    pool = p["pools"][0]
    assert any(e["url"] == f"http://{hv[lb]['herd_cluster_address']}:{pool['port']}" for e in p["endpoints"])
    md = markdown(p)
    assert md.rstrip().split("## ")[-1].startswith("Endpoints (what users call)")
