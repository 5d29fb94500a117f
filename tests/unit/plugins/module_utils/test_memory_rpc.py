"""The RPC compute buffers of memory.llama_server_memory against what
llama-server b11312 reported over ggml-rpc-server (bench/results/
memory_accuracy.md, cases J, K, L, M, N; MiB)."""

from __future__ import annotations

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils import memory

MIB = 2**20


def shape(n_layer, n_embd, n_head, n_head_kv, n_ff, n_vocab, head_dim=None, tied=False):
    return {
        "n_layer": n_layer,
        "n_embd": n_embd,
        "n_head": n_head,
        "n_head_kv": n_head_kv,
        "head_dim": head_dim or n_embd // n_head,
        "n_ff": n_ff,
        "n_vocab": n_vocab,
        "tied_embeddings": tied,
    }


J = shape(12, 1024, 16, 4, 2816, 4096)
K = shape(9, 896, 14, 2, 4864, 8192, head_dim=64, tied=True)
M = shape(6, 768, 12, 4, 2048, 2048)
N = shape(8, 1024, 16, 16, 2816, 4096)

# (case, shape, weight type, llama_server_memory kwargs, measured compute MiB per device: cpu, dev0, dev1, ...)
CASES = [
    ("J", J, "Q8_0", {"ctx": 4096, "split": [1, 1]}, [26.05, 46.54, 46.54]),
    ("K", K, "F16", {"ctx": 2048, "split": [2, 1]}, [16.80, 48.79, 47.04]),
    ("L no-FA", J, "Q8_0", {"ctx": 2048, "flash_attn": False, "split": [1, 1, 1]}, [30.03, 100.02, 100.02, 100.02]),
    ("M one worker", M, "F16", {"ctx": 8192, "split": [1]}, [11.01, 24.51]),
    ("N np2 ub256", N, "F16", {"ctx": 8192, "parallel": 2, "n_ubatch": 256, "split": [1, 3]}, [13.02, 23.27, 23.27]),
]


@pytest.mark.parametrize(("case", "s", "wtype", "kw", "measured"), CASES, ids=[c[0] for c in CASES])
def test_rpc_compute_buffers(case, s, wtype, kw, measured):
    mem = memory.llama_server_memory(s, weight_type=wtype, **kw)
    keys = ["cpu"] + [f"dev{i}" for i in range(len(kw["split"]))]
    for key, meas in zip(keys, measured, strict=True):
        pred = mem["devices"][key]["compute"] / MIB
        assert pred >= meas - 0.05, (key, pred, meas)  # never an underestimate
        assert pred <= meas + max(0.05 * meas, 2.0), (key, pred, meas)


def test_partial_offload_keeps_the_local_graph_on_the_cpu():
    full = memory.llama_server_memory(J, weight_type="Q8_0", ctx=4096, split=[1, 1])
    part = memory.llama_server_memory(J, weight_type="Q8_0", ctx=4096, split=[1, 1], n_gpu_layers=6)
    local = memory.llama_server_memory(J, weight_type="Q8_0", ctx=4096)["devices"]["cpu"]["compute"]
    assert part["devices"]["cpu"]["compute"] == local  # no pipeline parallelism: the CPU runs layers
    assert full["devices"]["cpu"]["compute"] < local  # every layer offloaded: the head only embeds
    assert part["devices"]["dev0"]["compute"] == local
