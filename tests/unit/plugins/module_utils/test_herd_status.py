"""plugins/module_utils/herd_status.py: the status report from Prometheus's
answers and from the hosts' readings (playbooks/status.yml)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import yaml
from ansible_collections.llamaherd.cluster.plugins.module_utils import herd_status as hs

REPO = Path(__file__).resolve().parents[4]
MIB = 1024 * 1024
PLAN = {
    "hosts": {"gpu1": {"ollama_models": [{"name": "qwen2.5:7b"}, {"name": "all-minilm"}]}},
    "node_usage": {"gpu1": {"gpu_used_mib": 6000, "gpus": [{"name": "RTX 3090"}]}},
    "llama_cpp": {"servers": [{"name": "big", "model": "qwen2.5:32b", "port": 8080, "rpc_workers": ["w1"]}]},
    "dllama": {"root": "pi1", "workers": ["pi2"], "nodes": 2, "model": "llama3.2:3b"},
}
HOSTVARS = {h: {"herd_cluster_address": f"10.0.0.{i}"} for i, h in enumerate(["gpu1", "head", "w1", "pi1", "pi2", "mon"], 1)}
HOSTS = ["gpu1", "head", "w1", "pi1", "pi2"]
GROUPS = {
    "ollama_nodes": ["gpu1"],
    "llama_cpp_head": ["head"],
    "llama_cpp_workers": ["w1"],
    "dllama_root": ["pi1"],
    "dllama_workers": ["pi2"],
    "herd_monitored": HOSTS,
}


def _answer(*samples):
    return {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": m, "value": [1.0, str(v)]} for m, v in samples]},
    }


def _prometheus(**over):
    answers = {
        "node_up": _answer(*[({"job": "node", "host": h}, 1) for h in HOSTS]),
        "units": _answer(
            ({"host": "gpu1", "name": "ollama.service", "state": "active"}, 1),
            ({"host": "gpu1", "name": "llama-herd-node-metrics.service", "state": "inactive"}, 1),
            ({"host": "head", "name": "llama-server-big.service", "state": "active"}, 1),
            ({"host": "w1", "name": "llama-rpc.service", "state": "active"}, 1),
            ({"host": "pi1", "name": "dllama-api.service", "state": "active"}, 1),
            # A oneshot the root runs on demand: inactive is fine.
            ({"host": "pi1", "name": "dllama-root.service", "state": "inactive"}, 1),
            ({"host": "pi2", "name": "dllama-worker.service", "state": "active"}, 1),
        ),
        "gpu_total": _answer(({"host": "gpu1", "gpu": "0", "name": "RTX 3090"}, 24576 * MIB)),
        "gpu_used": _answer(({"host": "gpu1", "gpu": "0", "name": "RTX 3090"}, 5500 * MIB)),
        "model_present": _answer(({"host": "gpu1", "model": "qwen2.5:7b"}, 1), ({"host": "gpu1", "model": "all-minilm"}, 1)),
        "ollama_loaded": _answer(({"node": "http://10.0.0.1:11434", "model": "qwen2.5:7b"}, 1)),
        "ollama_on_gpu": _answer(({"node": "http://10.0.0.1:11434", "model": "qwen2.5:7b"}, 1)),
    }
    answers.update(over)
    return hs.from_prometheus(answers, HOSTVARS, HOSTS)


def test_a_healthy_cluster_from_prometheus_has_no_problem_and_names_what_runs():
    status = _prometheus()
    assert status["gpu1"]["up"] is True
    assert status["gpu1"]["gpus"] == [{"index": "0", "name": "RTX 3090", "total_mib": 24576, "used_mib": 5500}]
    assert status["gpu1"]["loaded"] == [{"name": "qwen2.5:7b", "on_gpu": True}]
    assert hs.problems(PLAN, status, GROUPS) == []
    text = hs.render(PLAN, status, "from Prometheus on mon", GROUPS)
    assert "GPU0 RTX 3090: 5500 / 24576 MiB used" in text
    assert "plan: 6000 MiB of GPU memory" in text
    assert "ollama: loaded qwen2.5:7b (GPU); planned qwen2.5:7b, all-minilm" in text
    assert "llama-server big: qwen2.5:32b on port 8080, over w1" in text
    assert "dllama: llama3.2:3b on 2 nodes, workers pi2" in text
    assert text.endswith("0 problems.")
    # The timer's oneshot is inactive between runs: neither shown nor a problem.
    assert "node-metrics" not in text


def test_each_kind_of_problem_is_one_sentence_naming_the_host():
    status = _prometheus(
        node_up=_answer(*[({"job": "node", "host": h}, 0 if h == "pi2" else 1) for h in HOSTS]),
        units=_answer(
            ({"host": "gpu1", "name": "ollama.service", "state": "active"}, 1),
            ({"host": "w1", "name": "llama-rpc.service", "state": "inactive"}, 1),
            ({"host": "pi1", "name": "dllama-api.service", "state": "active"}, 1),
            ({"host": "pi1", "name": "dllama-root.service", "state": "failed"}, 1),
        ),
        gpu_used=_answer(({"host": "gpu1", "gpu": "0", "name": "RTX 3090"}, 9000 * MIB)),
        model_present=_answer(({"host": "gpu1", "model": "all-minilm"}, 0)),
    )
    assert hs.problems(PLAN, status, GROUPS) == [
        "gpu1: all-minilm is planned here but not in Ollama's /api/tags",
        "gpu1: its GPUs hold 9000 MiB, more than the plan's 6000 MiB",
        "head: llama-server-big.service is missing (never deployed, or removed)",
        "pi1: dllama-root.service is failed",
        "pi2: down (does not answer)",
        "w1: llama-rpc.service is inactive",
    ]
    assert hs.render(PLAN, status, "x", GROUPS).endswith("w1: llama-rpc.service is inactive")


def test_from_the_hosts_reads_systemctl_gpu_usage_and_api_ps():
    facts = {
        "gpu1": {
            "units": [
                "ollama.service loaded active running Ollama",
                "ssh.service loaded active running OpenBSD Secure Shell server",
                "llama-herd-node-metrics.service loaded inactive dead node metrics",
            ],
            "gpus": [{"vendor": "nvidia", "index": 0, "name": "RTX 3090", "vram_total_mib": 24576, "vram_used_mib": 5500}],
            "ps": {
                "models": [
                    {"name": "qwen2.5:7b", "size": 100, "size_vram": 100},
                    {"name": "all-minilm", "size": 50, "size_vram": 0},
                ]
            },
        },
        "w1": {"units": ["llama-rpc.service loaded failed failed llama.cpp RPC"], "gpus": [], "ps": None},
        "pi2": {"unreachable": True},
    }
    status = hs.from_hosts(facts)
    assert status["gpu1"]["services"] == {"ollama.service": "active", "llama-herd-node-metrics.service": "inactive"}
    assert status["gpu1"]["loaded"] == [{"name": "qwen2.5:7b", "on_gpu": True}, {"name": "all-minilm", "on_gpu": False}]
    assert status["gpu1"]["gpus"][0]["used_mib"] == 5500
    assert hs.problems(PLAN, status, {"ollama_nodes": ["gpu1"], "llama_cpp_workers": ["w1"]}) == [
        "pi2: down (does not answer)",
        "w1: llama-rpc.service is failed",
    ]


def test_a_head_must_run_one_llama_server_per_instance_of_the_plan():
    assert hs.expected_units(PLAN, GROUPS, "head") == ["llama-server-big.service"]
    assert hs.expected_units(PLAN, {**GROUPS, "monitoring": ["gpu1"]}, "gpu1") == ["ollama.service", "prometheus.service"]


def test_the_queries_go_to_the_monitoring_hosts_prometheus():
    urls = hs.prometheus_queries("mon", {"herd_cluster_address": "10.0.0.6", "monitoring_prometheus_port": 9191})
    assert [u["name"] for u in urls] == list(hs.PROMETHEUS_QUERIES)
    assert all(u["url"].startswith("http://10.0.0.6:9191/api/v1/query?query=") for u in urls)
    assert unquote(urls[0]["url"].split("query=", 1)[1]) == hs.PROMETHEUS_QUERIES["node_up"]


def test_the_units_are_the_ones_the_node_exporter_reports():
    """One set of units: the monitoring role's systemd collector includes
    what the status reads from the hosts."""
    role_vars = yaml.safe_load((REPO / "roles/monitoring/vars/main.yml").read_text())
    assert role_vars["__monitoring_systemd_units"] == hs.UNITS_RE
    assert re.fullmatch(hs.UNITS_RE, "llama-server-big.service")
    assert not re.fullmatch(hs.UNITS_RE, "ssh.service")
