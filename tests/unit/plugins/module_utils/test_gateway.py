"""Unit tests for gateway.py: LiteLLM's config from plans made here (every
served model, every backend, the routing order, aliases, no secret in the
file); the example inventories' in ../action/test_gateway_examples.py."""

from __future__ import annotations

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils import gateway


def test_gpu_backends_come_before_ram_ones():
    ep = [
        {"url": "http://n1:11434", "engine": "ollama", "models": [{"name": "m", "on_gpu": False}]},
        {"url": "http://n2:11434", "engine": "ollama", "models": [{"name": "m", "on_gpu": True}]},
    ]
    deps = gateway.model_list({"endpoints": ep})
    assert [(d["litellm_params"]["api_base"], d["litellm_params"]["order"]) for d in deps] == [
        ("http://n2:11434", 1),
        ("http://n1:11434", 2),
    ]


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        (
            {"name": "c", "provider": "openai", "model": "x", "api_key_env": "K", "api_key": "sk-live"},
            "api_key is given in clear",
        ),
        ({"name": "c", "provider": "openai", "model": "x", "api_key_env": "my key"}, "not an environment variable name"),
        ({"name": "c", "provider": "Open AI", "model": "x", "api_key_env": "K"}, "not a LiteLLM provider name"),
        ({"name": "c", "provider": "openai", "api_key_env": "K"}, "model is missing"),
        (
            {"name": "c", "provider": "openai", "model": "x", "api_key_env": "K", "fallback_for": ["nope"]},
            "fallback_for names nope",
        ),
    ],
)
def test_a_bad_cloud_model_is_named_with_its_fix(entry, said):
    problems = gateway.cloud_problems([entry], ["qwen2.5-coder:0.5b"])
    assert any(said in p and "herd_cloud_models[c]" in p and "Fix:" in p for p in problems), problems
    if "fallback_for" not in entry:  # a malformed entry gives no deployment
        assert gateway.cloud_deployments([entry]) == []


def test_no_cloud_models_is_no_problem():
    assert gateway.cloud_problems(None, []) == [] and gateway.cloud_problems([], []) == []
    assert gateway.cloud_problems({"name": "x"}, []) == [
        "herd_cloud_models is not a list. Fix: a list of {name, provider, model, api_key_env}."
    ]


def test_a_model_with_one_backend_gets_no_fallbacks():
    one = {"endpoints": [{"engine": "ollama", "url": "http://10.0.0.1:11434", "models": [{"name": "m"}]}]}
    assert "fallbacks" not in gateway.litellm_config(one)["router_settings"]
    two = {"endpoints": [{**one["endpoints"][0], "url": u} for u in ("http://10.0.0.1:11434", "http://10.0.0.2:11434")]}
    (entry,) = gateway.litellm_config(two)["router_settings"]["fallbacks"]
    assert entry == {
        "m": [
            {"model": "m", "_excluded_deployment_ids": ["ollama:10.0.0.2:11434:m"]},
            {"model": "m", "_excluded_deployment_ids": ["ollama:10.0.0.1:11434:m"]},
        ]
    }


def test_an_alias_falls_back_like_its_model():
    eps = [
        {"engine": "ollama", "url": u, "models": [{"name": "m", "aliases": ["big-m"]}]}
        for u in ("http://10.0.0.1:11434", "http://10.0.0.2:11434")
    ]
    fallbacks = gateway.litellm_config({"endpoints": eps})["router_settings"]["fallbacks"]
    assert [list(f) for f in fallbacks] == [["m"], ["big-m"]]
    assert fallbacks[1]["big-m"] == fallbacks[0]["m"]


def test_a_backend_failing_its_health_check_leaves_the_routing_pool():
    """A hung backend (accepts, never answers) is found by the background
    health check and routed around (bench/results/gateway-hang-2026-12-05.md)."""
    ep = [{"url": "http://n1:11434", "engine": "ollama", "models": [{"name": "m"}, {"name": "e", "kind": "embedding"}]}]
    cfg = gateway.litellm_config({"endpoints": ep}, {"health_check_interval": 20, "health_check_timeout": 7})
    assert cfg["general_settings"]["background_health_checks"] is True
    assert cfg["general_settings"]["enable_health_check_routing"] is True
    assert cfg["general_settings"]["health_check_interval"] == 20
    # The cooldown policy would turn the health filter off (LiteLLM 1.108.7,
    # router.py _async_filter_health_check_unhealthy_deployments).
    assert "allowed_fails_policy" not in cfg["router_settings"]
    for d in cfg["model_list"]:
        assert d["model_info"]["health_check_timeout"] == 7
        assert d["model_info"]["health_check_max_tokens"] == 1
    assert gateway.litellm_config({"endpoints": ep})["model_list"][0]["model_info"]["health_check_timeout"] == 30
