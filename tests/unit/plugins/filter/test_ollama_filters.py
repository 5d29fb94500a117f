"""Unit tests for plugins/filter/ollama.py (each filter, and its registration)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.filter.ollama import (
    FilterModule,
    ollama_gpu,
    ollama_model_name,
    ollama_models,
    ollama_version,
)

AMD = {"vendor": "amd", "name": "Radeon 8060S", "vram_mib": 65536, "gfx_target": "gfx1151"}


@pytest.mark.parametrize(
    ("output", "version"),
    [
        ("ollama version is 0.32.15", "0.32.15"),
        ("Warning: could not connect to a running Ollama instance\nWarning: client version is 0.9.6", "0.9.6"),
        ("ollama version is 0.33.0\nWarning: client version is 0.32.15", "0.32.15"),  # the binary, not the server
        ("", ""),
        (None, ""),
        ("bash: ollama: command not found", ""),
    ],
)
def test_ollama_version(output, version):
    assert ollama_version(output) == version


@pytest.mark.parametrize(
    ("name", "normalized"),
    [("llama3.1", "llama3.1:latest"), ("registry.ollama.ai/library/qwen2.5:3b", "qwen2.5:3b"), ("user/m", "user/m:latest")],
)
def test_ollama_model_name(name, normalized):
    assert ollama_model_name(name) == normalized


@pytest.mark.parametrize("bad", ["", "a/b/c/d", "bad name"])
def test_ollama_model_name_rejects(bad):
    with pytest.raises(AnsibleFilterError, match="ollama: "):
        ollama_model_name(bad)


def test_ollama_models_merges_aliases():
    items = ["llama3.1", {"name": "qwen2.5-coder:32b", "alias": "XL-LOC-FRE-qwen2.5-coder-32b"}, "llama3.1:latest"]
    assert ollama_models(items) == [
        {"name": "llama3.1:latest", "aliases": []},
        {"name": "qwen2.5-coder:32b", "aliases": ["XL-LOC-FRE-qwen2.5-coder-32b:latest"]},
    ]


def test_ollama_models_rejects_entries_without_a_name():
    with pytest.raises(AnsibleFilterError, match=r"ollama_models: .*mapping with 'name'"):
        ollama_models([{"alias": "x"}])


def test_ollama_gpu_declared():
    gpu = ollama_gpu({"herd_gpus": [AMD], "ollama_gfx_target": "", "ollama_hsa_override_gfx_version": "", "herd_measured": None})
    assert gpu["vendors"] == ["amd"] and gpu["gpus"] == [AMD]
    assert (gpu["gfx_target"], gpu["gfx_source"]) == ("gfx1151", "herd_gpus[0].gfx_target")
    assert (gpu["hsa_override"], gpu["hsa_source"]) == ("11.5.1", "herd_gpus[0].gfx_target")


def test_ollama_gpu_measured_wins_then_explicit_wins():
    measured = {"gpus": [{**AMD, "gfx_target": "gfx1100", "index": 0}], "ram_mib": 65536}
    gpu = ollama_gpu({"herd_gpus": [AMD], "herd_measured": measured})
    assert (gpu["gfx_target"], gpu["hsa_override"]) == ("gfx1100", "11.0.0")
    assert gpu["gpus"][0]["gfx_target"] == "gfx1100"  # the plan's view: measured GPUs
    gpu = ollama_gpu({"herd_gpus": [AMD], "herd_measured": measured, "ollama_gfx_target": "gfx1103"})
    assert (gpu["gfx_target"], gpu["hsa_override"], gpu["hsa_source"]) == ("gfx1103", "11.0.3", "ollama_gfx_target")
    gpu = ollama_gpu({"herd_gpus": [AMD], "ollama_hsa_override_gfx_version": "11.0.0"})
    assert (gpu["gfx_target"], gpu["hsa_override"]) == ("gfx1151", "11.0.0")


def test_ollama_gpu_cpu_only():
    assert ollama_gpu({}) == {"gpus": [], "vendors": [], "gfx_target": "", "gfx_source": "", "hsa_override": "", "hsa_source": ""}


def test_ollama_gpu_rejects():
    with pytest.raises(AnsibleFilterError, match="mapping of host variables"):
        ollama_gpu(["gfx1151"])
    with pytest.raises(AnsibleFilterError, match="ollama_gpu: 'gfx11' is not a gfx target"):
        ollama_gpu({"ollama_gfx_target": "gfx11"})


def test_registered():
    assert FilterModule().filters() == {
        "ollama_version": ollama_version,
        "ollama_model_name": ollama_model_name,
        "ollama_models": ollama_models,
        "ollama_gpu": ollama_gpu,
    }
