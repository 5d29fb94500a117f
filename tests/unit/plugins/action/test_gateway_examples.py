"""LiteLLM's config (gateway.py) from the plan of the example inventories,
as the herd_plan action loads them (Ansible's inventory loader: controller code)."""

from __future__ import annotations

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils import gateway
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan
from plan_inputs import load_inventory
from plan_output import by_model, served


@pytest.fixture(scope="module")
def demo():
    return build_plan(*load_inventory("demo"))


@pytest.fixture(scope="module")
def seed002():
    return build_plan(*load_inventory("examples/seed002-homelab-tiers"))


@pytest.mark.parametrize("inv", ["demo", "examples/seed002-homelab-tiers", "examples/seed000-ollama-lab"])
def test_every_served_model_has_a_deployment(inv):
    plan = build_plan(*load_inventory(inv))
    assert not plan["errors"]
    groups = by_model(gateway.model_list(plan))
    assert set(groups) == served(plan)
    ids = [d["model_info"]["id"] for d in gateway.model_list(plan)]
    assert len(ids) == len(set(ids)), "deployment ids must be unique (LiteLLM keys its cooldowns by them)"


def test_a_pooled_model_goes_to_its_pool_first_then_to_each_node(demo):
    pool = demo["pools"][0]
    deps = by_model(gateway.model_list(demo))[pool["model"]]
    orders = [d["litellm_params"]["order"] for d in deps]
    assert orders == sorted(orders)
    first, rest = deps[0], deps[1:]
    assert first["model_info"]["id"].startswith("ollama_pool:") and first["litellm_params"]["api_base"].endswith(
        f":{pool['port']}"
    )
    assert first["litellm_params"]["model"] == f"ollama_chat/{pool['model']}"
    # Each backend directly, behind the pool: only when its load balancer fails.
    assert len(rest) == len(pool["backends"]) and all(d["litellm_params"]["order"] > orders[0] for d in rest)
    assert all(d["litellm_params"]["api_base"].endswith(":11434") for d in rest)


def test_each_engine_speaks_its_own_dialect(demo):
    groups = by_model(gateway.model_list(demo))
    (emb,) = groups["all-minilm"]  # an embedding model: LiteLLM embeds only through ollama/
    assert emb["litellm_params"]["model"] == "ollama/all-minilm" and emb["model_info"]["mode"] == "embedding"
    (ls,) = groups["herd-tiny-llama"]
    assert ls["litellm_params"]["model"] == "openai/herd-tiny-llama" and ls["litellm_params"]["api_base"].endswith(":8080/v1")
    assert ls["litellm_params"]["order"] == 1  # llama-server with GPU layers
    (dl,) = groups["herd-tiny-dllama"]
    assert dl["litellm_params"]["api_base"].endswith(":9999/v1") and dl["litellm_params"]["order"] == 2  # CPUs
    assert "mode" not in ls["model_info"] and "mode" not in dl["model_info"]


def test_seed002_aliases_name_the_same_model_group(seed002):
    aliases = gateway.model_group_alias(seed002)
    assert aliases["XL-LOC-FRE-qwen2.5-coder-32b"] == "qwen2.5-coder:32b"
    assert aliases["S-LOC-FRE-nomic-embed-text"] == "nomic-embed-text"
    names = {d["model_name"] for d in gateway.model_list(seed002)}
    assert set(aliases.values()) <= names and not set(aliases) & names


def test_the_config_holds_references_to_secrets_never_secrets(seed002):
    cloud = [{"name": "gpt-cloud", "provider": "openai", "model": "gpt-4o-mini", "api_key_env": "HERD_CLOUD_OPENAI_KEY"}]
    cfg = gateway.litellm_config(
        seed002, {"redis": {"host": "198.51.100.10", "port": 6379}, "database": True, "cloud_models": cloud}
    )
    assert cfg["general_settings"]["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    assert cfg["general_settings"]["database_url"] == "os.environ/DATABASE_URL"
    assert cfg["router_settings"]["redis_password"] == "os.environ/REDIS_PASSWORD"
    keys = [d["litellm_params"].get("api_key") for d in cfg["model_list"]]
    assert "os.environ/HERD_CLOUD_OPENAI_KEY" in keys
    assert all(k in (None, gateway.NO_KEY) or k.startswith("os.environ/") for k in keys)
    # Without Redis or a database the settings are absent, not empty.
    bare = gateway.litellm_config(seed002)
    assert "redis_host" not in bare["router_settings"] and "database_url" not in bare["general_settings"]


def test_prometheus_metrics_are_on_unless_turned_off(demo):
    assert gateway.litellm_config(demo)["litellm_settings"]["callbacks"] == ["prometheus"]
    assert "callbacks" not in gateway.litellm_config(demo, {"metrics": False})["litellm_settings"]


def test_a_cloud_model_is_the_last_resort_of_the_local_models_it_backs(demo):
    cloud = [
        {
            "name": "cloud-coder",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "api_key_env": "HERD_CLOUD_OPENAI_KEY",
            "api_base": "http://127.0.0.1:9",
            "fallback_for": ["qwen2.5-coder:0.5b"],
        }
    ]
    assert gateway.cloud_problems(cloud, served(demo)) == []
    cfg = gateway.litellm_config(demo, {"cloud_models": cloud})
    deps = by_model(cfg["model_list"])
    assert [d["litellm_params"]["order"] for d in deps["cloud-coder"]] == [1]
    local = deps["qwen2.5-coder:0.5b"]
    assert local[-1]["model_info"]["id"] == "cloud:cloud-coder:qwen2.5-coder:0.5b"
    assert local[-1]["litellm_params"]["order"] == gateway.CLOUD_ORDER > max(d["litellm_params"]["order"] for d in local[:-1])
    # Background health checks probe local backends only (a cloud probe is billed).
    probed = {d["model_info"]["id"] for d in cfg["model_list"] if not d["model_info"].get("disable_background_health_check")}
    assert probed == {d["model_info"]["id"] for d in cfg["model_list"] if not d["model_info"]["id"].startswith("cloud:")}
    assert cfg["general_settings"]["background_health_checks"] is True


@pytest.mark.parametrize("inv", ["demo", "examples/seed002-homelab-tiers"])
def test_each_backend_of_a_model_is_tried_on_its_own_after_the_retries(inv):
    """Issue 23: LiteLLM never cools down a backend that refuses connections
    and its retries may pick it again; one fallback per backend, the group
    itself with every other backend excluded, reaches each one in turn."""
    cfg = gateway.litellm_config(build_plan(*load_inventory(inv)))
    groups = by_model(cfg["model_list"])
    fallbacks = {k: v for entry in cfg["router_settings"]["fallbacks"] for k, v in entry.items()}
    aliases = cfg["router_settings"].get("model_group_alias") or {}
    multi = {name for name, deps in groups.items() if len(deps) > 1}
    assert set(fallbacks) == multi | {a for a, name in aliases.items() if name in multi} and multi
    for name, entries in fallbacks.items():
        if name in aliases:  # LiteLLM looks fallbacks up by the name the request used
            assert entries == fallbacks[aliases[name]]
            continue
        ids = [d["model_info"]["id"] for d in groups[name]]
        assert all(e["model"] == name for e in entries)
        # Exactly one backend left in each entry, every backend once, in routing order.
        left = [[i for i in ids if i not in e["_excluded_deployment_ids"]] for e in entries]
        assert left == [[i] for i in ids]
    most = max(len(deps) for deps in groups.values())
    assert cfg["router_settings"]["max_fallbacks"] >= most


def test_metrics_ask_for_a_key_unless_told_not_to(demo):
    assert "require_auth_for_metrics_endpoint" not in gateway.litellm_config(demo)["litellm_settings"]
    open_metrics = gateway.litellm_config(demo, {"metrics_auth": False})["litellm_settings"]
    assert open_metrics["require_auth_for_metrics_endpoint"] is False
