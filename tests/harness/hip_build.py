#!/usr/bin/env python3
"""llama.cpp (the pinned b11312) configured with the flags roles/llama_cpp
gives a host with AMD GPUs, and one HIP translation unit compiled, inside a
Debian root that has ROCm >= 6.1 (Debian forky/sid: HIP 6.4, clang 21).

No GPU is needed. Debian 12 and 13 cannot do this (HIP 5.2 / 5.7; llama.cpp
wants 6.1): bench/results/hip-debian-2026-12-05.md. This machine is Debian
12, so the ROCm side runs in a forky root made with debootstrap, entered with
unshare + chroot (root only; the network is the host's, for apt).

    hip_build.py rootfs [--root DIR]                  # debootstrap forky + apt: ~0.5 GB down, ~5.5 GB on disk
    hip_build.py object [--root DIR] [--targets gfx1100;gfx1151]
        # configure + one .cu (arange.cu) for those targets; prints JSON

DIR is $HERD_HIP_ROOT, else /var/tmp/herd-hip-forky. The source is unpacked
to DIR/src/llama.cpp-b<N> and built in DIR/build/hip-<targets>.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO / "collections"))

import llama_cpp_source as lcs  # noqa: E402
from ansible_collections.llamaherd.cluster.plugins.module_utils import llama_cpp as lc  # noqa: E402

DEFAULT_ROOT = "/var/tmp/herd-hip-forky"
SUITE = "forky"
MIRROR = "http://deb.debian.org/debian"
# What the role installs on a building host (llama_cpp_build_packages), then
# the ROCm packages a user must add: HIP runtime and compiler, hipBLAS and
# rocBLAS (ggml-hip's find_package calls). Without recommends: 115+40
# packages instead of ~200 (rocBLAS alone is most of the 5 GB).
ROLE_PACKAGES = ("build-essential", "cmake", "git", "ccache")
ROCM_PACKAGES = ("hipcc", "libamdhip64-dev", "libhipblas-dev", "librocblas-dev")
ONE_OBJECT = "arange.cu"
NO_ROOT = (
    "no ROCm root: set HERD_HIP_ROOT to a Debian forky/sid root with "
    + " ".join(ROCM_PACKAGES)
    + " (`make hip-check` makes one in "
    + DEFAULT_ROOT
    + ")"
)


def log(msg: str) -> None:
    print(f"[hip-build] {msg}", file=sys.stderr, flush=True)


def root_dir(arg: str | None = None) -> Path:
    return Path(arg or os.environ.get("HERD_HIP_ROOT") or DEFAULT_ROOT)


def usable(root: Path) -> bool:
    return (root / "usr/bin/hipconfig").exists() and (root / "usr/include/hipblas").is_dir()


def in_root(root: Path, script: str, check: bool = True) -> tuple[float, str]:
    """``sh -c script`` in ``root``: own mount and pid namespaces (its /proc
    goes away with them), the host's network. Wall seconds and output."""
    setup = (
        "mount -t proc proc /proc 2>/dev/null; "
        "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "
        "DEBIAN_FRONTEND=noninteractive HOME=/root; "
    )
    argv = ["unshare", "--mount", "--pid", "--fork", "--propagation", "private", "chroot", str(root), "/bin/sh", "-c"]
    t0 = time.monotonic()
    res = subprocess.run([*argv, setup + script], capture_output=True, text=True, check=False)
    out = res.stdout + res.stderr
    if check and res.returncode != 0:
        raise RuntimeError(f"in {root}: {script} failed (exit {res.returncode}):\n{out[-4000:]}")
    return round(time.monotonic() - t0, 1), out


def make_rootfs(root: Path) -> dict:
    if usable(root):
        return {"root": str(root), "made": False}
    if os.geteuid() != 0:
        raise RuntimeError("making the root needs root (debootstrap, chroot)")
    t0 = time.monotonic()
    if not (root / "usr/bin/apt-get").exists():
        # Debian 12's debootstrap has no forky script; sid's is the same.
        script = "/usr/share/debootstrap/scripts/sid"
        log(f"debootstrap {SUITE} into {root}")
        subprocess.run(["debootstrap", "--variant=minbase", SUITE, str(root), MIRROR, script], check=True)
    shutil.copyfile("/etc/resolv.conf", root / "etc/resolv.conf")
    # deb.debian.org as seen from here served a forky Release past its
    # Valid-Until (Date 2026-10-30, valid to 11-06); apt refuses it otherwise.
    (root / "etc/apt/apt.conf.d/99herd-no-valid-until").write_text('Acquire::Check-Valid-Until "false";\n')
    pkgs = " ".join((*ROLE_PACKAGES, *ROCM_PACKAGES))
    log(f"apt-get install {pkgs} (about 0.5 GB to download)")
    _, out = in_root(root, f"apt-get update -q && apt-get install -y -q --no-install-recommends {pkgs}")
    need = re.search(r"Need to get (.+?) of archives", out)
    after = re.search(r"After this operation, (.+?) of additional", out)
    return {
        "root": str(root),
        "made": True,
        "seconds": round(time.monotonic() - t0, 1),
        "download": need.group(1) if need else "",
        "installed": after.group(1) if after else "",
    }


def hip_flags(targets: str) -> list[str]:
    """The role's flags for a host with one AMD GPU of each gfx target, with
    the role's default llama_cpp_ccache: true."""
    gpus = [{"vendor": "amd", "gfx_target": t} for t in targets.split(";")]
    return lc.cmake_flags(gpus, build_number=lcs.LLAMA_CPP_BUILD, ccache=True)


def unpack(root: Path) -> str:
    """The source inside the root; its path as the root sees it."""
    top = f"llama.cpp-b{lcs.LLAMA_CPP_BUILD}"
    if not (root / "src" / top / "CMakeLists.txt").exists():
        (root / "src").mkdir(exist_ok=True)
        with tarfile.open(lcs.archive()) as tf:
            tf.extractall(root / "src", filter="data")
    return f"/src/{top}"


def versions(root: Path) -> dict[str, str]:
    _, out = in_root(
        root,
        "dpkg-query -W -f '${Package} ${Version}\\n' hipcc libamdhip64-dev libhipblas-dev librocblas-dev cmake",
        check=False,
    )
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def configure(root: Path, targets: str) -> dict:
    src = unpack(root)
    build = f"/build/hip-{targets.replace(';', '-')}"
    shutil.rmtree(root / build.lstrip("/"), ignore_errors=True)
    flags = hip_flags(targets)
    quoted = " ".join(f"'{f}'" for f in flags)
    log(f"configuring for {targets} in {root}")
    secs, out = in_root(root, f"cmake -S {src} -B {build} {quoted}")
    (root / build.lstrip("/") / "configure.log").write_text(out)
    cache = (root / build.lstrip("/") / "CMakeCache.txt").read_text()

    def grab(pattern: str, text: str = out) -> str:
        m = re.search(pattern, text, re.M)
        return m.group(1).strip() if m else ""

    return {
        "flags": flags,
        "build": build,
        "configure_s": secs,
        "hip_compiler": grab(r"The HIP compiler identification is (.+)"),
        "hip_compiler_path": grab(r"^CMAKE_HIP_COMPILER:\w+=(.+)$", cache),
        "hip_found": "HIP and hipBLAS found" in out,
    }


def one_object(root: Path, build: str) -> dict:
    """arange.cu for every target; the offload bundle's entries, read with
    the llvm tools of the clang that built it."""
    secs, out = in_root(root, f"cd {build}/ggml/src/ggml-hip && make VERBOSE=1 __/ggml-cuda/{ONE_OBJECT[:-3]}.o")
    obj = f"{build}/ggml/src/ggml-hip/CMakeFiles/ggml-hip.dir/__/ggml-cuda/{ONE_OBJECT}.o"
    cmd = next((ln for ln in out.splitlines() if "-c /src/" in ln and ONE_OBJECT in ln), "")
    _, listing = in_root(
        root,
        # The bundler runs llvm-objcopy from PATH: the newest llvm's bin first.
        'set -e; t=$(mktemp -d); PATH="$(ls -d /usr/lib/llvm-* | sort -V | tail -1)/bin:$PATH"; '
        f"llvm-objcopy --dump-section .hip_fatbin=$t/fatbin {obj} $t/o; "
        "clang-offload-bundler --list --type=o --input=$t/fatbin; rm -rf $t",
    )
    return {
        "object": obj,
        "object_bytes": (root / obj.lstrip("/")).stat().st_size,
        "object_s": secs,
        "compile_command": re.sub(r" -DGGML_CUDA_FA_\S+", "", cmd).strip(),
        "offload_archs": re.findall(r"--offload-arch=(\S+)", cmd),
        "offload_bundle": sorted(ln.strip() for ln in listing.splitlines() if ln.strip()),
        "gfx_targets": sorted(set(re.findall(r"--(gfx\w+)", listing))),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=("rootfs", "object"))
    ap.add_argument("--root", help=f"the Debian root ($HERD_HIP_ROOT, else {DEFAULT_ROOT})")
    ap.add_argument("--targets", default="gfx1100;gfx1151")
    args = ap.parse_args()
    root = root_dir(args.root)
    try:
        if args.step == "rootfs":
            result = make_rootfs(root)
        else:
            if not usable(root):
                raise RuntimeError(NO_ROOT)
            result = {"root": str(root), "packages": versions(root), **configure(root, args.targets)}
            result.update(one_object(root, result["build"]))
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
