"""Unit tests for plugins/module_utils/memory.py and catalog.py."""

from __future__ import annotations

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils import catalog, memory
from gguf import GGML_QUANT_SIZES

SEED001 = {
    "all-minilm": 45,
    "nomic-embed-text": 274,
    "qwen2.5-coder:0.5b": 500,
    "mxbai-embed-large": 705,
    "qwen2.5-coder:1.5b": 900,
    "llama3.2:1b": 1300,
    "qwen2.5-coder:3b": 1800,
    "llama3.2:3b": 1900,
    "codellama:7b": 3600,
    "qwen2.5-coder:7b": 4400,
    "llama3.1:latest": 4700,
    "codellama:13b": 6900,
}


def test_usable_is_seed001_rule():
    assert memory.usable_mib(4096) == pytest.approx(3276.8)
    assert int(memory.usable_mib(4096, 0.8)) == 3276  # "Usable VRAM: 3276 MB (80% safety)"
    assert memory.usable_mib(1000, 0.5) == 500


@pytest.mark.parametrize(("total", "margin"), [(-1, 0.8), (4096, 0), (4096, 1.5), ("4096", 0.8), (4096, True)])
def test_usable_rejects_bad_input(total, margin):
    with pytest.raises(memory.MemoryError_):
        memory.usable_mib(total, margin)


@pytest.mark.parametrize(("name", "mib"), sorted(SEED001.items()))
def test_catalog_has_seed001_sizes(name, mib):
    assert catalog.model_size_mib(name) == mib


def test_catalog_aliases_and_unknown():
    assert catalog.model_size_mib("llama3.1") == 4700
    assert catalog.model_size_mib("LLAMA3.2:3B") == 1900
    assert catalog.model_size_mib("no-such-model:1b") is None
    # qwen2.5:72b: Ollama's 47 GB (decimal) is seed 000's ~45 GiB
    assert 43 * 1024 < catalog.model_size_mib("qwen2.5:72b") < 46 * 1024


def test_catalog_estimates_other_quant_from_params():
    q8 = catalog.model_size_mib("llama3.1:latest", "Q8_0")
    assert q8 == round(8.03e9 * 34 / 32 / 2**20)


def test_catalog_override_and_problems():
    cat = catalog.extended_catalog({"llama3.2:3b": {"size_mib": {"Q8_0": 3400}}, "mine": {"n_layer": 2}})
    assert catalog.model_size_mib("llama3.2:3b", "Q8_0", cat) == 3400
    assert catalog.model_size_mib("llama3.2:3b", None, cat) == 1900
    assert "mine" in cat
    assert catalog.entry_problems("x", {"n_layer": -1, "bogus": 1})[0][0] == "herd_model_catalog[x].bogus"


def test_block_sizes_match_gguf():
    for name, (block, nbytes) in memory.GGML_BLOCKS.items():
        gq = {k.name: v for k, v in GGML_QUANT_SIZES.items()}[name]
        assert gq == (block, nbytes), name


def test_quant_names():
    assert memory.normalize_quant("q4_k_m") == "Q4_K_M"
    assert memory.normalize_quant("q40") == "Q4_0"
    assert memory.bits_per_weight("Q8_0") == 8.5
    with pytest.raises(memory.MemoryError_, match="unknown quantization 'Q7_X'"):
        memory.normalize_quant("Q7_X")


def test_kv_cache_formula():
    # llama3.1 8B, 8192 cells f16: 32 layers x 8 heads x 128 x 2 (K+V) x 2 bytes = 1 GiB
    assert memory.kv_cache_bytes(32, 8192, 8, 128) == 2**30
    assert memory.kv_cache_bytes(32, 8192, 8, 128, cache_type_k="q8_0") == 2**30 * 34 // 64
    with pytest.raises(memory.MemoryError_, match="flash attention"):
        memory.kv_cache_bytes(32, 8192, 8, 128, cache_type_k="q8_0", flash_attn=False)
    # sliding-window layers hold fewer cells; recurrent layers a fixed state
    full = memory.kv_cache_bytes(4, 8192, 2, 64)
    swa = memory.kv_cache_bytes(4, 8192, 2, 64, swa_layers=2, swa_cells=memory.swa_cells(8192, 1024, 1, 512))
    assert swa == full // 2 + full // 2 * 1536 // 8192
    assert memory.kv_cache_bytes(4, 100, 2, 64, recurrent_layers=4, recurrent_state_bytes=10) == 40


def test_llama_server_cells():
    assert memory.llama_server_kv_cells(4096, 1) == 4096
    assert memory.llama_server_kv_cells(3000, 1) == 3072
    assert memory.llama_server_kv_cells(3000, 3) == 3 * 1024  # 3072/3 = 1024 per slot
    assert memory.llama_server_kv_cells(1000, 3) == 3 * 512  # 1024/3 -> 342 -> 512 each: grows
    assert memory.llama_server_kv_cells(1000, 3, kv_unified=True) == 1024
    assert memory.ollama_kv_cells(2048, 4) == 8192


def test_compute_measured_points():
    # Measured on llama-server b11312 CPU: 4x256 llama, ff 512, -c 2048 -fa on: 6.51 MiB; -fa off: 38.76 MiB
    fa = memory.llama_compute_bytes(256, 512, 8, 2, 32, 2048, 512, True) / memory.MIB
    nofa = memory.llama_compute_bytes(256, 512, 8, 2, 32, 2048, 512, False) / memory.MIB
    assert 6.51 <= fa <= 6.51 * 1.1
    assert 38.76 <= nofa <= 38.76 * 1.03


def test_layer_devices_follow_llama_cpp():
    # 6 blocks + output over ts 1,1: blocks 0-3 on dev0, 4-5 and output on dev1 (measured)
    assert memory.layer_devices(6, [1, 1]) == [0, 0, 0, 0, 1, 1, 1]
    # -ngl 2 offloads the last two blocks; the output layer then stays on the CPU
    assert memory.layer_devices(4, [1], n_gpu_layers=2) == [None, None, 0, 0, None]
    assert memory.layer_devices(3, []) == [None] * 4


def test_tied_output_copied_to_device():
    shape = {"n_layer": 2, "n_embd": 256, "n_head": 8, "n_head_kv": 2, "n_ff": 512, "n_vocab": 512, "tied_embeddings": True}
    m = memory.llama_server_memory(shape, weight_type="Q8_0", ctx=512, split=[1, 1])
    emb = memory.tensor_bytes(512 * 256, "Q8_0")
    assert m["devices"]["cpu"]["model"] == emb
    # 2 blocks + output over 1:1 -> blocks on dev0; dev1 holds the output: its norm plus a copy of token_embd
    assert m["devices"]["dev1"]["model"] == emb + 256 * 4


def test_dllama_per_node():
    shape = catalog.lookup("llama3.1:8b")
    one = memory.dllama_per_node_bytes(shape, 4096, 1)
    eight = memory.dllama_per_node_bytes(shape, 4096, 8)
    assert eight < one / 6
    assert memory.dllama_per_node_bytes(shape, 4096, 8, root=True) > eight
    with pytest.raises(memory.MemoryError_, match="cannot split 8 KV heads"):
        memory.dllama_kv_bytes(32, 4096, 8, 128, nodes=3)


# RequiredMemory (MB = 2**20 bytes, rounded down) printed by the real dllama
# at 8d624a7, llama3.1 8B shape, q40 weights, q80 buffer, --max-seq-len 4096:
# root first, then the workers in --workers order (bench/dllama_memory.py;
# bench/results/dllama-real-2026-12-04.md).
DLLAMA_REQUIRED_MB = {
    1: [7177],
    2: [4600, 2620],
    4: [3312, 1320, 1332, 1344],
    8: [2668, 670, 676, 682, 688, 694, 700, 706],
}


@pytest.mark.parametrize("nodes", sorted(DLLAMA_REQUIRED_MB))
def test_dllama_per_node_matches_the_real_required_memory(nodes):
    shape = catalog.lookup("llama3.1:8b")
    measured = DLLAMA_REQUIRED_MB[nodes]
    for index, mb in enumerate(measured):
        got = memory.dllama_per_node_bytes(shape, 4096, nodes, "q40", root=index == 0, node_index=index) / memory.MIB
        assert mb <= got < mb + 1, (nodes, index, got, mb)
    # The plan's two figures: the root, and one for every worker (the largest).
    root = memory.dllama_per_node_bytes(shape, 4096, nodes, "q40", root=True) / memory.MIB
    assert abs(root - measured[0]) / measured[0] < 0.01
    if nodes > 1:
        worker = memory.dllama_per_node_bytes(shape, 4096, nodes, "q40") / memory.MIB
        assert abs(worker - max(measured[1:])) / max(measured[1:]) < 0.01
        assert worker >= max(measured[1:])
