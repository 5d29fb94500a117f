"""The CUDA guard met for real: a real nvcc refuses the compute capabilities
``cuda_toolkit_problem`` says its toolkit cannot build for, compiles the rest,
and preflight stops such an inventory before any host changes.

nvcc is found via HERD_NVCC, else ``nvcc`` on PATH, else
/usr/local/cuda*/bin/nvcc (newest first). No GPU is needed: every compile is
``-c`` (no link, so no libcudart). ``nvcc -c`` on a .cu file force-includes
cuda_runtime.h and runs cicc and ptxas, so it needs a whole toolkit, not the
nvcc binary alone; no extra flags are needed with one (the CUDA 13.0 here is
NVIDIA's wheels merged into /usr/local/cuda-13.0, the layout nvcc.profile
expects: targets/x86_64-linux/include, nvvm/bin/cicc).
"""

from __future__ import annotations

import copy
import glob
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, flat, run_playbook

sys.path.insert(0, str(REPO / "collections"))
from ansible_collections.llamaherd.cluster.plugins.module_utils.llama_cpp import cuda_toolkit_problem

KERNEL = "__global__ void k(float *x){x[threadIdx.x]*=2.f;}\n"
# The compute capabilities checked against each toolkit (Maxwell .. Blackwell).
CCS = ("5.0", "6.1", "7.0", "7.5", "8.6", "8.9", "9.0", "12.0")
# How nvcc refuses an architecture. CUDA 13.0.88 (V13.0.88) says
#   nvcc fatal   : Unsupported gpu architecture 'sm_70'
# for an architecture it knows but dropped; CUDA 11.8.89 says
#   nvcc fatal   : Value 'sm_120' is not defined for option 'gpu-architecture'
# for one newer than itself.
REFUSED = re.compile(r"nvcc fatal\s*: (Unsupported gpu architecture '|Value '\w+' is not defined for option 'gpu-architecture')")
HOW_TO_GET_NVCC = (
    "Install a CUDA 13 toolkit, or NVIDIA's wheels: `pip install nvidia-cuda-nvcc==13.0.88` puts nvcc at "
    "site-packages/nvidia/cu13/bin/nvcc, which refuses architectures on its own but compiles nothing without "
    "cicc and the headers of nvidia-nvvm, nvidia-cuda-crt, nvidia-cuda-runtime and nvidia-cuda-cccl (13.0.x) "
    "in the same prefix, reachable as targets/x86_64-linux/include (nvcc.profile). This machine's "
    "/usr/local/cuda-13.0 is those wheels merged so. Then set HERD_NVCC=/path/to/bin/nvcc."
)
NOT_FOUND = "no nvcc found (looked at $HERD_NVCC, `nvcc` on PATH, /usr/local/cuda*/bin/nvcc). "
CASES_DIR = Path(__file__).parent / "preflight"
NO_NETWORK = ["-e", "ansible_connection=containers.podman.podman"]


def _nvcc_env(nvcc: str) -> dict[str, str]:
    # nvcc runs ptxas, fatbinary and cicc found on PATH unless its profile pins
    # them. Debian's CUDA 11.8 (/usr/bin/nvcc) pins none, and with
    # /usr/local/bin first on PATH it ran CUDA 13's ptxas ("ptxas fatal :
    # Value 'sm_70' is not defined for option 'gpu-name'"). The tools beside
    # the nvcc we call come first.
    env = dict(os.environ)
    env["PATH"] = f"{Path(nvcc).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run(nvcc: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([nvcc, *args], cwd=cwd, env=_nvcc_env(nvcc), capture_output=True, text=True, timeout=300, check=False)


def _local_cuda_nvccs() -> list[str]:
    def version(path: str) -> tuple[int, ...]:
        m = re.search(r"cuda-(\d+)\.(\d+)", os.path.realpath(path))
        return (int(m.group(1)), int(m.group(2))) if m else (0, 0)

    return sorted(glob.glob("/usr/local/cuda*/bin/nvcc"), key=version, reverse=True)


def _path_nvccs() -> list[str]:
    found = []
    for d in os.environ.get("PATH", "").split(os.pathsep):
        p = Path(d or ".") / "nvcc"
        if p.is_file() and os.access(p, os.X_OK):
            found.append(str(p))
    return found


def find_nvcc() -> str | None:
    """HERD_NVCC, else nvcc on PATH, else /usr/local/cuda*/bin/nvcc (newest)."""
    if os.environ.get("HERD_NVCC"):
        return os.environ["HERD_NVCC"]
    return shutil.which("nvcc") or next(iter(_local_cuda_nvccs()), None)


def toolkit_version(nvcc: str) -> tuple[str, str]:
    """('13.0', '13.0.88') from `nvcc --version`."""
    res = _run(nvcc, "--version")
    m = re.search(r"release (\d+\.\d+), V(\d+\.\d+\.\d+)", res.stdout)
    assert res.returncode == 0 and m, f"{nvcc} --version: {res.stdout}{res.stderr}"
    return m.group(1), m.group(2)


def all_toolkits() -> dict[str, str]:
    """Every distinct toolkit on this machine, full version -> an nvcc of it,
    the one find_nvcc picks first."""
    out: dict[str, str] = {}
    for nvcc in [find_nvcc(), *_path_nvccs(), *_local_cuda_nvccs()]:
        if nvcc and os.access(nvcc, os.X_OK):
            out.setdefault(toolkit_version(nvcc)[1], nvcc)
    return out


@pytest.fixture(scope="module")
def nvcc() -> str:
    found = find_nvcc()
    if not found or not os.access(found, os.X_OK):
        pytest.fail(NOT_FOUND + HOW_TO_GET_NVCC if not found else f"HERD_NVCC={found} is not an executable. {HOW_TO_GET_NVCC}")
    return found


def compile_kernel(nvcc: str, tmp: Path, *arch_flags: str) -> tuple[bool, str]:
    """(accepted, nvcc's output) for the one-kernel .cu built with arch_flags.
    Anything but success or an architecture refusal is a broken toolkit, not
    evidence, and fails the test."""
    tmp.mkdir(parents=True, exist_ok=True)
    src, obj = tmp / "k.cu", tmp / "k.o"
    src.write_text(KERNEL)
    obj.unlink(missing_ok=True)
    res = _run(nvcc, "-c", *arch_flags, str(src), "-o", str(obj), cwd=tmp)
    out = (res.stdout + res.stderr).strip()
    if res.returncode == 0:
        assert obj.is_file() and obj.stat().st_size > 0, f"{nvcc} {arch_flags}: exit 0 but no {obj}"
        return True, out
    assert REFUSED.search(out), f"{nvcc} -c {' '.join(arch_flags)} failed, but not by refusing the architecture:\n{out}"
    assert not obj.exists()
    return False, out


# ---------------------------------------------------------------- 1. nvcc itself


def test_cuda_13_nvcc_refuses_volta_and_builds_turing_and_ampere(nvcc, tmp_path):
    major_minor, full = toolkit_version(nvcc)
    if int(major_minor.split(".")[0]) < 13:
        pytest.fail(f"{nvcc} is CUDA {full}; this test is about CUDA 13 dropping Volta. {HOW_TO_GET_NVCC}")
    for flags in (["-arch=sm_70"], ["--gpu-architecture=compute_70"]):
        ok, out = compile_kernel(nvcc, tmp_path / flags[0].split("=")[1], *flags)
        assert not ok
        arch = flags[0].split("=")[1]
        assert f"nvcc fatal   : Unsupported gpu architecture '{arch}'" in out, out
    for arch in ("sm_75", "sm_86"):
        ok, out = compile_kernel(nvcc, tmp_path / arch, f"-arch={arch}")
        assert ok, out
        assert (tmp_path / arch / "k.o").is_file()


# ---------------------------------------------------------------- 2. the table


def test_the_table_agrees_with_every_real_nvcc(nvcc, tmp_path):
    """cuda_toolkit_problem(version, cc) is None exactly when that toolkit's
    nvcc compiles -arch=sm_XY, for every toolkit found (on this machine CUDA
    13.0 and Debian's CUDA 11.8); and nvcc refuses exactly what --list-gpu-arch omits."""
    toolkits = all_toolkits()
    assert toolkits, NOT_FOUND + HOW_TO_GET_NVCC
    disagree = []
    for full, tool in toolkits.items():
        version = ".".join(full.split(".")[:2])
        listed = set(_run(tool, "--list-gpu-arch").stdout.split())
        for cc in CCS:
            arch = cc.replace(".", "")
            accepted, out = compile_kernel(tool, tmp_path / full / arch, f"-arch=sm_{arch}")
            assert accepted == (f"compute_{arch}" in listed), (
                f"{tool}: sm_{arch} accepted={accepted} but --list-gpu-arch: {sorted(listed)}"
            )
            problem = cuda_toolkit_problem(version, cc)
            if (problem is None) != accepted:
                disagree.append(
                    f"CUDA {full} ({tool}) cc {cc}: nvcc {'accepts' if accepted else 'refuses'} ({out!r}), table says {problem!r}"
                )
    assert not disagree, "\n".join(disagree)


# ---------------------------------------------------------------- 3. preflight


def _inventory(hosts: dict[str, dict]) -> dict:
    inv = copy.deepcopy(yaml.safe_load((CASES_DIR / "base.yml").read_text()))
    workers = inv["all"]["children"]["llama_cpp_workers"]["hosts"]
    for host, hv in hosts.items():
        workers[host].update(hv)
    return inv


V100S = {"vendor": "nvidia", "name": "Tesla V100S", "vram_mib": 32768, "compute_capability": "7.0"}
RTX4090 = {"vendor": "nvidia", "name": "RTX 4090", "vram_mib": 24576, "compute_capability": "8.9"}


def test_preflight_stops_the_inventory_nvcc_would_refuse(nvcc, tmp_path):
    version, _ = toolkit_version(nvcc)
    assert int(version.split(".")[0]) >= 13, f"{nvcc} is CUDA {version}; the V100S case needs a CUDA 13 nvcc"
    inv = tmp_path / "hosts.yml"
    # worker-2: CUDA 11.0 cannot target Ada (8.9 needs 11.8). Table only: the
    # only other nvcc here is Debian's 11.8, which builds sm_89; no 11.0.
    inv.write_text(
        yaml.safe_dump(
            _inventory(
                {
                    "worker-1": {"herd_gpus": [V100S], "herd_cuda_version": version},
                    "worker-2": {"herd_gpus": [RTX4090], "herd_cuda_version": "11.0"},
                }
            )
        )
    )
    res = run_playbook("-i", str(inv), "site.yml", *NO_NETWORK)
    out = flat(res.stdout + res.stderr)
    assert res.returncode != 0, out
    assert "nothing was changed" in out, out[-2000:]
    for words in (
        f"host worker-1: herd_cuda_version: CUDA {version} dropped compute capability 7.0",
        "install CUDA 12.8",
        "host worker-2: herd_cuda_version: CUDA 11.0 cannot build for compute capability 8.9",
        "install CUDA 11.8 or newer",
    ):
        assert words in out, f"missing {words!r} in: {out[-3000:]}"
    plays = [line for line in res.stdout.splitlines() if line.startswith("PLAY [")]
    assert plays and all("Preflight" in p for p in plays), plays
    assert "UNREACHABLE" not in res.stdout
    assert "changed=0" in res.stdout and "changed=1" not in res.stdout


def test_preflight_passes_the_toolkits_nvcc_accepts(tmp_path):
    """The control: the same GPUs with toolkits that build for them pass."""
    inv = tmp_path / "hosts.yml"
    inv.write_text(
        yaml.safe_dump(
            _inventory(
                {
                    "worker-1": {"herd_gpus": [V100S], "herd_cuda_version": "12.8"},
                    "worker-2": {"herd_gpus": [RTX4090], "herd_cuda_version": "11.8"},
                }
            )
        )
    )
    res = run_playbook("-i", str(inv), "playbooks/preflight.yml", *NO_NETWORK)
    assert res.returncode == 0, res.stdout + res.stderr
