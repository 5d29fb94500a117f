"""llama.cpp b11312 configures with the llama_cpp role's flags for a host
with a Radeon RX 7900 (gfx1100) and a Ryzen AI Max (gfx1151), and compiles
one HIP translation unit to code for both, with Debian's own ROCm packages
(forky/sid: HIP 6.4, clang 21). Debian 12 and 13 cannot (HIP 5.2 / 5.7,
llama.cpp wants 6.1): bench/results/hip-debian-2026-12-05.md.

Skipped unless HERD_HIP_ROOT names a Debian root with those packages (this
machine is Debian 12; the root is entered with unshare + chroot, so as root
only). `make hip-check` makes one in /var/tmp/herd-hip-forky (about 0.5 GB
to download, 5.5 GB on disk) and runs this. Not part of make test.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))

import hip_build as hb

TARGETS = "gfx1100;gfx1151"


@pytest.fixture(scope="module")
def rocm_root() -> Path:
    if not os.environ.get("HERD_HIP_ROOT"):
        pytest.skip(hb.NO_ROOT)
    root = hb.root_dir()
    if not hb.usable(root):
        pytest.fail(f"HERD_HIP_ROOT={root} has no hipconfig or hipBLAS headers: {hb.NO_ROOT}")
    if os.geteuid() != 0:
        pytest.skip("entering the ROCm root (unshare + chroot) needs root")
    return root


def test_role_flags_configure_and_compile_for_gfx1100_and_gfx1151(rocm_root):
    pkgs = hb.versions(rocm_root)
    hip = tuple(int(x) for x in pkgs["libamdhip64-dev"].split(".")[:2])
    assert hip >= (6, 1), f"llama.cpp b11312 wants HIP 6.1 or newer, the root has {pkgs}"
    got = hb.configure(rocm_root, TARGETS)
    assert "-DGGML_HIP=ON" in got["flags"] and f"-DGPU_TARGETS={TARGETS}" in got["flags"], got["flags"]
    assert got["hip_found"], got
    assert got["hip_compiler"].startswith("Clang "), got
    obj = hb.one_object(rocm_root, got["build"])
    assert obj["offload_archs"] == ["gfx1100", "gfx1151"], obj
    # The role's ccache reaches the HIP compiles too (its own launcher):
    # the same object compiled twice is a cache hit the second time.
    assert obj["compile_command"].split("&& ")[-1].split()[0].endswith("ccache"), obj["compile_command"]
    o = "CMakeFiles/ggml-hip.dir/__/ggml-cuda/arange.cu.o"
    _, stats = hb.in_root(
        rocm_root,
        f"export CCACHE_DIR=/tmp/herd-ccache-hip; rm -rf $CCACHE_DIR; cd {got['build']}/ggml/src/ggml-hip; "
        f"for i in 1 2; do rm -f {o}; make __/ggml-cuda/arange.cu.o >/dev/null; done; ccache --print-stats",
    )
    counters = dict(line.split("\t") for line in stats.splitlines() if line.count("\t") == 1)
    assert int(counters["direct_cache_hit"]) + int(counters["preprocessed_cache_hit"]) == 1, stats
    assert int(counters["cache_miss"]) == 1, stats
    # Device code for each target in the object's offload bundle.
    assert obj["gfx_targets"] == ["gfx1100", "gfx1151"], obj
