"""llama.cpp b11312 configures with the llama_cpp role's flags for a V100
(compute capability 7.0) and compiles one CUDA translation unit to sm_70
code, with a real toolkit that supports Volta (Debian 12's CUDA 11.8 here).

Skipped when no nvcc lists compute_70 (CUDA 13 does not; see
tests/harness/cuda_build.py for how to get one), unless
HERD_REQUIRE_VOLTA_NVCC=1: make integration installs Debian's 11.8 first
(make volta-toolkit) and sets it, so there a missing toolkit fails. The full build is
`make cuda-volta-build` (an hour on 2 cores), not part of make test.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))

import cuda_build as cb

ARCH = "70"


def _no_toolkit(arch: str) -> None:
    msg = cb.NO_NVCC.format(arch=arch)
    if os.environ.get("HERD_REQUIRE_VOLTA_NVCC") == "1":
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def volta_toolkit() -> dict[str, str]:
    tk = cb.find_nvcc(ARCH)
    if not tk:
        _no_toolkit(ARCH)
    return tk


def test_role_flags_configure_and_compile_for_sm_70(volta_toolkit, tmp_path):
    tk = volta_toolkit
    # As the role runs it: the toolkit's bin first on PATH. Here CUDA 13.0's
    # nvcc and ptxas in /usr/local/bin would otherwise win (compiler
    # identification fails: "ptxas fatal : Value 'sm_52' is not defined").
    got = cb.configure(tk, ARCH, tmp_path)
    assert "-DGGML_CUDA=ON" in got["flags"] and f"-DCMAKE_CUDA_COMPILER={tk['nvcc']}" in got["flags"]
    assert got["cuda_compiler"] == f"NVIDIA {tk['version']}", got
    assert got["toolkit_found"] == tk["version"], f"FindCUDAToolkit took another toolkit than {tk['nvcc']}: {got}"
    assert got["architectures"] == ARCH, got
    assert got["host_compiler"], got
    # One .cu built as the role builds: device code and PTX for sm_70 only.
    obj = cb.one_object(tk, ARCH, tmp_path)
    assert obj["object_elf"] == ["sm_70"], obj
    assert obj["object_ptx"] == ["sm_70"], obj


def test_one_build_for_a_v100_beside_a_3090(tmp_path):
    """Issue 16 item 4: a host with compute capabilities 7.0 and 8.6 gets one
    build for both, with one toolkit that supports both (11.8 here)."""
    arch = "70;86"
    tk = cb.find_nvcc(arch)
    if not tk:
        _no_toolkit(arch)
    got = cb.configure(tk, arch, tmp_path)
    assert "-DCMAKE_CUDA_ARCHITECTURES=70;86" in got["flags"], got["flags"]
    assert got["architectures"] == arch, got
    obj = cb.one_object(tk, arch, tmp_path)
    assert obj["object_elf"] == ["sm_70", "sm_86"], obj
    assert obj["object_ptx"] == ["sm_70", "sm_86"], obj
