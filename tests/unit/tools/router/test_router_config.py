"""The configuration file: seed 001's format, and every problem named at once."""

from __future__ import annotations

import pytest
from llama_herd_router.cli import main
from llama_herd_router.config import ConfigError, load, parse

SEED = """
nodes:
  - http://localhost:11434
  - http://192.0.2.11:11434
priority_models:
  - mxbai-embed-large    # Embedding model (705MB)
  - nomic-embed-text
check_interval: 300  # 5 minutes
vram_safety_margin: 0.8
auto_optimize: true
log_level: INFO
"""


def test_seed_001_config_loads(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text(SEED)
    cfg = load(path)
    assert [n.url for n in cfg.nodes] == ["http://localhost:11434", "http://192.0.2.11:11434"]
    assert all(n.vram_mib is None for n in cfg.nodes)
    assert cfg.priority_models == ("mxbai-embed-large", "nomic-embed-text")
    assert (cfg.check_interval, cfg.vram_safety_margin, cfg.auto_optimize) == (300.0, 0.8, True)
    assert (cfg.metrics_address, cfg.metrics_port) == ("127.0.0.1", 9110)


def test_nodes_with_vram():
    cfg = parse({"nodes": [{"url": "http://192.0.2.11:11434/", "name": "gpu1", "vram_mib": 4096}]})
    assert cfg.nodes[0].url == "http://192.0.2.11:11434" and cfg.nodes[0].vram_mib == 4096


def test_a_node_may_carry_the_plans_budget():
    cfg = parse({"nodes": [{"url": "http://192.0.2.11:11434", "vram_mib": 4096, "usable_mib": 2820}]})
    assert (cfg.nodes[0].vram_mib, cfg.nodes[0].usable_mib) == (4096, 2820)
    with pytest.raises(ConfigError, match=r"nodes\[0\].usable_mib: -1 must be a whole number of MiB >= 0"):
        parse({"nodes": [{"url": "http://a:1", "vram_mib": 4096, "usable_mib": -1}]})


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as err:
        parse(
            {
                "nodes": ["ftp://x", {"url": "http://a:1", "vram_mib": -1}],
                "vram_safety_margin": 1.5,
                "check_interval": 0,
                "auto_optimize": "yes",
                "metrics_port": 70000,
                "log_level": "LOUD",
                "surprise": 1,
            }
        )
    msg = str(err.value)
    for needle in (
        "nodes[0].url",
        "nodes[1].vram_mib",
        "vram_safety_margin",
        "check_interval",
        "auto_optimize",
        "metrics_port",
        "log_level",
        "unknown keys surprise",
    ):
        assert needle in msg


def test_no_nodes():
    with pytest.raises(ConfigError, match="nodes: list at least one"):
        parse({"priority_models": ["x"]})


def test_cli_exits_2_on_a_bad_config(tmp_path, capsys):
    path = tmp_path / "c.yml"
    path.write_text("nodes: []\n")
    assert main(["--config", str(path), "status"]) == 2
    assert "nodes: list at least one Ollama node URL" in capsys.readouterr().err
    assert main(["--config", str(tmp_path / "missing.yml"), "status"]) == 2


def test_models_needs_no_config(tmp_path, capsys):
    assert main(["--config", str(tmp_path / "missing.yml"), "models"]) == 0
    out = capsys.readouterr().out
    assert "mxbai-embed-large               705 MB (0.69 GB)" in out
    assert "llama3.1:latest                4700 MB (4.59 GB)" in out


def test_keep_alive_is_checked_as_ollama_reads_it():
    """A unit-less string Ollama would answer 400 (api/types.go:1258-1259)."""

    assert parse({"nodes": ["http://a:11434"], "keep_alive": "300"}).keep_alive == 300
    assert parse({"nodes": ["http://a:11434"], "keep_alive": "24h"}).keep_alive == "24h"
    with pytest.raises(ConfigError, match=r"keep_alive '1\.5' is not a duration Ollama accepts"):
        parse({"nodes": ["http://a:11434"], "keep_alive": "1.5"})
