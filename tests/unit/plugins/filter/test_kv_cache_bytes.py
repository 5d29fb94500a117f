"""Unit tests for plugins/filter/kv_cache_bytes.py: the KV sizes llama-server
b11312 reported for the accuracy bench's models (bench/results/), Ollama's and
dllama's semantics, catalog names and gguf_info results as input."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.filter.kv_cache_bytes import FilterModule, kv_cache_bytes

MIB = 2**20


def shape(n_layer, n_embd, n_head, n_head_kv, head_dim=None):
    return {
        "n_layer": n_layer,
        "n_embd": n_embd,
        "n_head": n_head,
        "n_head_kv": n_head_kv,
        "head_dim": head_dim or n_embd // n_head,
        "n_ff": 4 * n_embd,
        "n_vocab": 1024,
    }


# (bench case, shape, filter args, KV MiB llama-server printed) - bench/results/memory_accuracy.md
MEASURED = [
    ("A llama f16 MHA", shape(8, 1024, 16, 16), {"context": 4096}, 128.0),
    ("B gqa4 np4", shape(12, 1024, 16, 4), {"context": 8192, "parallel": 4}, 96.0),
    ("C q8_0 KV", shape(8, 2048, 16, 2), {"context": 8192, "cache_type": "q8_0"}, 34.0),
    ("F head_dim 256 np3", shape(6, 1024, 8, 2, 256), {"context": 2048, "parallel": 3}, 27.0),
    ("G -kvu", shape(10, 896, 14, 2, 64), {"context": 4096, "kv_unified": True}, 20.0),
    ("H ctx 3000 np3 no-FA", shape(4, 512, 8, 8), {"context": 3000, "parallel": 3, "flash_attn": False}, 24.0),
    ("I ctx 2048", shape(4, 512, 8, 4), {"context": 2048}, 8.0),
]


@pytest.mark.parametrize(("case", "model", "args", "mib"), MEASURED, ids=[m[0] for m in MEASURED])
def test_llama_server_measured(case, model, args, mib):
    assert kv_cache_bytes(model, **args) == mib * MIB


def test_catalog_name_and_engines():
    # llama3.1:8b: 32 layers x 8 KV heads x 128 x 2 (K+V) x 2 bytes = 128 KiB per token
    assert kv_cache_bytes("llama3.1:8b", 8192, parallel=4) == 8192 * 128 * 1024
    # Ollama: num_ctx x OLLAMA_NUM_PARALLEL cells, no padding
    assert kv_cache_bytes("llama3.1:8b", 3000, parallel=3, engine="ollama") == 9000 * 128 * 1024
    # llama-server pads 3000 -> 3072 and splits per slot: 1024 x 3
    assert kv_cache_bytes("llama3.1:8b", 3000, parallel=3) == 3072 * 128 * 1024
    # dllama: f32, KV heads split over the nodes (per node)
    assert kv_cache_bytes("llama3.1:8b", 4096, engine="dllama", nodes=4) == 32 * 4096 * 2 * 128 * 2 * 4
    q8 = kv_cache_bytes("llama3.1:8b", 8192, cache_type="q8_0", engine="ollama")
    assert q8 == 8192 * 32 * 8 * 128 * 2 * 34 // 32


def test_gguf_info_result_and_extra_catalog():
    result = {
        "gguf": {"architecture": "llama", "block_count": 2, "embedding_length": 256, "head_count": 8, "head_count_kv": 2},
        "catalog_entry": {"n_layer": 2, "n_embd": 256, "n_head": 8, "n_head_kv": 2, "head_dim": 32},
    }
    assert kv_cache_bytes(result, 512) == 2 * 512 * 2 * 32 * 2 * 2
    extra = {"my-model": shape(3, 512, 8, 1)}
    assert kv_cache_bytes("my-model", 256, catalog=extra) == 3 * 256 * 1 * 64 * 2 * 2


def test_sliding_window_layers():
    s = {**shape(4, 512, 8, 8), "swa_layers": 3, "n_swa": 256}
    full = kv_cache_bytes(shape(4, 512, 8, 8), 8192)
    per_cell_layer = 8 * 64 * 2 * 2
    # 3 layers hold min(8192, pad(256 + 2048)) = 2304 cells, one layer holds 8192
    assert kv_cache_bytes(s, 8192) == (3 * 2304 + 8192) * per_cell_layer
    assert kv_cache_bytes(s, 8192) < full


@pytest.mark.parametrize(
    ("model", "args", "words"),
    [
        ("no-such-model:1b", {"context": 4096}, "unknown model 'no-such-model:1b'"),
        ("llama3.1:8b", {"context": 4096, "cache_type": "q8_0", "flash_attn": False}, "needs flash attention"),
        ("llama3.1:8b", {"context": 4096, "cache_type": "q3"}, "unknown KV cache type"),
        ("llama3.1:8b", {"context": 4096, "engine": "vllm"}, "unknown engine 'vllm'"),
        ("llama3.1:8b", {"context": 0}, "must be positive"),
        ("llama3.1:8b", {"context": 4096, "engine": "dllama", "nodes": 3}, "cannot split 8 KV heads"),
        (42, {"context": 4096}, "a name or a mapping"),
    ],
)
def test_bad_input_says_what_to_change(model, args, words):
    with pytest.raises(AnsibleFilterError, match=words):
        kv_cache_bytes(model, **args)


def test_registered():
    assert FilterModule().filters() == {"kv_cache_bytes": kv_cache_bytes}
