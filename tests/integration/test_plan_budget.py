"""One budget per device, through playbooks/plan.yml: a host that is an
Ollama node and the llama.cpp head gets its GPU booked once (the head's
share first, Ollama in what is left); two engines that do not fit one
device together stop the plan, naming the device, each user and the fix.
(Preflight reports capacity on declared hardware only as a warning: the
measured hardware that plan.yml sees decides.)"""

from __future__ import annotations

import json

import yaml
from conftest import flat, run_playbook

NO_NETWORK = ["-e", "ansible_connection=containers.podman.podman"]
RTX4090 = {"vendor": "nvidia", "name": "RTX 4090", "vram_mib": 24564, "compute_capability": "8.9"}
GTX1080TI = {"vendor": "nvidia", "name": "GTX 1080 Ti", "vram_mib": 11264, "compute_capability": "6.1"}


def test_an_ollama_node_that_is_the_head_books_its_gpu_once(tmp_path, monkeypatch):
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path / "facts"))
    box = {"ansible_host": "budget-test-does-not-exist", "herd_gpus": [RTX4090], "herd_ram_mib": 65536}
    inv = {
        "all": {
            "vars": {
                "herd_models": [
                    {"name": "qwen2.5:14b"},
                    {"name": "llama3.2:3b"},
                    {"name": "qwen2.5:32b", "engine": "llama_cpp", "context": 8192},
                ]
            },
            "children": {
                "ollama_nodes": {"hosts": {"box": box}},
                "llama_cpp_head": {"hosts": {"box": None}},
                "llama_cpp_workers": {
                    "hosts": {"w1": {"ansible_host": "budget-w1", "herd_gpus": [GTX1080TI, GTX1080TI], "herd_ram_mib": 32768}}
                },
            },
        }
    }
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inv))
    res = run_playbook("-i", str(path), "playbooks/plan.yml", "-e", f"herd_plan_report_dir={tmp_path / 'out'}", *NO_NETWORK)
    assert res.returncode == 0, res.stdout + res.stderr
    plan = json.loads((tmp_path / "out" / "plan.json").read_text())
    head = next(r for r in plan["rpc_splits"][0]["chosen"]["rows"] if r["device"].startswith("box GPU0"))
    ollama_gpu = sum(m["memory_mib"] for m in plan["hosts"]["box"]["ollama_models"] if m["on_gpu"])
    assert head["total_mib"] > 0 and ollama_gpu > 0
    assert head["total_mib"] + ollama_gpu <= 24564 * plan["margin"]
    assert all("went to llama.cpp's qwen2.5:32b first" in m["reason"] for m in plan["hosts"]["box"]["ollama_models"])


def test_two_engines_over_one_ram_stop_the_plan(tmp_path, monkeypatch):
    """A CPU box that is an RPC worker and a distributed-llama worker: each
    fits its 7 GiB alone, together they do not."""
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path / "facts"))
    inv = {
        "all": {
            "vars": {
                "herd_models": [
                    {"name": "llama3.1:8b", "engine": "llama_cpp", "context": 4096},
                    {"name": "llama3.2:3b", "engine": "dllama", "context": 4096, "quant": "q40"},
                ]
            },
            "children": {
                "llama_cpp_head": {"hosts": {"head": {"ansible_host": "budget-head", "herd_ram_mib": 65536}}},
                "llama_cpp_workers": {"hosts": {"cpu1": {"ansible_host": "budget-cpu1", "herd_ram_mib": 7168}}},
                "dllama_root": {"hosts": {"head": None}},
                "dllama_workers": {"hosts": {"cpu1": None}},
            },
        }
    }
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inv))
    res = run_playbook("-i", str(path), "playbooks/plan.yml", "-e", f"herd_plan_report_dir={tmp_path / 'out'}", *NO_NETWORK)
    out = flat(res.stdout + res.stderr)
    assert res.returncode != 0, out
    for words in (
        "host cpu1: RAM: llama.cpp's llama3.1:8b (",
        "and distributed-llama's llama3.2:3b (",
        "MiB usable (7168 MiB x 0.8)",
        "Fix: move one of them to another host",
        "nothing was changed",
    ):
        assert words in out, f"missing {words!r} in: {out[-2000:]}"
