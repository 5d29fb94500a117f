# Copyright: llama-herd developers
# Apache License 2.0
"""The memory model: how many bytes a model needs on a device, per engine.

Every formula lives here once; filters, modules, the plan and the GPU router
call these functions. Pure Python: no Ansible, no numpy at import time, so
the GPU router package can ship this file (with ``catalog.py``) unchanged.

Units: functions ending in ``_bytes`` return bytes, ``_mib`` return MiB.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

MIB = 2**20
GIB = 2**30

DEFAULT_MARGIN = 0.8  # seed 001: use at most 80% of VRAM

# ggml block sizes: type -> (weights per block, bytes per block). These are
# ggml's constants; tests check them against gguf.GGML_QUANT_SIZES.
GGML_BLOCKS: dict[str, tuple[int, int]] = {
    "F32": (1, 4),
    "F16": (1, 2),
    "BF16": (1, 2),
    "Q4_0": (32, 18),
    "Q4_1": (32, 20),
    "Q5_0": (32, 22),
    "Q5_1": (32, 24),
    "Q8_0": (32, 34),
    "Q8_1": (32, 40),
    "Q2_K": (256, 84),
    "Q3_K": (256, 110),
    "Q4_K": (256, 144),
    "Q5_K": (256, 176),
    "Q6_K": (256, 210),
    "Q8_K": (256, 292),
    "IQ2_XXS": (256, 66),
    "IQ2_XS": (256, 74),
    "IQ2_S": (256, 82),
    "IQ3_XXS": (256, 98),
    "IQ3_S": (256, 110),
    "IQ4_NL": (32, 18),
    "IQ4_XS": (256, 136),
    "IQ1_S": (256, 50),
    "IQ1_M": (256, 56),
    "TQ1_0": (256, 54),
    "TQ2_0": (256, 66),
    "MXFP4": (32, 17),
    "NVFP4": (64, 36),
    "Q1_0": (128, 18),
    # Plain element types some tensors use (no quantization).
    "I8": (1, 1),
    "I16": (1, 2),
    "I32": (1, 4),
    "I64": (1, 8),
    "F64": (1, 8),
}

# ggml's type ids as a GGUF file stores them (enum ggml_type); tests check
# them against gguf.GGMLQuantizationType.
GGML_TYPE_IDS: dict[int, str] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    6: "Q5_0",
    7: "Q5_1",
    8: "Q8_0",
    9: "Q8_1",
    10: "Q2_K",
    11: "Q3_K",
    12: "Q4_K",
    13: "Q5_K",
    14: "Q6_K",
    15: "Q8_K",
    16: "IQ2_XXS",
    17: "IQ2_XS",
    18: "IQ3_XXS",
    19: "IQ1_S",
    20: "IQ4_NL",
    21: "IQ3_S",
    22: "IQ2_S",
    23: "IQ4_XS",
    24: "I8",
    25: "I16",
    26: "I32",
    27: "I64",
    28: "F64",
    29: "IQ1_M",
    30: "BF16",
    34: "TQ1_0",
    35: "TQ2_0",
    39: "MXFP4",
    40: "NVFP4",
    41: "Q1_0",
}

# File types that mix block types (llama-quantize's presets): the effective
# bits per weight of a whole file, measured on Llama/Qwen files (embeddings
# and output included). Single-type presets use their block size exactly.
MIXED_BPW: dict[str, float] = {
    "Q2_K": 3.35,  # Q2_K files keep some tensors at Q4_K/Q6_K
    "Q3_K_S": 3.50,
    "Q3_K_M": 3.91,
    "Q3_K_L": 4.27,
    "Q4_K_S": 4.58,
    "Q4_K_M": 4.89,
    "Q5_K_S": 5.54,
    "Q5_K_M": 5.70,
    "Q6_K": 6.56,
}

# distributed-llama's type names -> ggml's.
DLLAMA_TYPES = {"q40": "Q4_0", "q80": "Q8_0", "f16": "F16", "f32": "F32"}

# KV cache element sizes (bytes per element) for --cache-type-k/-v.
KV_TYPES: dict[str, float] = {
    "f32": 4.0,
    "f16": 2.0,
    "bf16": 2.0,
    "q8_0": 34 / 32,
    "q4_0": 18 / 32,
    "q4_1": 20 / 32,
    "q5_0": 22 / 32,
    "q5_1": 24 / 32,
    "iq4_nl": 18 / 32,
}

# Fixed per-device reserves (MiB) each engine keeps out of its own budget.
OLLAMA_GPU_RESERVE_MIB = 457  # Ollama: CUDA/ROCm driver + cuBLAS overhead
LLAMA_FIT_RESERVE_MIB = 1024  # llama-server --fit default margin
LLAMA_CTX_PAD = 256  # llama.cpp pads the KV cache to a multiple of 256


class MemoryError_(ValueError):
    """A memory question with no answer (unknown type, impossible value)."""


def usable_mib(total_mib: float, margin: float = DEFAULT_MARGIN) -> float:
    """Seed 001's rule: usable memory = total x safety margin (4096 -> 3276.8)."""
    if isinstance(total_mib, bool) or not isinstance(total_mib, (int, float)) or total_mib < 0:
        raise MemoryError_(f"total memory must be a non-negative number of MiB, got {total_mib!r}")
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 < margin <= 1:
        raise MemoryError_(f"safety margin must be a fraction in (0, 1], got {margin!r}")
    return float(total_mib) * float(margin)


def normalize_quant(quant: str) -> str:
    """'q4_k_m' -> 'Q4_K_M', dllama 'q40' -> 'Q4_0'; raise on unknown types."""
    q = str(quant).strip()
    if q.lower() in DLLAMA_TYPES:
        return DLLAMA_TYPES[q.lower()]
    q = q.upper().replace("-", "_")
    if q == "FP16":
        q = "F16"
    if q in GGML_BLOCKS or q in MIXED_BPW:
        return q
    known = sorted(set(GGML_BLOCKS) | set(MIXED_BPW))
    raise MemoryError_(f"unknown quantization {quant!r}. Fix: use one of {', '.join(known)}")


def bits_per_weight(quant: str) -> float:
    """Effective bits per weight of a quantization or file type."""
    q = normalize_quant(quant)
    if q in MIXED_BPW:
        return MIXED_BPW[q]
    block, nbytes = GGML_BLOCKS[q]
    return 8.0 * nbytes / block


def tensor_bytes(n_elements: int, ggml_type: str) -> int:
    """Exact bytes of one ggml tensor (rows are whole blocks)."""
    q = normalize_quant(ggml_type)
    if q not in GGML_BLOCKS:
        # A mixed file type (Q4_K_M): its average bits per weight.
        return math.ceil(n_elements * MIXED_BPW[q] / 8)
    block, nbytes = GGML_BLOCKS[q]
    return math.ceil(n_elements / block) * nbytes


def weight_bytes(n_params: float, quant: str) -> float:
    """Weight bytes estimated from a parameter count (no file at hand)."""
    if n_params < 0:
        raise MemoryError_(f"parameter count must be positive, got {n_params!r}")
    return n_params * bits_per_weight(quant) / 8.0


def kv_bytes_per_element(cache_type: str, flash_attn: bool = True) -> float:
    """Bytes per KV element; quantized KV needs flash attention in llama.cpp."""
    t = str(cache_type).lower()
    if t not in KV_TYPES:
        raise MemoryError_(f"unknown KV cache type {cache_type!r}; use one of {', '.join(KV_TYPES)}")
    if KV_TYPES[t] < 2 and not flash_attn:
        raise MemoryError_(f"KV cache type {cache_type} needs flash attention; enable it or use f16")
    return KV_TYPES[t]


def pad(n: int, multiple: int = LLAMA_CTX_PAD) -> int:
    return ((int(n) + multiple - 1) // multiple) * multiple


def llama_server_kv_cells(ctx: int, parallel: int = 1, kv_unified: bool = False) -> int:
    """KV cells llama-server (b11312) allocates for ``-c ctx -np parallel``.

    The context is padded to 256. Without ``-kvu`` each of the N slots gets
    its own stream of ceil(padded / N) rounded up to 256, so the total can
    exceed ``-c``; with ``-kvu`` (or one slot) there is one stream.
    """
    if ctx <= 0 or parallel <= 0:
        raise MemoryError_(f"context and parallel must be positive, got {ctx} and {parallel}")
    padded = pad(ctx)
    if kv_unified or parallel == 1:
        return padded
    return pad(math.ceil(padded / parallel)) * parallel


def ollama_kv_cells(num_ctx: int, num_parallel: int = 1) -> int:
    """Ollama allocates num_ctx x OLLAMA_NUM_PARALLEL cells (one KV cache)."""
    return int(num_ctx) * int(num_parallel)


def kv_cache_bytes(
    n_layer: int,
    n_cells: int,
    n_head_kv: int | Sequence[int],
    head_dim_k: int,
    head_dim_v: int | None = None,
    cache_type_k: str = "f16",
    cache_type_v: str | None = None,
    *,
    flash_attn: bool = True,
    swa_layers: int = 0,
    swa_cells: int | None = None,
    recurrent_layers: int = 0,
    recurrent_state_bytes: int = 0,
) -> int:
    """KV cache bytes: sum over layers of cells x n_head_kv x (dk x bk + dv x bv).

    ``n_head_kv`` may be a per-layer list. ``swa_layers`` of the layers hold
    only ``swa_cells`` (min(n_ctx, n_parallel x window + n_batch), see
    :func:`swa_cells`); ``recurrent_layers`` hold a fixed f32 state instead.
    """
    head_dim_v = head_dim_k if head_dim_v is None else head_dim_v
    bk = kv_bytes_per_element(cache_type_k, flash_attn)
    bv = kv_bytes_per_element(cache_type_v or cache_type_k, flash_attn)
    heads = list(n_head_kv) if isinstance(n_head_kv, Sequence) else [int(n_head_kv)] * int(n_layer)
    if len(heads) != n_layer:
        raise MemoryError_(f"n_head_kv lists {len(heads)} layers, the model has {n_layer}")
    attn_layers = n_layer - recurrent_layers
    total = 0.0
    for i, h in enumerate(heads[:attn_layers]):
        cells = swa_cells if (swa_cells is not None and i < swa_layers) else n_cells
        # K and V rows are stored per head, whole blocks per row.
        total += cells * h * (head_dim_k * bk + head_dim_v * bv)
    total += recurrent_layers * recurrent_state_bytes
    return math.ceil(total)


def swa_cells(n_ctx: int, window: int, n_parallel: int = 1, n_batch: int = 2048) -> int:
    """Cells of a sliding-window layer's cache (llama.cpp's rule)."""
    return min(int(n_ctx), pad(int(n_parallel) * int(window) + int(n_batch)))


def dllama_kv_bytes(n_layer: int, seq_len: int, n_head_kv: int, head_dim: int, nodes: int = 1) -> int:
    """distributed-llama's KV cache per node: f32, KV heads split across nodes."""
    if nodes <= 0 or n_head_kv % nodes:
        raise MemoryError_(f"{nodes} nodes cannot split {n_head_kv} KV heads evenly")
    return int(n_layer * seq_len * (n_head_kv // nodes) * head_dim * 2 * 4)


# distributed-llama's batch size (src/app.cpp: args.nBatches = 32; the role
# does not change it). Buffers hold this many tokens.
DLLAMA_BATCHES = 32


def dllama_per_node_bytes(
    shape: Mapping[str, Any],
    seq_len: int,
    nodes: int,
    weights_type: str = "q40",
    root: bool = False,
    node_index: int | None = None,
) -> int:
    """distributed-llama memory on one node: what the real program prints as
    ``RequiredMemory`` (src/nn/nn-core.cpp printNodeRequiredMemory: pipes,
    buffers and op weights of the node's part of src/llm.cpp buildLlmNet at
    the pinned commit), for the llama architecture.

    Node 0 is the root (it also holds the f32 token embedding); a worker's
    rope cache grows with its node index, so a worker without ``node_index``
    is the last, largest one. The sync buffer type follows the weights (q40
    runs with q80, f32 with f32). Measured within 1 MB for llama3.1 8B at 1,
    2, 4 and 8 nodes (bench/results/dllama-real-2026-12-04.md).
    """
    n_layer = int(shape["n_layer"])
    dim = int(shape["n_embd"])
    n_head = int(shape["n_head"])
    kvh = int(shape["n_head_kv"])
    hd = int(shape.get("head_dim") or dim // n_head)
    ff = int(shape["n_ff"])
    vocab = int(shape["n_vocab"])
    if nodes <= 0 or kvh % nodes:
        raise MemoryError_(f"{nodes} nodes cannot split {kvh} KV heads evenly")
    index = 0 if root else (nodes - 1 if node_index is None else int(node_index))
    sync = "q80" if weights_type == "q40" else "f32"
    b, s, n = DLLAMA_BATCHES, int(seq_len), nodes
    q_dim, kv_dim = n_head * hd, kvh * hd
    q0, kv0, ff0 = q_dim // n, kv_dim // n, ff // n

    def f32(count: int) -> int:
        return 4 * count

    def synced(count: int) -> int:  # the quantised copy of a buffer, none when the sync type is f32
        return tensor_bytes(count, sync) if sync != "f32" else 0

    def w(count: int) -> int:
        return tensor_bytes(count, weights_type)

    # Pipes (every node): position, token, x, logits, and the synced z.
    pipes = f32(b) * 2 + f32(b * dim) + f32(b * vocab) + tensor_bytes(b * dim * n, sync)
    buffers = (
        f32(b * dim) * 2  # x, y
        + synced(b * dim)  # q_y
        + f32(b * q_dim)  # z
        + tensor_bytes(b * q_dim // n, sync)  # q_z_slice
        + f32(b * q0)  # q
        + f32(b * kv0) * 2  # k_temp, v_temp
        + f32(b)  # inv_rms
        + f32(s * (q0 + index * (q0 - kv0)))  # rope_cache: from this node's first KV column to its last Q column
        + f32(b * (n_head // n) * s)  # att
        + f32(b * (vocab // n))  # lg
        + f32(b * ff0) * 2  # d, l
        + synced(b * ff0)  # q_d
        # MoE buffers exist for dense models too, sized for one expert.
        + f32(b) * 3  # gt, act_exp_ix, moe_s
        + f32(b * dim)  # moe_y
        + synced(b * dim)  # q_moe_y
        + f32(b * ff0) * 2  # moe_d, moe_l
        + synced(b * ff0)  # q_moe_d
        + n_layer * f32(s * kv0) * 2  # the KV cache
    )
    weights = (
        n_layer * (f32(dim) * 2 + w(dim * q0) + w(dim * kv0) * 2 + w(q0 * dim) + w(dim * ff0) * 3)
        + f32(dim)  # final norm
        + w(dim * (vocab // n))  # classifier slice
        + (f32(vocab * dim) if index == 0 else 0)  # token embedding (root)
    )
    return pipes + buffers + weights


ENGINES = ("llama_cpp", "ollama", "dllama")


def engine_kv_bytes(
    shape: Mapping[str, Any],
    engine: str,
    context: int,
    parallel: int = 1,
    cache_type: str = "f16",
    flash_attn: bool = True,
    kv_unified: bool = False,
    nodes: int = 1,
) -> int:
    """KV cache bytes of one model under an engine's own context semantics.

    ``llama_cpp``: ``-c context`` padded and split across ``-np parallel``
    (:func:`llama_server_kv_cells`); ``ollama``: ``num_ctx x
    OLLAMA_NUM_PARALLEL`` cells; ``dllama``: ``--max-seq-len context`` in f32,
    KV heads split across ``nodes`` (bytes per node). Sliding-window layers
    (``swa_layers`` of the entry, window ``n_swa``) and recurrent layers
    (``recurrent_layers``) are counted as :func:`kv_cache_bytes` says.
    """
    if engine not in ENGINES:
        raise MemoryError_(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    n_layer = shape_value(shape, "n_layer")
    hd = shape_value(shape, "head_dim")
    hk = int(shape.get("head_dim_k") or hd)
    hv = int(shape.get("head_dim_v") or hd)
    if engine == "dllama":
        return dllama_kv_bytes(n_layer, int(context), shape_value(shape, "n_head_kv"), hd, int(nodes))
    if engine == "ollama":
        cells = ollama_kv_cells(context, parallel)
        if cells <= 0:
            raise MemoryError_(f"context and parallel must be positive, got {context} and {parallel}")
    else:
        cells = llama_server_kv_cells(context, parallel, kv_unified)
    swa_layers = int(shape.get("swa_layers") or 0)
    window = cells
    if swa_layers and shape.get("n_swa"):
        window = swa_cells(cells, int(shape["n_swa"]), parallel)
    return kv_cache_bytes(
        n_layer,
        cells,
        shape_value(shape, "n_head_kv"),
        hk,
        hv,
        cache_type,
        flash_attn=flash_attn,
        swa_layers=swa_layers,
        swa_cells=window,
        recurrent_layers=int(shape.get("recurrent_layers") or 0),
    )


def fits(need_mib: float, total_mib: float, margin: float = DEFAULT_MARGIN, used_mib: float = 0.0) -> tuple[bool, float]:
    """(fits, free MiB after placing) against total x margin - used."""
    free = usable_mib(total_mib, margin) - used_mib - need_mib
    return free >= 0, free


def mib(n_bytes: float) -> float:
    return n_bytes / MIB


# --------------------------------------------------------- llama.cpp (CPU)
# Compute buffer of llama.cpp's CPU backend, fitted on b11312 (see
# bench/memory_accuracy.py). The graph allocator's peak is the larger of the
# feed-forward phase and the attention phase, per ubatch token (f32 values):
#   ffn:  3 x n_ff + 4 x n_embd
#   attn: 2 x q_dim + 2 x kv_dim + 3 x n_embd  (+ the f32 KQ matrix without FA)
# plus the attention mask (f16, n_kv x n_ubatch; counted twice without FA).
# The vocabulary does not enter: llama-server keeps one output row per slot.
LLAMA_UBATCH = 512
# Over --rpc with two or more devices and every layer offloaded, llama.cpp
# enables pipeline parallelism: the scheduler keeps GGML_SCHED_MAX_COPIES (4)
# copies of each split's inputs. Graph inputs (the KQ mask, tokens,
# positions) live on the CPU; each device also receives the mask and the
# hidden state. Fitted on b11312's CPU-backed RPC (bench/memory_accuracy.py,
# exact to 0.05 MiB with flash attention for 2-3 workers, ubatch 256/512,
# 1-2 slots):
#   head CPU: 4 x mask + 5 x hidden + 64 KiB
#   device:   the local graph + 3 x mask + 3 x hidden
# where mask = n_kv x n_ubatch x (2 with flash attention, else 4) and
# hidden = n_embd x n_ubatch x 4. Without flash attention each buffer also
# holds a constant (measured 4 MiB on the head, 3 MiB per device).
SCHED_COPIES = 4
PIPELINE_CPU_EXTRA_NO_FA = 4 * 2**20
# GPU compute buffers are NOT measured (no GPU was at hand). llama.cpp sizes
# every backend's compute buffer the same way: llama_context::graph_reserve
# (src/llama-context.cpp) builds the worst-case graph for one ubatch and
# ggml_backend_sched_reserve (ggml/src/ggml-backend.cpp) lets ggml-alloc lay
# its intermediate tensors out in one buffer per backend ("CUDA0 compute
# buffer size = ..."). The graph's tensors do not depend on the backend, so
# the CPU fit above is assumed for CUDA and ROCm devices too. What CUDA
# allocates outside that buffer at run time (the CUDA context, cuBLAS
# workspaces, the pool's f16 copies of dequantized weights for big batches,
# flash-attention scratch) is what the fixed reserves pay for: Ollama's
# OLLAMA_GPU_RESERVE_MIB and llama-server's LLAMA_FIT_RESERVE_MIB. A CUDA run
# of bench/memory_accuracy.py would check it.
GPU_COMPUTE_ASSUMPTION = (
    "compute buffer as llama.cpp's graph reserve measured on its CPU backend (b11312), assumed equal on CUDA/ROCm (unmeasured)"
)
PIPELINE_DEV_EXTRA_NO_FA = 3 * 2**20
LLAMA_BATCH = 2048


def llama_compute_bytes(
    n_embd: int,
    n_ff: int,
    n_head: int,
    n_head_kv: int,
    head_dim: int,
    n_kv: int,
    n_ubatch: int = LLAMA_UBATCH,
    flash_attn: bool = True,
) -> int:
    """Compute buffer bytes of one device for one ubatch over ``n_kv`` cells
    (the cells of one KV stream: per slot without ``-kvu``)."""
    q_dim, kv_dim = n_head * head_dim, n_head_kv * head_dim
    ffn = (3 * n_ff + 4 * n_embd) * n_ubatch * 4
    attn = (2 * q_dim + 2 * kv_dim + 3 * n_embd) * n_ubatch * 4
    mask = n_kv * n_ubatch * 2
    if flash_attn:
        peak = max(ffn, attn) + mask
    else:
        kq = n_kv * n_ubatch * n_head * 4
        peak = max(ffn, attn + kq) + 2 * mask
    return int(peak + 16 * 1024)


def shape_value(shape: Mapping[str, Any], key: str) -> int:
    if key == "head_dim":
        return int(shape.get("head_dim") or int(shape["n_embd"]) // int(shape["n_head"]))
    return int(shape[key])


def layer_tensor_elements(shape: Mapping[str, Any]) -> dict[str, int]:
    """Elements of one repeating block's tensors (dense llama-style)."""
    e, ff = shape_value(shape, "n_embd"), shape_value(shape, "n_ff")
    hd = shape_value(shape, "head_dim")
    q, kv = shape_value(shape, "n_head") * hd, shape_value(shape, "n_head_kv") * hd
    return {
        "attn_norm": e,
        "attn_q": q * e,
        "attn_k": kv * e,
        "attn_v": kv * e,
        "attn_output": e * q,
        "ffn_norm": e,
        "ffn_gate": ff * e,
        "ffn_up": ff * e,
        "ffn_down": e * ff,
    }


def tensors_from_shape(shape: Mapping[str, Any], weight_type: str) -> list[tuple[str, str, int]]:
    """(name, ggml type, elements) for a dense model of this shape; norms f32."""
    e, vocab = shape_value(shape, "n_embd"), shape_value(shape, "n_vocab")
    out = [("token_embd.weight", weight_type, vocab * e), ("output_norm.weight", "F32", e)]
    if not shape.get("tied_embeddings"):
        out.append(("output.weight", weight_type, vocab * e))
    for i in range(shape_value(shape, "n_layer")):
        for name, n in layer_tensor_elements(shape).items():
            out.append((f"blk.{i}.{name}.weight", "F32" if name.endswith("norm") else weight_type, n))
    return out


def _layer_of(name: str) -> int | None:
    if name.startswith("blk."):
        return int(name.split(".")[1])
    return None


def llama_weight_split(tensors: Sequence[tuple[str, str, int]], n_layer: int) -> dict[str, Any]:
    """Weight bytes by placement unit: input (token_embd), each block, output."""
    blocks = [0] * n_layer
    inp = out = 0
    tied = not any(t[0] == "output.weight" for t in tensors)
    emb = 0
    for name, gtype, n in tensors:
        b = tensor_bytes(n, gtype)
        layer = _layer_of(name)
        if layer is not None:
            blocks[layer] += b
        elif name.startswith("token_embd"):
            inp += b
            emb = b
        else:
            out += b
    return {"input": inp, "blocks": blocks, "output": out, "tied": tied, "token_embd": emb}


def layer_devices(n_layer: int, weights: Sequence[float], n_gpu_layers: int = 999) -> list[int | None]:
    """Device index of each block and of the output layer (index n_layer), as
    llama.cpp assigns them from ``-ts`` split weights (None: the CPU)."""
    if not weights:
        return [None] * (n_layer + 1)
    total = float(sum(weights))
    if total <= 0:
        raise MemoryError_("tensor split weights must add up to more than 0")
    splits, acc = [], 0.0
    for w in weights:
        acc += w
        splits.append(acc / total)
    gpu_start = max(n_layer - n_gpu_layers, 0)
    act = min(n_gpu_layers, n_layer + 1)
    out: list[int | None] = []
    for il in range(n_layer + 1):
        if il < gpu_start or il - gpu_start >= act:
            out.append(None)
            continue
        x = (il - gpu_start) / act
        dev = next((i for i, s in enumerate(splits) if s > x), len(splits) - 1)  # upper_bound
        out.append(dev)
    return out


def llama_server_memory(
    shape: Mapping[str, Any],
    tensors: Sequence[tuple[str, str, int]] | None = None,
    weight_type: str | None = None,
    ctx: int = 4096,
    parallel: int = 1,
    kv_unified: bool = False,
    cache_type_k: str = "f16",
    cache_type_v: str | None = None,
    flash_attn: bool = True,
    n_ubatch: int = LLAMA_UBATCH,
    split: Sequence[float] | None = None,
    n_gpu_layers: int = 999,
    repack: bool = False,
    n_batch: int = LLAMA_BATCH,
) -> dict[str, Any]:
    """Per-device bytes llama-server allocates: ``model``, ``kv``, ``compute``,
    ``repack`` and ``output`` (the logits of one token per slot, in host RAM).

    Device ``cpu`` is the host (token embedding, layers not offloaded); with
    ``split`` (one weight per device, llama.cpp's order: RPC workers first,
    then the head's GPUs) layers go to devices ``0..n-1``. ``tensors`` are the
    GGUF header's (name, type, elements); without them the shape and
    ``weight_type`` give them. ``repack``: Q4_0/Q4_K weights get a second,
    repacked copy on the CPU (AVX2), as llama.cpp's CPU_REPACK buffer.
    """
    n_layer = shape_value(shape, "n_layer")
    n_ubatch = min(n_ubatch, n_batch)  # llama.cpp: the ubatch never exceeds the batch
    if tensors is None:
        if weight_type is None:
            raise MemoryError_("give the GGUF tensors or a weight type")
        tensors = tensors_from_shape(shape, normalize_quant(weight_type))
    ws = llama_weight_split(tensors, n_layer)
    devs = layer_devices(n_layer, split or [], n_gpu_layers)
    cells = llama_server_kv_cells(ctx, parallel, kv_unified)
    streams = 1 if (kv_unified or parallel == 1) else parallel
    hd = shape_value(shape, "head_dim")
    kv_layer = kv_cache_bytes(
        1, cells, shape_value(shape, "n_head_kv"), hd, hd, cache_type_k, cache_type_v, flash_attn=flash_attn
    )
    compute = llama_compute_bytes(
        shape_value(shape, "n_embd"),
        shape_value(shape, "n_ff"),
        shape_value(shape, "n_head"),
        shape_value(shape, "n_head_kv"),
        hd,
        cells // streams,
        n_ubatch,
        flash_attn,
    )
    names: list[str] = ["cpu"] + [f"dev{i}" for i in range(len(split or []))]
    per: dict[str, dict[str, int]] = {n: {"model": 0, "kv": 0, "compute": 0, "repack": 0, "output": 0} for n in names}

    def key(d: int | None) -> str:
        return "cpu" if d is None else f"dev{d}"

    per["cpu"]["model"] += ws["input"]
    for il, b in enumerate(ws["blocks"]):
        per[key(devs[il])]["model"] += b
        per[key(devs[il])]["kv"] += kv_layer
    per[key(devs[n_layer])]["model"] += ws["output"]
    if ws["tied"] and devs[n_layer] is not None:
        per[key(devs[n_layer])]["model"] += ws["token_embd"]  # the output reuses it: copied again
    used = {key(d) for d in devs}
    n_kv = cells // streams
    mask = n_kv * n_ubatch * (2 if flash_attn else 4)
    hidden = shape_value(shape, "n_embd") * n_ubatch * 4
    dev_compute = cpu_compute = compute
    if len(split or []) > 1 and n_gpu_layers > n_layer:
        # llama.cpp's pipeline parallelism (see SCHED_COPIES)
        cpu_compute = SCHED_COPIES * mask + 5 * hidden + 64 * 1024
        dev_compute = compute + (SCHED_COPIES - 1) * (mask + hidden)
        if not flash_attn:
            cpu_compute += PIPELINE_CPU_EXTRA_NO_FA
            dev_compute += PIPELINE_DEV_EXTRA_NO_FA
    elif split and "cpu" not in used:
        # One device holds every layer: the head only embeds the tokens.
        cpu_compute = mask + 2 * hidden + 64 * 1024
    for n in names:
        if n == "cpu":
            per[n]["compute"] = cpu_compute
        elif n in used:
            per[n]["compute"] = dev_compute
    if repack:
        for name, gtype, n in tensors:
            if normalize_quant(gtype) not in ("Q4_0", "Q4_K", "IQ4_NL"):
                continue
            if name.startswith("token_embd"):
                # Read by row, never repacked; a tied output on the CPU is
                # a matrix product over it, and that copy is repacked.
                if ws["tied"] and devs[n_layer] is None:
                    per["cpu"]["repack"] += tensor_bytes(n, gtype)
                continue
            layer = _layer_of(name)
            if key(devs[layer] if layer is not None else devs[n_layer]) == "cpu":
                per["cpu"]["repack"] += tensor_bytes(n, gtype)
    # llama_context::output_reserve: n_vocab floats per sequence (slot).
    per["cpu"]["output"] = shape_value(shape, "n_vocab") * max(parallel, 1) * 4
    for v in per.values():
        v["total"] = v["model"] + v["kv"] + v["compute"] + v["repack"] + v["output"]
    return {
        "devices": per,
        "kv_cells": cells,
        "layers": devs,
        "total": sum(v["total"] for v in per.values()),
    }


def ollama_memory(
    shape: Mapping[str, Any],
    file_mib: float,
    num_ctx: int,
    num_parallel: int = 1,
    kv_type: str = "f16",
    flash_attn: bool = False,
    on_gpu: bool = True,
) -> dict[str, float]:
    """MiB an Ollama runner needs: the file's weights, KV for num_ctx x
    parallel cells, the compute graph, and Ollama's GPU reserve."""
    n_layer = shape_value(shape, "n_layer")
    hd = shape_value(shape, "head_dim")
    cells = ollama_kv_cells(num_ctx, num_parallel)
    kv = kv_cache_bytes(
        n_layer, cells, shape_value(shape, "n_head_kv"), hd, hd, kv_type, flash_attn=flash_attn or kv_type == "f16"
    )
    compute = llama_compute_bytes(
        shape_value(shape, "n_embd"),
        shape_value(shape, "n_ff"),
        shape_value(shape, "n_head"),
        shape_value(shape, "n_head_kv"),
        hd,
        cells,
        LLAMA_UBATCH,
        flash_attn,
    )
    reserve = OLLAMA_GPU_RESERVE_MIB if on_gpu else 0
    weights = float(file_mib)
    total = weights + kv / MIB + compute / MIB + reserve
    per_layer = (weights + kv / MIB) / (n_layer + 1)
    return {
        "weights_mib": weights,
        "kv_mib": kv / MIB,
        "compute_mib": compute / MIB,
        "reserve_mib": float(reserve),
        "total_mib": total,
        "per_layer_mib": per_layer,
        "n_layer": n_layer,
        "kv_cells": cells,
    }
