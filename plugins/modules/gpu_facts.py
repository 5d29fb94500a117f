#!/usr/bin/python
# Copyright: llama-herd developers
# Apache License 2.0
"""Measure a host's GPUs, RAM and architecture as ansible_facts.herd_measured."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gpu_facts
short_description: Measure a host's GPUs, RAM and CPU architecture for the llama-herd plan
description:
  - NVIDIA GPUs are read with
    C(nvidia-smi --query-gpu=index,name,memory.total,compute_cap,uuid --format=csv,noheader,nounits)
    (drivers too old for C(compute_cap) are asked again without it).
  - AMD GPUs are read with C(rocm-smi --showmeminfo vram --showproductname --showuniqueid --json)
    and C(rocminfo), which gives the gfx target (e.g. C(gfx1151)) and tells APUs,
    whose GPU memory is system memory, apart (they get C(unified_memory=true)).
  - When neither C(rocm-smi) nor C(rocminfo) is installed (Ollama ships its own
    ROCm libraries), AMD GPUs are read from sysfs, C(vendor) and
    C(mem_info_vram_total) under C(/sys/class/drm/cardN/device/), and the gfx
    target from the KFD topology node (C(gfx_target_version)) whose
    C(drm_render_minor) matches the card.
  - Intel GPUs (Arc, Flex, Max) are read with C(xpu-smi discovery -j) and
    C(xpu-smi discovery -d N -j) (C(memory_physical_size_byte)); the i915 and xe
    drivers publish no memory size in sysfs.
  - RAM is C(MemTotal) of C(/proc/meminfo).
  - The CUDA toolkit installed is read with C(nvcc --version) (C(nvcc) in C(PATH), else
    C(/usr/local/cuda/bin/nvcc)) and returned as C(cuda_version); where C(herd_cuda_version) is not
    set, preflight and the plan check that toolkit against the NVIDIA driver.
  - The NVIDIA driver's version is read with C(nvidia-smi --query-gpu=driver_version --format=csv,noheader),
    or from C(/proc/driver/nvidia/version) when C(nvidia-smi) is missing or fails, and returned as
    C(nvidia_driver_version); preflight and the plan refuse a C(herd_cuda_version) newer than it runs.
  - Sets C(ansible_facts.herd_measured). C(gpu_sources) lists the sources that answered
    (C(nvidia-smi), C(rocm-smi), C(rocminfo), C(amdgpu-sysfs), C(xpu-smi)); only their vendors
    count as measured. The plan (M(llamaherd.cluster.herd_plan)) prefers measured GPUs over the
    declared C(herd_gpus) vendor by vendor, even when a source found none, and keeps (and warns
    about) declared GPUs of a vendor no source measured; measured RAM wins over C(herd_ram_mib).
    With fact caching they survive between runs.
  - A host where no source answers (no GPU tool, no DRM card in sysfs) is not measured.
    C(gpus) is left out of C(herd_measured) and the declared C(herd_gpus) stay in force;
    a source that answered and found no GPU gives C(gpus=[]) instead.
  - When a GPU tool is installed but fails (driver not loaded, unreadable output), it is
    not a source, so the declared C(herd_gpus) of its vendor stay in force, and the failure
    is returned in RV(problems) and as a warning.
version_added: "0.1.0"
author: llama-herd developers (!UNKNOWN)
options:
  nvidia_smi:
    description: Path or name of C(nvidia-smi); searched in C(PATH) when a name.
    type: str
    default: nvidia-smi
  rocm_smi:
    description: Path or name of C(rocm-smi).
    type: str
    default: rocm-smi
  rocminfo:
    description: Path or name of C(rocminfo).
    type: str
    default: rocminfo
  xpu_smi:
    description: Path or name of Intel's C(xpu-smi).
    type: str
    default: xpu-smi
  sysfs_root:
    description: Where sysfs is mounted (a test tree may stand in for it).
    type: path
    default: /sys
  meminfo_path:
    description: The meminfo file to read (C(/proc/meminfo) on Linux).
    type: path
    default: /proc/meminfo
  nvidia_proc_version:
    description: The NVIDIA kernel module's version file, read when C(nvidia-smi) gives no driver version.
    type: path
    default: /proc/driver/nvidia/version
  nvcc:
    description: Path or name of C(nvcc); searched in C(PATH), then C(/usr/local/cuda/bin), when a name.
    type: str
    default: nvcc
  fail_on_tool_error:
    description: Fail instead of warning when an installed GPU tool fails.
    type: bool
    default: false
  usage:
    description:
      - Also read each GPU's use now (memory used, utilisation, temperature, power where the tool gives them) with
        the node metrics timer's readers (O(nvidia_smi), O(rocm_smi) or amdgpu sysfs under O(sysfs_root),
        O(xpu_smi)), returned as RV(usage). C(playbooks/status.yml) asks for it.
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
    details: The module only reads; it runs the same in check mode.
  diff_mode:
    description: Returns details on what changed (or would change in check mode) in diff mode.
    support: none
  facts:
    description: Returns an C(ansible_facts) dictionary that updates the host's facts.
    support: full
notes:
  - Linux only (C(/proc/meminfo)).
"""

EXAMPLES = r"""
- name: Measure the GPUs and RAM of every node
  llamaherd.cluster.gpu_facts:

- name: Use a vendor tool outside PATH
  llamaherd.cluster.gpu_facts:
    nvidia_smi: /usr/local/nvidia/bin/nvidia-smi

- name: Show what was measured
  ansible.builtin.debug:
    var: ansible_facts.herd_measured
"""

RETURN = r"""
ansible_facts:
  description: Facts for the plan.
  returned: always
  type: dict
  contains:
    herd_measured:
      description:
        - C(gpus) (a list of C({vendor, name, vram_mib, index, uuid}) plus C(compute_capability)
          for NVIDIA or C(gfx_target) and, for APUs, C(unified_memory) for AMD, from the sources that
          answered; absent when none did), C(gpu_sources) (the sources that answered, by name),
          C(ram_mib), C(arch) (C(uname -m), e.g. C(x86_64), C(aarch64)) and, where the NVIDIA driver
          answered, C(nvidia_driver_version); where an C(nvcc) answered, C(cuda_version) (C(11.8)).
      type: dict
      sample:
        gpus:
          - vendor: nvidia
            index: 0
            name: NVIDIA GeForce RTX 4090
            vram_mib: 24564
            compute_capability: "8.9"
            uuid: GPU-5f3c0a1e-8b2d-4c7a-9e11-2a6b7d9c0f41
        gpu_sources: [nvidia-smi]
        ram_mib: 128000
        arch: x86_64
        nvidia_driver_version: "570.133.20"
        cuda_version: "12.8"
tools:
  description: The GPU tools found and run, by name (whether they answered or failed).
  returned: always
  type: list
  elements: str
problems:
  description: Failures of installed GPU tools, quoting their output.
  returned: always
  type: list
  elements: str
usage:
  description: Each GPU's use now (O(usage=true)) - C(vendor), C(index), C(name), C(vram_total_mib) and, where the tool
    gives them, C(vram_used_mib), C(utilization_percent), C(temperature_celsius), C(power_watts).
  returned: when O(usage=true)
  type: list
  elements: dict
  sample: [{vendor: nvidia, index: 0, name: GeForce RTX 4090, vram_total_mib: 24564, vram_used_mib: 9120}]
"""

import platform
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.llamaherd.cluster.plugins.module_utils.gpu_facts import (
    NVIDIA_DRIVER_QUERY,
    NVIDIA_QUERY,
    NVIDIA_QUERY_NO_CC,
    ROCM_SMI_ARGS,
    GpuFactsError,
    measured,
    nvidia_field_unsupported,
    parse_xpu_smi_discovery,
    read_amdgpu_sysfs,
)
from ansible_collections.llamaherd.cluster.plugins.module_utils.node_metrics import read_gpus


def _run(module: AnsibleModule, argv: list[str], errors: list[str], failed: list[str], tool: str) -> str | None:
    rc, out, err = module.run_command(argv, check_rc=False, environ_update={"LC_ALL": "C"})
    if rc != 0:
        text = " ".join((out + " " + err).split())[:300]
        errors.append(f"{' '.join(argv[:2])} exited {rc}: {text or 'no output'}")
        failed.append(tool)
        return None
    return out


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "nvidia_smi": {"type": "str", "default": "nvidia-smi"},
            "rocm_smi": {"type": "str", "default": "rocm-smi"},
            "rocminfo": {"type": "str", "default": "rocminfo"},
            "xpu_smi": {"type": "str", "default": "xpu-smi"},
            "sysfs_root": {"type": "path", "default": "/sys"},
            "meminfo_path": {"type": "path", "default": "/proc/meminfo"},
            "nvidia_proc_version": {"type": "path", "default": "/proc/driver/nvidia/version"},
            "nvcc": {"type": "str", "default": "nvcc"},
            "fail_on_tool_error": {"type": "bool", "default": False},
            "usage": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    p: dict[str, Any] = module.params
    errors: list[str] = []
    tools: list[str] = []
    failed: list[str] = []  # installed tools that exited non-zero: their vendor stays unmeasured
    try:
        with open(p["meminfo_path"], encoding="utf-8") as fh:
            meminfo = fh.read()
    except OSError as exc:
        module.fail_json(msg=f"meminfo_path: cannot read {p['meminfo_path']}: {exc}")

    nvidia_out = nvidia_driver = None
    fields = NVIDIA_QUERY
    nvidia = module.get_bin_path(p["nvidia_smi"])
    if nvidia:
        tools.append("nvidia-smi")
        argv = [nvidia, f"--query-gpu={NVIDIA_QUERY}", "--format=csv,noheader,nounits"]
        rc, out, err = module.run_command(argv, check_rc=False, environ_update={"LC_ALL": "C"})
        if rc != 0 and nvidia_field_unsupported(out + err):
            fields = NVIDIA_QUERY_NO_CC
            argv[1] = f"--query-gpu={NVIDIA_QUERY_NO_CC}"
            rc, out, err = module.run_command(argv, check_rc=False, environ_update={"LC_ALL": "C"})
        if rc == 0:
            nvidia_out = out
            rc, out, _err = module.run_command(
                [nvidia, f"--query-gpu={NVIDIA_DRIVER_QUERY}", "--format=csv,noheader"],
                check_rc=False,
                environ_update={"LC_ALL": "C"},
            )
            nvidia_driver = out if rc == 0 else None
        else:
            errors.append(f"nvidia-smi exited {rc}: {' '.join((out + ' ' + err).split())[:300] or 'no output'}")
            failed.append("nvidia-smi")
    proc_version = None
    if nvidia_driver is None:
        try:
            with open(p["nvidia_proc_version"], encoding="utf-8") as fh:
                proc_version = fh.read()
        except OSError:
            pass  # no NVIDIA kernel module loaded

    rocm_out = rocminfo_out = None
    rocm = module.get_bin_path(p["rocm_smi"])
    if rocm:
        tools.append("rocm-smi")
        rocm_out = _run(module, [rocm, *ROCM_SMI_ARGS], errors, failed, "rocm-smi")
    rinfo = module.get_bin_path(p["rocminfo"])
    if rinfo:
        tools.append("rocminfo")
        rocminfo_out = _run(module, [rinfo], errors, failed, "rocminfo")

    amdgpu_sysfs = None
    if not rocm and not rinfo:
        amdgpu_sysfs = read_amdgpu_sysfs(p["sysfs_root"]) or None

    xpu_out = None
    xpu_devices: dict[int, str] = {}
    xpu = module.get_bin_path(p["xpu_smi"])
    if xpu:
        tools.append("xpu-smi")
        xpu_out = _run(module, [xpu, "discovery", "-j"], errors, failed, "xpu-smi")
        if xpu_out is not None:
            try:
                for dev in parse_xpu_smi_discovery(xpu_out):
                    detail = _run(module, [xpu, "discovery", "-d", str(dev["index"]), "-j"], errors, failed, "xpu-smi")
                    if detail is not None:
                        xpu_devices[dev["index"]] = detail
            except GpuFactsError:
                pass  # measured() reports the same parse error as a problem

    nvcc_out = None
    nvcc = module.get_bin_path(p["nvcc"], opt_dirs=["/usr/local/cuda/bin"])
    if nvcc:  # a toolkit, not a GPU tool: not in tools, and a failing one measures nothing
        rc, out, _err = module.run_command([nvcc, "--version"], check_rc=False, environ_update={"LC_ALL": "C"})
        nvcc_out = out if rc == 0 else None

    try:
        facts, problems = measured(
            meminfo,
            platform.machine(),
            nvidia_smi=nvidia_out,
            nvidia_fields=fields,
            rocm_smi=rocm_out,
            rocminfo=rocminfo_out,
            gpu_errors=errors,
            xpu_smi=xpu_out,
            xpu_smi_devices=xpu_devices,
            amdgpu_sysfs=amdgpu_sysfs,
            failed_tools=failed,
            nvidia_driver=nvidia_driver,
            nvidia_proc_version=proc_version,
            nvcc_version=nvcc_out,
        )
    except GpuFactsError as exc:
        module.fail_json(msg=f"meminfo_path: {exc}")
    usage = None
    if p["usage"]:

        def run(argv: list[str]) -> str | None:
            rc, out, _err = module.run_command(argv, check_rc=False, environ_update={"LC_ALL": "C"})
            return out if rc == 0 else None

        paths = {"nvidia-smi": p["nvidia_smi"], "rocm-smi": p["rocm_smi"], "xpu-smi": p["xpu_smi"]}
        usage = read_gpus(p["sysfs_root"], run, lambda name: module.get_bin_path(paths[name]))[0]
    if problems and p["fail_on_tool_error"]:
        module.fail_json(msg="GPU tools failed: " + "; ".join(problems), tools=tools, problems=problems)
    for problem in problems:
        module.warn(f"gpu_facts: {problem}; the declared herd_gpus of that vendor stay in force on this host")
    extra = {} if usage is None else {"usage": usage}
    module.exit_json(changed=False, ansible_facts={"herd_measured": facts}, tools=tools, problems=problems, **extra)


if __name__ == "__main__":
    main()
