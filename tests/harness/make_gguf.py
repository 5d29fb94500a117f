#!/usr/bin/env python3
"""Tiny but real GGUF models, written with the ``gguf`` package.

Random weights, a real SentencePiece-style ("llama") vocabulary with byte
fallback, BOS/EOS: llama-server loads the file and returns tokens for a
completion. Used by the llama.cpp role's molecule scenario, the memory
accuracy benchmark and the gguf_info tests.

Library::

    from make_gguf import Shape, write_gguf
    write_gguf("/tmp/m.gguf", Shape(n_layer=4, n_embd=256, n_head=8, n_head_kv=2))

CLI::

    make_gguf.py OUT.gguf [--arch llama|qwen2] [--n-layer 4] [--n-embd 256]
        [--n-head 8] [--n-head-kv 2] [--head-dim 32] [--n-ff 512]
        [--n-vocab 512] [--n-ctx 2048] [--type f32|f16|q8_0|q4_0] [--tied] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter, TokenType
from gguf.quants import quantize

WEIGHT_TYPES = {
    "f32": GGMLQuantizationType.F32,
    "f16": GGMLQuantizationType.F16,
    "q8_0": GGMLQuantizationType.Q8_0,
    "q4_0": GGMLQuantizationType.Q4_0,
}
ARCHES = ("llama", "qwen2")
N_SPECIAL = 3  # <unk>, <s>, </s>
N_BYTES = 256
MIN_VOCAB = N_SPECIAL + N_BYTES + 26


@dataclass(frozen=True)
class Shape:
    arch: str = "llama"
    n_layer: int = 4
    n_embd: int = 256
    n_head: int = 8
    n_head_kv: int = 2
    head_dim: int | None = None  # default n_embd // n_head
    n_ff: int = 512
    n_vocab: int = 512
    n_ctx: int = 2048
    weight_type: str = "f16"
    tied: bool = False  # no output.weight: the output reuses token_embd
    seed: int = 0

    @property
    def hd(self) -> int:
        return self.head_dim or self.n_embd // self.n_head

    def check(self) -> None:
        if self.arch not in ARCHES:
            raise ValueError(f"arch {self.arch!r}: use one of {', '.join(ARCHES)}")
        if self.weight_type not in WEIGHT_TYPES:
            raise ValueError(f"weight type {self.weight_type!r}: use one of {', '.join(WEIGHT_TYPES)}")
        if self.n_head % self.n_head_kv:
            raise ValueError(f"n_head {self.n_head} is not a multiple of n_head_kv {self.n_head_kv}")
        if self.n_vocab < MIN_VOCAB:
            raise ValueError(f"n_vocab must be at least {MIN_VOCAB} (specials, 256 bytes, letters)")
        if self.weight_type in ("q8_0", "q4_0"):
            for dim in (self.n_embd, self.n_ff, self.n_head * self.hd):
                if dim % 32:
                    raise ValueError(f"{self.weight_type} needs every row length to be a multiple of 32, got {dim}")
        if self.hd % 2:
            raise ValueError("head_dim must be even (RoPE)")


def vocabulary(n_vocab: int) -> tuple[list[bytes], list[float], list[int]]:
    """<unk> <s> </s>, the 256 byte tokens, then "▁a".."▁z", letters and filler pieces."""
    tokens: list[bytes] = [b"<unk>", b"<s>", b"</s>"]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
    for b in range(N_BYTES):
        tokens.append(f"<0x{b:02X}>".encode())
        types.append(TokenType.BYTE)
    letters = "abcdefghijklmnopqrstuvwxyz"
    pieces = [f"\u2581{c}" for c in letters] + list(letters) + ["\u2581"]
    i = 0
    while len(pieces) < n_vocab - len(tokens):
        a, b = letters[i % 26], letters[(i // 26) % 26]
        pieces.append(f"\u2581{b}{a}{i // 676 or ''}")
        i += 1
    for p in pieces[: n_vocab - len(tokens)]:
        tokens.append(p.encode())
        types.append(TokenType.NORMAL)
    scores = [0.0] * N_SPECIAL + [-1000.0] * N_BYTES + [-float(i) for i in range(len(tokens) - N_SPECIAL - N_BYTES)]
    return tokens, scores, [int(t) for t in types]


def _add(w: GGUFWriter, name: str, data: np.ndarray, wtype: str) -> None:
    """Matrices in the chosen type; vectors (norms, biases) stay f32."""
    qtype = WEIGHT_TYPES[wtype]
    if data.ndim == 1 or qtype == GGMLQuantizationType.F32:
        w.add_tensor(name, data.astype(np.float32))
    elif qtype == GGMLQuantizationType.F16:
        w.add_tensor(name, data.astype(np.float16))
    else:
        q = quantize(data.astype(np.float32), qtype)
        w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=qtype)


def write_gguf(path: str | Path, shape: Shape) -> dict:
    """Write the model; return a description (shape, tensor count, file bytes)."""
    shape.check()
    rng = np.random.default_rng(shape.seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arch = shape.arch
    w = GGUFWriter(str(path), arch)
    w.add_name(f"herd-test-{arch}-{shape.n_layer}x{shape.n_embd}")
    w.add_context_length(shape.n_ctx)
    w.add_embedding_length(shape.n_embd)
    w.add_block_count(shape.n_layer)
    w.add_feed_forward_length(shape.n_ff)
    w.add_head_count(shape.n_head)
    w.add_head_count_kv(shape.n_head_kv)
    if shape.hd != shape.n_embd // shape.n_head:
        w.add_key_length(shape.hd)
        w.add_value_length(shape.hd)
    w.add_rope_dimension_count(shape.hd)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type({"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7}[shape.weight_type])
    w.add_vocab_size(shape.n_vocab)

    tokens, scores, types = vocabulary(shape.n_vocab)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)

    def mat(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * 0.02).astype(np.float32)

    e, q_dim, kv_dim = shape.n_embd, shape.n_head * shape.hd, shape.n_head_kv * shape.hd
    wt = shape.weight_type
    _add(w, "token_embd.weight", mat(shape.n_vocab, e), wt)
    _add(w, "output_norm.weight", np.ones(e, np.float32), wt)
    if not shape.tied:
        _add(w, "output.weight", mat(shape.n_vocab, e), wt)
    for i in range(shape.n_layer):
        p = f"blk.{i}"
        _add(w, f"{p}.attn_norm.weight", np.ones(e, np.float32), wt)
        _add(w, f"{p}.attn_q.weight", mat(q_dim, e), wt)
        _add(w, f"{p}.attn_k.weight", mat(kv_dim, e), wt)
        _add(w, f"{p}.attn_v.weight", mat(kv_dim, e), wt)
        if arch == "qwen2":
            _add(w, f"{p}.attn_q.bias", np.zeros(q_dim, np.float32), wt)
            _add(w, f"{p}.attn_k.bias", np.zeros(kv_dim, np.float32), wt)
            _add(w, f"{p}.attn_v.bias", np.zeros(kv_dim, np.float32), wt)
        _add(w, f"{p}.attn_output.weight", mat(e, q_dim), wt)
        _add(w, f"{p}.ffn_norm.weight", np.ones(e, np.float32), wt)
        _add(w, f"{p}.ffn_gate.weight", mat(shape.n_ff, e), wt)
        _add(w, f"{p}.ffn_up.weight", mat(shape.n_ff, e), wt)
        _add(w, f"{p}.ffn_down.weight", mat(e, shape.n_ff), wt)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return {"path": str(path), "bytes": path.stat().st_size, **asdict(shape), "head_dim": shape.hd}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--arch", default="llama", choices=ARCHES)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=256)
    ap.add_argument("--n-head", type=int, default=8)
    ap.add_argument("--n-head-kv", type=int, default=2)
    ap.add_argument("--head-dim", type=int, default=None)
    ap.add_argument("--n-ff", type=int, default=512)
    ap.add_argument("--n-vocab", type=int, default=512)
    ap.add_argument("--n-ctx", type=int, default=2048)
    ap.add_argument("--type", dest="weight_type", default="f16", choices=sorted(WEIGHT_TYPES))
    ap.add_argument("--tied", action="store_true", help="no output.weight (tied embeddings)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    info = write_gguf(a.out, Shape(**{k: v for k, v in vars(a).items() if k != "out"}))
    json.dump(info, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
