"""Unit tests for plugins/module_utils/gpu_facts.py on recorded tool outputs
(tests/unit/fixtures/gpu_facts/), and for how the plan uses what they give."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils import gpu_facts as gf
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan, gpu_warnings, host_gpus, host_ram_mib

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "gpu_facts"


def fx(name: str) -> str:
    return (FIX / name).read_text(encoding="utf-8")


def test_rtx4090():
    gpus = gf.parse_nvidia_smi(fx("nvidia-smi_rtx4090.csv"))
    assert gpus == [
        {
            "vendor": "nvidia",
            "index": 0,
            "name": "NVIDIA GeForce RTX 4090",
            "vram_mib": 24564,
            "compute_capability": "8.9",
            "uuid": "GPU-5f3c0a1e-8b2d-4c7a-9e11-2a6b7d9c0f41",
        }
    ]


def test_three_v100s():
    gpus = gf.parse_nvidia_smi(fx("nvidia-smi_3xv100s.csv"))
    assert [g["index"] for g in gpus] == [0, 1, 2]
    assert {g["name"] for g in gpus} == {"Tesla V100S-PCIE-32GB"}
    assert {g["vram_mib"] for g in gpus} == {32768}
    assert {g["compute_capability"] for g in gpus} == {"7.0"}
    assert len({g["uuid"] for g in gpus}) == 3


def test_old_driver_without_compute_cap():
    assert gf.nvidia_field_unsupported(fx("nvidia-smi_old_driver.txt"))
    assert not gf.nvidia_field_unsupported(fx("nvidia-smi_rtx4090.csv"))
    gpus = gf.parse_nvidia_smi(fx("nvidia-smi_p40_no_cc.csv"), gf.NVIDIA_QUERY_NO_CC)
    assert gpus == [
        {
            "vendor": "nvidia",
            "index": 0,
            "name": "Tesla P40",
            "vram_mib": 24576,
            "uuid": "GPU-2f7e0c91-6a3b-4d58-b1e2-8c9d0a4f7e35",
        }
    ]


def test_nvidia_na_and_comma_in_name():
    gpus = gf.parse_nvidia_smi("1, NVIDIA A100-SXM4-80GB, MIG 1g.10gb, 81920, [N/A], [N/A]\n")
    assert gpus == [{"vendor": "nvidia", "index": 1, "name": "NVIDIA A100-SXM4-80GB, MIG 1g.10gb", "vram_mib": 81920}]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("nvidia-smi_no_driver.txt", "NVIDIA-SMI has failed"),
        ("nvidia-smi_old_driver.txt", "compute_cap"),
    ],
)
def test_nvidia_broken_output_raises_with_quote(text, words):
    with pytest.raises(gf.GpuFactsError, match=words):
        gf.parse_nvidia_smi(fx(text))


def test_nvidia_empty_output_is_no_gpu():
    assert gf.parse_nvidia_smi(fx("empty.txt")) == []


def test_nvidia_bad_compute_capability():
    with pytest.raises(gf.GpuFactsError, match="compute capability"):
        gf.parse_nvidia_smi("0, X, 1024, sm_89, GPU-1\n")


def test_strix_halo_is_unified_gfx1151():
    gpus = gf.amd_gpus(fx("rocm-smi_strix_halo.json"), fx("rocminfo_strix_halo.txt"))
    assert gpus == [
        {
            "vendor": "amd",
            "index": 0,
            "name": "AMD Radeon Graphics",
            "vram_mib": 98304,
            "gfx_target": "gfx1151",
            "unified_memory": True,
        }
    ]


def test_rocminfo_agents():
    agents = gf.parse_rocminfo(fx("rocminfo_strix_halo.txt"))
    assert agents == [{"gfx_target": "gfx1151", "name": "AMD Radeon Graphics", "uuid": None, "apu": True}]
    xtx = gf.parse_rocminfo(fx("rocminfo_7900xtx.txt"))
    assert xtx == [{"gfx_target": "gfx1100", "name": "Radeon RX 7900 XTX", "uuid": "GPU-5b1e2c0d9a7f3e41", "apu": False}]


def test_old_rocm_smi_gets_gfx_from_rocminfo():
    gpus = gf.amd_gpus(fx("rocm-smi_old_no_gfx.json"), fx("rocminfo_7900xtx.txt"))
    assert gpus == [
        {
            "vendor": "amd",
            "index": 0,
            "name": "Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]",
            "vram_mib": 24560,
            "gfx_target": "gfx1100",
            "uuid": "0x5b1e2c0d9a7f3e41",
        }
    ]
    with pytest.raises(gf.GpuFactsError, match="no gfx target"):
        gf.amd_gpus(fx("rocm-smi_old_no_gfx.json"), None)


def test_rocm_broken_outputs():
    assert gf.parse_rocm_smi(fx("rocm-smi_no_gpu.txt")) == []
    with pytest.raises(gf.GpuFactsError, match="did not print JSON"):
        gf.parse_rocm_smi(fx("empty.txt"))
    with pytest.raises(gf.GpuFactsError, match="no HSA agents"):
        gf.parse_rocminfo(fx("rocminfo_no_kfd.txt"))
    with pytest.raises(gf.GpuFactsError, match="VRAM"):
        gf.parse_rocm_smi('{"card0": {"Card Series": "X"}}')
    with pytest.raises(gf.GpuFactsError, match="rocm-smi gave no VRAM"):
        gf.amd_gpus(None, fx("rocminfo_strix_halo.txt"))


def test_meminfo():
    assert gf.parse_meminfo(fx("meminfo_128g.txt")) == 128000
    assert gf.parse_meminfo(fx("meminfo_cpu_only_16g.txt")) == 15936
    with pytest.raises(gf.GpuFactsError, match="MemTotal"):
        gf.parse_meminfo(fx("empty.txt"))


def test_measured_host_without_gpu_tools_is_not_measured():
    """No source answered: gpus is left out ("not measured"), unlike a tool
    that answered and found none (gpus: [])."""
    facts, problems = gf.measured(fx("meminfo_cpu_only_16g.txt"), "arm64")
    assert facts == {"ram_mib": 15936, "arch": "aarch64", "gpu_sources": []}
    assert problems == []
    facts, problems = gf.measured(fx("meminfo_cpu_only_16g.txt"), "arm64", nvidia_smi=fx("empty.txt"))
    assert facts == {"ram_mib": 15936, "arch": "aarch64", "gpu_sources": ["nvidia-smi"], "gpus": []}
    assert problems == []


def test_measured_gpu_host():
    facts, problems = gf.measured(fx("meminfo_128g.txt"), "x86_64", nvidia_smi=fx("nvidia-smi_3xv100s.csv"))
    assert problems == []
    assert facts["ram_mib"] == 128000 and facts["arch"] == "x86_64"
    assert [g["vram_mib"] for g in facts["gpus"]] == [32768] * 3
    assert facts["gpu_sources"] == ["nvidia-smi"]


def test_measured_broken_tool_keeps_declared_gpus():
    facts, problems = gf.measured(fx("meminfo_128g.txt"), "x86_64", nvidia_smi=fx("nvidia-smi_no_driver.txt"))
    assert "gpus" not in facts
    assert problems and "NVIDIA-SMI has failed" in problems[0]
    facts, problems = gf.measured(fx("meminfo_128g.txt"), "x86_64", gpu_errors=["nvidia-smi exited 9: no output"])
    assert "gpus" not in facts and problems == ["nvidia-smi exited 9: no output"]
    hv = {"herd_measured": facts, "herd_gpus": [{"vendor": "nvidia", "name": "declared", "vram_mib": 8192}], "herd_ram_mib": 4096}
    assert host_gpus(hv)[0]["name"] == "declared"
    assert host_ram_mib(hv) == 128000  # RAM was measured; it wins


def test_measured_values_win_in_the_plan():
    """A host declared with an 8 GiB GPU but measured with an RTX 4090: the
    plan places a 12 GiB model on its GPU, which the declared card could not."""
    facts, _ = gf.measured(fx("meminfo_128g.txt"), "x86_64", nvidia_smi=fx("nvidia-smi_rtx4090.csv"))
    model = {"name": "qwen2.5:14b", "context": 4096}
    hv = {
        "herd_gpus": [{"vendor": "nvidia", "name": "declared", "vram_mib": 8192, "compute_capability": "8.6"}],
        "herd_ram_mib": 16384,
        "herd_models": [model],
    }
    declared = build_plan({"n1": hv}, {"all": ["n1"], "ollama_nodes": ["n1"]})
    assert declared["hosts"]["n1"]["ollama_models"][0]["on_gpu"] is False
    measured_plan = build_plan({"n1": {**hv, "herd_measured": facts}}, {"all": ["n1"], "ollama_nodes": ["n1"]})
    item = measured_plan["hosts"]["n1"]["ollama_models"][0]
    assert item["on_gpu"] is True
    assert measured_plan["node_usage"]["n1"]["gpu_budget_mib"] == round(24564 * 0.8 - 457)


NVIDIA_8G = {"vendor": "nvidia", "name": "declared", "vram_mib": 8192}
INTEL_16G = {"vendor": "intel", "name": "Arc A770", "vram_mib": 16304}


def test_measured_none_overrides_declared_gpu_with_a_warning():
    """nvidia-smi answered and found no GPU: the measurement wins, and the
    plan says the declaration is contradicted (host, variable, fix)."""
    facts, _ = gf.measured(fx("meminfo_cpu_only_16g.txt"), "x86_64", nvidia_smi=fx("empty.txt"))
    hv = {"herd_measured": facts, "herd_gpus": [NVIDIA_8G]}
    assert host_gpus(hv) == []
    assert host_ram_mib(hv) == 15936
    assert gpu_warnings("n1", hv) == [
        "host n1: herd_gpus: declares 1 nvidia GPU(s) but nvidia-smi found none, so the plan places nothing on them. "
        "Fix: check the nvidia driver on n1 (then run playbooks/measure.yml), or remove them from herd_gpus."
    ]


def test_unmeasured_host_keeps_declared_gpus_unverified():
    """No GPU tool on the host (the GPU-less test hosts, a card whose tool is
    not installed): the declared GPUs stand and the plan says they are unverified."""
    facts, _ = gf.measured(fx("meminfo_cpu_only_16g.txt"), "x86_64")
    hv = {"herd_measured": facts, "herd_gpus": [NVIDIA_8G]}
    assert host_gpus(hv) == [NVIDIA_8G]
    assert gpu_warnings("n1", hv) == [
        "host n1: herd_gpus: the 1 nvidia GPU(s) it declares are unverified (nvidia-smi is not installed there or failed), "
        "so the plan uses the declaration. Fix: install nvidia-smi on n1 and run playbooks/measure.yml, or make sure herd_gpus is right."
    ]
    plan = build_plan({"n1": {**hv, "herd_models": [{"name": "qwen2.5:3b"}]}}, {"all": ["n1"], "ollama_nodes": ["n1"]})
    assert plan["node_usage"]["n1"]["gpu_budget_mib"] == round(8192 * 0.8 - 457)
    assert gpu_warnings("n1", hv)[0] in plan["warnings"]


def test_vendor_whose_tool_is_absent_keeps_its_declared_gpus():
    """An Intel card without xpu-smi next to a measured NVIDIA card: the
    NVIDIA measurement wins, the Intel declaration stands (unverified)."""
    facts, _ = gf.measured(fx("meminfo_128g.txt"), "x86_64", nvidia_smi=fx("nvidia-smi_rtx4090.csv"))
    hv = {"herd_measured": facts, "herd_gpus": [NVIDIA_8G, INTEL_16G]}
    assert [(g["vendor"], g["vram_mib"]) for g in host_gpus(hv)] == [("nvidia", 24564), ("intel", 16304)]
    warnings = gpu_warnings("n1", hv)
    assert len(warnings) == 1 and "the 1 intel GPU(s) it declares are unverified" in warnings[0]
    assert "install xpu-smi on n1" in warnings[0]


def test_measured_found_gpus_win_without_a_warning():
    facts, _ = gf.measured(fx("meminfo_128g.txt"), "x86_64", nvidia_smi=fx("nvidia-smi_rtx4090.csv"))
    hv = {"herd_measured": facts, "herd_gpus": [NVIDIA_8G]}
    assert [g["vram_mib"] for g in host_gpus(hv)] == [24564]
    assert gpu_warnings("n1", hv) == []


def test_a_failed_tool_leaves_only_its_vendor_unmeasured():
    """xpu-smi failed, nvidia-smi answered: NVIDIA is measured, Intel declared."""
    facts, problems = gf.measured(
        fx("meminfo_128g.txt"),
        "x86_64",
        nvidia_smi=fx("nvidia-smi_rtx4090.csv"),
        gpu_errors=["xpu-smi discovery exited 1: Level Zero initialization failed"],
        failed_tools=["xpu-smi"],
    )
    assert facts["gpu_sources"] == ["nvidia-smi"] and len(facts["gpus"]) == 1
    assert problems == ["xpu-smi discovery exited 1: Level Zero initialization failed"]
    hv = {"herd_measured": facts, "herd_gpus": [INTEL_16G]}
    assert [g["vendor"] for g in host_gpus(hv)] == ["nvidia", "intel"]
    # rocm-smi failed but rocminfo answered: AMD is not measured from half its tools
    facts, _ = gf.measured(
        fx("meminfo_128g.txt"), "x86_64", rocminfo=fx("rocminfo_7900xtx.txt"), failed_tools=["rocm-smi"], gpu_errors=["x"]
    )
    assert "gpus" not in facts and facts["gpu_sources"] == []


def test_no_warnings_without_gpu_facts_or_declared_gpus():
    """Plan-only runs (example inventories) never ran gpu_facts: no warning;
    nor when nothing is declared."""
    assert gpu_warnings("n1", {"herd_gpus": [NVIDIA_8G]}) == []
    facts, _ = gf.measured(fx("meminfo_128g.txt"), "x86_64")
    assert gpu_warnings("n1", {"herd_measured": facts}) == []


def test_facts_cached_before_gpu_sources_still_win():
    """herd_measured cached by an older gpu_facts (no gpu_sources): its gpus
    list measured every vendor, as before."""
    hv = {"herd_measured": {"gpus": [], "ram_mib": 1024, "arch": "x86_64"}, "herd_gpus": [NVIDIA_8G, INTEL_16G]}
    assert host_gpus(hv) == []
    assert len(gpu_warnings("n1", hv)) == 2


# Intel: no Intel GPU was at hand to record from, so the xpu-smi fixtures are
# written after the JSON that Intel's XPU Manager documents
# (doc/smi_user_guide.md, `xpu-smi discovery -j`) and the key its CLI prints
# for `discovery -d N -j` (memory_physical_size_byte, a string in some
# releases and a number in others: both are covered).


def test_xpu_smi_two_arc_cards_skip_the_virtual_function():
    details = {0: fx("xpu-smi_device0_a770.json"), 1: fx("xpu-smi_device1_b580.json")}
    gpus = gf.intel_gpus(fx("xpu-smi_discovery_2xarc.json"), details)
    assert [(g["index"], g["name"], g["vram_mib"]) for g in gpus] == [
        (0, "Intel(R) Arc(TM) A770 Graphics", 16304),
        (1, "Intel(R) Arc(TM) B580 Graphics", 12272),
    ]
    assert all(g["vendor"] == "intel" and g["uuid"].endswith("8086") for g in gpus)


def test_xpu_smi_broken_outputs():
    with pytest.raises(gf.GpuFactsError, match="discovery -d 0 -j"):
        gf.intel_gpus(fx("xpu-smi_discovery_flex170.json"), {})
    with pytest.raises(gf.GpuFactsError, match="did not print JSON"):
        gf.parse_xpu_smi_discovery("Error: Level Zero initialization failed")
    with pytest.raises(gf.GpuFactsError, match="memory_physical_size_byte"):
        gf.parse_xpu_smi_device('{"device_id": 0, "memory_physical_size_byte": "unknown"}')


def test_measured_intel_host_in_the_plan():
    details = {0: fx("xpu-smi_device0_a770.json"), 1: fx("xpu-smi_device1_b580.json")}
    facts, problems = gf.measured(
        fx("meminfo_128g.txt"), "x86_64", xpu_smi=fx("xpu-smi_discovery_2xarc.json"), xpu_smi_devices=details
    )
    assert problems == []
    assert [g["vram_mib"] for g in host_gpus({"herd_measured": facts})] == [16304, 12272]
    facts, problems = gf.measured(fx("meminfo_128g.txt"), "x86_64", xpu_smi=fx("xpu-smi_discovery_2xarc.json"))
    assert "gpus" not in facts and "discovery -d 0 -j" in problems[0]


def test_kfd_gfx_target_version():
    assert gf.gfx_from_kfd("110501") == "gfx1151"
    assert gf.gfx_from_kfd(90010) == "gfx90a"
    assert gf.gfx_from_kfd(100300) == "gfx1030"
    assert gf.gfx_from_kfd(90402) == "gfx942"
    with pytest.raises(gf.GpuFactsError, match="gfx_target_version"):
        gf.gfx_from_kfd(0)


def test_amdgpu_sysfs_without_rocm_smi():
    cards = {
        "card1": {"vendor": "0x1002\n", "mem_info_vram_total": "25753026560\n", "gfx_target_version": "110000"},
        "card0": {"vendor": "0x8086\n"},  # the Intel iGPU next to it: not AMD's to measure
        "card2": {"vendor": "0x1002", "mem_info_vram_total": "536870912", "gfx_target_version": "110501"},
    }
    gpus = gf.parse_amdgpu_sysfs(cards)
    assert gpus == [
        {"vendor": "amd", "index": 1, "name": "AMD GPU", "vram_mib": 24560, "gfx_target": "gfx1100"},
        {"vendor": "amd", "index": 2, "name": "AMD GPU", "vram_mib": 512, "gfx_target": "gfx1151", "unified_memory": True},
    ]
    facts, problems = gf.measured(fx("meminfo_128g.txt"), "x86_64", amdgpu_sysfs=cards)
    assert problems == [] and len(facts["gpus"]) == 2
    # rocm-smi, when it ran, wins over sysfs
    facts, _ = gf.measured(fx("meminfo_128g.txt"), "x86_64", rocm_smi=fx("rocm-smi_no_gpu.txt"), amdgpu_sysfs=cards)
    assert facts["gpus"] == []
    with pytest.raises(gf.GpuFactsError, match="mem_info_vram_total"):
        gf.parse_amdgpu_sysfs({"card0": {"vendor": "0x1002", "mem_info_vram_total": ""}})


def test_rocm_gfx_target_follows_the_same_rule():
    """rocm.host_gfx_target reads the AMD GPU host_gpus keeps: declared when no
    AMD source answered (only nvidia-smi did), measured when one did."""
    from ansible_collections.llamaherd.cluster.plugins.module_utils import rocm

    apu = {"vendor": "amd", "name": "Radeon 8060S", "vram_mib": 65536, "gfx_target": "gfx1151", "unified_memory": True}
    facts, _ = gf.measured(fx("meminfo_128g.txt"), "x86_64", nvidia_smi=fx("empty.txt"))
    hv = {"herd_measured": facts, "herd_gpus": [apu]}
    assert host_gpus(hv) == [apu]
    assert rocm.host_gfx_target(hv) == ("gfx1151", "herd_gpus[0].gfx_target")
    facts, _ = gf.measured(fx("meminfo_128g.txt"), "x86_64", rocm_smi=fx("rocm-smi_no_gpu.txt"))
    hv = {"herd_measured": facts, "herd_gpus": [apu]}
    assert host_gpus(hv) == [] and rocm.host_gfx_target(hv) == ("", "")


# The driver's version: nvidia-smi --query-gpu=driver_version --format=csv,noheader
# prints one line per GPU (field documented by `nvidia-smi --help-query-gpu`);
# /proc/driver/nvidia/version is the kernel module's, proprietary and open.
@pytest.mark.parametrize(
    "smi, proc, want",
    [
        ("nvidia-smi_driver_3xv100s.csv", None, "470.82.01"),
        ("nvidia-smi_driver_rtx4090.csv", "proc_nvidia_version_535.txt", "570.133.20"),  # nvidia-smi wins
        (None, "proc_nvidia_version_535.txt", "535.104.05"),
        (None, "proc_nvidia_version_open_560.txt", "560.35.03"),
        ("empty.txt", "proc_nvidia_version_open_560.txt", "560.35.03"),  # no GPU line: the module's file
        (None, None, None),
    ],
)
def test_nvidia_driver_version(smi, proc, want):
    assert gf.nvidia_driver_version(smi and fx(smi), proc and fx(proc)) == want


@pytest.mark.parametrize(
    "smi, proc, words",
    [
        (fx("nvidia-smi_no_driver.txt"), None, "NVIDIA-SMI has failed"),
        ("535.104.05\n550.54.14\n", None, "not one driver version"),
        (None, "GCC version:  gcc version 12.2.0\n", "no 'NVRM version"),
    ],
)
def test_nvidia_driver_version_unreadable(smi, proc, words):
    with pytest.raises(gf.GpuFactsError, match=words):
        gf.nvidia_driver_version(smi, proc)


def test_measured_reports_the_driver():
    facts, problems = gf.measured(
        fx("meminfo_128g.txt"),
        "x86_64",
        nvidia_smi=fx("nvidia-smi_3xv100s.csv"),
        nvidia_driver=fx("nvidia-smi_driver_3xv100s.csv"),
    )
    assert problems == [] and facts["nvidia_driver_version"] == "470.82.01"
    facts, problems = gf.measured(fx("meminfo_128g.txt"), "x86_64", nvidia_proc_version="NVRM version: garbage\n")
    assert "nvidia_driver_version" not in facts and "NVRM version" in problems[0]
    facts, _ = gf.measured(fx("meminfo_cpu_only_16g.txt"), "arm64")
    assert "nvidia_driver_version" not in facts


def test_nvcc_version():
    """Recorded from the real CUDA 13.0 nvcc (NVIDIA's cuda_13.0 build) on this machine."""
    assert gf.parse_nvcc_version(fx("nvcc_version_13.0.txt")) == "13.0"
    facts, problems = gf.measured(fx("meminfo_128g.txt"), "x86_64", nvcc_version=fx("nvcc_version_13.0.txt"))
    assert problems == [] and facts["cuda_version"] == "13.0"
    facts, problems = gf.measured(fx("meminfo_128g.txt"), "x86_64", nvcc_version="nvcc: command not found\n")
    assert "cuda_version" not in facts and "Cuda compilation tools" in problems[0]
