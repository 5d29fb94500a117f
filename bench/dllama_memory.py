#!/usr/bin/env python3
# Copyright: llama-herd developers
# Apache License 2.0
"""The real distributed-llama's RequiredMemory per node, on a header-only model.

    DLLAMA_SRC=/path/to/distributed-llama python bench/dllama_memory.py [--bin-dir DIR] [--out RESULT.json]

Writes a model file that holds only the header of a catalog shape (default
llama3.1:8b, q40) and a tiny tokenizer, then for each node count starts
nodes - 1 workers on loopback (``dllama worker --host 127.0.0.1``) and one
root (``dllama inference ... --max-seq-len S --workers ...``). The root prints
its ``📀 RequiredMemory: N MB`` before it connects, each worker after it
receives its part of the net from the root; the root then dies reading the
missing weights (SIGBUS), which is fine: only the printed figures are wanted. Prints
JSON: per node count, the root's and each worker's MB next to the plan's
(``memory.dllama_per_node_bytes``). Every process is killed by its pid.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "harness"))
sys.path.insert(0, str(REPO / "collections"))

import dllama_model as dm  # noqa: E402
import dllama_real as real  # noqa: E402
from ansible_collections.llamaherd.cluster.plugins.module_utils import catalog, memory  # noqa: E402

REQUIRED = re.compile(r"RequiredMemory: (\d+) MB")
# The root dies (SIGBUS) when it maps the missing weights: line-buffered
# stdout keeps what it printed before.
LINE_BUFFERED = ["stdbuf", "-oL"]


def header_only_model(path: Path, shape: dict, weights: str, seq_len: int) -> None:
    """src/llm.cpp loadLlmHeader reads these keys; no tensor follows."""
    head_dim = int(shape.get("head_dim") or shape["n_embd"] // shape["n_head"])
    pairs = {
        "version": 0,
        "arch_type": dm.ARCH_LLAMA,
        "hidden_act": dm.HIDDEN_ACT_SILU,
        "dim": shape["n_embd"],
        "hidden_dim": shape["n_ff"],
        "n_layers": shape["n_layer"],
        "n_heads": shape["n_head"],
        "n_kv_heads": shape["n_head_kv"],
        "weights_float_type": dm.FLOAT_TYPES[weights],
        "max_seq_len": seq_len,
        "vocab_size": shape["n_vocab"],
        "n_experts": 0,
        "n_active_experts": 0,
        "rope_theta": 500000,
        "head_dim": head_dim,
        "norm_epsilon": 5,
    }
    data = b"".join(struct.pack("<ii", dm.MODEL_KEYS[k], v) for k, v in pairs.items())
    # The loader reads header-size bytes after the size field (8 more than
    # the pairs): pad, as a real file's first tensor would.
    path.write_bytes(struct.pack("<ii", dm.MODEL_MAGIC, 8 + len(data)) + data + bytes(64))


def measure(bin_dir: Path, work: Path, model: Path, tokenizer: Path, nodes: int, seq_len: int) -> dict:
    workers = []
    try:
        for _ in range(nodes - 1):
            port = real.free_port()
            log = work / f"worker-{nodes}-{port}.log"
            with open(log, "w") as out:
                p = subprocess.Popen(
                    [
                        *LINE_BUFFERED,
                        str(bin_dir / "dllama"),
                        "worker",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--nthreads",
                        "1",
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            workers.append((p, port, log))
        time.sleep(0.5)  # never probe a worker's port: a non-root connection makes it exit
        argv = [*LINE_BUFFERED, str(bin_dir / "dllama"), "inference", "--model", str(model), "--tokenizer", str(tokenizer)]
        argv += ["--buffer-float-type", "q80", "--nthreads", "1", "--max-seq-len", str(seq_len), "--prompt", "hi"]
        argv += ["--steps", "1"]
        if workers:
            argv += ["--workers", *(f"127.0.0.1:{port}" for _, port, _ in workers)]
        root = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=300, check=False)
        time.sleep(1)
    finally:
        for p, _, _ in workers:
            real.stop(p)
    found = REQUIRED.findall(root.stdout)
    return {
        "nodes": nodes,
        "root_mb": int(found[0]) if found else None,
        "worker_mb": [int(m[0]) if (m := REQUIRED.findall(log.read_text(errors="replace"))) else None for _, _, log in workers],
        "root_tail": None if found else (root.stdout + root.stderr)[-600:],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=os.environ.get("DLLAMA_SRC"), help="a distributed-llama checkout (default $DLLAMA_SRC)")
    ap.add_argument("--bin-dir", help="an existing build (dllama) instead of building --src")
    ap.add_argument("--model", default="llama3.1:8b", help="catalog name of the shape")
    ap.add_argument("--seq-len", type=int, default=4096)
    ap.add_argument("--nodes", default="1,2,4,8")
    ap.add_argument("--out")
    a = ap.parse_args()
    shape = catalog.lookup(a.model)
    with tempfile.TemporaryDirectory(prefix="dllama-memory-") as tmp:
        work = Path(tmp)
        if a.bin_dir:
            bin_dir = Path(a.bin_dir)
            git = subprocess.run(["git", "-C", str(bin_dir), "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
            commit = git.stdout.strip() or "unknown (--bin-dir)"
        elif a.src:
            bin_dir, _, commit = real.build(Path(a.src), work)
        else:
            raise SystemExit("set DLLAMA_SRC=/path/to/distributed-llama, or pass --src or --bin-dir")
        model, tokenizer = work / "m.m", work / "t.t"
        header_only_model(model, shape, "q40", shape["n_ctx_train"])
        dm.write_tokenizer(tokenizer)
        rows = []
        for nodes in (int(n) for n in a.nodes.split(",")):
            row = measure(bin_dir, work, model, tokenizer, nodes, a.seq_len)
            for who, root in (("root", True), ("worker", False)):
                row[f"plan_{who}_mib"] = round(
                    memory.dllama_per_node_bytes(shape, a.seq_len, nodes, "q40", root=root) / memory.MIB, 1
                )
            rows.append(row)
    result = {"commit": commit, "model": a.model, "weights": "q40", "buffer": "q80", "seq_len": a.seq_len, "rows": rows}
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if a.out:
        Path(a.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
