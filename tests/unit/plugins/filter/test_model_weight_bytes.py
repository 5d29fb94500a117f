"""Unit tests for plugins/filter/model_weight_bytes.py: exact bytes from a
real GGUF header, estimates from parameter counts, seed 003's Q8_0 file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.filter.model_weight_bytes import FilterModule, model_weight_bytes
from ansible_collections.llamaherd.cluster.plugins.module_utils.gguf_header import catalog_entry, read_header
from gguf import GGUFReader

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "harness"))
from make_gguf import Shape, write_gguf


@pytest.mark.parametrize("wtype", ["f16", "q8_0", "q4_0"])
def test_exact_from_header(tmp_path, wtype):
    path = tmp_path / "m.gguf"
    write_gguf(path, Shape(n_layer=2, n_embd=256, n_head=8, n_head_kv=2, n_ff=512, weight_type=wtype))
    truth = sum(int(t.n_bytes) for t in GGUFReader(str(path)).tensors)
    header = read_header(str(path))
    registered = {"gguf": header, "catalog_entry": catalog_entry(header, with_tensors=True)}
    assert model_weight_bytes(registered) == truth
    assert model_weight_bytes(header) == truth
    assert model_weight_bytes(catalog_entry(header, with_tensors=True)) == truth
    # another quantization than the file's: estimated from the parameter count
    other = "F32"
    assert model_weight_bytes(header, other) == pytest.approx(header["n_params"] * 4, abs=1)


def test_from_parameter_count():
    assert model_weight_bytes(8e9, "Q8_0") == 8_500_000_000
    assert model_weight_bytes(1e9, "q40") == 562_500_000  # distributed-llama's name for Q4_0
    assert model_weight_bytes(1e9, "Q4_K_M") == round(1e9 * 4.89 / 8)


def test_catalog_name():
    # qwen2.5:72b has 72.7e9 parameters; Q8_0 is 8.5 bits each
    assert model_weight_bytes("qwen2.5:72b", "Q8_0") == round(72.7e9 * 8.5 / 8)
    # the catalog's default quantization for the model when none is given
    assert model_weight_bytes("llama3.1:8b") == round(8.03e9 * 4.89 / 8)


@pytest.mark.parametrize(
    ("model", "quant", "words"),
    [
        (8e9, None, "needs a quantization"),
        ("llama3.1:8b", "Q7_X", "unknown quantization 'Q7_X'"),
        ("nope:1b", None, "unknown model"),
        ({"n_layer": 2}, "Q8_0", "no params_b"),
    ],
)
def test_bad_input(model, quant, words):
    with pytest.raises(AnsibleFilterError, match=words):
        model_weight_bytes(model, quant)


def test_registered():
    assert FilterModule().filters() == {"model_weight_bytes": model_weight_bytes}
