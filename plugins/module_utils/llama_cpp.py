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
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ansible_collections.llamaherd.cluster.plugins.module_utils.memory import KV_TYPES, LLAMA_BATCH, LLAMA_UBATCH

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


# The oldest Linux x86_64 NVIDIA driver each CUDA toolkit's GA release needs
# ("Toolkit Driver Version"): NVIDIA's CUDA Toolkit Release Notes, table "CUDA
# Toolkit and Corresponding Driver Versions",
# https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html
# Updates of a release may need a slightly newer driver of the same branch;
# herd_cuda_version names major.minor, so the GA figure is the one that counts.
CUDA_MIN_DRIVER: dict[tuple[int, int], str] = {
    (13, 0): "580.65.06",
    (12, 9): "575.51.03",
    (12, 8): "570.26",
    (12, 6): "560.28.03",
    (12, 5): "555.42.02",
    (12, 4): "550.54.14",
    (12, 3): "545.23.06",
    (12, 2): "535.54.03",
    (12, 1): "530.30.02",
    (12, 0): "525.60.13",
    (11, 8): "520.61.05",
    (11, 7): "515.43.04",
    (11, 6): "510.39.01",
    (11, 5): "495.29.05",
    (11, 4): "470.42.01",
    (11, 3): "465.19.01",
    (11, 2): "460.27.03",
    (11, 1): "455.23",
    (11, 0): "450.36.06",
}
# Minor-version compatibility (NVIDIA, "CUDA Compatibility", Minor Version
# Compatibility, https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html):
# from CUDA 11 on, a build with any toolkit of a major series runs, with a
# limited feature set, on a driver at least this one. The rule here: below
# the series' floor the toolkit cannot run at all (preflight error); between
# the floor and the toolkit's own minimum it runs through minor-version
# compatibility (a warning): llama.cpp builds SASS for every GPU in
# CMAKE_CUDA_ARCHITECTURES, so no PTX needs the driver's JIT, but PTX of the
# newer toolkit cannot be JIT-compiled by the older driver (a GPU missing from
# the list fails with CUDA_ERROR_UNSUPPORTED_PTX_VERSION), and features newer
# than the driver are unavailable.
CUDA_MINOR_COMPAT_DRIVER: dict[int, str] = {13: "580.65.06", 12: "525.60.13", 11: "450.80.02"}


def _driver(text: Any) -> tuple[int, ...]:
    m = re.match(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?\s*$", str(text))
    if not m:
        raise ValueError(f"{text!r} is not an NVIDIA driver version like 535.104.05")
    return tuple(int(g) for g in m.groups() if g is not None)


def is_driver_version(text: Any) -> bool:
    """Whether ``text`` is an NVIDIA driver version as nvidia-smi prints it
    (535.104.05, 570.86)."""
    try:
        _driver(text)
    except ValueError:
        return False
    return True


def cuda_for_driver(driver_version: Any) -> str | None:
    """The newest CUDA toolkit (major.minor) whose own minimum ``driver_version``
    meets, from CUDA_MIN_DRIVER; None when it is older than any listed."""
    drv = _driver(driver_version)
    fits = [v for v, need in CUDA_MIN_DRIVER.items() if drv >= _driver(need)]
    return "{}.{}".format(*max(fits)) if fits else None


def cuda_driver_problem(cuda_version: Any, driver_version: Any) -> tuple[str, str] | None:
    """("error" | "warning", why) when the NVIDIA driver ``driver_version``
    cannot run (or runs only through minor-version compatibility) what CUDA
    ``cuda_version`` builds; None when it runs it. Raises ValueError on a
    malformed version."""
    cuda, drv = _version(cuda_version), _driver(driver_version)
    known = sorted(v for v in CUDA_MIN_DRIVER if v[0] == cuda[0] and v <= cuda)
    if not known:
        if cuda > max(CUDA_MIN_DRIVER):
            known = [max(CUDA_MIN_DRIVER)]  # newer than the table: at least its newest's driver
        else:
            return None  # older than CUDA 11: not a toolkit llama.cpp builds with
    need = CUDA_MIN_DRIVER[known[-1]]
    if drv >= _driver(need):
        return None
    up_to = cuda_for_driver(driver_version)
    runs = f"runs CUDA up to {up_to}" if up_to else "is older than CUDA 11.0 needs"
    floor = CUDA_MINOR_COMPAT_DRIVER.get(cuda[0])
    shown = f"{driver_version}".strip()
    if floor and drv >= _driver(floor):
        return (
            "warning",
            f"the NVIDIA driver {shown} {runs}, older than driver {need}, which CUDA {cuda[0]}.{cuda[1]} needs; "
            f"llama.cpp built with it runs only through CUDA {cuda[0]}.x minor-version compatibility "
            "(no PTX JIT of newer code, no features newer than the driver)",
        )
    return ("error", f"the NVIDIA driver {shown} {runs}, but CUDA {cuda[0]}.{cuda[1]} needs driver {need} or newer")


def host_nvidia_driver(hv: Mapping[str, Any]) -> tuple[str, str] | None:
    """(driver version, where it came from) of a host: measured by gpu_facts
    (``herd_measured.nvidia_driver_version``) wins over the declared
    ``herd_nvidia_driver_version``, as measured GPUs win over ``herd_gpus``."""
    measured = hv.get("herd_measured")
    if isinstance(measured, Mapping) and measured.get("nvidia_driver_version"):
        return str(measured["nvidia_driver_version"]).strip(), "measured by gpu_facts"
    declared = hv.get("herd_nvidia_driver_version")
    if declared not in (None, ""):
        return str(declared).strip(), "herd_nvidia_driver_version"
    return None


def cuda_driver_check(host: str, hv: Mapping[str, Any], cuda_version: Any = None) -> tuple[str, str, str, str] | None:
    """(level, variable, problem, fix) when the host's NVIDIA driver cannot run
    (error) or runs only through minor-version compatibility (warning) the CUDA
    toolkit ``cuda_version`` (default ``herd_cuda_version``); None when it
    runs it or either version is unknown. Preflight (inventory.py) and the
    plan (plan.py, on measured facts) both ask this."""
    cuda = hv.get("herd_cuda_version") if cuda_version is None else cuda_version
    toolkit = "herd_cuda_version"
    measured = hv.get("herd_measured")
    if cuda in (None, "") and isinstance(measured, Mapping) and measured.get("cuda_version"):
        # Nothing pinned: the toolkit gpu_facts found (nvcc --version) is the one a build would use.
        cuda, toolkit = measured["cuda_version"], "herd_measured.cuda_version"
    driver = host_nvidia_driver(hv)
    if cuda in (None, "") or driver is None:
        return None
    version, where = driver
    try:
        found = cuda_driver_problem(cuda, version)
    except ValueError as exc:
        return (
            "error",
            where if where.startswith("herd_") else "herd_measured.nvidia_driver_version",
            str(exc),
            "quote the driver version nvidia-smi prints: herd_nvidia_driver_version: '535.104.05'",
        )
    if not found:
        return None
    level, why = found
    shown = "" if where.startswith("herd_") else f" ({where})"
    problem = why.replace(f"the NVIDIA driver {version}", f"the NVIDIA driver {version}{shown}", 1)
    need = CUDA_MIN_DRIVER.get(_version(cuda)) or CUDA_MIN_DRIVER[max(v for v in CUDA_MIN_DRIVER if v <= _version(cuda))]
    up_to = cuda_for_driver(version)
    older = f", or set herd_cuda_version to {up_to} or older (one every GPU of {host} supports)" if up_to else ""
    if toolkit != "herd_cuda_version":
        problem += f" (the toolkit nvcc --version reports on {host}; herd_cuda_version is not set)"
    if level == "warning":
        fix = f"to run it fully, upgrade the NVIDIA driver on {host} to {need} or newer{older}"
    else:
        fix = f"upgrade the NVIDIA driver on {host} to {need} or newer{older}"
    return level, toolkit, problem, fix


# Where a host's CUDA toolkit comes from when the role installs it (issue 16;
# docs/roles/llama_cpp.md argues the choice). The distribution's package
# wins where it supports every GPU of the host: it comes from the same
# mirror as the rest of the system, is signed by it, and apt-mirror/aptly
# copy it for offline sites. Otherwise NVIDIA's apt repository, one pinned
# cuda-toolkit-X-Y package (about 4 GB installed) in /usr/local/cuda-X.Y.
# (distribution, major version): (toolkit version, apt components it needs)
DISTRO_CUDA: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("debian", "12"): ("11.8", ("contrib", "non-free")),
    ("ubuntu", "24"): ("12.0", ("multiverse",)),
}
# The newest series NVIDIA ships per case, when nothing pins one: 12.8 is the
# last that builds for compute capability below 7.5 and the first for
# Blackwell; 13.0 is the newest checked against a real nvcc here.
NEWEST_CUDA = "13.0"
# NVIDIA's apt repository directory per distribution (a URL under
# llama_cpp_cuda_nvidia_repo); the keyring package is cuda-keyring.
NVIDIA_REPO_DIST = {("debian", "12"): "debian12", ("ubuntu", "24"): "ubuntu2404", ("ubuntu", "22"): "ubuntu2204"}


def cuda_toolkit_choice(
    gpus: Iterable[Mapping[str, Any]],
    distribution: str,
    distribution_major: Any,
    pin: Any = None,
    driver: Any = None,
) -> dict[str, Any]:
    """The CUDA toolkit a host installs for its NVIDIA GPUs: the pinned
    version if ``pin`` (``herd_cuda_version``) is given, else the newest
    that builds for every GPU, from the distribution when its package does,
    and that the host's NVIDIA ``driver`` (when known) runs fully; failing
    that, one it runs through minor-version compatibility (the plan warns).

    Returns ``source`` (none, distro or nvidia), ``version`` ('11.8'),
    ``nvcc`` (its path), ``packages`` (to build), ``runtime_packages`` (what
    the built binaries load: cudart and cublas of the same major),
    ``components`` (apt components the distro source needs), ``repo_dist``
    (NVIDIA's repository directory), ``architectures`` ('70;86') and
    ``problem`` (a sentence; then nothing is installed)."""
    nv = [g for g in gpus if str(g.get("vendor", "")).lower() == "nvidia"]
    dist = (str(distribution).lower(), str(distribution_major).split(".", maxsplit=1)[0])
    out: dict[str, Any] = {
        "source": "none",
        "version": "",
        "nvcc": "",
        "packages": [],
        "runtime_packages": [],
        "components": [],
        "repo_dist": NVIDIA_REPO_DIST.get(dist, ""),
        "architectures": cuda_architectures(nv),
        "problem": None,
    }
    if not nv:
        return out

    def problems(version: str) -> list[str]:
        found = [cuda_toolkit_problem(version, g["compute_capability"]) for g in nv]
        return [p for p in found if p]

    if pin not in (None, ""):
        major, minor = _version(pin)
        version = f"{major}.{minor}"
        why = problems(version)
        if why:
            return {**out, "version": version, "problem": why[0]}
    else:
        ccs = [float(str(g["compute_capability"])) for g in nv]
        if min(ccs) < 5.0:
            return {**out, "problem": cuda_toolkit_problem(NEWEST_CUDA, min(ccs))}
        distro = DISTRO_CUDA.get(dist)
        if distro and not problems(distro[0]):
            version = distro[0]
        else:
            version = RECOMMENDED_CUDA_FOR_OLD_GPUS if min(ccs) < 7.5 else NEWEST_CUDA
        try:
            known_driver = driver not in (None, "") and bool(_driver(driver))
        except ValueError:
            known_driver = False  # preflight names a malformed driver version
        if known_driver:
            version, why = _toolkit_for_driver(version, distro[0] if distro else None, driver, problems)
            if why:
                return {**out, "problem": why}
    major, minor = _version(version)
    distro = DISTRO_CUDA.get(dist)
    if distro and distro[0] == version:
        # Debian/Ubuntu's nvidia-cuda-toolkit: nvcc in /usr/bin, headers in
        # /usr/include, where FindCUDAToolkit looks first.
        runtime = {"11": ["libcudart11.0", "libcublas11", "libcublaslt11"], "12": ["libcudart12", "libcublas12", "libcublaslt12"]}
        return {
            **out,
            "source": "distro",
            "version": version,
            "nvcc": "/usr/bin/nvcc",
            "packages": ["nvidia-cuda-toolkit"],
            "runtime_packages": runtime.get(str(major), []),
            "components": list(distro[1]),
        }
    if not out["repo_dist"]:
        return {
            **out,
            "version": version,
            "problem": f"CUDA {version} has no package the role knows for {dist[0]} {dist[1]} "
            f"(it installs from Debian 12, Ubuntu 22.04/24.04 or NVIDIA's repository for those)",
        }
    return {
        **out,
        "source": "nvidia",
        "version": version,
        "nvcc": f"/usr/local/cuda-{major}.{minor}/bin/nvcc",
        "packages": [f"cuda-toolkit-{major}-{minor}"],
        "runtime_packages": [f"cuda-cudart-{major}-{minor}", f"libcublas-{major}-{minor}"],
    }


def _toolkit_for_driver(
    version: str, distro: str | None, driver: Any, problems: Callable[[str], list[str]]
) -> tuple[str, str | None]:
    """(toolkit, None) the host's driver runs, given the GPUs' choice
    ``version``: that one or the distribution's when the driver runs it,
    fully or through minor-version compatibility (llama.cpp builds SASS for
    every GPU, so no PTX needs the driver's JIT), else the newest listed one
    it runs; ("", why) when it runs none that builds for every GPU."""

    def level(v: str) -> int:  # 0 runs, 1 minor-version compatibility, 2 does not run
        found = cuda_driver_problem(v, driver)
        return 0 if found is None else (1 if found[0] == "warning" else 2)

    listed = ["{}.{}".format(*v) for v in sorted(CUDA_MIN_DRIVER, reverse=True)]
    preferred = [v for v in dict.fromkeys([version, *([distro] if distro else [])]) if not problems(v)]
    builds = [v for v in listed if not problems(v)]
    for wanted, pool in ((0, preferred), (1, preferred), (0, builds), (1, builds)):
        for v in pool:
            if level(v) == wanted:
                return v, None
    up_to = cuda_for_driver(driver)
    runs = f"runs CUDA up to {up_to}" if up_to else "is older than any CUDA 11 toolkit needs"
    need = min((_driver(CUDA_MIN_DRIVER[_version(v)]), CUDA_MIN_DRIVER[_version(v)]) for v in builds)[1] if builds else None
    return "", (
        f"the NVIDIA driver {str(driver).strip()} {runs}, and no CUDA toolkit it runs builds for every GPU of the host"
        + (f"; upgrade the NVIDIA driver to {need} or newer" if need else "")
    )


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
        # A C/C++ launcher turns off ggml's own ccache rule (GGML_CCACHE),
        # which was the only one covering nvcc and HIP's clang: the .cu
        # files, most of a GPU build's time, would never be cached.
        if kind == "cuda":
            flags.append("-DCMAKE_CUDA_COMPILER_LAUNCHER=ccache")
        elif kind == "hip":
            flags.append("-DCMAKE_HIP_COMPILER_LAUNCHER=ccache")
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


def build_key(version: str, source: str, flags: Sequence[str], arch: str, toolkit: str = "") -> str:
    """Directory name of a build: the version plus a hash of everything that
    changes the binaries (source identity, flags, CPU architecture, and the
    CUDA toolkit's version when there is one: the same flags with 11.8 and
    12.8 are different binaries). The compiler launcher is left out: ccache
    does not change the output."""
    relevant = [f for f in flags if "COMPILER_LAUNCHER" not in f]
    parts = [source, arch, *relevant] + ([f"cuda-toolkit={toolkit}"] if toolkit else [])
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]
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


# llama-server's flags that change its memory (b11312, common/arg.cpp), as
# record fields. The plan sizes with the record and llama_server_argv
# launches from it, so a flag a user gives lands in both or in neither.
_MEMORY_FLAGS: dict[str, tuple[str, str]] = {
    "-c": ("context", "count0"),
    "--ctx-size": ("context", "count0"),
    "-np": ("parallel", "count"),
    "--parallel": ("parallel", "count"),
    "-fa": ("flash_attn", "onoff"),
    "--flash-attn": ("flash_attn", "onoff"),
    "-ub": ("ubatch", "count"),
    "--ubatch-size": ("ubatch", "count"),
    "-b": ("batch", "count"),
    "--batch-size": ("batch", "count"),
    "-ctk": ("cache_type_k", "kvtype"),
    "--cache-type-k": ("cache_type_k", "kvtype"),
    "-ctv": ("cache_type_v", "kvtype"),
    "--cache-type-v": ("cache_type_v", "kvtype"),
    "-kvu": ("kv_unified", "true"),
    "--kv-unified": ("kv_unified", "true"),
    "-no-kvu": ("kv_unified", "false"),
    "--no-kv-unified": ("kv_unified", "false"),
    "-cram": ("cache_ram_mib", "count0"),
    "--cache-ram": ("cache_ram_mib", "count0"),
}
# What the record holds when no flag says otherwise. Flash attention and the
# batch sizes are llama.cpp's defaults written out (its own default for
# -fa is "auto", which decides per device: the plan cannot size that). The
# prompt cache in RAM (-cram, upstream 8192 MiB) is off unless asked for, so
# the head holds no RAM the plan did not book.
SERVER_DEFAULTS: dict[str, Any] = {
    "flash_attn": "on",
    "ubatch": LLAMA_UBATCH,
    "batch": LLAMA_BATCH,
    "cache_type_k": "f16",
    "cache_type_v": "f16",
    "kv_unified": False,
    "cache_ram_mib": 0,
}
# Flags the plan or the role sets from the inventory: given again, they
# would fight the placement or the unit.
_OWNED_FLAGS = {
    "-ngl": "the plan offloads every layer it placed (herd_models and the devices decide)",
    "--gpu-layers": "the plan offloads every layer it placed (herd_models and the devices decide)",
    "--n-gpu-layers": "the plan offloads every layer it placed (herd_models and the devices decide)",
    "-ts": "the plan splits the layers by each device's usable memory",
    "--tensor-split": "the plan splits the layers by each device's usable memory",
    "-fit": "the plan placed the layers; llama-server's own fitting would move them",
    "--fit": "the plan placed the layers; llama-server's own fitting would move them",
    "-m": "the role points llama-server at the model file",
    "--model": "the role points llama-server at the model file",
    "--host": "set llama_cpp_server_host",
    "--port": "the plan gives each instance its port",
    "--rpc": "the plan lists the RPC workers",
    "-a": "the role sets the alias (herd_models alias)",
    "--alias": "the role sets the alias (herd_models alias)",
    "--api-key": "set llama_cpp_server_api_key (from Ansible Vault)",
    "--api-key-file": "set llama_cpp_server_api_key (from Ansible Vault)",
    "-t": "set llama_cpp_server_threads",
    "--threads": "set llama_cpp_server_threads",
}
# Flags that change memory in ways the plan does not size yet.
_UNSIZED_FLAGS = [
    "-ot",
    "--override-tensor",
    "-cmoe",
    "--cpu-moe",
    "-ncmoe",
    "--n-cpu-moe",
    "--swa-full",
    "-nkvo",
    "--no-kv-offload",
    "-kvo",
    "--kv-offload",
    "-sm",
    "--split-mode",
    "-dev",
    "--device",
    "-mg",
    "--main-gpu",
    "-mm",
    "--mmproj",
    "-mmu",
    "--mmproj-url",
    "-md",
    "--model-draft",
    "--spec-draft-model",
    "--lora",
    "--lora-scaled",
    "-nr",
    "--no-repack",
    "--no-host",
    "--kv-unified-per-slot",
    "-fitt",
    "--fit-target",
    "-fitc",
    "--fit-ctx",
    "--embedding",
    "--embeddings",
    "-hf",
    "-hfr",
    "--hf-repo",
    "-hff",
    "--hf-file",
]
# Of the refused flags, those that take no value (the rest take one).
_SWITCHES = {
    "--swa-full",
    "-nkvo",
    "--no-kv-offload",
    "-kvo",
    "--kv-offload",
    "-cmoe",
    "--cpu-moe",
    "-nr",
    "--no-repack",
    "--no-host",
    "--embedding",
    "--embeddings",
}
_TRUTHY = ("on", "enabled", "true", "1")
_FALSY = ("off", "disabled", "false", "0")


def parse_server_args(args: Sequence[Any] | None) -> tuple[dict[str, Any], list[str], list[tuple[str, str]]]:
    """Split llama-server arguments a user gives into record fields (the
    memory flags), arguments passed through unchanged, and problems as
    (problem, fix) sentences: flags the plan owns, flags it cannot size, bad
    values."""
    fields: dict[str, Any] = {}
    rest: list[str] = []
    problems: list[tuple[str, str]] = []
    items = [str(a) for a in args or []]
    i = 0
    while i < len(items):
        flag = items[i]
        i += 1
        name = flag.split("=", 1)[0]
        if "=" in flag and (name in _MEMORY_FLAGS or name in _OWNED_FLAGS or name in _UNSIZED_FLAGS):
            problems.append((f"{flag}: llama-server does not read flag=value", f"write {name} and its value as two list items"))
            continue
        if flag in _OWNED_FLAGS or flag in _UNSIZED_FLAGS:
            if flag in _OWNED_FLAGS:
                problems.append((f"{flag} is set by llama-herd: {_OWNED_FLAGS[flag]}", f"remove {flag}"))
            else:
                problems.append(
                    (
                        f"{flag} changes llama-server's memory in a way the plan does not size, so it could not promise the model fits",
                        f"remove {flag}",
                    )
                )
            i += 0 if flag in _SWITCHES else 1
            continue
        if flag not in _MEMORY_FLAGS:
            rest.append(flag)
            continue
        field, kind = _MEMORY_FLAGS[flag]
        if kind in ("true", "false"):
            fields[field] = kind == "true"
            continue
        if i >= len(items):
            problems.append((f"{flag} needs a value", f"add the value after {flag}"))
            continue
        value = items[i]
        i += 1
        if kind in ("count", "count0"):
            low = 0 if kind == "count0" else 1
            if not re.fullmatch(r"\d+", value) or int(value) < low:
                problems.append((f"{flag} {value}: must be a whole number of at least {low}", f"write {flag} and a number"))
                continue
            fields[field] = int(value)
        elif kind == "onoff":
            if value.lower() in _TRUTHY:
                fields[field] = "on"
            elif value.lower() in _FALSY:
                fields[field] = "off"
            else:
                problems.append(
                    (
                        f"{flag} {value}: auto or an unknown value lets llama.cpp decide per device, which the plan cannot size",
                        f"write {flag} on or {flag} off",
                    )
                )
        elif kind == "kvtype":
            if value.lower() not in KV_TYPES:
                problems.append((f"{flag} {value}: unknown KV cache type", f"use one of {', '.join(sorted(KV_TYPES))}"))
                continue
            fields[field] = value.lower()
    return fields, rest, problems


def server_settings(server: Mapping[str, Any]) -> dict[str, Any]:
    """The memory settings of a llama-server record: its fields over
    SERVER_DEFAULTS (the values both the plan and the command line use)."""
    out = dict(SERVER_DEFAULTS)
    out.update({k: server[k] for k in SERVER_DEFAULTS if server.get(k) is not None})
    return out


def memory_kwargs(server: Mapping[str, Any]) -> dict[str, Any]:
    """The record's memory settings as memory.llama_server_memory's
    keyword arguments: the one mapping from the flags to the estimate."""
    s = server_settings(server)
    return {
        "kv_unified": s["kv_unified"],
        "cache_type_k": s["cache_type_k"],
        "cache_type_v": s["cache_type_v"],
        "flash_attn": s["flash_attn"] == "on",
        "n_ubatch": s["ubatch"],
        "n_batch": s["batch"],
    }


def llama_server_argv(binary: str, server: Mapping[str, Any], host: str, threads: int | None = None) -> list[str]:
    """llama-server's command line for one instance (an entry of
    ``llama_cpp_servers`` with ``model_path`` and ``rpc`` resolved). Every
    memory flag is written out from the record; a memory flag in
    ``extra_args`` is refused, as the plan would not have sized it."""
    fields, rest, problems = parse_server_args(server.get("extra_args"))
    if fields or problems:
        said = [f"{p}. Fix: {f}" for p, f in problems]
        said += [f"{k} belongs in the instance's own field {k}, where the plan sizes it" for k in fields]
        raise ValueError(f"llama-server instance {server.get('name')}: extra_args: " + "; ".join(said))
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
    if server.get("context") is not None:
        argv += ["--ctx-size", str(int(server["context"]))]
    if server.get("parallel"):
        argv += ["--parallel", str(int(server["parallel"]))]
    s = server_settings(server)
    argv += ["--flash-attn", s["flash_attn"], "--ubatch-size", str(s["ubatch"]), "--batch-size", str(s["batch"])]
    argv += ["--cache-type-k", s["cache_type_k"], "--cache-type-v", s["cache_type_v"]]
    argv += ["--kv-unified" if s["kv_unified"] else "--no-kv-unified", "--cache-ram", str(s["cache_ram_mib"])]
    if threads:
        argv += ["--threads", str(int(threads))]
    if server.get("api_key_file"):
        argv += ["--api-key-file", str(server["api_key_file"])]
    if server.get("verbosity") is not None:
        argv += ["--log-verbosity", str(int(server["verbosity"]))]
    # Prometheus metrics at /metrics (roles/monitoring scrapes them).
    argv += [*(["--metrics"] if "--metrics" not in rest else []), "--no-webui"]
    argv += rest
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
