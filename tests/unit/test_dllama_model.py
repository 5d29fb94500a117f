"""tests/harness/dllama_model.py writes complete distributed-llama files.

The readers here restate the real loaders (b4rtaz/distributed-llama 8d624a7:
src/llm.cpp ``loadLlmHeader``/``loadLlmNetWeight``, src/tokenizer.cpp
``Tokenizer::Tokenizer``) so a layout slip fails here, not only against the
real program (tests/integration/test_dllama_real.py does that when
DLLAMA_SRC is set)."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))

import dllama_model as dm


def read_header(data: bytes) -> tuple[int, dict[int, int]]:
    magic, size = struct.unpack_from("<ii", data, 0)
    assert magic == dm.MODEL_MAGIC
    n = (size - 8) // 4
    ints = struct.unpack_from(f"<{n}i", data, 8)
    return size, dict(zip(ints[0::2], ints[1::2], strict=True))


@pytest.mark.parametrize("weights", sorted(dm.FLOAT_TYPES))
def test_model_file_is_header_plus_every_weight(tmp_path, weights):
    shape = dm.Shape(weights=weights)
    path = tmp_path / "m.m"
    size = dm.write_model(path, shape)
    data = path.read_bytes()
    assert len(data) == size
    header_size, kv = read_header(data)
    assert kv[dm.MODEL_KEYS["weights_float_type"]] == dm.FLOAT_TYPES[weights]
    assert kv[dm.MODEL_KEYS["dim"]] == 64 and kv[dm.MODEL_KEYS["n_kv_heads"]] == 2
    assert kv[dm.MODEL_KEYS["vocab_size"]] == len(dm.vocabulary())
    # loadLlmNetWeight: the weights start at headerSize and end at the file's end
    # ("Missing bytes in weight file" otherwise).
    d, h, v, layers = 64, 128, len(dm.vocabulary()), 2
    q, kvd = 64, 32
    per_layer = sum(dm.tensor_nbytes(n, weights) for n in (q * d, kvd * d, kvd * d, d * q, h * d, d * h, h * d))
    per_layer += 2 * dm.tensor_nbytes(d, "f32")
    expected = v * d * 4 + layers * per_layer + d * 4 + dm.tensor_nbytes(v * d, weights)
    assert len(data) - header_size == expected


def test_quantised_blocks_round_trip():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, 64).astype(np.float32)
    q80 = np.frombuffer(dm.encode_tensor(x, "q80"), dtype=np.dtype([("d", "<f2"), ("qs", "i1", 32)]))
    back = (q80["d"].astype(np.float32)[:, None] * q80["qs"]).reshape(-1)
    assert np.max(np.abs(back - x)) < 0.05
    q40 = np.frombuffer(dm.encode_tensor(x, "q40"), dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]))
    lo, hi = (q40["qs"] & 0xF).astype(np.int8) - 8, (q40["qs"] >> 4).astype(np.int8) - 8
    back = (q40["d"].astype(np.float32)[:, None] * np.concatenate([lo, hi], axis=1)).reshape(-1)
    assert np.max(np.abs(back - x)) < 0.5
    assert len(dm.encode_tensor(x, "q40")) == dm.tensor_nbytes(64, "q40") == 36


def read_tokenizer(data: bytes) -> dict:
    """src/tokenizer.cpp:42-136, the 0x567124 branch."""
    magic, size = struct.unpack_from("<ii", data, 0)
    assert magic == dm.TOKENIZER_MAGIC
    n = (size - 8) // 4
    ints = struct.unpack_from(f"<{n}i", data, 8)
    kv = dict(zip(ints[0::2], ints[1::2], strict=True))
    assert set(kv) <= {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
    off = 8 + 4 * n
    template = data[off : off + kv.get(7, 0)].decode()
    off += kv.get(7, 0)
    eos = list(struct.unpack_from(f"<{kv.get(9, 0)}i", data, off))
    off += 4 * len(eos)
    vocab, scores = [], []
    for _ in range(kv[1]):
        score, length = struct.unpack_from("<fI", data, off)
        off += 8
        vocab.append(data[off : off + length])
        scores.append(score)
        off += length
    assert off == len(data)
    return {"kv": kv, "template": template, "eos": eos, "vocab": vocab, "scores": scores}


def test_tokenizer_file_loads_like_upstream():
    t = read_tokenizer(dm.tokenizer_bytes())
    kv, vocab = t["kv"], t["vocab"]
    assert kv[0] == 1  # "Old tokenizer version" otherwise
    assert kv[2] == max(len(v) for v in vocab) >= 1
    bos = kv[3]
    assert vocab[bos] == b"<|begin_of_text|>" and kv[10] == 1
    # regularVocabSize = bosId: every special token sits at or after BOS.
    assert all(v.decode() in dm.SPECIALS for v in vocab[bos:])
    assert len(set(vocab[:bos])) == bos and all(b"\0" not in v for v in vocab)
    # every printable ASCII byte is a token, so Tokenizer::encode never asserts.
    assert {bytes([c]) for c in range(0x20, 0x7F)} <= set(vocab[:bos])
    assert [vocab[e] for e in t["eos"]] == [b"<|eot_id|>", b"<|end_of_text|>"]
    assert "<|start_header_id|>" in t["template"]  # ChatTemplateGenerator picks llama3
    assert len(vocab) % 32 == 0 and len(vocab) == dm.Shape().vocab_size


def test_shape_refuses_rows_that_are_not_whole_blocks(tmp_path):
    with pytest.raises(ValueError, match="multiple of 64"):
        dm.write_model(tmp_path / "m.m", dm.Shape(dim=48, n_heads=4, n_kv_heads=2))
    with pytest.raises(ValueError, match="use one of"):
        dm.write_model(tmp_path / "m.m", dm.Shape(weights="q4"))
