# Copyright: llama-herd developers
# Apache License 2.0
"""llama.cpp facts written once: CMake flags, the build key, the command lines
of ``ggml-rpc-server`` and ``llama-server``, and which CUDA toolkit can target
which GPU.

Pure functions of their arguments; the ``llamaherd.cluster.llama_cpp_*``
filters, the role's templates and preflight all call these.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Flags every build gets. The web UI download and OpenSSL are off so a build
# never reaches the internet; GGML_NATIVE=OFF so one build serves a CPU class;
# static libraries so the artifact is relocatable (build once, copy to peers).
BASE_CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_RPC=ON",
    "-DGGML_NATIVE=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
)
# CMake targets and the binaries they produce (b11312: the RPC target is
# ggml-rpc-server, older releases called it rpc-server).
BUILD_TARGETS = ("llama-server", "ggml-rpc-server")

# The oldest CUDA toolkit that compiles for a compute capability and up:
# (lowest capability, (major, minor)), newest first. CUDA 13.0 dropped
# Maxwell, Pascal and Volta (cc < 7.5); Ampere needs 11.0, sm_86 11.1,
# Ada/Hopper 11.8, Blackwell 12.8. tests/integration/test_cuda_guard.py holds
# it against every real nvcc it finds.
_CUDA_MIN_BY_CC: tuple[tuple[float, tuple[int, int]], ...] = (
    (12.0, (12, 8)),
    (10.0, (12, 8)),
    (9.0, (11, 8)),
    (8.9, (11, 8)),
    (8.6, (11, 1)),
    (8.0, (11, 0)),
    (5.0, (0, 0)),
)
_CUDA_LAST_MAJOR_BELOW_7_5 = 12
RECOMMENDED_CUDA_FOR_OLD_GPUS = "12.8"


def _version(text: Any) -> tuple[int, int]:
    m = re.match(r"^\s*(\d+)(?:\.(\d+))?", str(text))
    if not m:
        raise ValueError(f"{text!r} is not a CUDA version like 12.8")
    return int(m.group(1)), int(m.group(2) or 0)


def cuda_toolkit_problem(cuda_version: Any, compute_capability: Any) -> str | None:
    """Why CUDA ``cuda_version`` cannot build for ``compute_capability``, with
    the version to install; None when it can."""
    cuda = _version(cuda_version)
    cc = float(str(compute_capability))
    if cc < 5.0:
        return f"compute capability {compute_capability} is older than any CUDA 12 toolkit supports; llama.cpp needs 5.0 or newer"
    if cuda[0] >= 13 and cc < 7.5:
        return (
            f"CUDA {cuda[0]}.{cuda[1]} dropped compute capability {compute_capability} (CUDA 13 supports 7.5 and newer); "
            f"install CUDA {RECOMMENDED_CUDA_FOR_OLD_GPUS} (the last series, {_CUDA_LAST_MAJOR_BELOW_7_5}.x, that builds for it)"
        )
    for floor, need in _CUDA_MIN_BY_CC:
        if cc >= floor:
            if cuda < need:
                return (
                    f"CUDA {cuda[0]}.{cuda[1]} cannot build for compute capability {compute_capability}; "
                    f"install CUDA {need[0]}.{need[1]} or newer"
                )
            break
    return None


def cuda_architectures(gpus: Iterable[Mapping[str, Any]]) -> str:
    """CMAKE_CUDA_ARCHITECTURES for the NVIDIA GPUs of a host: '70;86'."""
    archs = sorted({str(g["compute_capability"]).replace(".", "") for g in gpus if str(g.get("vendor", "")).lower() == "nvidia"})
    return ";".join(archs)


def backend(gpus: Iterable[Mapping[str, Any]]) -> str:
    """cuda, hip or cpu: the backend a host's GPUs call for (NVIDIA wins)."""
    vendors = {str(g.get("vendor", "")).lower() for g in gpus}
    if "nvidia" in vendors:
        return "cuda"
    if "amd" in vendors:
        return "hip"
    return "cpu"


def cmake_flags(
    gpus: Sequence[Mapping[str, Any]] | None = None,
    build_number: Any = None,
    extra: Sequence[str] | None = None,
    ccache: bool = False,
    cuda_compiler: str | None = None,
) -> list[str]:
    """The configure flags for a host with ``gpus`` (``herd_gpus`` entries).
    ``cuda_compiler``: the nvcc to build with (a CUDA host only); empty: the
    nvcc CMake finds on PATH."""
    gpus = list(gpus or [])
    flags = list(BASE_CMAKE_FLAGS)
    kind = backend(gpus)
    if kind == "cuda":
        flags += ["-DGGML_CUDA=ON", f"-DCMAKE_CUDA_ARCHITECTURES={cuda_architectures(gpus)}"]
        if cuda_compiler:
            flags += cuda_compiler_flags(cuda_compiler)
    elif kind == "hip":
        targets = sorted({str(g["gfx_target"]) for g in gpus if str(g.get("vendor", "")).lower() == "amd"})
        flags += ["-DGGML_HIP=ON", f"-DGPU_TARGETS={';'.join(targets)}"]
    if build_number not in (None, ""):
        flags.append(f"-DLLAMA_BUILD_NUMBER={build_number}")
    if ccache:
        flags += ["-DCMAKE_C_COMPILER_LAUNCHER=ccache", "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"]
        if kind == "cuda":
            # A C/C++ launcher turns off ggml's own ccache rule (GGML_CCACHE),
            # which was the only one covering nvcc: the .cu files, most of a
            # CUDA build's time, would never be cached.
            flags.append("-DCMAKE_CUDA_COMPILER_LAUNCHER=ccache")
    flags += list(extra or [])
    return flags


def cuda_compiler_flags(nvcc: str) -> list[str]:
    """Flags that make one nvcc the whole toolkit of a build. ggml runs
    FindCUDAToolkit before it enables CUDA, and FindCUDAToolkit ignores
    CMAKE_CUDA_COMPILER: with another nvcc first on PATH the headers and
    cudart came from that toolkit. CUDAToolkit_ROOT is the directory above
    nvcc's (Debian's /usr/bin/nvcc: /usr; NVIDIA's: /usr/local/cuda-X.Y)."""
    nvcc = str(nvcc).rstrip("/")
    if not nvcc.startswith("/") or not nvcc.endswith("/bin/nvcc"):
        raise ValueError(f"{nvcc!r} is not an absolute path to an nvcc in a bin directory, like /usr/local/cuda-12.8/bin/nvcc")
    root = nvcc[: -len("/bin/nvcc")] or "/"
    return [f"-DCMAKE_CUDA_COMPILER={nvcc}", f"-DCUDAToolkit_ROOT={root}"]


def build_key(version: str, source: str, flags: Sequence[str], arch: str) -> str:
    """Directory name of a build: the version plus a hash of everything that
    changes the binaries (source identity, flags, CPU architecture). The
    compiler launcher is left out: ccache does not change the output."""
    relevant = [f for f in flags if "COMPILER_LAUNCHER" not in f]
    digest = hashlib.sha256("\n".join([source, arch, *relevant]).encode()).hexdigest()[:12]
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", str(version))
    return f"{safe}-{arch}-{digest}"


def rpc_server_argv(binary: str, host: str, port: int, threads: int | None = None, cache: bool = False) -> list[str]:
    """ggml-rpc-server's command line. ``host`` is required: the default would
    be loopback, and 0.0.0.0 must be asked for explicitly upstream of this."""
    argv = [binary, "--host", str(host), "--port", str(int(port))]
    if threads:
        argv += ["--threads", str(int(threads))]
    if cache:
        argv.append("--cache")
    return argv


def rpc_endpoints(workers: Iterable[Mapping[str, Any]]) -> str:
    """'10.0.0.2:50052,10.0.0.3:50052' for llama-server --rpc."""
    return ",".join(f"{w['address']}:{int(w['port'])}" for w in workers)


def llama_server_argv(binary: str, server: Mapping[str, Any], host: str, threads: int | None = None) -> list[str]:
    """llama-server's command line for one instance (an entry of
    ``llama_cpp_servers`` with ``model_path`` and ``rpc`` resolved)."""
    argv = [binary, "--model", str(server["model_path"]), "--host", str(host), "--port", str(int(server["port"]))]
    argv += ["--alias", str(server.get("alias") or server["name"])]
    if server.get("rpc"):
        argv += ["--rpc", str(server["rpc"])]
    if server.get("n_gpu_layers") is not None:
        argv += ["--n-gpu-layers", str(server["n_gpu_layers"])]
        # Placement the plan decided must not be moved by llama-server's --fit.
        argv += ["--fit", "off"]
    if server.get("tensor_split"):
        split = server["tensor_split"]
        argv += ["--tensor-split", ",".join(str(x) for x in split) if isinstance(split, (list, tuple)) else str(split)]
    if server.get("context"):
        argv += ["--ctx-size", str(int(server["context"]))]
    if server.get("parallel"):
        argv += ["--parallel", str(int(server["parallel"]))]
    if threads:
        argv += ["--threads", str(int(threads))]
    if server.get("api_key_file"):
        argv += ["--api-key-file", str(server["api_key_file"])]
    if server.get("verbosity") is not None:
        argv += ["--log-verbosity", str(int(server["verbosity"]))]
    argv += ["--no-webui"]
    argv += [str(a) for a in server.get("extra_args") or []]
    return argv


def shell_join(argv: Sequence[str]) -> str:
    """A command line for a systemd ExecStart= (systemd's quoting rules)."""
    out = []
    for arg in argv:
        if arg == "" or re.search(r"[\s\"'\\;$%]", arg):
            out.append('"' + arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$") + '"')
        else:
            out.append(arg)
    return " ".join(out)
