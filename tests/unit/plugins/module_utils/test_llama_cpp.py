"""llama.cpp facts: CMake flags, build keys, command lines, CUDA preflight."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from plan_inputs import MEMORY_FLAG_CASES

REPO = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.llamaherd.cluster.plugins.module_utils import llama_cpp as lc  # noqa: E402
from ansible_collections.llamaherd.cluster.plugins.module_utils.inventory import validate_inventory  # noqa: E402
from ansible_collections.llamaherd.cluster.plugins.module_utils.ports import PORT_LIST_VARS, PORT_VARS  # noqa: E402

V100S = {"vendor": "nvidia", "name": "Tesla V100S-PCIE-32GB", "compute_capability": "7.0", "vram_mib": 32768}


def test_cpu_flags_have_rpc_and_no_native_and_offline_switches():
    flags = lc.cmake_flags([], build_number=11312)
    for f in ("-DGGML_RPC=ON", "-DGGML_NATIVE=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF", "-DLLAMA_OPENSSL=OFF"):
        assert f in flags
    assert "-DLLAMA_BUILD_NUMBER=11312" in flags
    assert not any("CUDA" in f or "HIP" in f for f in flags)


def test_cuda_flags_from_compute_capability():
    flags = lc.cmake_flags([V100S, {**V100S, "compute_capability": "8.6"}])
    assert "-DGGML_CUDA=ON" in flags
    assert "-DCMAKE_CUDA_ARCHITECTURES=70;86" in flags


def test_cuda_compiler_names_the_toolkit_root_too():
    flags = lc.cmake_flags([V100S], cuda_compiler="/usr/bin/nvcc")
    assert flags[-2:] == ["-DCMAKE_CUDA_COMPILER=/usr/bin/nvcc", "-DCUDAToolkit_ROOT=/usr"]
    flags = lc.cmake_flags([V100S], cuda_compiler="/usr/local/cuda-12.8/bin/nvcc")
    assert "-DCUDAToolkit_ROOT=/usr/local/cuda-12.8" in flags
    assert not any("CUDA_COMPILER" in f or "CUDAToolkit" in f for f in lc.cmake_flags([V100S]))
    # A CPU or AMD host builds without CUDA whatever the variable says.
    assert not any("CUDA" in f for f in lc.cmake_flags([], cuda_compiler="/usr/bin/nvcc"))
    assert lc.build_key("b1", "s", flags, "x86_64") != lc.build_key("b1", "s", lc.cmake_flags([V100S]), "x86_64")


@pytest.mark.parametrize("bad", ["nvcc", "/usr/bin/", "/usr/lib/nvidia-cuda-toolkit/bin/nvcc-wrapper", "bin/nvcc"])
def test_cuda_compiler_must_be_an_absolute_bin_nvcc(bad):
    with pytest.raises(ValueError, match="absolute path to an nvcc"):
        lc.cuda_compiler_flags(bad)


def test_ccache_covers_nvcc_on_a_cuda_host_only():
    assert "-DCMAKE_CUDA_COMPILER_LAUNCHER=ccache" in lc.cmake_flags([V100S], ccache=True)
    assert "-DCMAKE_CUDA_COMPILER_LAUNCHER=ccache" not in lc.cmake_flags([V100S])
    assert not any("CUDA" in f for f in lc.cmake_flags([], ccache=True))
    # The launcher changes no output, so no build key.
    assert lc.build_key("b1", "s", lc.cmake_flags([V100S], ccache=True), "x86_64") == lc.build_key(
        "b1", "s", lc.cmake_flags([V100S]), "x86_64"
    )


def test_ccache_covers_hips_clang_on_an_amd_host_only():
    amd = {"vendor": "amd", "gfx_target": "gfx1151", "vram_mib": 1}
    assert "-DCMAKE_HIP_COMPILER_LAUNCHER=ccache" in lc.cmake_flags([amd], ccache=True)
    assert "-DCMAKE_HIP_COMPILER_LAUNCHER=ccache" not in lc.cmake_flags([amd])
    assert not any("HIP" in f for f in lc.cmake_flags([V100S], ccache=True) + lc.cmake_flags([], ccache=True))
    assert lc.build_key("b1", "s", lc.cmake_flags([amd], ccache=True), "x86_64") == lc.build_key(
        "b1", "s", lc.cmake_flags([amd]), "x86_64"
    )


def test_hip_flags_from_gfx_target():
    flags = lc.cmake_flags([{"vendor": "amd", "gfx_target": "gfx1151", "vram_mib": 1}])
    assert "-DGGML_HIP=ON" in flags and "-DGPU_TARGETS=gfx1151" in flags


def test_build_key_changes_with_flags_source_and_arch_but_not_ccache():
    base = lc.cmake_flags([])
    key = lc.build_key("b11312", "sha256:aa", base, "x86_64")
    assert key.startswith("b11312-x86_64-")
    assert key == lc.build_key("b11312", "sha256:aa", lc.cmake_flags([], ccache=True), "x86_64")
    assert key != lc.build_key("b11312", "sha256:bb", base, "x86_64")
    assert key != lc.build_key("b11312", "sha256:aa", base, "aarch64")
    assert key != lc.build_key("b11312", "sha256:aa", lc.cmake_flags([V100S]), "x86_64")


def test_rpc_server_binds_the_given_address():
    argv = lc.rpc_server_argv("/opt/llama.cpp/current/bin/ggml-rpc-server", "203.0.113.32", 50052, threads=4, cache=True)
    assert argv[1:5] == ["--host", "203.0.113.32", "--port", "50052"]
    assert argv[-3:] == ["--threads", "4", "--cache"]


def test_llama_server_command_line_from_plan_entry():
    server = {
        "name": "or1",
        "model_path": "/var/lib/llama-cpp/models/or1.gguf",
        "port": 8000,
        "context": 4096,
        "parallel": 1,
        "n_gpu_layers": 999,
        "tensor_split": [1, 1, 1],
        "rpc": lc.rpc_endpoints([{"address": "203.0.113.32", "port": 50052}, {"address": "203.0.113.33", "port": 50052}]),
    }
    cmd = lc.shell_join(lc.llama_server_argv("/opt/llama.cpp/current/bin/llama-server", server, "198.51.100.31", threads=40))
    assert "--rpc 203.0.113.32:50052,203.0.113.33:50052" in cmd
    assert "--host 198.51.100.31 --port 8000" in cmd
    assert "--n-gpu-layers 999 --fit off" in cmd
    assert "--tensor-split 1,1,1" in cmd
    assert "--ctx-size 4096 --parallel 1 --flash-attn on --ubatch-size 512 --batch-size 2048" in cmd
    assert "--cache-type-k f16 --cache-type-v f16 --no-kv-unified --cache-ram 0 --threads 40" in cmd
    # /metrics for Prometheus (roles/monitoring), never twice when extra_args has it.
    assert cmd.endswith(" --metrics --no-webui")
    again = lc.llama_server_argv("llama-server", {**server, "extra_args": ["--metrics"]}, "127.0.0.1")
    assert again.count("--metrics") == 1


def test_shell_join_escapes_for_systemd():
    assert lc.shell_join(["a", "b c", "50%", "$x"]) == 'a "b c" "50%%" "$$x"'


@pytest.mark.parametrize(
    ("cuda", "cc", "ok"),
    [
        ("12.8", "7.0", True),
        ("13.0", "7.0", False),
        ("13.0", "7.5", True),
        ("12.4", "12.0", False),
        ("12.8", "12.0", True),
        ("11.0", "8.6", False),
        ("12", "6.1", True),
    ],
)
def test_cuda_toolkit_problem(cuda, cc, ok):
    assert (lc.cuda_toolkit_problem(cuda, cc) is None) is ok


def test_cuda_13_on_volta_names_the_version_to_install():
    problem = lc.cuda_toolkit_problem("13.0", "7.0")
    assert "12.8" in problem and "7.0" in problem


def _seed003(cuda: str):
    hv = {"herd_cluster_address": "198.51.100.32", "herd_cuda_version": cuda, "herd_gpus": [V100S]}
    return validate_inventory(
        {"w": hv, "h": {"herd_cluster_address": "198.51.100.31"}}, {"llama_cpp_workers": ["w"], "llama_cpp_head": ["h"]}
    )


def test_preflight_refuses_cuda_13_for_a_v100s():
    report = _seed003("13.0")
    assert not report.ok
    (msg,) = [e for e in report.errors if "herd_cuda_version" in e]
    assert msg.startswith("host w: herd_cuda_version:") and "install CUDA 12.8" in msg


def test_preflight_accepts_cuda_12_for_a_v100s():
    assert _seed003("12.8").ok


# The toolkit vs the NVIDIA driver (CUDA_MIN_DRIVER, NVIDIA's release-notes table).
@pytest.mark.parametrize(
    ("cuda", "driver", "level"),
    [
        ("12.2", "470.82.01", "error"),  # 12.x needs 525.60.13 even with minor-version compatibility
        ("11.8", "470.82.01", "warning"),  # 11.8 wants 520.61.05; 11.x runs from 450.80.02
        ("11.4", "470.82.01", None),
        ("12.8", "570.26", None),  # exactly the minimum
        ("12.8", "535.104.05", "warning"),
        ("12.0", "525.60.12", "error"),
        ("13.0", "575.57.08", "error"),  # a new major needs its own driver branch
        ("13.0", "580.65.06", None),
        ("12", "525.60.13", None),
    ],
)
def test_cuda_driver_problem(cuda, driver, level):
    got = lc.cuda_driver_problem(cuda, driver)
    assert (got[0] if got else None) == level


def test_cuda_for_driver():
    assert lc.cuda_for_driver("470.82.01") == "11.4"
    assert lc.cuda_for_driver("570.133.20") == "12.8"
    assert lc.cuda_for_driver("580.95.05") == "13.0"
    assert lc.cuda_for_driver("440.33.01") is None
    with pytest.raises(ValueError, match="not an NVIDIA driver version"):
        lc.cuda_for_driver("r535")


def test_the_driver_table_is_ordered_like_the_releases():
    """A newer toolkit never needs an older driver: a typo in the table would."""
    rows = sorted(lc.CUDA_MIN_DRIVER.items())
    drivers = [lc._driver(d) for _, d in rows]
    assert drivers == sorted(drivers)
    for major, floor in lc.CUDA_MINOR_COMPAT_DRIVER.items():
        assert lc._driver(floor) <= lc._driver(lc.CUDA_MIN_DRIVER[max(v for v in lc.CUDA_MIN_DRIVER if v[0] == major)])


def test_measured_driver_wins_over_the_declared_one():
    hv = {"herd_cuda_version": "12.8", "herd_nvidia_driver_version": "470.82.01"}
    level, var, problem, fix = lc.cuda_driver_check("v100-1", hv)
    assert (level, var) == ("error", "herd_cuda_version")
    assert problem.startswith("the NVIDIA driver 470.82.01 runs CUDA up to 11.4, but CUDA 12.8")
    assert "upgrade the NVIDIA driver on v100-1 to 570.26 or newer" in fix
    hv["herd_measured"] = {"nvidia_driver_version": "570.133.20"}
    assert lc.cuda_driver_check("v100-1", hv) is None
    hv["herd_measured"] = {"nvidia_driver_version": "470.82.01"}
    assert "(measured by gpu_facts)" in lc.cuda_driver_check("v100-1", hv)[2]
    assert lc.cuda_driver_check("v100-1", {"herd_nvidia_driver_version": "470.82.01"}) is None  # no toolkit named


def test_plan_refuses_a_toolkit_the_measured_driver_cannot_run():
    """measure.yml then plan.yml: the measured driver reaches the plan's errors."""
    from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan

    measured = {"gpus": [V100S], "gpu_sources": ["nvidia-smi"], "ram_mib": 131072, "nvidia_driver_version": "470.82.01"}
    hv = {"herd_cluster_address": "198.51.100.31", "herd_cuda_version": "12.2", "herd_measured": measured}
    models = [{"name": "qwen2.5:3b", "engine": "llama_cpp"}]
    plan = build_plan({"h": {**hv, "herd_models": models}}, {"all": ["h"], "llama_cpp_head": ["h"]})
    assert any(
        e.startswith("host h: herd_cuda_version: the NVIDIA driver 470.82.01 (measured by gpu_facts)") for e in plan["errors"]
    )


def test_plan_records_the_driver_the_toolkit_choice_reads():
    """The role chooses its toolkit from the plan's record of the host's
    driver: measured by gpu_facts over herd_nvidia_driver_version."""
    from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan

    measured = {"gpus": [V100S], "gpu_sources": ["nvidia-smi"], "ram_mib": 131072, "nvidia_driver_version": "550.54.14"}
    base = {"herd_cluster_address": "198.51.100.31", "herd_nvidia_driver_version": "535.104.05"}
    models = [{"name": "qwen2.5:3b", "engine": "llama_cpp"}]
    groups = {"all": ["h"], "llama_cpp_head": ["h"]}
    plan = build_plan({"h": {**base, "herd_measured": measured, "herd_models": models}}, groups)
    assert plan["hosts"]["h"]["nvidia_driver_version"] == "550.54.14"
    plan = build_plan({"h": {**base, "herd_gpus": [V100S], "herd_ram_mib": 131072, "herd_models": models}}, groups)
    assert plan["hosts"]["h"]["nvidia_driver_version"] == "535.104.05"
    plan = build_plan({"h": {"herd_cluster_address": "198.51.100.31", "herd_ram_mib": 8192, "herd_models": models}}, groups)
    assert plan["hosts"]["h"]["nvidia_driver_version"] == ""


def test_role_port_defaults_match_preflight():
    defaults = yaml.safe_load((REPO / "roles/llama_cpp/defaults/main.yml").read_text())
    assert defaults["llama_cpp_rpc_port"] == PORT_VARS["llama_cpp_rpc_port"][1]
    assert PORT_LIST_VARS["llama_cpp_servers"] == ("llama_cpp_head", "port")
    assert all("port" in s for s in defaults["llama_cpp_servers"])


# ---------------------------------------------------------------- memory flags


@pytest.mark.parametrize(("args", "field", "value"), MEMORY_FLAG_CASES)
def test_memory_flags_become_record_fields(args, field, value):
    fields, rest, problems = lc.parse_server_args([*args, "--jinja", "--metrics"])
    assert fields == {field: value}
    assert rest == ["--jinja", "--metrics"]
    assert problems == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-ngl", "99"], "-ngl is set by llama-herd"),
        (["--tensor-split", "1,1"], "the plan splits the layers"),
        (["--port", "9000"], "--port is set by llama-herd"),
        (["-ot", "exps=CPU"], "-ot changes llama-server's memory"),
        (["--swa-full"], "--swa-full changes llama-server's memory"),
        (["-fa", "auto"], "lets llama.cpp decide per device"),
        (["-ctk", "q9_9"], "unknown KV cache type"),
        (["-c", "-1"], "must be a whole number"),
        (["-np", "0"], "at least 1"),
        (["-ub"], "needs a value"),
        (["--ctx-size=8192"], "does not read flag=value"),
    ],
)
def test_flags_the_plan_cannot_size_are_refused(args, says):
    fields, rest, problems = lc.parse_server_args(["--jinja", *args])
    assert fields == {} and rest == ["--jinja"]
    assert len(problems) == 1 and says in problems[0][0], problems


def test_a_memory_flag_in_a_records_extra_args_is_refused():
    """The role's own llama_cpp_servers path cannot bypass the plan either."""
    server = {"name": "x", "model_path": "/m.gguf", "port": 8080, "context": 4096, "extra_args": ["-ub", "2048"]}
    with pytest.raises(ValueError, match="ubatch belongs in the instance's own field ubatch"):
        lc.llama_server_argv("llama-server", server, "127.0.0.1")
    server["extra_args"] = ["--jinja"]
    assert lc.llama_server_argv("llama-server", server, "127.0.0.1")[-1] == "--jinja"


def _nv(*ccs):
    return [{"vendor": "nvidia", "compute_capability": cc} for cc in ccs]


@pytest.mark.parametrize(
    ("gpus", "dist", "pin", "source", "version", "archs"),
    [
        # Volta and Pascal: Debian's 11.8 builds both; Ubuntu 24.04's 12.0 too.
        (_nv("7.0"), ("Debian", "12"), None, "distro", "11.8", "70"),
        (_nv("6.1"), ("Debian", "12"), None, "distro", "11.8", "61"),
        (_nv("7.0"), ("Ubuntu", "24"), None, "distro", "12.0", "70"),
        # Ampere: the distribution's toolkit builds 8.6.
        (_nv("8.6"), ("Debian", "12"), None, "distro", "11.8", "86"),
        # Blackwell needs 12.8, which no distribution ships: NVIDIA's newest.
        (_nv("12.0"), ("Debian", "12"), None, "nvidia", "13.0", "120"),
        (_nv("12.0"), ("Ubuntu", "24"), None, "nvidia", "13.0", "120"),
        # Mixed generations: one toolkit for all, every architecture in one build.
        (_nv("7.0", "8.6"), ("Debian", "12"), None, "distro", "11.8", "70;86"),
        (_nv("7.0", "12.0"), ("Debian", "12"), None, "nvidia", "12.8", "120;70"),
        (_nv("8.6", "12.0"), ("Ubuntu", "24"), None, "nvidia", "13.0", "120;86"),
        # A pin wins: from the distribution when it is its version, else NVIDIA's.
        (_nv("7.0"), ("Debian", "12"), "12.8", "nvidia", "12.8", "70"),
        (_nv("7.0"), ("Debian", "12"), "11.8", "distro", "11.8", "70"),
        (_nv("8.6"), ("Ubuntu", "24"), "13", "nvidia", "13.0", "86"),
        # No NVIDIA GPU: nothing to install.
        ([{"vendor": "amd", "gfx_target": "gfx1100"}], ("Debian", "12"), None, "none", "", ""),
    ],
)
def test_cuda_toolkit_choice(gpus, dist, pin, source, version, archs):
    got = lc.cuda_toolkit_choice(gpus, *dist, pin=pin)
    assert (got["source"], got["version"], got["architectures"], got["problem"]) == (source, version, archs, None), got
    for g in gpus:
        if g["vendor"] == "nvidia":
            assert lc.cuda_toolkit_problem(got["version"], g["compute_capability"]) is None


def test_cuda_toolkit_choice_layout_per_source():
    debian = lc.cuda_toolkit_choice(_nv("7.0"), "Debian", "12")
    assert debian["nvcc"] == "/usr/bin/nvcc" and debian["packages"] == ["nvidia-cuda-toolkit"]
    assert debian["components"] == ["contrib", "non-free"]
    # The binaries link libcudart.so.11.0, libcublas.so.11 and libcublasLt.so.11.
    assert debian["runtime_packages"] == ["libcudart11.0", "libcublas11", "libcublaslt11"]
    nvidia = lc.cuda_toolkit_choice(_nv("7.0"), "Debian", "12", pin="12.8")
    assert nvidia["nvcc"] == "/usr/local/cuda-12.8/bin/nvcc" and nvidia["packages"] == ["cuda-toolkit-12-8"]
    assert nvidia["runtime_packages"] == ["cuda-cudart-12-8", "libcublas-12-8"] and nvidia["repo_dist"] == "debian12"
    assert lc.cuda_compiler_flags(nvidia["nvcc"])[1] == "-DCUDAToolkit_ROOT=/usr/local/cuda-12.8"


@pytest.mark.parametrize(
    ("gpus", "dist", "pin", "words"),
    [
        (_nv("7.0"), ("Debian", "12"), "13.0", ["CUDA 13.0 dropped compute capability 7.0", "install CUDA 12.8"]),
        (_nv("7.0", "8.6"), ("Ubuntu", "24"), "13.0", ["dropped compute capability 7.0"]),
        (_nv("12.0"), ("Debian", "12"), "11.8", ["cannot build for compute capability 12.0", "install CUDA 12.8"]),
        (_nv("3.5"), ("Debian", "12"), None, ["older than any CUDA 12 toolkit"]),
        (_nv("7.0"), ("Fedora", "40"), None, ["no package the role knows for fedora 40"]),
    ],
)
def test_cuda_toolkit_choice_refuses(gpus, dist, pin, words):
    got = lc.cuda_toolkit_choice(gpus, *dist, pin=pin)
    assert got["source"] == "none" and got["packages"] == [] and got["problem"], got
    for w in words:
        assert w in got["problem"], got["problem"]


def test_build_key_changes_with_the_toolkit():
    flags = lc.cmake_flags(_nv("7.0"), cuda_compiler="/usr/bin/nvcc")
    keys = {lc.build_key("b11312", "git:x@b11312", flags, "x86_64", toolkit=t) for t in ("", "11.8", "12.8")}
    assert len(keys) == 3
    # CPU builds keep their key (no toolkit): existing builds are not rebuilt.
    cpu = lc.cmake_flags([])
    assert lc.build_key("b1", "s", cpu, "x86_64") == lc.build_key("b1", "s", cpu, "x86_64", toolkit="")


def test_measured_toolkit_is_checked_when_none_is_pinned():
    """herd_cuda_version unset: the toolkit gpu_facts found (nvcc --version) meets the driver."""
    hv = {"herd_measured": {"cuda_version": "13.0", "nvidia_driver_version": "570.133.20"}}
    level, var, problem, _fix = lc.cuda_driver_check("rtx-1", hv)
    assert (level, var) == ("error", "herd_measured.cuda_version")
    assert "CUDA 13.0 needs driver 580.65.06" in problem and "nvcc --version reports on rtx-1" in problem
    hv["herd_cuda_version"] = "12.8"  # a pin wins: that is the toolkit the role builds with
    assert lc.cuda_driver_check("rtx-1", hv) is None


@pytest.mark.parametrize(
    ("gpus", "dist", "driver", "source", "version"),
    [
        # The driver runs the GPUs' choice: it stands.
        (_nv("7.0"), ("Debian", "12"), "535.104.05", "distro", "11.8"),
        (_nv("12.0"), ("Ubuntu", "24"), "580.65.06", "nvidia", "13.0"),
        # Older than 11.8's own minimum but within CUDA 11's minor-version
        # compatibility: the distribution's toolkit still (the plan warns).
        (_nv("7.0"), ("Debian", "12"), "470.82.01", "distro", "11.8"),
        # Blackwell on a 570 driver: 13.0 does not run, 12.8 (the first that
        # builds for 12.0) does.
        (_nv("12.0"), ("Debian", "12"), "570.86.10", "nvidia", "12.8"),
        # Ada on Ubuntu 22.04 (no distribution toolkit the role uses) with a 575
        # driver: the newest it runs fully, not 13.0.
        (_nv("8.9"), ("Ubuntu", "22"), "575.51.03", "nvidia", "12.9"),
        # Blackwell on a 560 driver: no 12.x that builds for 12.0 runs fully;
        # 12.9 through minor-version compatibility.
        (_nv("12.0"), ("Debian", "12"), "560.35.03", "nvidia", "12.9"),
        # Unknown or malformed driver: the GPUs decide (preflight names a malformed one).
        (_nv("12.0"), ("Debian", "12"), "", "nvidia", "13.0"),
        (_nv("8.6"), ("Debian", "12"), "not-a-version", "distro", "11.8"),
    ],
)
def test_cuda_toolkit_choice_respects_the_driver(gpus, dist, driver, source, version):
    got = lc.cuda_toolkit_choice(gpus, *dist, driver=driver)
    assert (got["source"], got["version"], got["problem"]) == (source, version, None), got
    if driver and driver[0].isdigit():
        found = lc.cuda_driver_problem(got["version"], driver)
        assert found is None or found[0] == "warning"


@pytest.mark.parametrize(
    ("gpus", "driver", "words"),
    [
        (_nv("12.0"), "520.61.05", ["runs CUDA up to 11.8", "upgrade the NVIDIA driver to 570.26 or newer"]),
        (_nv("7.0"), "440.33.01", ["older than any CUDA 11 toolkit", "upgrade the NVIDIA driver to 450.36.06"]),
    ],
)
def test_cuda_toolkit_choice_refuses_a_driver_too_old_for_the_gpus(gpus, driver, words):
    got = lc.cuda_toolkit_choice(gpus, "Debian", "12", driver=driver)
    assert got["source"] == "none" and got["packages"] == [] and got["problem"], got
    for w in words:
        assert w in got["problem"], got["problem"]


def test_a_pin_is_not_overridden_by_the_driver():
    # The pin is the user's; the plan and preflight report a driver that cannot run it.
    got = lc.cuda_toolkit_choice(_nv("8.6"), "Debian", "12", pin="12.8", driver="535.104.05")
    assert (got["version"], got["problem"]) == ("12.8", None)
