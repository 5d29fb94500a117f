#!/usr/bin/env python3
"""llama.cpp (the pinned b11312) configured and built for one CUDA
architecture, with the flags roles/llama_cpp gives a host with that GPU.

No GPU is needed. The nvcc is $HERD_NVCC, else the first of: every nvcc on
PATH, /usr/bin/nvcc (Debian's nvidia-cuda-toolkit), /usr/local/cuda*/bin/nvcc
(newest first), whose ``--list-gpu-arch`` has compute_<arch>. Its bin
directory goes first on PATH, as the role does with llama_cpp_cuda_compiler.

    cuda_build.py configure [--arch 70]            # seconds: cmake configure only
    cuda_build.py object    [--arch 70]            # configure + one .cu (arange.cu) for sm_<arch>
    cuda_build.py build     [--arch 70] [--jobs 2] [--cold]
        # llama-server and ggml-rpc-server; --cold empties this build's ccache first

Work tree: .cache/cuda-b<N>-sm<arch>/{src,build,ccache}. Prints one JSON
object: toolkit, host compiler, flags, wall times, and for ``build`` the
binary checks (cuobjdump --list-elf/--list-ptx of libggml-cuda.a, ldd and
``--version`` of llama-server).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO / "collections"))

import llama_cpp_source as lcs  # noqa: E402
from ansible_collections.llamaherd.cluster.plugins.module_utils import llama_cpp as lc  # noqa: E402

TARGETS = ("llama-server", "ggml-rpc-server")
ONE_OBJECT = "arange.cu"  # one of the smallest CUDA translation units
NO_NVCC = (
    "no nvcc that lists compute_{arch} (looked at $HERD_NVCC, nvcc on PATH, /usr/bin/nvcc, /usr/local/cuda*/bin/nvcc). "
    "For Volta (70) on Debian 12: enable 'contrib non-free' in an apt source, then `apt-get install nvidia-cuda-toolkit` "
    "(CUDA 11.8, /usr/bin/nvcc); or set HERD_NVCC to a CUDA 12.x nvcc. CUDA 13 cannot build for 70."
)


def log(msg: str) -> None:
    print(f"[cuda-build] {msg}", file=sys.stderr, flush=True)


def nvcc_env(nvcc: str) -> dict[str, str]:
    """nvcc runs ptxas, fatbinary and nvlink from PATH (Debian's profile pins
    none): its own directory first."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(nvcc).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def candidates() -> list[str]:
    def version(path: str) -> tuple[int, ...]:
        m = re.search(r"cuda-(\d+)\.(\d+)", os.path.realpath(path))
        return (int(m.group(1)), int(m.group(2))) if m else (0, 0)

    on_path = [str(Path(d or ".") / "nvcc") for d in os.environ.get("PATH", "").split(os.pathsep)]
    local = sorted(glob.glob("/usr/local/cuda*/bin/nvcc"), key=version, reverse=True)
    out: list[str] = []
    for c in [*on_path, "/usr/bin/nvcc", *local]:
        if os.path.isfile(c) and os.access(c, os.X_OK) and c not in out:
            out.append(c)
    return out


def toolkit(nvcc: str) -> dict[str, str]:
    """version ('11.8.89') and architectures nvcc lists."""
    env = nvcc_env(nvcc)
    ver = subprocess.run([nvcc, "--version"], env=env, capture_output=True, text=True, check=False).stdout
    m = re.search(r"release \d+\.\d+, V(\d+\.\d+\.\d+)", ver)
    archs = subprocess.run([nvcc, "--list-gpu-arch"], env=env, capture_output=True, text=True, check=False).stdout.split()
    return {"nvcc": nvcc, "version": m.group(1) if m else "", "archs": " ".join(archs)}


def find_nvcc(arch: str) -> dict[str, str] | None:
    """The first nvcc (see the module doc) that can build compute_<arch>."""
    picks = [os.environ["HERD_NVCC"]] if os.environ.get("HERD_NVCC") else candidates()
    for nvcc in picks:
        tk = toolkit(nvcc)
        if all(f"compute_{a}" in tk["archs"].split() for a in arch.split(";")):
            return tk
    return None


def cuda_flags(nvcc: str, arch: str) -> list[str]:
    """The role's configure flags for a host with one GPU of each compute
    capability in <arch> ("70", or "70;86" for a V100 beside a 3090) and
    llama_cpp_cuda_compiler=<nvcc>."""
    gpus = [{"vendor": "nvidia", "compute_capability": f"{a[:-1]}.{a[-1]}"} for a in arch.split(";")]
    return lc.cmake_flags(gpus, build_number=lcs.LLAMA_CPP_BUILD, ccache=bool(shutil.which("ccache")), cuda_compiler=nvcc)


def unpack(dest: Path) -> Path:
    if (dest / "CMakeLists.txt").exists():
        return dest
    arc = lcs.archive()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp, tarfile.open(arc) as tf:
        tf.extractall(tmp, filter="data")
        shutil.move(str(next(Path(tmp).iterdir())), dest)
    return dest


def build_env(nvcc: str, work: Path) -> dict[str, str]:
    env = nvcc_env(nvcc)
    # As roles/llama_cpp/tasks/compile.yml: paths hashed relative to the source tree.
    env.update(
        CCACHE_DIR=os.environ.get("CCACHE_DIR", str(work / "ccache")),
        CCACHE_BASEDIR=str(work / "src"),
        CCACHE_NOHASHDIR="true",
        CCACHE_COMPILERCHECK="content",
    )
    return env


def run(argv: list[str], env: dict[str, str], cwd: Path | None = None, log_to: Path | None = None) -> tuple[float, str]:
    """Wall seconds and output; raises with the output's tail on failure."""
    t0 = time.monotonic()
    res = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    out = res.stdout + res.stderr
    if log_to:
        log_to.write_text(out)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed (exit {res.returncode}):\n{out[-4000:]}")
    return round(time.monotonic() - t0, 1), out


def configure(tk: dict[str, str], arch: str, work: Path) -> dict:
    src = unpack(work / "src")
    build = work / "build"
    shutil.rmtree(build, ignore_errors=True)
    flags = cuda_flags(tk["nvcc"], arch)
    log(f"configuring with CUDA {tk['version']} ({tk['nvcc']}) for {arch}")
    secs, out = run(
        ["cmake", "-S", str(src), "-B", str(build), *flags],
        build_env(tk["nvcc"], work),
        log_to=work / "configure.log",
    )

    def grab(pattern: str) -> str:
        m = re.search(pattern, out)
        return m.group(1) if m else ""

    return {
        "flags": flags,
        "configure_s": secs,
        "cuda_compiler": grab(r"The CUDA compiler identification is (.+)"),
        "toolkit_found": grab(r"Found CUDAToolkit: .*\(found version \"([^\"]+)\"\)"),
        "host_compiler": grab(r"CUDA host compiler is (.+)"),
        "architectures": grab(r"Using CMAKE_CUDA_ARCHITECTURES=(\S+)"),
    }


def cuobjdump(tk: dict[str, str], path: Path, what: str) -> list[str]:
    tool = Path(tk["nvcc"]).with_name("cuobjdump")
    tool = str(tool) if tool.exists() else (shutil.which("cuobjdump") or "cuobjdump")
    res = subprocess.run(
        [tool, f"--list-{what}", str(path)], env=nvcc_env(tk["nvcc"]), capture_output=True, text=True, check=False
    )
    return sorted(set(re.findall(r"sm_\d+", res.stdout))) if res.returncode == 0 else [res.stderr.strip()]


def one_object(tk: dict[str, str], arch: str, work: Path) -> dict:
    rel = f"ggml/src/ggml-cuda/CMakeFiles/ggml-cuda.dir/{ONE_OBJECT}.o"
    secs, _ = run(["make", "-C", str(work / "build" / "ggml/src/ggml-cuda"), f"{ONE_OBJECT}.o"], build_env(tk["nvcc"], work))
    obj = work / "build" / rel
    return {
        "object": str(obj),
        "object_s": secs,
        "object_elf": cuobjdump(tk, obj, "elf"),
        "object_ptx": cuobjdump(tk, obj, "ptx"),
    }


def full_build(tk: dict[str, str], arch: str, work: Path, jobs: int) -> dict:
    env = build_env(tk["nvcc"], work)
    if shutil.which("ccache"):
        run(["ccache", "-z"], env)
    log(f"building {' '.join(TARGETS)} with -j {jobs} (an hour or more cold on 2 cores, minutes warm)")
    secs, _ = run(
        ["cmake", "--build", str(work / "build"), "-j", str(jobs), "--target", *TARGETS], env, log_to=work / "build.log"
    )
    bindir = work / "build" / "bin"
    lib = work / "build" / "ggml/src/ggml-cuda/libggml-cuda.a"
    ldd = subprocess.run(["ldd", str(bindir / "llama-server")], capture_output=True, text=True, check=False).stdout
    version = subprocess.run([str(bindir / "llama-server"), "--version"], capture_output=True, text=True, timeout=60, check=False)
    stats = (
        subprocess.run(["ccache", "-s"], env=env, capture_output=True, text=True, check=False).stdout
        if shutil.which("ccache")
        else ""
    )
    return {
        "build_s": secs,
        "libggml_cuda_elf": cuobjdump(tk, lib, "elf"),
        "libggml_cuda_ptx": cuobjdump(tk, lib, "ptx"),
        "llama_server_elf": cuobjdump(tk, bindir / "llama-server", "elf"),
        "ldd_cuda": sorted({ln.split()[0] for ln in ldd.splitlines() if re.search(r"cu(da|blas)", ln)}),
        "version_exit": version.returncode,
        "version_output": (version.stdout + version.stderr).strip()[-1500:],
        "ccache_stats": stats.strip(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=("configure", "object", "build"))
    ap.add_argument("--arch", default="70", help="compute capability without the dot (default 70, Volta)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--cold", action="store_true", help="empty this build's ccache first")
    args = ap.parse_args()
    tk = find_nvcc(args.arch)
    if not tk:
        raise SystemExit(NO_NVCC.format(arch=args.arch))
    work = lcs.CACHE / f"cuda-b{lcs.LLAMA_CPP_BUILD}-sm{args.arch}"
    if args.cold:
        shutil.rmtree(work / "ccache", ignore_errors=True)
    try:
        result = {"toolkit": tk, **configure(tk, args.arch, work)}
        if args.step == "object":
            result.update(one_object(tk, args.arch, work))
        elif args.step == "build":
            result.update(full_build(tk, args.arch, work, args.jobs))
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
