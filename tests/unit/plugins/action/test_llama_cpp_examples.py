"""llama.cpp's records in the plan of example inventory seed003, as the
herd_plan action loads it (Ansible's inventory loader: controller code)."""

from __future__ import annotations

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils import llama_cpp as lc
from plan_inputs import MEMORY_FLAG_CASES, load_inventory


def _seed003_plan(extra_args, **model):
    """Seed 003's inventory with one llama.cpp model carrying extra_args."""
    from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan

    hv, groups = load_inventory_for_split()
    m = {"name": "or1-behemoth-73b", "engine": "llama_cpp", "quant": "Q4_K_M", "extra_args": extra_args, **model}
    for h in hv:
        hv[h]["herd_models"] = [m]
    return build_plan(hv, groups)


@pytest.mark.parametrize(("args", "field", "value"), MEMORY_FLAG_CASES)
def test_the_estimate_and_the_command_read_the_same_values(args, field, value):
    """For every memory flag: the plan's record holds it, the launched
    command carries it, and the plan's per-device estimate is exactly what
    the memory model gives for the values on that command line."""
    from ansible_collections.llamaherd.cluster.plugins.module_utils import plan as planmod

    p = _seed003_plan([*args, "--jinja"])
    assert p["errors"] == [], p["errors"]
    server = p["llama_cpp"]["servers"][0]
    trained = planmod.lookup("or1-behemoth-73b", planmod.extended_catalog(None))["n_ctx_train"]
    expect = trained if (field, value) == ("context", 0) else value
    assert server[field] == expect
    assert server["extra_args"] == ["--jinja"]
    argv = lc.llama_server_argv("llama-server", {**server, "model_path": "/m.gguf", "rpc": "203.0.113.32:50052"}, "127.0.0.1")
    launched, rest, _owned = lc.parse_server_args(argv[1:])
    assert launched[field] == expect and rest[-1] == "--jinja"
    hv, _groups = load_inventory_for_split()
    devices = planmod.rpc_devices("v100s-1", ["v100s-2", "v100s-3"], hv, 0.9)
    entry, _ = planmod.resolve_model({"name": "or1-behemoth-73b", "quant": "Q4_K_M"}, planmod.extended_catalog(None))
    again = planmod.rpc_split(
        entry,
        "Q4_K_M",
        devices,
        launched["context"],
        launched["parallel"],
        entry["file_mib"],
        "v100s-1",
        planmod.host_ram_mib(hv["v100s-1"]),
        0.9,
        launched,
    )
    assert p["rpc_splits"][0]["chosen"] == again


def load_inventory_for_split():
    return load_inventory("examples/seed003-v100s-rpc")


@pytest.mark.parametrize(
    ("args", "grows"),
    [
        (["-fa", "off"], "compute_mib"),
        (["-ub", "2048"], "compute_mib"),
        (["-c", "16384"], "kv_mib"),
        (["-cram", "4096"], "other_mib"),
    ],
)
def test_a_flag_that_costs_memory_raises_the_estimate(args, grows):
    base = _seed003_plan([])["rpc_splits"][0]["chosen"]["rows"]
    more = _seed003_plan(args)["rpc_splits"][0]["chosen"]["rows"]
    assert sum(r[grows] for r in more) > sum(r[grows] for r in base)


def test_a_quantized_kv_cache_halves_the_kv_and_needs_flash_attention():
    base = _seed003_plan([])["rpc_splits"][0]["chosen"]["rows"]
    q8 = _seed003_plan(["-ctk", "q8_0", "-ctv", "q8_0"])["rpc_splits"][0]["chosen"]["rows"]
    assert sum(r["kv_mib"] for r in q8) < 0.6 * sum(r["kv_mib"] for r in base)
    same = _seed003_plan([], kv_cache_type="q8_0")["rpc_splits"][0]["chosen"]["rows"]
    assert same == q8
    p = _seed003_plan(["-fa", "off"], kv_cache_type="q8_0")
    assert any("needs flash attention" in e for e in p["errors"])
