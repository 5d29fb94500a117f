"""The GPU router's nodes and priority models, from the inventory."""

from __future__ import annotations

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


def test_measured_gpus_win_over_declared():
    hv = {"herd_gpus": [{"vram_mib": 4096}], "ansible_facts": {"herd_gpus": [{"vram_mib": 4039}]}}
    assert node_vram_mib(hv) == 4039
    assert node_vram_mib({"herd_gpus": [{"vram_mib": 4096}], "ansible_facts": {}}) == 4096


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
