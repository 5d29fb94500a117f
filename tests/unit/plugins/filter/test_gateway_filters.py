"""The gateway filters: the plan's config as the role writes it (YAML that
reads back the same), and herd_cloud_models checked against the plan."""

from __future__ import annotations

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.filter.gateway import gateway_cloud_problems, gateway_litellm_config
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan
from plan_inputs import load_inventory


@pytest.fixture(scope="module")
def plan():
    return build_plan(*load_inventory("demo"))


def test_the_config_survives_yaml(plan):
    cfg = gateway_litellm_config(plan, {"redis": {"host": "10.89.64.5", "port": 6379}})
    text = yaml.safe_dump(cfg, sort_keys=False)
    assert yaml.safe_load(text) == cfg
    # Model names with a tag (qwen2.5-coder:0.5b) stay strings, not YAML times or maps.
    assert {d["model_name"] for d in yaml.safe_load(text)["model_list"]} >= {"qwen2.5-coder:0.5b", "all-minilm"}


def test_a_plan_without_endpoints_gives_no_models():
    assert gateway_litellm_config({})["model_list"] == []
    assert gateway_litellm_config(None)["model_list"] == []


def test_a_bad_setting_is_a_filter_error(plan):
    with pytest.raises(AnsibleFilterError, match="gateway_litellm_config"):
        gateway_litellm_config(plan, {"redis": {"host": "10.89.64.5"}})  # no port


def test_cloud_models_are_checked_against_what_the_plan_serves(plan):
    ok = {"name": "c", "provider": "openai", "model": "gpt-4o-mini", "api_key_env": "HERD_CLOUD_KEY"}
    assert gateway_cloud_problems([{**ok, "fallback_for": ["herd-tiny-llama"]}], plan) == []
    (said,) = gateway_cloud_problems([{**ok, "fallback_for": ["gpt-5"]}], plan)
    assert said.startswith("herd_cloud_models[c]: fallback_for names gpt-5, which the plan does not serve.")


def test_the_per_backend_fallbacks_survive_yaml(plan):
    cfg = gateway_litellm_config(plan)
    back = yaml.safe_load(yaml.safe_dump(cfg, sort_keys=False))["router_settings"]
    assert back["fallbacks"] == cfg["router_settings"]["fallbacks"] != []
    assert back["max_fallbacks"] >= 2
