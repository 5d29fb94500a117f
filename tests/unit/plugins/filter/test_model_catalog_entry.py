"""Unit tests for plugins/filter/model_catalog_entry.py."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.filter.kv_cache_bytes import kv_cache_bytes
from ansible_collections.llamaherd.cluster.plugins.filter.model_catalog_entry import FilterModule, model_catalog_entry
from ansible_collections.llamaherd.cluster.plugins.module_utils import catalog
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan

SHOW = {
    "details": {"family": "qwen2", "parameter_size": "32.8B", "quantization_level": "Q8_0"},
    "model_info": {
        "general.architecture": "qwen2",
        "general.parameter_count": 32763876352,
        "qwen2.attention.head_count": 40,
        "qwen2.attention.head_count_kv": 8,
        "qwen2.block_count": 64,
        "qwen2.context_length": 32768,
        "qwen2.embedding_length": 5120,
        "qwen2.feed_forward_length": 27648,
        "qwen2.vocab_size": 152064,
    },
}


def test_from_api_show_and_uri_result():
    entry = model_catalog_entry(SHOW)
    assert entry == model_catalog_entry({"json": SHOW, "status": 200})
    assert (entry["n_layer"], entry["n_head_kv"], entry["head_dim"], entry["quant"]) == (64, 8, 128, "Q8_0")
    assert entry["params_b"] == pytest.approx(32.76, abs=0.01)
    assert catalog.entry_problems("x", entry) == []
    # the same numbers as the filters compute from the catalog's entry for this model
    assert kv_cache_bytes(SHOW, 4096) == kv_cache_bytes("qwen2.5-coder:32b", 4096)


def test_show_overrides_the_catalog_in_the_plan():
    """An unknown model becomes plannable from /api/show (size estimated from its parameter count)."""
    hv = {
        "n1": {
            "herd_models": [{"name": "my-32b", "context": 2048}],
            "herd_model_catalog": {"my-32b": model_catalog_entry(SHOW)},
            "herd_ram_mib": 65536,
        }
    }
    groups = {"all": ["n1"], "ollama_nodes": ["n1"]}
    assert any(
        "does not know this model" in e for e in build_plan({"n1": {**hv["n1"], "herd_model_catalog": {}}}, groups)["errors"]
    )
    plan = build_plan(hv, groups)
    assert plan["errors"] == []
    item = plan["hosts"]["n1"]["ollama_models"][0]
    assert item["memory_mib"] > 32.76e9 * 8.5 / 8 / 2**20  # Q8_0 weights alone


def test_names_and_errors():
    assert model_catalog_entry("llama3.1")["n_layer"] == 32
    with pytest.raises(AnsibleFilterError, match="model_catalog_entry: unknown model"):
        model_catalog_entry("nope:1b")
    assert FilterModule().filters() == {"model_catalog_entry": model_catalog_entry}


def test_catalog_entry_set_on_any_host_counts():
    """set_fact herd_model_catalog on the host that ran gguf_info / uri (not the
    first host) still reaches the plan; a group-wide entry stays in force."""
    models = [{"name": "my-32b", "context": 2048}, {"name": "other", "context": 2048}]
    other = {"n_layer": 2, "n_embd": 256, "n_head": 4, "n_head_kv": 4, "n_ff": 512, "n_vocab": 1000, "params_b": 0.01}
    group = {"herd_models": models, "herd_model_catalog": {"other": other}, "herd_ram_mib": 65536}
    hv = {"n1": dict(group), "n2": {**group, "herd_model_catalog": {"other": other, "my-32b": model_catalog_entry(SHOW)}}}
    plan = build_plan(hv, {"all": ["n1", "n2"], "ollama_nodes": ["n1", "n2"]})
    assert plan["errors"] == []
    assert sorted(m["name"] for v in plan["hosts"].values() for m in v["ollama_models"]) == ["my-32b", "other"]
