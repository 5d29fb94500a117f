"""Unit tests for plugins/module_utils/gguf_header.py: every field against the
``gguf`` package's GGUFReader on the same files (tests/harness/make_gguf.py
models of several shapes and types, plus hand-written headers)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils import catalog, memory
from ansible_collections.llamaherd.cluster.plugins.module_utils import gguf_header as gh
from gguf import GGMLQuantizationType, GGUFReader, GGUFWriter, LlamaFileType

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "harness"))
from make_gguf import Shape, write_gguf

SHAPES = {
    "llama-f16-mha": Shape(n_layer=2, n_embd=128, n_head=4, n_head_kv=4, n_ff=256, n_vocab=300, weight_type="f16"),
    "llama-q8_0-gqa4": Shape(n_layer=3, n_embd=256, n_head=8, n_head_kv=2, n_ff=512, weight_type="q8_0"),
    "qwen2-q4_0-tied": Shape(arch="qwen2", n_layer=2, n_embd=256, n_head=4, n_head_kv=1, n_ff=320, weight_type="q4_0", tied=True),
    "llama-f32-hd64": Shape(n_layer=1, n_embd=128, n_head=4, n_head_kv=2, head_dim=64, n_ff=192, n_ctx=8192, weight_type="f32"),
}


@pytest.fixture(scope="module", params=sorted(SHAPES))
def model(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("gguf") / f"{request.param}.gguf"
    write_gguf(path, SHAPES[request.param])
    return request.param, path


def _field(reader: GGUFReader, key: str):
    f = reader.fields.get(key)
    return None if f is None else f.contents()


def test_type_ids_match_gguf():
    for t in GGMLQuantizationType:
        assert memory.GGML_TYPE_IDS[t.value] == t.name
    for ft in LlamaFileType:
        if gh.FILE_TYPES.get(ft.value):
            name = ft.name.removeprefix("MOSTLY_").removeprefix("ALL_")
            assert gh.FILE_TYPES[ft.value] == {"Q2_K_S": "Q2_K", "MXFP4_MOE": "MXFP4"}.get(name, name)


def test_header_matches_gguf_reader(model):
    name, path = model
    shape = SHAPES[name]
    info = gh.read_header(str(path))
    reader = GGUFReader(str(path))
    arch = _field(reader, "general.architecture")
    assert info["architecture"] == arch == shape.arch
    assert info["file_size"] == path.stat().st_size
    assert info["data_offset"] == reader.data_offset
    assert info["alignment"] == reader.alignment
    assert info["name"] == _field(reader, "general.name")
    for ours, key in (
        ("block_count", "block_count"),
        ("context_length", "context_length"),
        ("embedding_length", "embedding_length"),
        ("feed_forward_length", "feed_forward_length"),
        ("head_count", "attention.head_count"),
        ("head_count_kv", "attention.head_count_kv"),
        ("vocab_size", "vocab_size"),
    ):
        assert info[ours] == _field(reader, f"{arch}.{key}"), ours
    expect_hd = _field(reader, f"{arch}.attention.key_length") or shape.n_embd // shape.n_head
    assert info["key_length"] == info["value_length"] == expect_hd == shape.hd
    assert info["sliding_window"] is None
    assert info["file_type"] == {"f32": "F32", "f16": "F16", "q8_0": "Q8_0", "q4_0": "Q4_0"}[shape.weight_type]
    # every scalar metadata value, and the vocabulary's length
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        value = info["metadata"][key]
        contents = field.contents()
        if isinstance(value, dict):
            assert value["length"] == len(contents), key
        elif isinstance(contents, float):
            assert value == pytest.approx(contents), key
        else:
            assert value == contents, key
    # every tensor: name, type, shape, elements, bytes, absolute data offset
    assert info["n_tensors"] == len(reader.tensors)
    for ours, theirs in zip(info["tensors"], reader.tensors, strict=True):
        assert ours["name"] == theirs.name
        assert ours["type"] == theirs.tensor_type.name
        assert ours["shape"] == [int(x) for x in theirs.shape]
        assert ours["n_elements"] == theirs.n_elements
        assert ours["bytes"] == theirs.n_bytes
        assert info["data_offset"] + ours["offset"] == theirs.data_offset
    assert info["tensor_bytes"] == sum(int(t.n_bytes) for t in reader.tensors)
    assert info["n_params"] == sum(int(t.n_elements) for t in reader.tensors)


def test_catalog_entry_from_header(model):
    name, path = model
    shape = SHAPES[name]
    info = gh.read_header(str(path), metadata=False)
    assert "metadata" not in info
    entry = gh.catalog_entry(info)
    assert entry["arch"] == shape.arch
    assert (entry["n_layer"], entry["n_embd"], entry["n_head"], entry["n_head_kv"]) == (
        shape.n_layer,
        shape.n_embd,
        shape.n_head,
        shape.n_head_kv,
    )
    assert entry["head_dim"] == entry["head_dim_k"] == entry["head_dim_v"] == shape.hd
    assert entry["n_ff"] == shape.n_ff and entry["n_vocab"] == shape.n_vocab and entry["n_ctx_train"] == shape.n_ctx
    assert entry["tied_embeddings"] is shape.tied
    quant = memory.normalize_quant(shape.weight_type)
    assert entry["quant"] == quant
    assert entry["size_mib"] == {quant: round(path.stat().st_size / memory.MIB, 1)}
    assert catalog.entry_problems(name, entry) == []
    # The header's tensors give llama.cpp's exact model bytes; the shape alone
    # (same formula, no file) agrees for these llama-style models.
    exact = memory.llama_server_memory(entry, tensors=gh.tensor_list(info), ctx=512)
    from_shape = memory.llama_server_memory(entry, weight_type=quant, ctx=512)
    assert exact["devices"]["cpu"]["model"] == info["tensor_bytes"]  # no split: every tensor on the CPU
    if shape.arch == "llama":
        assert from_shape["devices"]["cpu"]["model"] == exact["devices"]["cpu"]["model"]


def test_header_overrides_catalog_guess(tmp_path):
    """A header for a name the catalog knows wins key by key (merge_entry)."""
    path = tmp_path / "m.gguf"
    write_gguf(path, SHAPES["llama-q8_0-gqa4"])
    entry = gh.catalog_entry(gh.read_header(str(path)))
    merged = catalog.merge_entry(catalog.lookup("llama3.1:8b"), entry)
    assert merged["n_layer"] == 3 and merged["n_head_kv"] == 2 and merged["quant"] == "Q8_0"
    assert merged["size_mib"]["Q4_K_M"] == 4700  # the catalog's other sizes stay
    assert merged["size_mib"]["Q8_0"] == entry["size_mib"]["Q8_0"]


def _hand_written(path: Path) -> None:
    """A gemma-like header: sliding window, per-layer KV heads, a Q4_K and a
    BF16 tensor, key length != value length, u64/bool/f64 metadata."""
    w = GGUFWriter(str(path), "gemma3")
    w.add_block_count(2)
    w.add_context_length(32768)
    w.add_embedding_length(256)
    w.add_feed_forward_length([512, 768])
    w.add_head_count(8)
    w.add_head_count_kv([4, 2])
    w.add_key_length(64)
    w.add_value_length(32)
    w.add_sliding_window(1024)
    w.add_file_type(LlamaFileType.MOSTLY_Q4_K_M)
    w.add_uint64("test.big", 2**40)
    w.add_bool("test.flag", True)
    w.add_float64("test.pi", 3.25)
    w.add_array("test.strings", ["a", "bb", "ccc"])
    w.add_array("tokenizer.ggml.tokens", [f"t{i}" for i in range(gh.MAX_INLINE_ARRAY + 5)])
    q4k = np.zeros((4, 256 // 256 * 144), dtype=np.uint8)
    w.add_tensor("blk.0.ffn_down.weight", q4k, raw_shape=q4k.shape, raw_dtype=GGMLQuantizationType.Q4_K)
    w.add_tensor("blk.0.attn_norm.weight", np.ones(256, np.float32))
    bf = np.zeros((3, 256 * 2), dtype=np.uint8)
    w.add_tensor("token_embd.weight", bf, raw_shape=bf.shape, raw_dtype=GGMLQuantizationType.BF16)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_hand_written_header_matches_gguf_reader(tmp_path):
    path = tmp_path / "g.gguf"
    _hand_written(path)
    info = gh.read_header(str(path))
    reader = GGUFReader(str(path))
    assert info["architecture"] == "gemma3"
    assert info["sliding_window"] == _field(reader, "gemma3.attention.sliding_window") == 1024
    assert info["head_count_kv"] == _field(reader, "gemma3.attention.head_count_kv") == [4, 2]
    assert info["feed_forward_length"] == [512, 768]
    assert (info["key_length"], info["value_length"]) == (64, 32)
    assert info["metadata"]["test.big"] == 2**40 and info["metadata"]["test.flag"] is True
    assert info["metadata"]["test.pi"] == 3.25 and info["metadata"]["test.strings"] == ["a", "bb", "ccc"]
    assert info["metadata"]["tokenizer.ggml.tokens"] == {"array_type": "string", "length": gh.MAX_INLINE_ARRAY + 5}
    assert info["vocab_size"] == gh.MAX_INLINE_ARRAY + 5
    assert info["file_type"] == "Q4_K_M"
    assert info["data_offset"] == reader.data_offset
    for ours, theirs in zip(info["tensors"], reader.tensors, strict=True):
        assert (ours["name"], ours["type"], ours["n_elements"], ours["bytes"]) == (
            theirs.name,
            theirs.tensor_type.name,
            theirs.n_elements,
            theirs.n_bytes,
        )
        assert info["data_offset"] + ours["offset"] == theirs.data_offset
    entry = gh.catalog_entry(info)
    assert entry["n_head_kv"] == 4 and entry["n_ff"] == 768  # per-layer lists: the safe maximum
    assert (entry["head_dim_k"], entry["head_dim_v"], entry["head_dim"]) == (64, 32, 64)
    assert entry["n_swa"] == 1024 and entry["quant"] == "Q4_K_M"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b"GGML" + b[4:], "not a GGUF file"),
        (lambda b: b[:4] + (9).to_bytes(4, "little") + b[8:], "version 9"),
        (lambda b: b[:200], "truncated header"),
        (lambda b: b[:-100], "is truncated: tensor data ends"),
        (lambda b: b"", "not a GGUF file"),
    ],
)
def test_broken_files(tmp_path, mutate, message):
    good = tmp_path / "good.gguf"
    write_gguf(good, SHAPES["llama-f16-mha"])
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(mutate(good.read_bytes()))
    with pytest.raises(gh.GGUFError, match=message):
        gh.read_header(str(bad))


def test_missing_file(tmp_path):
    with pytest.raises(gh.GGUFError, match="cannot open"):
        gh.read_header(str(tmp_path / "none.gguf"))


def test_entry_from_ollama_show():
    show = {
        "details": {"format": "gguf", "family": "llama", "parameter_size": "8.0B", "quantization_level": "Q4_K_M"},
        "model_info": {
            "general.architecture": "llama",
            "general.parameter_count": 8030261248,
            "llama.attention.head_count": 32,
            "llama.attention.head_count_kv": 8,
            "llama.attention.layer_norm_rms_epsilon": 1e-05,
            "llama.block_count": 32,
            "llama.context_length": 131072,
            "llama.embedding_length": 4096,
            "llama.feed_forward_length": 14336,
            "llama.rope.freq_base": 500000,
            "llama.vocab_size": 128256,
            "tokenizer.ggml.tokens": None,
        },
    }
    entry = gh.entry_from_ollama_show(show)
    want = {k: v for k, v in catalog.lookup("llama3.1:8b").items() if k in entry and k not in ("params_b", "size_mib")}
    assert {k: entry[k] for k in want} == want
    assert entry["params_b"] == pytest.approx(8.03, abs=0.01)
    assert entry["head_dim"] == 128 and entry["quant"] == "Q4_K_M"


def _rpc_inventory(catalog_entry: dict, quant: str | None = None) -> tuple[dict, dict]:
    model = {"name": "herd-test", "engine": "llama_cpp", "context": 1024}
    if quant:
        model["quant"] = quant
    gpu = {"vendor": "nvidia", "name": "Tesla V100S-PCIE-32GB", "vram_mib": 32768, "compute_capability": "7.0"}
    hv = {
        "head": {"herd_models": [model], "herd_model_catalog": {"herd-test": catalog_entry}, "herd_ram_mib": 65536},
        "w1": {"herd_gpus": [gpu], "herd_ram_mib": 65536},
        "w2": {"herd_gpus": [gpu], "herd_ram_mib": 65536},
    }
    groups = {"all": ["head", "w1", "w2"], "llama_cpp_head": ["head"], "llama_cpp_workers": ["w1", "w2"]}
    return hv, groups


def test_plan_uses_header_for_an_unknown_model(tmp_path):
    """A model the built-in catalog does not know is planned from its header:
    the RPC split's weights are the header's exact tensor bytes per device."""
    from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan

    path = tmp_path / "m.gguf"
    write_gguf(path, Shape(n_layer=6, n_embd=1024, n_head=8, n_head_kv=2, n_ff=2816, n_vocab=4096, weight_type="q8_0"))
    info = gh.read_header(str(path))
    without = build_plan(*_rpc_inventory({}))
    assert any("does not know this model's shape" in e for e in without["errors"])
    plan = build_plan(*_rpc_inventory(gh.catalog_entry(info, with_tensors=True)))
    assert plan["errors"] == []
    split = plan["rpc_splits"][0]["chosen"]
    assert split["quant"] == "Q8_0"
    layers = [r["layers"] for r in split["rows"]]
    assert layers == [4, 3, 0]  # 6 blocks + output over two equal GPUs; the head keeps the embedding
    exact = memory.llama_server_memory(
        gh.catalog_entry(info), tensors=gh.tensor_list(info), ctx=1024, split=split["tensor_split"]
    )
    for i, row in enumerate(split["rows"][:2]):
        assert row["weights_mib"] == round(exact["devices"][f"dev{i}"]["model"] / memory.MIB)
    emb = next(t["bytes"] for t in info["tensors"] if t["name"] == "token_embd.weight")
    assert split["rows"][2]["weights_mib"] == round(emb / memory.MIB)
    # Asking for another quantization drops the header's tensors (they describe Q8_0).
    other = build_plan(*_rpc_inventory(gh.catalog_entry(info, with_tensors=True), quant="Q4_0"))
    assert other["rpc_splits"][0]["chosen"]["quant"] == "Q4_0"
    assert other["rpc_splits"][0]["chosen"]["rows"][0]["weights_mib"] < split["rows"][0]["weights_mib"]
