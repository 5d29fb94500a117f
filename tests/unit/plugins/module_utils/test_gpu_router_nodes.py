"""The GPU router's nodes and priority models, from the inventory."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.llamaherd.cluster.plugins.module_utils.gpu_router import node_vram_mib, priority_models, router_nodes


def test_nodes_from_ollama_nodes():
    hostvars = {
        "gpu1": {
            "herd_cluster_address": "192.0.2.11",
            "herd_gpus": [{"vendor": "nvidia", "name": "GTX 1050 Ti", "vram_mib": 4096}],
        },
        "cpu1": {"herd_cluster_address": "192.0.2.12", "ollama_port": 11500},
        "v6": {"herd_cluster_address": "2001:db8::5", "herd_gpus": [{"vram_mib": 8192}, {"vram_mib": 8192}]},
    }
    assert router_nodes(["gpu1", "cpu1", "v6"], hostvars) == [
        {"url": "http://192.0.2.11:11434", "name": "gpu1", "vram_mib": 4096},
        {"url": "http://192.0.2.12:11500", "name": "cpu1", "vram_mib": 0},
        {"url": "http://[2001:db8::5]:11434", "name": "v6", "vram_mib": 16384},
    ]


GTX = {"vendor": "nvidia", "name": "GTX 1050 Ti", "vram_mib": 4096}


def test_with_a_plan_each_gpu_node_carries_its_budget():
    """The router and the plan agree on what fits: the plan's Ollama budget
    for the node (4096 x 0.8 - 457 MiB reserve), as build_plan computes it."""
    from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan

    hostvars = {
        "gpu1": {
            "herd_cluster_address": "192.0.2.11",
            "herd_gpus": [GTX],
            "herd_ram_mib": 16384,
            "herd_models": [{"name": "all-minilm"}],
        },
        "cpu1": {"herd_cluster_address": "192.0.2.12", "herd_ram_mib": 16384},
    }
    plan = build_plan(hostvars, {"all": ["gpu1", "cpu1"], "ollama_nodes": ["gpu1", "cpu1"]})
    nodes = router_nodes(["gpu1", "cpu1"], hostvars, plan)
    assert nodes[0]["usable_mib"] == plan["node_usage"]["gpu1"]["gpu_budget_mib"] == 2820
    assert "usable_mib" not in nodes[1]  # no GPU: nothing to budget
    assert "usable_mib" not in router_nodes(["gpu1"], hostvars)[0]  # no plan: total x margin in the router


def test_measured_gpus_win_over_declared():
    """gpu_facts sets ansible_facts.herd_measured (a host variable too when
    facts are injected); the router sees the same GPUs as the plan."""
    measured = {"gpus": [{"vendor": "nvidia", "vram_mib": 4039}], "gpu_sources": ["nvidia-smi"], "ram_mib": 16000}
    assert node_vram_mib({"herd_gpus": [GTX], "herd_measured": measured}) == 4039
    assert node_vram_mib({"herd_gpus": [GTX], "ansible_facts": {"herd_measured": measured}}) == 4039
    assert node_vram_mib({"herd_gpus": [GTX], "ansible_facts": {}}) == 4096


def test_unmeasured_node_keeps_its_declared_vram():
    """The gpu_router scenario's GPU-less test hosts: gpu_facts found no GPU
    tool, so the router sees the declared 4096 MiB, not 0 (57a4303)."""
    unmeasured = {"gpu_sources": [], "ram_mib": 16000, "arch": "x86_64"}
    assert node_vram_mib({"herd_gpus": [GTX], "ansible_facts": {"herd_measured": unmeasured}}) == 4096
    # A tool that failed leaves gpus out: the declaration stands.
    assert node_vram_mib({"herd_gpus": [GTX], "herd_measured": {"ram_mib": 16000}}) == 4096
    # nvidia-smi answered and found none: 0, as the plan sees it.
    none = {"gpus": [], "gpu_sources": ["nvidia-smi"], "ram_mib": 16000}
    assert node_vram_mib({"herd_gpus": [GTX], "ansible_facts": {"herd_measured": none}}) == 0
    # Another vendor's tool answered: the NVIDIA declaration still stands.
    intel = {"gpus": [{"vendor": "intel", "vram_mib": 12272}], "gpu_sources": ["xpu-smi"], "ram_mib": 16000}
    assert node_vram_mib({"herd_gpus": [GTX], "herd_measured": intel}) == 4096 + 12272


def test_router_nodes_see_measured_vram():
    hostvars = {
        "gpu1": {
            "herd_cluster_address": "192.0.2.11",
            "herd_gpus": [GTX],
            "ansible_facts": {"herd_measured": {"gpu_sources": []}},
        },
        "gpu2": {
            "herd_cluster_address": "192.0.2.12",
            "ansible_facts": {"herd_measured": {"gpus": [{"vendor": "amd", "vram_mib": 24560}], "gpu_sources": ["rocm-smi"]}},
        },
    }
    assert [n["vram_mib"] for n in router_nodes(["gpu1", "gpu2"], hostvars)] == [4096, 24560]


def test_priority_models_ollama_only_most_important_first():
    models = [
        {"name": "llama3.1:latest"},
        {"name": "nomic-embed-text", "priority": 2},
        {"name": "mxbai-embed-large", "priority": 1},
        {"name": "qwen2.5:72b", "engine": "llama_cpp", "priority": 1},
        {"name": "llama3.2:3b", "priority": 2},
        {"name": "ignored", "priority": 0},
    ]
    assert priority_models(models) == ["nomic-embed-text", "llama3.2:3b", "mxbai-embed-large"]
    assert priority_models(None) == []


def test_the_plan_records_the_routers_priority_models():
    """The gpu_router role reads them from the plan, not from herd_models."""
    from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan

    models = [{"name": "all-minilm"}, {"name": "mxbai-embed-large", "priority": 1}, {"name": "nomic-embed-text", "priority": 2}]
    hv = {"n": {"herd_models": models, "herd_ram_mib": 16384}}
    plan = build_plan(hv, {"all": ["n"], "ollama_nodes": ["n"]})
    assert plan["router"]["priority_models"] == ["nomic-embed-text", "mxbai-embed-large"]
    assert plan["router"]["margin"] == plan["margin"]
    assert plan["router"]["nodes"] == [{"url": "http://n:11434", "name": "n", "vram_mib": 0}]
    assert "herd_models" not in (Path(__file__).resolve().parents[4] / "roles/gpu_router/vars/main.yml").read_text()


def test_the_router_record_carries_the_plans_gpu_budget():
    from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan

    gpu = {"vendor": "nvidia", "name": "RTX 3090", "vram_mib": 24576, "compute_capability": "8.6"}
    hv = {
        "g": {
            "herd_models": [{"name": "llama3.2:3b"}],
            "herd_ram_mib": 65536,
            "herd_gpus": [gpu, gpu],
            "herd_vram_safety_margin": 0.9,
        },
    }
    plan = build_plan(hv, {"all": ["g"], "ollama_nodes": ["g"]})
    [node] = plan["router"]["nodes"]
    assert node["vram_mib"] == 49152
    assert node["usable_mib"] == plan["node_usage"]["g"]["gpu_budget_mib"] < 49152 * 0.9
    assert plan["router"]["margin"] == 0.9
