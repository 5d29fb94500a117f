#!/usr/bin/env python3
# Copyright: llama-herd developers
# Apache License 2.0
"""Tiny but complete distributed-llama model (.m) and tokenizer (.t) files.

Unlike the stand-in's ``tools/make_model.py`` (headers only), these files
hold every weight the real loader reads, so the real ``dllama`` /
``dllama-api`` at the pinned commit (b4rtaz/distributed-llama 8d624a7)
load them and generate tokens. Random weights (seeded), a llama
architecture, a byte-level ASCII vocabulary with a few merges and
llama3-style special tokens (BOS, EOS, a chat template ``dllama-api``
recognises).

Mirrored upstream, at 8d624a7:

* model header: converter/writer.py ``writeHeader`` (lines 109-148) as read
  by src/llm.cpp ``loadLlmHeader`` (lines 36-116); keys from src/llm.hpp
  ``LlmHeaderKey`` (lines 8-31); float type numbers from src/nn/nn-quants.hpp
  ``NnFloatType`` (lines 57-61);
* weight order and float types: src/llm.cpp ``loadLlmNetWeight`` (lines
  614-669) and converter/convert-hf.py ``__preparePlan`` (lines 59-104):
  embedding (f32); per layer q, k, v, wo, w1, w2, w3 (weights type) then the
  two RMS norms (f32); the final norm (f32); the classifier (weights type);
* tensor encodings: converter/writer.py ``writeQuantizedQ40Tensor`` (lines
  29-53), ``writeQuantizedQ80Tensor`` (55-74), ``writeF32Tensor`` (76-84),
  ``writeF16Tensor`` (86-90);
* tokenizer: converter/tokenizer-writer.py ``writeTokenizer`` (lines 3-57)
  as read by src/tokenizer.cpp ``Tokenizer::Tokenizer`` (lines 42-164).

Library::

    from dllama_model import Shape, write_model, write_tokenizer
    write_model("/tmp/m.m", Shape(weights="q40"))
    write_tokenizer("/tmp/t.t")

CLI::

    dllama_model.py OUT.m OUT.t [--weights q40|f32|f16|q80] [--dim 64]
        [--hidden-dim 128] [--layers 2] [--heads 4] [--kv-heads 2]
        [--seq-len 256] [--seed 0]
"""

from __future__ import annotations

import argparse
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_MAGIC = 0xA00ABCD  # src/llm.cpp:58
TOKENIZER_MAGIC = 0x567124  # src/tokenizer.cpp:65
ARCH_LLAMA = 0xABCD00  # src/llm.hpp:39
HIDDEN_ACT_SILU = 1  # src/llm.hpp:33-36 (GELU=0, SILU=1)
FLOAT_TYPES = {"f32": 0, "f16": 1, "q40": 2, "q80": 3}  # src/nn/nn-quants.hpp:57-61
BLOCK = 32  # Q40_BLOCK_SIZE / Q80_BLOCK_SIZE, src/nn/nn-quants.hpp:53-54

# src/llm.hpp:8-31 (the same numbers as converter/writer.py:110-133).
MODEL_KEYS = {
    "version": 0,
    "arch_type": 1,
    "dim": 2,
    "hidden_dim": 3,
    "n_layers": 4,
    "n_heads": 5,
    "n_kv_heads": 6,
    "n_experts": 7,
    "n_active_experts": 8,
    "vocab_size": 9,
    "max_seq_len": 10,
    "hidden_act": 11,
    "rope_theta": 12,
    "weights_float_type": 13,
    "head_dim": 19,
    "norm_epsilon": 20,
}
# src/tokenizer.hpp:22-32 (converter/tokenizer-writer.py:4-12).
TOKENIZER_KEYS = {
    "version": 0,
    "vocab_size": 1,
    "max_token_length": 2,
    "bos_id": 3,
    "chat_template": 7,
    "n_eos_tokens": 9,
    "add_bos": 10,
}

# Special tokens come after the regular vocabulary: src/tokenizer.cpp:138-140
# takes bosId as the number of regular tokens ("very unstable assumption").
SPECIALS = ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")
BOS = "<|begin_of_text|>"
EOS = ("<|eot_id|>", "<|end_of_text|>")  # the first is the chat stop (src/tokenizer.cpp TokenizerChatStops)
# ChatTemplateGenerator (src/tokenizer.cpp) only looks for "<|start_header_id|>"
# to choose its llama3 template; the text itself is never rendered.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
    "{{ message['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


def vocabulary() -> list[bytes]:
    """Regular tokens (printable ASCII, tab, newline, then merges), then the
    specials; padded with merges to a multiple of 32 so the classifier splits
    evenly over 1, 2 or 4 nodes and q40/q80 rows stay whole blocks."""
    regular = [b"\t", b"\n"] + [bytes([c]) for c in range(0x20, 0x7F)]
    letters = "etaoinshrdlu"
    merges = [(a + b).encode() for a in letters for b in letters] + [(" " + c).encode() for c in "abcdefghijklmnopqrstuvwxyz"]
    extra = iter(f"{a}{b}".encode() for a in "cfgmpwybvk" for b in "aeiou")
    while (len(regular) + len(merges) + len(SPECIALS)) % BLOCK:
        merges.append(next(extra))
    return regular + merges + [s.encode() for s in SPECIALS]


@dataclass(frozen=True)
class Shape:
    dim: int = 64
    hidden_dim: int = 128
    n_layers: int = 2
    n_heads: int = 4
    n_kv_heads: int = 2
    seq_len: int = 256
    weights: str = "q40"
    seed: int = 0

    @property
    def vocab_size(self) -> int:
        return len(vocabulary())

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def kv_dim(self) -> int:
        return self.head_dim * self.n_kv_heads

    def check(self) -> None:
        if self.weights not in FLOAT_TYPES:
            raise ValueError(f"weights {self.weights!r}: use one of {', '.join(FLOAT_TYPES)}")
        if self.dim % self.n_heads or self.n_heads % self.n_kv_heads:
            raise ValueError("dim must divide by n_heads and n_heads by n_kv_heads")
        # Quantised rows are whole 32-value blocks (converter/writer.py:34,58);
        # the column-split matmuls (wo, w2) cut rows per node, so keep room for 4 nodes.
        for name, n in (("dim", self.dim), ("hidden_dim", self.hidden_dim)):
            if n % (BLOCK * 2):
                raise ValueError(f"{name} must be a multiple of {BLOCK * 2}, got {n}")

    def header(self) -> dict[str, int]:
        """The header pairs in converter/convert-hf.py ``loadConfig`` order (lines 194-235)."""
        return {
            "version": 0,
            "arch_type": ARCH_LLAMA,
            "hidden_act": HIDDEN_ACT_SILU,
            "dim": self.dim,
            "hidden_dim": self.hidden_dim,
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            "n_kv_heads": self.n_kv_heads,
            "weights_float_type": FLOAT_TYPES[self.weights],
            "max_seq_len": self.seq_len,
            "vocab_size": self.vocab_size,
            "n_experts": 0,
            "n_active_experts": 0,
            "rope_theta": 10000,
            "head_dim": self.head_dim,
            "norm_epsilon": 5,  # 1e-5, src/llm.cpp:30-34
        }

    def tensors(self) -> list[tuple[str, tuple[int, int], str]]:
        """(name, (rows, cols), float type) in file order: src/llm.cpp:627-661.
        Rows x cols is torch's (out, in) layout, as the converter writes it."""
        w, d, v, h = self.weights, self.dim, self.vocab_size, self.hidden_dim
        q, kv = self.head_dim * self.n_heads, self.kv_dim
        out = [("embedding", (v, d), "f32")]
        for i in range(self.n_layers):
            out += [
                (f"{i}.block_matmul_q", (q, d), w),
                (f"{i}.block_matmul_k", (kv, d), w),
                (f"{i}.block_matmul_v", (kv, d), w),
                (f"{i}.block_matmul_wo", (d, q), w),
                (f"{i}.block_matmul_w1", (h, d), w),
                (f"{i}.block_matmul_w2", (d, h), w),
                (f"{i}.block_matmul_w3", (h, d), w),
                (f"{i}.block_norm_0", (1, d), "f32"),
                (f"{i}.block_norm_1", (1, d), "f32"),
            ]
        out += [("final_norm", (1, d), "f32"), ("final_matmul_logits", (v, d), w)]
        return out


def tensor_nbytes(n: int, float_type: str) -> int:
    """src/nn/nn-core.cpp ``getBytes``: f32 4, f16 2, q40 18 and q80 34 bytes per 32 values."""
    if float_type == "f32":
        return 4 * n
    if float_type == "f16":
        return 2 * n
    if n % BLOCK:
        raise ValueError(f"{float_type} needs a multiple of {BLOCK} values, got {n}")
    return (n // BLOCK) * (2 + (BLOCK // 2 if float_type == "q40" else BLOCK))


def encode_tensor(x: np.ndarray, float_type: str) -> bytes:
    """One tensor, flattened, in converter/writer.py's encodings."""
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    if float_type == "f32":
        return x.astype("<f4").tobytes()
    if float_type == "f16":
        return x.astype("<f2").tobytes()
    groups = x.reshape(-1, BLOCK)
    gmax, gmin = groups.max(axis=1), groups.min(axis=1)
    if float_type == "q40":  # writer.py:29-53
        deltas = np.where(-gmin > gmax, gmin, gmax) / -8
        ids = np.divide(1.0, deltas, out=np.zeros_like(deltas), where=deltas != 0)
        q = np.clip(groups * ids[:, None] + 8.5, 0, 15).astype(np.uint8)
        packed = (q[:, : BLOCK // 2] & 0xF) | ((q[:, BLOCK // 2 :] & 0xF) << 4)
        dt = np.dtype([("d", "<f2"), ("qs", "u1", BLOCK // 2)])
    elif float_type == "q80":  # writer.py:55-74
        deltas = np.where(-gmin > gmax, -gmin, gmax) / 127
        ids = np.divide(1.0, deltas, out=np.zeros_like(deltas), where=deltas != 0)
        packed = np.round(groups * ids[:, None]).astype(np.int8)
        dt = np.dtype([("d", "<f2"), ("qs", "i1", BLOCK)])
    else:
        raise ValueError(f"unknown float type {float_type!r}")
    out = np.empty(len(groups), dtype=dt)
    out["d"] = deltas.astype(np.float16)
    out["qs"] = packed
    return out.tobytes()


def header_bytes(shape: Shape) -> bytes:
    """converter/writer.py:134-145: magic, header size (magic and size
    included), then (key, value) int32 pairs."""
    data = b"".join(struct.pack("<ii", MODEL_KEYS[k], v) for k, v in shape.header().items())
    return struct.pack("<ii", MODEL_MAGIC, 8 + len(data)) + data


def model_size(shape: Shape) -> int:
    return len(header_bytes(shape)) + sum(tensor_nbytes(r * c, t) for _, (r, c), t in shape.tensors())


def write_model(path: str | Path, shape: Shape | None = None) -> int:
    """Write the model; returns its size in bytes."""
    shape = shape or Shape()
    shape.check()
    rng = np.random.default_rng(shape.seed)
    with open(path, "wb") as f:
        f.write(header_bytes(shape))
        for name, (rows, cols), float_type in shape.tensors():
            if "norm" in name:
                x = np.ones((rows, cols), dtype=np.float32)
            else:
                x = rng.normal(0.0, 1.0 if name == "embedding" else 0.5 / np.sqrt(cols), (rows, cols)).astype(np.float32)
            f.write(encode_tensor(x, float_type))
        size = f.tell()
    if size != model_size(shape):
        raise AssertionError(f"wrote {size} bytes, expected {model_size(shape)}")
    return size


def tokenizer_bytes() -> bytes:
    """converter/tokenizer-writer.py:3-57: magic, header size, (key, value)
    pairs, the chat template, the EOS ids, then (score f32, length u32, bytes)
    per token. Merges score higher than single bytes so the BPE loop in
    ``Tokenizer::encode`` (src/tokenizer.cpp:349-376) uses them."""
    vocab = vocabulary()
    ids = {t: i for i, t in enumerate(vocab)}
    template = CHAT_TEMPLATE.encode()
    eos = [ids[e.encode()] for e in EOS]
    params = {
        "bos_id": ids[BOS.encode()],
        "version": 1,
        "vocab_size": len(vocab),
        "max_token_length": max(len(t) for t in vocab),
        "chat_template": len(template),
        "n_eos_tokens": len(eos),
        "add_bos": 1,
    }
    data = b"".join(struct.pack("<ii", TOKENIZER_KEYS[k], v) for k, v in params.items())
    out = struct.pack("<ii", TOKENIZER_MAGIC, 8 + len(data)) + data + template
    out += b"".join(struct.pack("<i", e) for e in eos)
    for token in vocab:
        score = 0.0 if token.decode() in SPECIALS else float(len(token) - 1)
        out += struct.pack("<fI", score, len(token)) + token
    return out


def write_tokenizer(path: str | Path) -> int:
    data = tokenizer_bytes()
    Path(path).write_bytes(data)
    return len(data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("tokenizer")
    ap.add_argument("--weights", choices=sorted(FLOAT_TYPES), default="q40")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--hidden-dim", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    shape = Shape(a.dim, a.hidden_dim, a.layers, a.heads, a.kv_heads, a.seq_len, a.weights, a.seed)
    size = write_model(a.model, shape)
    write_tokenizer(a.tokenizer)
    print(f"{a.model}: {size} bytes, {shape.weights} weights, vocab {shape.vocab_size}")


if __name__ == "__main__":
    main()
