#!/usr/bin/env python3
# Copyright: llama-herd developers
# Apache License 2.0
"""Write stand-in distributed-llama model (.m) and tokenizer (.t) files.

The headers use the real formats (model magic 0xA00ABCD, header size, then
(key, value) int pairs as converter/writer.py writes them; tokenizer magic
0x567124), so the stand-in programs check them the way the real ones do:
KV heads against the node count, q40 weights against the sync type. The body
is zero padding (no weights): these files only exercise downloads and the
topology checks, never inference.

    make_model.py OUT.m OUT.t [--kv-heads 8] [--weights q40] [--size-kib 64]
"""

from __future__ import annotations

import argparse
import struct

KEYS = {"version": 0, "arch_type": 1, "dim": 2, "hidden_dim": 3, "n_layers": 4, "n_heads": 5, "n_kv_heads": 6}
KEYS |= {"vocab_size": 9, "max_seq_len": 10, "hidden_act": 11, "rope_theta": 12, "weights_float_type": 13}
FLOAT_TYPES = {"f32": 0, "f16": 1, "q40": 2, "q80": 3}


def model_bytes(kv_heads: int, weights: str, size: int, seq_len: int = 2048) -> bytes:
    params = {
        "version": 0,
        "arch_type": 0xABCD00,  # LLAMA
        "dim": 64 * kv_heads,
        "hidden_dim": 256 * kv_heads,
        "n_layers": 2,
        "n_heads": kv_heads * 2,
        "n_kv_heads": kv_heads,
        "vocab_size": 256,
        "max_seq_len": seq_len,
        "hidden_act": 1,
        "rope_theta": 10000,
        "weights_float_type": FLOAT_TYPES[weights],
    }
    data = b"".join(struct.pack("ii", KEYS[k], v) for k, v in params.items())
    head = struct.pack("i", 0xA00ABCD) + struct.pack("i", 8 + len(data)) + data
    return head + b"\0" * max(16, size - len(head))


def tokenizer_bytes() -> bytes:
    params = [(0, 1), (1, 256), (2, 1), (3, 1), (9, 1), (10, 1)]  # version, vocab, max len, bos, n_eos, add_bos
    data = b"".join(struct.pack("ii", k, v) for k, v in params)
    return struct.pack("i", 0x567124) + struct.pack("i", 8 + len(data)) + data + b"\0" * 64


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("tokenizer")
    ap.add_argument("--kv-heads", type=int, default=8)
    ap.add_argument("--weights", choices=sorted(FLOAT_TYPES), default="q40")
    ap.add_argument("--size-kib", type=int, default=64)
    a = ap.parse_args()
    with open(a.model, "wb") as f:
        f.write(model_bytes(a.kv_heads, a.weights, a.size_kib * 1024))
    with open(a.tokenizer, "wb") as f:
        f.write(tokenizer_bytes())


if __name__ == "__main__":
    main()
