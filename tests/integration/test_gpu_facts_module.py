"""gpu_facts runs for real on this machine (loopback, local connection):
RAM agrees with /proc/meminfo; a host without GPU tools is not measured (no
gpus: the declared herd_gpus stand), a tool that answers and finds no GPU
measures none."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from conftest import REPO, VENV_BIN, ansible_env


def _adhoc(tmp_path, *args: str) -> dict:
    env = ansible_env()
    env["ANSIBLE_LOAD_CALLBACK_PLUGINS"] = "true"
    env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.builtin.json"
    env["ANSIBLE_CACHE_PLUGIN_CONNECTION"] = str(tmp_path / "facts")  # keep the checkout's fact cache clean
    res = subprocess.run(
        [
            str(VENV_BIN / "ansible"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-m",
            "llamaherd.cluster.gpu_facts",
            *args,
            "localhost",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(res.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


def _meminfo_mib() -> int:
    with open("/proc/meminfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise AssertionError("no MemTotal in /proc/meminfo")


@pytest.mark.skipif(
    any(shutil.which(t) for t in ("nvidia-smi", "rocm-smi", "rocminfo", "xpu-smi")), reason="this check is for a GPU-less machine"
)
def test_gpu_facts_on_this_machine(tmp_path):
    """No GPU tool and no DRM card: "not measured", not "no GPU"."""
    result = _adhoc(tmp_path, "-a", f"sysfs_root={tmp_path / 'empty-sys'}")
    measured = result["ansible_facts"]["herd_measured"]
    assert measured["ram_mib"] == _meminfo_mib()
    assert "gpus" not in measured and measured["gpu_sources"] == []
    assert measured["arch"] == subprocess.run(["uname", "-m"], capture_output=True, text=True, check=True).stdout.strip()
    assert result["changed"] is False
    assert result["tools"] == [] and result["problems"] == []


def test_gpu_facts_check_mode_and_broken_tool(tmp_path):
    """A GPU tool that is installed but fails leaves gpus out (declared herd_gpus
    stay in force) and says why; check mode measures the same way."""
    fake = tmp_path / "nvidia-smi"
    fake.write_text(
        '#!/bin/sh\necho "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver."\nexit 9\n',
        encoding="utf-8",
    )
    fake.chmod(0o755)
    result = _adhoc(
        tmp_path,
        "--check",
        "-a",
        f"nvidia_smi={fake} rocm_smi=/nonexistent/rocm-smi rocminfo=/nonexistent/rocminfo xpu_smi=/nonexistent/xpu-smi"
        f" sysfs_root={tmp_path / 'empty-sys'}",
    )
    measured = result["ansible_facts"]["herd_measured"]
    assert "gpus" not in measured and measured["gpu_sources"] == []
    assert measured["ram_mib"] == _meminfo_mib()
    assert result["tools"] == ["nvidia-smi"]
    assert "exited 9" in result["problems"][0] and "NVIDIA-SMI has failed" in result["problems"][0]


def test_gpu_facts_amd_sysfs_and_intel_xpu_smi(tmp_path):
    """Without rocm-smi/rocminfo an AMD card is read from sysfs (gfx target from
    the KFD node of its render minor); Intel GPUs from xpu-smi's JSON."""
    sysfs = tmp_path / "sys"
    dev = sysfs / "class/drm/card0/device"
    (dev / "drm/renderD128").mkdir(parents=True)
    (dev / "vendor").write_text("0x1002\n", encoding="utf-8")
    (dev / "mem_info_vram_total").write_text(f"{512 * 2**20}\n", encoding="utf-8")
    (sysfs / "class/drm/card0-DP-1").mkdir(parents=True)  # a connector, not a device
    cpu_node = sysfs / "class/kfd/kfd/topology/nodes/0"
    gpu_node = sysfs / "class/kfd/kfd/topology/nodes/1"
    cpu_node.mkdir(parents=True)
    gpu_node.mkdir(parents=True)
    (cpu_node / "properties").write_text("cpu_cores_count 16\ngfx_target_version 0\ndrm_render_minor 0\n", encoding="utf-8")
    (gpu_node / "properties").write_text("simd_count 80\ngfx_target_version 110501\ndrm_render_minor 128\n", encoding="utf-8")
    fixtures = REPO / "tests/unit/fixtures/gpu_facts"
    xpu = tmp_path / "xpu-smi"
    xpu.write_text(
        "#!/bin/sh\n"
        f'if [ "$2" = "-j" ]; then cat {fixtures}/xpu-smi_discovery_2xarc.json; exit 0; fi\n'
        f'case "$3" in 0) cat {fixtures}/xpu-smi_device0_a770.json;; 1) cat {fixtures}/xpu-smi_device1_b580.json;;'
        " *) echo no such device; exit 1;; esac\n",
        encoding="utf-8",
    )
    xpu.chmod(0o755)
    result = _adhoc(
        tmp_path,
        "-a",
        f"nvidia_smi=/nonexistent/nvidia-smi rocm_smi=/nonexistent/rocm-smi rocminfo=/nonexistent/rocminfo"
        f" xpu_smi={xpu} sysfs_root={sysfs}",
    )
    assert result["problems"] == [] and result["tools"] == ["xpu-smi"]
    assert result["ansible_facts"]["herd_measured"]["gpu_sources"] == ["amdgpu-sysfs", "xpu-smi"]
    gpus = result["ansible_facts"]["herd_measured"]["gpus"]
    amd = [g for g in gpus if g["vendor"] == "amd"]
    intel = [g for g in gpus if g["vendor"] == "intel"]
    assert amd == [
        {"vendor": "amd", "index": 0, "name": "AMD GPU", "vram_mib": 512, "gfx_target": "gfx1151", "unified_memory": True}
    ]
    assert [g["index"] for g in intel] == [0, 1]  # the virtual function is not a GPU to place on
    assert all(g["vram_mib"] > 8000 for g in intel)


def test_gpu_facts_tool_answers_no_gpu(tmp_path):
    """An Intel host's xpu-smi that lists no device: measured, no GPU (gpus: []),
    which the plan lets win over a declared card; the other vendors stay unmeasured."""
    xpu = tmp_path / "xpu-smi"
    xpu.write_text("#!/bin/sh\necho '{\"device_list\": []}'\n", encoding="utf-8")
    xpu.chmod(0o755)
    result = _adhoc(
        tmp_path,
        "-a",
        f"nvidia_smi=/nonexistent/nvidia-smi rocm_smi=/nonexistent/rocm-smi rocminfo=/nonexistent/rocminfo"
        f" xpu_smi={xpu} sysfs_root={tmp_path / 'empty-sys'}",
    )
    measured = result["ansible_facts"]["herd_measured"]
    assert result["problems"] == [] and result["tools"] == ["xpu-smi"]
    assert measured["gpus"] == [] and measured["gpu_sources"] == ["xpu-smi"]


def test_gpu_facts_reads_the_nvidia_driver_version(tmp_path):
    """The driver's version from nvidia-smi's driver_version query; where
    nvidia-smi fails, from the kernel module's version file. The outputs are
    the recorded fixtures (no NVIDIA GPU here to run the real tool on)."""
    fixtures = REPO / "tests/unit/fixtures/gpu_facts"
    smi = tmp_path / "nvidia-smi"
    smi.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        f"  --query-gpu=driver_version) cat {fixtures}/nvidia-smi_driver_3xv100s.csv;;\n"
        f"  --query-gpu=index,name,memory.total,compute_cap,uuid) cat {fixtures}/nvidia-smi_3xv100s.csv;;\n"
        '  *) echo "unexpected $1"; exit 2;;\n'
        "esac\n",
        encoding="utf-8",
    )
    smi.chmod(0o755)
    others = f"rocm_smi=/nonexistent/rocm-smi rocminfo=/nonexistent/rocminfo xpu_smi=/nonexistent/xpu-smi sysfs_root={tmp_path / 'no-sys'}"
    proc = fixtures / "proc_nvidia_version_open_560.txt"
    result = _adhoc(tmp_path, "-a", f"nvidia_smi={smi} nvidia_proc_version={proc} {others}")
    assert result["problems"] == []
    measured = result["ansible_facts"]["herd_measured"]
    assert measured["nvidia_driver_version"] == "470.82.01" and len(measured["gpus"]) == 3
    broken = tmp_path / "broken-smi"
    broken.write_text('#!/bin/sh\necho "NVIDIA-SMI has failed"\nexit 9\n', encoding="utf-8")
    broken.chmod(0o755)
    result = _adhoc(tmp_path, "-a", f"nvidia_smi={broken} nvidia_proc_version={proc} {others}")
    assert result["ansible_facts"]["herd_measured"]["nvidia_driver_version"] == "560.35.03"


def test_gpu_facts_reads_gpu_use_when_asked(tmp_path):
    """usage: true reads each GPU's use now with the node metrics timer's
    readers and the module's own tool paths (status.yml's direct read). The
    nvidia-smi stand-in answers the usage query with a recorded 3 x V100S."""
    smi = REPO / "tests/doubles/nvidia-smi/nvidia-smi"
    others = f"rocm_smi=/nonexistent/rocm-smi rocminfo=/nonexistent/rocminfo xpu_smi=/nonexistent/xpu-smi sysfs_root={tmp_path / 'no-sys'}"
    result = _adhoc(tmp_path, "-a", f"nvidia_smi={smi} usage=true {others}")
    usage = result["usage"]
    assert [g["index"] for g in usage] == [0, 1, 2]
    assert all(g["vendor"] == "nvidia" and g["vram_total_mib"] > 30000 and "vram_used_mib" in g for g in usage), usage
    assert "usage" not in _adhoc(tmp_path, "-a", f"nvidia_smi={smi} {others}")


@pytest.mark.skipif(not shutil.which("nvcc", path="/usr/local/cuda/bin"), reason="no CUDA toolkit in /usr/local/cuda here")
def test_gpu_facts_reads_the_installed_toolkit(tmp_path):
    """The real nvcc (found in /usr/local/cuda/bin when not on PATH) gives
    herd_measured.cuda_version, the toolkit preflight meets with the driver."""
    real = subprocess.run(["/usr/local/cuda/bin/nvcc", "--version"], capture_output=True, text=True, check=True).stdout
    want = real.split("release ", 1)[1].split(",", 1)[0]
    result = _adhoc(tmp_path, "-a", f"nvcc=nvcc sysfs_root={tmp_path / 'no-sys'}")
    assert result["ansible_facts"]["herd_measured"]["cuda_version"] == want
    assert "nvcc" not in result["tools"]  # a toolkit, not a GPU tool
