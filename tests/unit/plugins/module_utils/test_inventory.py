from __future__ import annotations

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils import inventory as inv


@pytest.mark.parametrize(("value", "ok"), [("node-1", True), ("a.b.example", True), ("10.0.0.300", False), ("-x", False)])
def test_is_hostname(value, ok):
    assert inv.is_hostname(value) is ok


def test_cluster_address_falls_back_to_an_ip_ansible_host_only():
    assert inv.cluster_address("h", {"ansible_host": "192.0.2.4"}) == "192.0.2.4"
    assert inv.cluster_address("h", {"ansible_host": "sshalias"}) is None
    assert inv.cluster_address("h", {"ansible_host": "192.0.2.4", "herd_cluster_address": "192.0.2.5"}) == "192.0.2.5"


def test_host_ports_follow_group_membership_and_defaults():
    ports = inv.host_ports(
        "h", {"llama_cpp_servers": [{"name": "a", "port": 8000}]}, ["llama_cpp_head", "llama_cpp_workers", "dllama_root"]
    )
    assert sorted(ports) == [(8000, "llama_cpp_servers[0].port"), (9999, "dllama_api_port"), (50052, "llama_cpp_rpc_port")]


def _valid():
    hostvars = {
        "a": {"herd_cluster_address": "192.0.2.1", "herd_cluster_cidr": "192.0.2.0/24"},
        "b": {"herd_cluster_address": "192.0.2.2", "herd_cluster_cidr": "192.0.2.0/24"},
    }
    groups = {"all": ["a", "b"], "ollama_nodes": ["a", "b"]}
    return hostvars, groups


def test_valid_inventory_has_no_errors():
    report = inv.validate_inventory(*_valid())
    assert report.ok, report.errors


def test_every_error_names_host_variable_and_fix():
    hostvars, groups = _valid()
    hostvars["b"]["herd_gpus"] = [{"vendor": "nvidia", "vram_mib": 0}]
    report = inv.validate_inventory(hostvars, groups)
    assert len(report.errors) == 2
    for err in report.errors:
        assert err.startswith("host b: herd_gpus[0].")
        assert ". Fix: " in err


def test_no_service_group_is_an_error():
    hostvars, _ = _valid()
    report = inv.validate_inventory(hostvars, {"all": ["a", "b"]})
    assert any("no host is in any llama-herd group" in e for e in report.errors)


def test_ipv6_cluster_address_is_fine_for_ollama_but_not_for_rpc_workers():
    hostvars = {"a": {"herd_cluster_address": "2001:db8::1"}}
    assert inv.validate_inventory(hostvars, {"all": ["a"], "ollama_nodes": ["a"]}).ok
    report = inv.validate_inventory(hostvars, {"all": ["a"], "llama_cpp_workers": ["a"], "llama_cpp_head": ["a"]})
    assert any("IPv6" in e and "rpc-server" in e for e in report.errors)


@pytest.mark.parametrize("addr", ["127.0.0.1", "::1", "localhost"])
def test_loopback_cluster_address_is_warned(addr):
    """Seed 000's trap (Ollama bound to localhost): allowed for one-box tests,
    but said, with the host, variable and fix."""
    hostvars = {"a": {"herd_cluster_address": addr}}
    report = inv.validate_inventory(hostvars, {"all": ["a"], "ollama_nodes": ["a"]})
    assert report.ok
    assert report.warnings == [
        f"host a: herd_cluster_address: {addr} is a loopback address: services bind to it and no other node can reach "
        "them. Fix: set herd_cluster_address to the address other nodes reach a on."
    ]
    assert inv.validate_inventory(*_valid()).warnings == []


def test_rpc_address_must_lie_in_the_rpc_network():
    hostvars = {
        "head": {"herd_cluster_address": "192.0.2.1"},
        "w": {"herd_cluster_address": "192.0.2.2", "herd_rpc_address": "203.0.113.9", "herd_rpc_cidr": "198.51.100.0/24"},
    }
    hostvars["head"]["herd_rpc_cidr"] = "198.51.100.0/24"
    groups = {"all": ["head", "w"], "llama_cpp_head": ["head"], "llama_cpp_workers": ["w"]}
    report = inv.validate_inventory(hostvars, groups)
    assert any(
        e.startswith("host w: herd_rpc_address: 203.0.113.9 is outside herd_rpc_cidr 198.51.100.0/24") for e in report.errors
    )
    hostvars["w"]["herd_rpc_address"] = "198.51.100.9"
    assert inv.validate_inventory(hostvars, groups).ok


@pytest.mark.parametrize(
    ("value", "level"), [(None, "workers"), ("", "workers"), (True, "cluster"), (False, "off"), ("Workers", "workers")]
)
def test_firewall_level(value, level):
    assert inv.firewall_level(value) == level


def test_herd_firewall_must_be_a_level():
    hostvars, groups = _valid()
    hostvars["a"]["herd_firewall"] = "strict"
    report = inv.validate_inventory(hostvars, groups)
    assert report.errors == [
        "host a: herd_firewall: 'strict' is not a firewall level. Fix: write workers (the default: only the RPC and "
        "distributed-llama worker ports, open to their heads), cluster (every service port to the cluster network too) or off."
    ]
    for ok in ("workers", "cluster", "off", True, False):
        hostvars["a"]["herd_firewall"] = ok
        assert inv.validate_inventory(hostvars, groups).ok, ok


def test_herd_firewall_cluster_needs_the_cluster_network():
    hostvars, groups = _valid()
    for hv in hostvars.values():
        hv.pop("herd_cluster_cidr", None)
    hostvars["a"]["herd_firewall"] = "cluster"
    report = inv.validate_inventory(hostvars, groups)
    assert any(e.startswith("host a: herd_firewall: cluster limits every service port") for e in report.errors)


def test_herd_firewall_off_on_a_worker_is_a_warning():
    hostvars = {
        "h": {"herd_cluster_address": "10.0.0.1", "herd_firewall": False},
        "w": {"herd_cluster_address": "10.0.0.2", "herd_firewall": False},
    }
    groups = {"all": ["h", "w"], "llama_cpp_head": ["h"], "llama_cpp_workers": ["w"]}
    report = inv.validate_inventory(hostvars, groups)
    assert [w for w in report.warnings if "herd_firewall" in w] == [
        "host w: herd_firewall: off, so this worker's unauthenticated port takes work from any machine that reaches it. "
        "Fix: remove herd_firewall (the default fences the worker port to its head) unless another firewall does that."
    ]


@pytest.mark.parametrize("var", ["herd_allow_bind_all"])
def test_switches_must_be_booleans(var):
    hostvars, groups = _valid()
    hostvars["a"][var] = "false"
    report = inv.validate_inventory(hostvars, groups)
    assert report.errors == [f"host a: {var}: 'false' is not true or false. Fix: write {var}: true or {var}: false, unquoted."]
    hostvars["a"][var] = False
    assert inv.validate_inventory(hostvars, groups).ok


def test_preflight_summary_says_what_was_checked():
    from ansible_collections.llamaherd.cluster.plugins.module_utils.inventory import preflight_summary

    models = [{"name": "qwen2.5:7b"}, {"name": "m", "engine": "llama_cpp"}]
    hv = {
        "a": {"herd_models": models},
        "b": {"herd_models": models, "herd_firewall": "off"},
        "c": {"herd_models": models, "herd_firewall": "nonsense"},
    }
    groups = {"all": ["a", "b", "c"], "ollama_nodes": ["a", "b"], "llama_cpp_head": ["c"], "gpu_router": []}
    lines = preflight_summary(hv, groups, warnings=2)
    assert lines[0] == "Preflight passed: 3 hosts checked, none contacted."
    assert "  groups: ollama_nodes 2, llama_cpp_head 1" in lines
    assert "  models: 1 Ollama, 1 llama.cpp" in lines
    assert "  firewall: off on 1 host, workers on 1 host" in lines  # a bad level is preflight's error, not counted
    assert "  warnings: 2 (above)" in lines
    assert preflight_summary(hv, groups, demo_inventory=True)[0].startswith("This run targets the demo inventory")
    assert max(len(line) for line in lines) <= 100


def test_wrong_types_are_shown_as_the_inventory_writes_them():
    """No Python None, True or {'k': v} in a message: what YAML would say."""
    hostvars, groups = _valid()
    hostvars["a"].update(
        herd_ram_mib=None,
        herd_arch={"a": 1},
        herd_os=["linux"],
        herd_labels=[1, 2],
        herd_firewall={"level": "off"},
        herd_allow_bind_all="yes",
    )
    hostvars["b"]["herd_model_catalog"] = {"m": {"n_layer": None, "n_embd": True, "size_mib": [1]}}
    errors = inv.validate_inventory(hostvars, groups).errors
    assert len(errors) == 10, errors
    for err in errors:
        assert "None" not in err and "True" not in err and "{'" not in err, err
    assert "host a: herd_ram_mib: must be a positive whole number of MiB, got nothing." in " ".join(errors)
    assert "host a: herd_labels: must be a list of strings, got [1, 2]." in " ".join(errors)


def test_a_nodes_own_ollama_models_is_refused_for_herd_models():
    hostvars, groups = _valid()
    hostvars["b"]["ollama_models"] = ["llama3.2:1b"]
    report = inv.validate_inventory(hostvars, groups)
    assert report.errors == [
        "host b: ollama_models: the plan decides each node's models from herd_models, so this list would be ignored. "
        "Fix: list these models in herd_models with hosts: [b] (and keep_alive, alias, context there)."
    ]


@pytest.mark.parametrize(
    ("model", "problem"),
    [
        ({"name": "llama3.2:1b", "keep_alive": "5 minutes"}, "is not a duration Ollama accepts"),
        ({"name": "llama3.2:1b", "engine": "llama_cpp", "keep_alive": "-1"}, "only Ollama keeps a model loaded"),
    ],
)
def test_keep_alive_is_checked_as_ollama_reads_it(model, problem):
    hostvars, groups = _valid()
    for hv in hostvars.values():
        hv["herd_models"] = [model]
    errors = inv.validate_inventory(hostvars, groups).errors
    assert [e for e in errors if "keep_alive" in e and problem in e], errors


def test_keep_alive_in_go_duration_form_is_fine():
    hostvars, groups = _valid()
    for hv in hostvars.values():
        hv["herd_models"] = [{"name": "llama3.2:1b", "keep_alive": "1h30m"}, {"name": "qwen2.5:3b", "keep_alive": -1}]
    report = inv.validate_inventory(hostvars, groups)
    assert report.ok, report.errors


def test_a_gateway_host_needs_its_secrets_and_no_message_shows_them():
    hostvars, groups = _valid()
    groups = {**groups, "gateway": ["b"]}
    report = inv.validate_inventory(hostvars, groups)
    assert sorted(e.split(":")[1].strip() for e in report.errors) == ["gateway_master_key", "gateway_redis_password"]
    for err in report.errors:
        assert err.startswith("host b: gateway_") and "Ansible Vault" in err and "host_vars/b.yml" in err

    hostvars["b"].update(gateway_master_key="not-a-litellm-key-secret", gateway_redis_password="r" * 20)
    (err,) = inv.validate_inventory(hostvars, groups).errors
    assert err.startswith("host b: gateway_master_key: does not begin with sk-")
    assert "not-a-litellm-key-secret" not in err

    hostvars["b"]["gateway_master_key"] = "sk-" + "k" * 32
    assert inv.validate_inventory(hostvars, groups).ok
    assert (4000, "gateway_port") in inv.host_ports("b", hostvars["b"], ["gateway"])


def test_a_cloud_fallback_is_checked_on_the_gateway_and_needs_its_vault_key():
    hostvars, groups = _valid()
    groups = {**groups, "gateway": ["b"]}
    served = "qwen2.5-coder:0.5b"
    for h in hostvars.values():
        h["herd_models"] = [{"name": served}]
    cloud = {"name": "cloud-mini", "provider": "openai", "model": "gpt-4o-mini", "api_key_env": "HERD_CLOUD_KEY"}
    for h in hostvars.values():
        h["herd_cloud_models"] = [{**cloud, "fallback_for": [served, "nope"]}]
    hostvars["b"].update(gateway_master_key="sk-" + "k" * 32, gateway_redis_password="r" * 20)
    assert inv.validate_inventory(hostvars, groups).errors == [
        f"host b: herd_cloud_models[cloud-mini]: fallback_for names nope, which the plan does not serve. Fix: use one of {served}.",
        "host b: gateway_cloud_api_keys: has no key for HERD_CLOUD_KEY, which herd_cloud_models[cloud-mini] reads. "
        'Fix: add HERD_CLOUD_KEY: "{{ vault_herd_cloud_key }}" (the key from Ansible Vault) in host_vars/b.yml '
        "(or the host's entry in the inventory).",
    ]
    for h in hostvars.values():
        h["herd_cloud_models"] = [{**cloud, "fallback_for": [served]}]
    hostvars["b"]["gateway_cloud_api_keys"] = {"HERD_CLOUD_KEY": "sk-cloud-secret"}
    report = inv.validate_inventory(hostvars, groups)
    assert report.ok, report.errors


@pytest.mark.parametrize(
    "jobs",
    [{"ollama_nodes": ["b"]}, {"llama_cpp_head": ["b"]}, {"llama_cpp_head": ["a"], "llama_cpp_workers": ["b"]}],
)
@pytest.mark.parametrize("cuda", [None, "12.8"])
def test_a_malformed_driver_version_is_refused_on_its_own(jobs, cuda):
    """Whatever the host's groups, with or without a toolkit named: one
    error naming the variable (the toolkit check is not run on it too)."""
    hostvars, groups = _valid()
    hostvars["b"]["herd_nvidia_driver_version"] = "535"
    if cuda:
        hostvars["b"]["herd_cuda_version"] = cuda
    groups = {"all": ["a", "b"], "ollama_nodes": ["a"], **jobs}
    report = inv.validate_inventory(hostvars, groups)
    assert report.errors == [
        "host b: herd_nvidia_driver_version: not an NVIDIA driver version, got '535'. Fix: quote the driver_version "
        "nvidia-smi prints: herd_nvidia_driver_version: '535.104.05' (or remove it: gpu_facts measures it)."
    ]


@pytest.mark.parametrize("driver", ["535.104.05", "570.86", 550.54])
def test_a_driver_version_as_nvidia_smi_prints_it_passes(driver):
    hostvars, groups = _valid()
    hostvars["b"]["herd_nvidia_driver_version"] = driver
    assert inv.validate_inventory(hostvars, groups).ok
