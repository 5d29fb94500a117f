"""Unit tests for plugins/module_utils/rocm.py: gfx target precedence, the
override, and the preflight ROCm checks."""

from __future__ import annotations

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils import inventory as inv
from ansible_collections.llamaherd.cluster.plugins.module_utils import rocm

AMD_1151 = {"vendor": "amd", "name": "Radeon 8060S", "vram_mib": 65536, "gfx_target": "gfx1151"}
AMD_1100 = {"vendor": "amd", "name": "RX 7900 XTX", "vram_mib": 24576, "gfx_target": "gfx1100"}
NVIDIA = {"vendor": "nvidia", "name": "RTX 4090", "vram_mib": 24576, "compute_capability": "8.9"}


def test_declared_gfx_target_when_nothing_was_measured():
    assert rocm.host_gfx_target({"herd_gpus": [NVIDIA, AMD_1151]}) == ("gfx1151", "herd_gpus[1].gfx_target")


def test_measured_gfx_target_wins_over_declared():
    hv = {"herd_gpus": [AMD_1151], "herd_measured": {"gpus": [{**AMD_1100, "index": 0}], "ram_mib": 1}}
    assert rocm.host_gfx_target(hv) == ("gfx1100", "herd_measured.gpus[0].gfx_target")


def test_measured_no_amd_gpu_wins_over_a_declared_one():
    hv = {"herd_gpus": [AMD_1151], "herd_measured": {"gpus": [NVIDIA]}}
    assert rocm.host_gfx_target(hv) == ("", "")
    assert rocm.host_hsa_override(hv) == ("", "")


def test_measurement_without_gpus_keeps_the_declared_ones():
    # gpu_facts leaves `gpus` out when a GPU tool failed: the declaration stands.
    hv = {"herd_gpus": [AMD_1151], "herd_measured": {"ram_mib": 65536}}
    assert rocm.host_gfx_target(hv) == ("gfx1151", "herd_gpus[0].gfx_target")


def test_explicit_gfx_target_wins_over_measured_and_declared():
    hv = {"ollama_gfx_target": "GFX1100", "herd_gpus": [AMD_1151], "herd_measured": {"gpus": [AMD_1151]}}
    assert rocm.host_gfx_target(hv) == ("gfx1100", "ollama_gfx_target")
    assert rocm.host_hsa_override(hv) == ("11.0.0", "ollama_gfx_target")


def test_explicit_override_wins_over_everything():
    hv = {"ollama_hsa_override_gfx_version": "11.0.0", "ollama_gfx_target": "gfx1103", "herd_gpus": [AMD_1151]}
    assert rocm.host_hsa_override(hv) == ("11.0.0", "ollama_hsa_override_gfx_version")


def test_no_gpu_no_override():
    assert rocm.host_hsa_override({}) == ("", "")
    assert rocm.host_hsa_override({"herd_gpus": [NVIDIA]}) == ("", "")


@pytest.mark.parametrize(
    ("value", "gfx"), [("11.5.1", "gfx1151"), ("11.0.0", "gfx1100"), ("9.0.10", "gfx90a"), ("10.3.0", "gfx1030")]
)
def test_override_gfx_inverts_the_formula(value, gfx):
    assert rocm.override_gfx(value) == gfx
    assert rocm.gfx_to_hsa_override(gfx) == value


@pytest.mark.parametrize("bad", ["11.5", "gfx1151", "11.5.1; rm -rf /", "11.16.0", ""])
def test_override_gfx_rejects_malformed(bad):
    with pytest.raises(ValueError):
        rocm.override_gfx(bad)


def test_problems_none_for_a_supported_target():
    assert rocm.rocm_problems({"herd_gpus": [AMD_1151], "herd_rocm_version": "6.4.1"}) == []
    assert rocm.rocm_problems({"herd_gpus": [AMD_1151]}) == []  # ROCm not declared: nothing to compare


def test_warning_when_the_declared_rocm_predates_the_target():
    (level, var, problem, fix), *rest = rocm.rocm_problems({"herd_gpus": [AMD_1151], "herd_rocm_version": "6.2"})
    assert not rest and level == "warning" and var == "herd_rocm_version"
    assert "HSA_OVERRIDE_GFX_VERSION=11.5.1 (from herd_gpus[0].gfx_target)" in problem and "ROCm 6.4" in problem
    assert "install ROCm 6.4+" in fix and "ollama_hsa_override_gfx_version" in fix


def test_an_override_to_an_older_target_satisfies_an_older_rocm():
    # The classic workaround: a gfx1103 APU told to be a gfx1100 runs on ROCm 5.7.
    hv = {"herd_gpus": [{**AMD_1100, "gfx_target": "gfx1103"}], "herd_rocm_version": "5.7"}
    assert [p[0] for p in rocm.rocm_problems(hv)] == ["warning"]
    assert rocm.rocm_problems({**hv, "ollama_hsa_override_gfx_version": "11.0.0"}) == []


@pytest.mark.parametrize(
    ("hv", "var"),
    [
        ({"ollama_hsa_override_gfx_version": "11.5"}, "ollama_hsa_override_gfx_version"),
        ({"ollama_hsa_override_gfx_version": "gfx1151"}, "ollama_hsa_override_gfx_version"),
        ({"ollama_gfx_target": "1151"}, "ollama_gfx_target"),
        ({"herd_rocm_version": "six"}, "herd_rocm_version"),
    ],
)
def test_malformed_values_are_errors(hv, var):
    problems = rocm.rocm_problems({"herd_gpus": [AMD_1151], **hv})
    assert [(p[0], p[1]) for p in problems] == [("error", var)]


def _inventory(**ollama_hv):
    hostvars = {
        "apu": {"herd_cluster_address": "192.0.2.1", "herd_gpus": [AMD_1151], **ollama_hv},
        "lb": {"herd_cluster_address": "192.0.2.2", "herd_rocm_version": "5.0", "herd_gpus": [AMD_1151]},
    }
    return hostvars, {"all": ["apu", "lb"], "ollama_nodes": ["apu"], "loadbalancers": ["lb"]}


def test_preflight_warns_naming_host_variable_and_fix():
    report = inv.validate_inventory(*_inventory(herd_rocm_version="6.2"))
    assert report.ok, report.errors
    assert len(report.warnings) == 1  # lb is not an Ollama node
    assert report.warnings[0].startswith("host apu: herd_rocm_version: HSA_OVERRIDE_GFX_VERSION=11.5.1")
    assert ". Fix: install ROCm 6.4+" in report.warnings[0]


def test_preflight_rejects_a_malformed_override():
    report = inv.validate_inventory(*_inventory(ollama_hsa_override_gfx_version="11.5"))
    assert report.errors == [
        "host apu: ollama_hsa_override_gfx_version: '11.5' is not an HSA_OVERRIDE_GFX_VERSION like 11.5.1. "
        "Fix: write it like 11.5.1 (gfx1151), or leave it empty to derive it from the gfx target."
    ]


@pytest.mark.parametrize(
    ("gfx", "override"),
    [("gfx1151", "11.5.1"), ("gfx1100", "11.0.0"), ("gfx1030", "10.3.0"), ("gfx90a", "9.0.10"), ("gfx942", "9.4.2")],
)
def test_gfx_to_hsa_override(gfx, override):
    assert rocm.gfx_to_hsa_override(gfx) == override


@pytest.mark.parametrize("bad", ["11.5.1", "gfx", "gfxZZZ", "GFX1151", "gfx11511"])
def test_gfx_to_hsa_override_rejects_malformed(bad):
    with pytest.raises(ValueError, match="gfx target"):
        rocm.gfx_to_hsa_override(bad)
