"""Unit tests for plugins/module_utils/model_shape.py and memory.engine_kv_bytes."""

from __future__ import annotations

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils import memory
from ansible_collections.llamaherd.cluster.plugins.module_utils.model_shape import model_shape


def test_name_mapping_and_override():
    assert model_shape("llama3.1")["name"] == "llama3.1:latest"  # an alias
    merged = model_shape({"name": "llama3.1:8b", "n_head_kv": 4})
    assert merged["n_head_kv"] == 4 and merged["n_layer"] == 32  # the mapping wins key by key
    bare = model_shape({"n_layer": 2, "n_embd": 64, "n_head": 4, "n_head_kv": 4})
    assert bare == {"n_layer": 2, "n_embd": 64, "n_head": 4, "n_head_kv": 4}
    extra = model_shape("mine", {"mine": {"n_layer": 3}})
    assert extra["n_layer"] == 3 and extra["name"] == "mine"


def test_engine_kv_semantics_differ():
    s = model_shape("qwen2.5:14b")
    per_token = 48 * 8 * 128 * 2 * 2
    assert memory.engine_kv_bytes(s, "ollama", 4096, 2) == 8192 * per_token
    assert memory.engine_kv_bytes(s, "llama_cpp", 4096, 2) == 4096 * per_token  # -c is the total
    assert memory.engine_kv_bytes(s, "llama_cpp", 4096, 2, kv_unified=True) == 4096 * per_token
    assert memory.engine_kv_bytes(s, "llama_cpp", 1000, 3) == 3 * 512 * per_token  # pad 1024, 342 -> 512 per slot
    assert memory.engine_kv_bytes(s, "dllama", 4096, nodes=8) == 48 * 4096 * 1 * 128 * 2 * 4
    with pytest.raises(memory.MemoryError_, match="unknown engine"):
        memory.engine_kv_bytes(s, "tgi", 4096)


def test_separate_key_and_value_dims():
    s = {"n_layer": 2, "n_embd": 256, "n_head": 4, "n_head_kv": 2, "head_dim": 64, "head_dim_k": 64, "head_dim_v": 32}
    assert memory.engine_kv_bytes(s, "ollama", 100) == 2 * 100 * 2 * (64 + 32) * 2
