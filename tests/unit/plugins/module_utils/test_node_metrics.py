"""The node metrics script (module_utils/node_metrics.py with gpu_facts' usage
parsers) and what the monitoring role renders for it (module_utils/monitoring.py).

The script runs here as it runs on a node: the three module_utils files
copied into a package ``llama_herd_node``, ``python3 -m
llama_herd_node.node_metrics CONFIG`` with a fake nvidia-smi on PATH that
prints a recorded output and a loopback HTTP server answering /api/tags.
Its output is checked with Debian's ``promtool check metrics`` when present
(``make system-deps`` installs it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils import gpu_facts as gf
from ansible_collections.llamaherd.cluster.plugins.module_utils import node_metrics as nm
from ansible_collections.llamaherd.cluster.plugins.module_utils.monitoring import (
    node_metrics_config,
    planned_gpu_mib,
    scrape_jobs,
)
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan

REPO = Path(__file__).resolve().parents[4]
FIX = REPO / "tests/unit/fixtures/gpu_facts"
PROMTOOL = shutil.which("promtool")


def _fix(name: str) -> str:
    return (FIX / name).read_text(encoding="utf-8")


def _promtool_ok(text: str) -> None:
    if PROMTOOL is None:
        return
    done = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


# ---------------------------------------------------------------- parsers


def test_nvidia_usage_reads_each_gpu_and_leaves_out_what_it_cannot_give():
    gpus = gf.parse_nvidia_smi_usage(_fix("nvidia-smi_usage_3xv100s.csv"))
    assert [g["index"] for g in gpus] == [0, 1, 2]
    assert gpus[0] == {
        "vendor": "nvidia",
        "index": 0,
        "name": "Tesla V100S-PCIE-32GB",
        "uuid": "GPU-0a6e9d3b-1c44-7f2e-8d1a-93b2c4e5f601",
        "vram_total_mib": 32768,
        "vram_used_mib": 30817.0,
        "utilization_percent": 97.0,
        "temperature_celsius": 64.0,
        "power_watts": 241.37,
    }
    assert "power_watts" not in gpus[2]  # [N/A]: absent, never 0


def test_nvidia_usage_error_text_is_a_parse_error():
    with pytest.raises(gf.GpuFactsError, match="CSV fields"):
        gf.parse_nvidia_smi_usage(_fix("nvidia-smi_no_driver.txt"))


def test_rocm_smi_usage():
    (card,) = gf.parse_rocm_smi_usage(_fix("rocm-smi_usage_7900xtx.json"))
    assert card["vram_total_mib"] == 24560
    assert card["vram_used_mib"] == 20480
    assert card["utilization_percent"] == 93.0
    assert card["temperature_celsius"] == 52.0  # the edge sensor, as AMD's tools show first
    assert card["power_watts"] == 212.0
    # An older rocm-smi without the use keys: the total only.
    (old,) = gf.parse_rocm_smi_usage(_fix("rocm-smi_strix_halo.json"))
    assert old["vram_used_mib"] == 1094 and "utilization_percent" not in old


def _sysfs(root: Path, busy: str = "41") -> None:
    dev = root / "class/drm/card1/device"
    (dev / "hwmon/hwmon3").mkdir(parents=True)
    (root / "class/drm/card1-DP-1").mkdir(parents=True)  # a connector, not a card
    for name, value in {
        "vendor": "0x1002",
        "mem_info_vram_total": str(16 * 2**30),
        "mem_info_vram_used": str(3 * 2**30),
        "gpu_busy_percent": busy,
        "hwmon/hwmon3/temp1_input": "48000",
        "hwmon/hwmon3/power1_average": "87000000",
    }.items():
        (dev / name).write_text(value + "\n")


def test_amdgpu_sysfs_usage(tmp_path):
    _sysfs(tmp_path)
    (card,) = gf.parse_amdgpu_sysfs_usage(gf.read_amdgpu_sysfs(str(tmp_path), usage=True))
    assert card == {
        "vendor": "amd",
        "index": 1,
        "name": "AMD GPU",
        "vram_total_mib": 16384,
        "vram_used_mib": 3072.0,
        "utilization_percent": 41.0,
        "temperature_celsius": 48.0,
        "power_watts": 87.0,
    }
    # The measuring module reads the same tree without the usage files.
    assert "gpu_busy_percent" not in gf.read_amdgpu_sysfs(str(tmp_path))["card1"]


def test_xpu_smi_usage():
    gpus = gf.intel_gpus_usage(
        _fix("xpu-smi_discovery_2xarc.json"),
        {0: _fix("xpu-smi_device0_a770.json"), 1: _fix("xpu-smi_device1_b580.json")},
        {0: _fix("xpu-smi_stats_device0_a770.json")},
    )
    assert gpus[0]["vram_used_mib"] == 9216.5 and gpus[0]["power_watts"] == 118.42
    assert gpus[0]["utilization_percent"] == 99.0 and gpus[0]["temperature_celsius"] == 71.0
    assert set(gpus[1]) == {"vendor", "index", "name", "uuid", "vram_total_mib"}  # no stats: totals only
    with pytest.raises(gf.GpuFactsError, match="device_level"):
        gf.parse_xpu_smi_stats('{"device_id": 0}')


# ----------------------------------------------------------------- render


def test_render_is_valid_exposition_and_says_what_it_measured():
    gpus = gf.parse_nvidia_smi_usage(_fix("nvidia-smi_usage_3xv100s.csv"))
    config = {
        "planned_gpu_mib": 61000,
        "margin": 0.9,
        "ollama_url": "http://192.0.2.1:11434",
        "ollama_models": ["qwen3:8b", "llama3.1"],
    }
    text = nm.render(gpus, {"nvidia-smi": True, "xpu-smi": False}, config, {"qwen3:8b": True}, 1700000000.5)
    lines = text.splitlines()
    assert 'llama_herd_gpu_memory_used_bytes{gpu="1",vendor="nvidia",name="Tesla V100S-PCIE-32GB"} 31404851200' in lines
    assert 'llama_herd_gpu_utilization_ratio{gpu="0",vendor="nvidia",name="Tesla V100S-PCIE-32GB"} 0.97' in lines
    assert not any(line.startswith('llama_herd_gpu_power_watts{gpu="2"') for line in lines)
    assert 'llama_herd_gpu_source_up{source="xpu-smi"} 0' in lines
    assert "llama_herd_plan_gpu_memory_bytes 63963136000" in lines
    assert 'llama_herd_ollama_model_present{model="llama3.1:latest"} 0' in lines
    assert 'llama_herd_ollama_model_present{model="qwen3:8b"} 1' in lines
    assert "llama_herd_ollama_up 1" in lines
    _promtool_ok(text)
    # Ollama down: up 0, and every planned model absent.
    down = nm.render([], {}, config, None, 1.0)
    assert "llama_herd_ollama_up 0" in down and 'llama_herd_ollama_model_present{model="qwen3:8b"} 0' in down
    _promtool_ok(down)


def test_a_node_without_gpu_tool_or_ollama_writes_only_headers_and_time():
    text = nm.render([], {}, {"planned_gpu_mib": None}, None, 5.0)
    assert [line for line in text.splitlines() if not line.startswith("#")] == ["llama_herd_node_metrics_timestamp_seconds 5"]
    _promtool_ok(text)


# ------------------------------------------------- the script as shipped


class _Tags(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/api/tags":
            self.send_error(404)
            return
        body = json.dumps({"models": [{"name": "qwen3:8b", "digest": "sha256:ab"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def ollama_tags():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Tags)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _ship(tmp_path: Path) -> Path:
    """The package as the role installs it (roles/monitoring/tasks/node_metrics.yml)."""
    pkg = tmp_path / "lib/llama_herd_node"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for name in ("gpu_facts.py", "ollama.py", "node_metrics.py"):
        shutil.copy(REPO / "plugins/module_utils" / name, pkg / name)
    return pkg.parent


def test_the_shipped_script_writes_its_file_atomically(tmp_path, ollama_tags):
    lib = _ship(tmp_path)
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    nvidia = fakebin / "nvidia-smi"
    nvidia.write_text(f"#!/bin/sh\ncat '{FIX / 'nvidia-smi_usage_3xv100s.csv'}'\n")
    nvidia.chmod(0o755)
    sysfs = tmp_path / "sys"
    _sysfs(sysfs)
    out_dir = tmp_path / "textfile"
    out_dir.mkdir()
    config = tmp_path / "node-metrics.json"
    config.write_text(
        json.dumps(
            {
                "output": str(out_dir / "llama-herd.prom"),
                "planned_gpu_mib": 1000,
                "margin": 0.9,
                "ollama_url": ollama_tags,
                "ollama_models": ["qwen3:8b", "all-minilm"],
                "sysfs_root": str(sysfs),
            }
        )
    )
    env = {"PATH": f"{fakebin}:/usr/bin:/bin", "PYTHONPATH": str(lib)}

    def run_timer_command() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-s", "-m", "llama_herd_node.node_metrics", str(config)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )

    done = run_timer_command()
    assert done.returncode == 0, done.stderr
    assert [p.name for p in out_dir.iterdir()] == ["llama-herd.prom"]  # no temporary file left
    assert oct((out_dir / "llama-herd.prom").stat().st_mode & 0o777) == "0o644"
    text = (out_dir / "llama-herd.prom").read_text()
    assert 'llama_herd_gpu_source_up{source="nvidia-smi"} 1' in text
    assert 'llama_herd_gpu_source_up{source="amdgpu-sysfs"} 1' in text  # no rocm-smi: sysfs
    assert 'llama_herd_gpu_memory_used_bytes{gpu="1",vendor="amd",name="AMD GPU"} 3221225472' in text
    assert 'llama_herd_ollama_model_present{model="all-minilm:latest"} 0' in text
    assert 'llama_herd_ollama_model_present{model="qwen3:8b"} 1' in text
    _promtool_ok(text)
    # A failing tool: reported as a source down, the rest still written.
    nvidia.write_text(
        "#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'\nexit 9\n"
    )
    again = run_timer_command()
    assert again.returncode == 0, again.stderr
    assert "exited 9" in again.stderr
    text = (out_dir / "llama-herd.prom").read_text()
    assert 'llama_herd_gpu_source_up{source="nvidia-smi"} 0' in text
    assert 'vendor="nvidia"' not in text and 'vendor="amd"' in text


def test_write_atomically_leaves_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "x.prom"
    target.write_text("old 1\n")

    def boom(*_a):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        nm.write_atomically(str(target), "new 2\n")
    assert target.read_text() == "old 1\n" and [p.name for p in tmp_path.iterdir()] == ["x.prom"]


# ------------------------------------------- the role's inputs from the plan

GTX = {"vendor": "nvidia", "name": "GTX 1050 Ti", "vram_mib": 4096}


def _plan():
    hv = {
        "gpu1": {
            "herd_cluster_address": "192.0.2.11",
            "herd_gpus": [GTX],
            "herd_ram_mib": 16384,
            "herd_models": [{"name": "all-minilm"}],
        },
        "cpu1": {"herd_cluster_address": "192.0.2.12", "herd_ram_mib": 16384, "ollama_port": 11500},
        "lb": {"herd_cluster_address": "192.0.2.20", "monitoring_nginx_exporter_port": 9200},
        "mon": {"herd_cluster_address": "2001:db8::9"},
    }
    groups = {"all": list(hv), "ollama_nodes": ["gpu1", "cpu1"], "loadbalancers": ["lb"], "monitoring": ["mon"]}
    return hv, groups, build_plan(hv, groups)


def test_planned_gpu_memory_is_the_plans_ollama_figure():
    _hv, _groups, plan = _plan()
    assert not plan["errors"], plan["errors"]
    on_gpu = [m for m in plan["hosts"]["gpu1"]["ollama_models"] if m.get("on_gpu")]
    assert on_gpu, plan["hosts"]["gpu1"]
    assert planned_gpu_mib(plan, "gpu1") == plan["node_usage"]["gpu1"]["gpu_used_mib"] == sum(m["memory_mib"] for m in on_gpu)
    assert planned_gpu_mib(plan, "cpu1") is None  # no GPU: nothing to compare
    assert planned_gpu_mib(None, "gpu1") is None


def test_planned_gpu_memory_counts_llama_servers_share_on_the_host():
    plan = {
        "node_usage": {"w1": {"gpu_used_mib": 1000, "gpus": [GTX]}},
        "rpc_splits": [
            {
                "chosen": {
                    "rows": [
                        {"host": "w1", "device": "w1 GPU0 (GTX)", "total_mib": 2000.2},
                        {"host": "h", "device": "h CPU", "total_mib": 900},
                    ]
                }
            }
        ],
    }
    assert planned_gpu_mib(plan, "w1") == 3001
    assert planned_gpu_mib(plan, "h") is None  # its CPU share is not GPU memory


def test_node_config_lists_the_planned_models_and_the_ollama_url():
    hv, groups, plan = _plan()
    config = node_metrics_config("cpu1", hv, groups, plan, "/x/llama-herd.prom")
    assert config["ollama_url"] == "http://192.0.2.12:11500"
    assert config["ollama_models"] == sorted(m["name"] for m in plan["hosts"]["cpu1"]["ollama_models"])
    assert config["margin"] == plan["margin"]
    assert "ollama_url" not in node_metrics_config("lb", hv, groups, plan, "/x")


def test_scrape_jobs_on_cluster_addresses_with_each_hosts_port():
    hv, groups, plan = _plan()
    plan["llama_cpp"]["servers"] = [{"port": 8080}, {"port": 8081}]
    hv["head"] = {"herd_cluster_address": "192.0.2.30"}
    hv["keyed"] = {"herd_cluster_address": "192.0.2.31", "llama_cpp_server_api_key": "s3cret"}
    groups["llama_cpp_head"] = ["head", "keyed"]
    jobs = {j["job"]: j["targets"] for j in scrape_jobs(hv, groups, plan, nodes=["gpu1", "mon"])}
    assert jobs["node"] == [{"target": "192.0.2.11:9100", "host": "gpu1"}, {"target": "[2001:db8::9]:9100", "host": "mon"}]
    assert jobs["nginx"] == [{"target": "192.0.2.20:9200", "host": "lb"}]
    assert jobs["llama_server"] == [{"target": "192.0.2.30:8080", "host": "head"}, {"target": "192.0.2.30:8081", "host": "head"}]
    assert "gpu_router" not in jobs  # no router: no job


def test_a_gateway_is_scraped_only_when_its_metrics_ask_for_no_key():
    hv, groups, plan = _plan()
    hv["gw"] = {"herd_cluster_address": "192.0.2.40", "gateway_metrics_auth": False, "gateway_port": 4400}
    hv["gw-keyed"] = {"herd_cluster_address": "192.0.2.41"}  # the default: /metrics wants the master key
    hv["gw-off"] = {"herd_cluster_address": "192.0.2.42", "gateway_metrics_auth": False, "gateway_metrics": False}
    groups["gateway"] = ["gw", "gw-keyed", "gw-off"]
    (job,) = [j for j in scrape_jobs(hv, groups, plan, nodes=[]) if j["job"] == "gateway"]
    assert job == {"job": "gateway", "targets": [{"target": "192.0.2.40:4400", "host": "gw"}], "metrics_path": "/metrics/"}
    groups["gateway"] = ["gw-keyed"]
    assert "gateway" not in {j["job"] for j in scrape_jobs(hv, groups, plan, nodes=[])}
