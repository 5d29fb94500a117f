"""Speed-aware placement (issue 21): a mixed cluster where the right answer
is obvious, the bandwidth table and its override, tokens/s in the report."""

from __future__ import annotations

from ansible_collections.llamaherd.cluster.plugins.module_utils import bandwidth, placement
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan_report import markdown

STRIX = {"vendor": "amd", "name": "Radeon 8060S", "vram_mib": 98304, "unified_memory": True, "gfx_target": "gfx1151"}
RTX3090 = {"vendor": "nvidia", "name": "NVIDIA GeForce RTX 3090", "vram_mib": 24576, "compute_capability": "8.6"}
XTX = {"vendor": "amd", "name": "Radeon RX 7900 XTX", "vram_mib": 24560, "gfx_target": "gfx1100"}
HOSTS = {
    "strix": {"herd_gpus": [STRIX], "herd_ram_mib": 131072},
    "duo3090": {"herd_gpus": [RTX3090, RTX3090], "herd_ram_mib": 65536},
    "xtx": {"herd_gpus": [XTX], "herd_ram_mib": 65536},
}


def _plan(models, hosts=HOSTS):
    hv = {h: {"herd_models": models, **v} for h, v in hosts.items()}
    return build_plan(hv, {"all": list(hosts), "ollama_nodes": list(hosts)})


def test_the_priority_model_goes_to_a_fast_gpu_not_the_roomy_apu():
    """The issue's cluster: the APU has the most free memory and the slowest
    memory; every model fits on every host's GPU."""
    models = [{"name": "qwen2.5:14b", "priority": 9}, {"name": "llama3.2:3b"}, {"name": "qwen2.5:3b"}]
    p = _plan(models)
    assert p["errors"] == [], p["errors"]
    red = {r["model"]: r["replicas"] for r in p["redundancy"]}
    assert red["qwen2.5:14b"][0] in ("duo3090", "xtx"), red
    item = next(i for i in p["hosts"][red["qwen2.5:14b"][0]]["ollama_models"] if i["name"] == "qwen2.5:14b")
    assert item["on_gpu"]
    strix_tps = bandwidth.tokens_per_s(item["memory_mib"], 0, 256, 256)
    assert item["tokens_per_s"] > 3 * strix_tps  # ~936-960 GB/s against 256
    # two replicas: both fast GPUs before the APU
    p2 = _plan([{"name": "qwen2.5:14b", "priority": 9, "replicas": 2}])
    assert sorted(next(r["replicas"] for r in p2["redundancy"])) == ["duo3090", "xtx"]


def test_another_replica_or_the_gpu_beats_speed():
    """Speed only breaks ties: a model that fits only on the APU's GPU still
    goes there, and the 3-replica model takes all three hosts."""
    p = _plan([{"name": "qwen2.5:72b", "priority": 9}, {"name": "llama3.2:3b", "replicas": 3}])
    assert p["errors"] == [], p["errors"]
    red = {r["model"]: r["replicas"] for r in p["redundancy"]}
    assert red["qwen2.5:72b"] == ["strix"]  # the only GPU that holds it: the GPU beats a faster host's RAM
    assert next(i for i in p["hosts"]["strix"]["ollama_models"] if i["name"] == "qwen2.5:72b")["on_gpu"]
    assert len(red["llama3.2:3b"]) == 3
    d = placement.Demand("m", 1, priority=199, sizes={"a": {"gpu": 1}, "b": {"ram": 1}})
    d.speed = {"a": {"gpu": 0.0}, "b": {"ram": 1.0}}
    # at the documented edge the GPU (100 + 10 x 199) still beats full speed (5 x 200)
    assert placement.solve([d], [placement.Host("a", 10, 0), placement.Host("b", 0, 10)]).assignment == {"m": [("a", "gpu")]}


def test_the_bandwidth_table_and_its_override():
    assert bandwidth.gpu_gbps(RTX3090) == 936 and bandwidth.gpu_gbps({"name": "RTX 3090 Ti"}) == 1008
    assert bandwidth.gpu_gbps({"name": "Mystery GPU"}) == bandwidth.DEFAULT_GPU_GBPS
    assert bandwidth.host_gbps({}, [STRIX]) == (256, 256, "the bandwidth table")
    assert bandwidth.host_gbps({"herd_platform": "Raspberry Pi 5"}, [])[1] == 17
    over = {"herd_memory_bandwidth_gbps": {"gpu": 500, "ram": 90}}
    assert bandwidth.host_gbps(over, [RTX3090]) == (500, 90, "herd_memory_bandwidth_gbps")
    # 4 GiB of weights at 1000 GB/s: about 233 tokens/s
    assert 230 < bandwidth.tokens_per_s(4096, 0, 1000, 80) < 235
    # an override that makes the APU fastest moves the priority model there
    hosts = {**HOSTS, "strix": {**HOSTS["strix"], "herd_memory_bandwidth_gbps": {"gpu": 2000, "ram": 2000}}}
    p = _plan([{"name": "qwen2.5:14b", "priority": 9}], hosts)
    assert next(r["replicas"] for r in p["redundancy"]) == ["strix"]


def test_the_report_shows_tokens_per_second_and_what_stopped_a_replica():
    p = _plan([{"name": "qwen2.5:14b", "priority": 9}, {"name": "llama3.2:3b", "replicas": 4}])
    text = markdown(p)
    assert "| tok/s |" in text
    item = p["hosts"]["xtx"]["ollama_models"][0]
    assert f"~{item['tokens_per_s']:g}" in text
    (u,) = p["unplaced"]
    assert u["model"] == "llama3.2:3b" and u["missing"] == 1 and u["constraint"].startswith("distinct hosts")
    assert "## Replicas not placed" in text and u["constraint"] in text


def test_a_replica_stopped_by_the_count_cap_says_so():
    hosts = {h: {**v, "herd_max_loaded_models": 1} for h, v in HOSTS.items()}
    models = [
        {"name": "qwen2.5:14b", "priority": 9},
        {"name": "llama3.2:3b", "priority": 5},
        {"name": "qwen2.5:3b", "priority": 1},
    ]
    p = _plan([*models, {"name": "llama3.2:1b"}], hosts)
    (u,) = p["unplaced"]
    assert u["model"] == "llama3.2:1b" and u["constraint"].startswith("the count cap (herd_max_loaded_models) on ")
    assert all(h in u["constraint"] for h in hosts)
