"""distributed-llama topology rules and command lines (plugins/module_utils/dllama.py)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from ansible_collections.llamaherd.cluster.plugins.module_utils import dllama, memory
from ansible_collections.llamaherd.cluster.plugins.module_utils.catalog import lookup
from ansible_collections.llamaherd.cluster.plugins.module_utils.inventory import validate_inventory
from ansible_collections.llamaherd.cluster.plugins.module_utils.ports import PORT_VARS

REPO = Path(__file__).resolve().parents[4]


@pytest.mark.parametrize(
    ("n", "expected"),
    [(1, True), (2, True), (4, True), (8, True), (64, True), (0, False), (3, False), (6, False), (12, False), (True, False)],
)
def test_is_power_of_two(n, expected):
    assert dllama.is_power_of_two(n) is expected


@pytest.mark.parametrize(("n", "fix"), [(3, "use 2 or 4"), (6, "6 nodes: use 4 or 8"), (12, "use 8 or 16"), (13, "use 8 or 16")])
def test_node_count_fix_names_the_neighbours(n, fix):
    assert fix in dllama.node_count_fix(n)


def test_power_of_two_nodes_pass():
    assert dllama.topology_problems(8, kv_heads=8, weights_float_type="q40", buffer_float_type="q80") == []


def test_six_nodes_rejected_with_fix():
    [(var, problem, fix)] = dllama.topology_problems(6, kv_heads=8)
    assert var == "dllama_workers"
    assert "power-of-two" in problem and "got 6" in problem
    assert fix.startswith("6 nodes: use 4 or 8")


def test_more_nodes_than_kv_heads():
    [(var, problem, fix)] = dllama.topology_problems(16, kv_heads=8)
    assert var == "dllama_workers"
    assert "16 nodes is more than the model's 8 KV heads" in problem
    assert "at most 8 nodes (7 workers)" in fix


def test_q40_needs_q80():
    [(var, problem, fix)] = dllama.topology_problems(4, kv_heads=8, weights_float_type="q40", buffer_float_type="f32")
    assert var == "dllama_buffer_float_type"
    assert "q40 weights need a q80" in problem
    assert fix == "set dllama_buffer_float_type: q80"
    assert dllama.topology_problems(4, kv_heads=8, weights_float_type="f32", buffer_float_type="f32") == []


# Measured against the real program (b4rtaz/distributed-llama 8d624a7, CPU
# build) with complete model files from tests/harness/dllama_model.py, root
# alone and root + 1 worker: bench/results/dllama-real-2026-12-04.md. Every
# other pair aborts ("Unsupported op quant", "Unsupported CPU op code: MATMUL",
# "This version supports only Q40 weights with Q80 sync type").
MEASURED_RUNNABLE = {("q40", "q80"), ("f32", "f32")}


@pytest.mark.parametrize("weights", dllama.FLOAT_TYPES)
@pytest.mark.parametrize("buffer", dllama.FLOAT_TYPES)
def test_float_type_pairs_accepted_are_the_measured_ones(weights, buffer):
    probs = dllama.topology_problems(2, kv_heads=2, weights_float_type=weights, buffer_float_type=buffer)
    assert (probs == []) == ((weights, buffer) in MEASURED_RUNNABLE), probs
    for var, problem, fix in probs:
        assert var in ("dllama_buffer_float_type", "dllama_weights_float_type")
        assert problem and fix.startswith(("set dllama_buffer_float_type: ", "convert the model to q40"))


def test_runnable_table_is_the_measured_set():
    assert set(dllama.RUNNABLE_FLOAT_TYPES.items()) == MEASURED_RUNNABLE


@pytest.mark.parametrize(
    ("weights", "buffer", "var", "words"),
    [
        ("f32", "q80", "dllama_buffer_float_type", "f32 weights need an f32 sync buffer, got 'q80'"),
        ("q40", "f16", "dllama_buffer_float_type", "q40 weights need a q80 sync buffer, got 'f16'"),
        ("f16", "f32", "dllama_weights_float_type", "cannot run f16 weights"),
        ("q80", "q80", "dllama_weights_float_type", "cannot run q80 weights"),
        (None, "f16", "dllama_buffer_float_type", "runs no weights with an f16 sync buffer"),
        (None, "q40", "dllama_buffer_float_type", "runs no weights with a q40 sync buffer"),
    ],
)
def test_unrunnable_pairs_name_the_variable_and_fix(weights, buffer, var, words):
    [(v, problem, fix)] = dllama.topology_problems(2, kv_heads=2, weights_float_type=weights, buffer_float_type=buffer)
    assert v == var and words in problem
    assert "dllama_buffer_float_type" in fix
    assert dllama.topology_problems(2, kv_heads=2, weights_float_type=None, buffer_float_type="f32") == []
    assert dllama.topology_problems(2, kv_heads=2, weights_float_type=None, buffer_float_type="q80") == []


def test_unknown_float_type():
    probs = dllama.topology_problems(2, buffer_float_type="q8")
    assert [p[0] for p in probs] == ["dllama_buffer_float_type"]


def test_per_node_mib_is_memory_formula_and_shrinks_with_nodes():
    shape = lookup("llama3.1:8b")
    assert dllama.per_node_mib(shape, 4096, 4, "q40") == memory.dllama_per_node_bytes(shape, 4096, 4, "q40") / 2**20
    assert dllama.per_node_mib(shape, 4096, 8) < dllama.per_node_mib(shape, 4096, 4)
    assert dllama.per_node_mib(shape, 4096, 8, root=True) > dllama.per_node_mib(shape, 4096, 8)


def test_worker_argv():
    assert dllama.worker_argv("/opt/d/bin/dllama", 9990, 4, host="10.0.0.2") == [
        "/opt/d/bin/dllama",
        "worker",
        "--port",
        "9990",
        "--nthreads",
        "4",
        "--host",
        "10.0.0.2",
    ]


@pytest.mark.parametrize("host", ["pi-02", "::1", "10.0.0.256"])
def test_worker_bind_must_be_ipv4_literal(host):
    with pytest.raises(dllama.DllamaError, match="IPv4"):
        dllama.worker_argv("dllama", host=host)


@pytest.mark.parametrize(("kw", "match"), [({"nthreads": 0}, "at least 1"), ({"port": 70000}, "not a TCP port")])
def test_worker_argv_rejects_what_dllama_rejects(kw, match):
    with pytest.raises(dllama.DllamaError, match=match):
        dllama.worker_argv("dllama", **kw)


def test_api_argv_puts_workers_last_space_separated():
    argv = dllama.api_argv(
        "/b/dllama-api",
        "/m/x.m",
        "/m/x.t",
        [("10.0.0.2", 9990), {"host": "10.0.0.3", "port": 9991}, "w4:9990"],
        max_seq_len=4096,
        nthreads=4,
        host="10.0.0.1",
    )
    assert argv[:7] == ["/b/dllama-api", "--model", "/m/x.m", "--tokenizer", "/m/x.t", "--buffer-float-type", "q80"]
    assert argv[argv.index("--port") + 1] == "9999"
    assert argv[argv.index("--max-seq-len") + 1] == "4096"
    assert argv[-4:] == ["--workers", "10.0.0.2:9990", "10.0.0.3:9991", "w4:9990"]


def test_root_argv_inference_mode_and_no_workers():
    argv = dllama.root_argv("dllama", "m", "t", mode="inference", extra={"--prompt": "hi", "--steps": 8})
    assert argv[1] == "inference"
    assert "--workers" not in argv
    assert argv[-4:] == ["--prompt", "hi", "--steps", "8"]


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"mode": "serve"}, "unknown mode"),
        ({"mode": "worker"}, "worker_argv"),
        ({"buffer_float_type": "q41"}, "Invalid float type"),
        ({"workers": ["10.0.0.2"]}, "host:port"),
        ({"workers": [("-x", 1)]}, "invalid worker host"),
        ({"extra": {"--workers": "a:1"}}, "other than --workers"),
    ],
)
def test_root_argv_rejects(kw, match):
    with pytest.raises(dllama.DllamaError, match=match):
        dllama.root_argv("dllama", "m", "t", **kw)


def test_default_ports_match_inventory_port_vars_and_role_defaults():
    assert PORT_VARS["dllama_worker_port"][1] == dllama.WORKER_PORT
    assert PORT_VARS["dllama_api_port"][1] == dllama.API_PORT
    defaults = yaml.safe_load((REPO / "roles/dllama/defaults/main.yml").read_text())
    assert defaults["dllama_worker_port"] == dllama.WORKER_PORT
    assert defaults["dllama_api_port"] == dllama.API_PORT
    assert defaults["dllama_buffer_float_type"] == dllama.DEFAULT_BUFFER_FLOAT_TYPE


# ------------------------------------------------------ inventory hook
def _seed004():
    inv = yaml.safe_load((REPO / "inventory/examples/seed004-pi-dllama/hosts.yml").read_text())
    allvars = inv["all"]["vars"]
    children = inv["all"]["children"]
    hostvars: dict[str, dict] = {}
    groups: dict[str, list[str]] = {}
    pi_vars = children["pis"]["vars"]
    for g in ("dllama_root", "dllama_workers", "spare_pis"):
        for h, hv in children[g]["hosts"].items():
            base = {**allvars}
            if h.startswith("pi-"):
                base.update(pi_vars)
            base.update(hv or {})
            hostvars[h] = base
            groups.setdefault(g, []).append(h)
    return hostvars, groups


def test_seed004_is_valid():
    hostvars, groups = _seed004()
    assert dllama.inventory_problems(hostvars, groups) == []
    assert validate_inventory(hostvars, groups).errors == []


def test_seed004_with_a_spare_pi_added_as_worker_is_rejected():
    hostvars, groups = _seed004()
    groups["dllama_workers"].append("pi-08")
    errors = validate_inventory(hostvars, groups).errors
    assert any("dllama_workers" in e and "9 nodes: use 8 or 16" in e for e in errors), errors


def test_root_also_a_worker_is_rejected():
    hostvars, groups = _seed004()
    groups["dllama_workers"][-1] = "pi-01"
    probs = dllama.inventory_problems(hostvars, groups)
    assert any(h == "pi-01" and "also listed as a worker" in p for h, _, p, _ in probs)


def test_kv_heads_from_catalog_and_override():
    hostvars, groups = _seed004()
    hostvars["pi-01"]["dllama_model_kv_heads"] = 4
    probs = dllama.inventory_problems(hostvars, groups)
    assert [(v, "more than the model's 4 KV heads" in p) for _, v, p, _ in probs] == [("dllama_workers", True)]


def test_q40_with_f32_sync_names_the_root():
    hostvars, groups = _seed004()
    hostvars["pi-01"]["dllama_buffer_float_type"] = "f32"
    [(host, var, problem, fix)] = dllama.inventory_problems(hostvars, groups)
    assert (host, var) == ("pi-01", "dllama_buffer_float_type")
    assert "'f32'" in problem
    assert "q80" in fix


def test_ram_too_small_names_the_host():
    hostvars, groups = _seed004()
    hostvars = copy.deepcopy(hostvars)
    hostvars["pi-01"]["herd_ram_mib"] = 2048
    probs = dllama.inventory_problems(hostvars, groups)
    assert [(h, v) for h, v, _, _ in probs] == [("pi-01", "herd_ram_mib")]
    assert "root" in probs[0][2] and "2048 MiB x 0.8" in probs[0][2]


def test_no_dllama_groups_no_problems():
    assert dllama.inventory_problems({"a": {}}, {"ollama_nodes": ["a"]}) == []


# ------------------------------------------------------ per-node needs
def test_the_plan_sizes_every_node_the_root_most():
    from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan

    hostvars, groups = _seed004()
    plan = build_plan(hostvars, groups)["dllama"]
    assert plan["root"] == groups["dllama_root"][0] and plan["workers"] == groups["dllama_workers"]
    assert plan["root_mib"] > plan["per_node_mib"] > 0  # the root also holds the embedding


# ------------------------------------------------------ Consul discovery
def _catalog_entry(node, address, service_address, port):
    # The shape of one element of Consul's GET /v1/catalog/service/<name>.
    return {
        "ID": f"id-{node}",
        "Node": node,
        "Address": address,
        "Datacenter": "dc1",
        "ServiceID": f"dllama-worker-{node}",
        "ServiceName": "dllama-worker",
        "ServiceTags": ["dllama", "worker"],
        "ServiceAddress": service_address,
        "ServicePort": port,
    }


def test_consul_workers_sorted_numerically_with_node_address_fallback():
    catalog = [
        _catalog_entry("pi-10", "10.0.0.10", "10.0.0.10", 9990),
        _catalog_entry("pi-02", "10.0.0.2", "", 9990),  # registered without an address
        _catalog_entry("pi-03", "10.0.0.3", "10.0.0.3", 9991),
    ]
    assert dllama.consul_workers(catalog) == ["10.0.0.2:9990", "10.0.0.3:9991", "10.0.0.10:9990"]
    assert dllama.consul_workers(list(reversed(catalog))) == dllama.consul_workers(catalog)


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        (_catalog_entry("x", "", "", 9990), "neither ServiceAddress nor Address"),
        (_catalog_entry("x", "10.0.0.2", "", 0), "not a TCP port"),
        (_catalog_entry("x", "10.0.0.2", "-evil", 9990), "invalid worker host"),
    ],
)
def test_consul_workers_rejects_what_dllama_cannot_use(entry, match):
    with pytest.raises(dllama.DllamaError, match=match):
        dllama.consul_workers([entry])
