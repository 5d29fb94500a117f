# Copyright: llama-herd developers
# Apache License 2.0
"""Filter kv_cache_bytes: a thin wrapper over module_utils.memory.engine_kv_bytes."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.module_utils.memory import engine_kv_bytes
from ansible_collections.llamaherd.cluster.plugins.module_utils.model_shape import model_shape

DOCUMENTATION = r"""
name: kv_cache_bytes
author: llama-herd developers
version_added: "0.1.0"
short_description: KV cache bytes of a model at a context, as an engine allocates it
description:
  - Sum over layers of cells x KV heads x (key dim x key bytes + value dim x value bytes),
    with the engine's own context semantics (see C(docs/plan.md)).
  - C(llama_cpp) (llama-server) pads C(-c) to 256 and, without C(-kvu), gives each of the
    C(-np) slots its own stream of ceil(padded / np) rounded up to 256 again;
    C(ollama) allocates C(num_ctx) x C(OLLAMA_NUM_PARALLEL) cells;
    C(dllama) keeps an f32 cache of C(--max-seq-len) with the KV heads split across the nodes
    (the result is per node).
  - Quantized cache types (C(q8_0), C(q4_0)...) need flash attention.
positional: context
options:
  _input:
    description:
      - The model, as a catalog name (C(qwen2.5:72b)), a catalog-style entry
        (C(n_layer), C(n_head_kv), C(head_dim)...), or a registered
        M(llamaherd.cluster.gguf_info) result.
    type: raw
    required: true
  context:
    description: Context in tokens (C(-c), C(num_ctx), C(--max-seq-len)).
    type: int
    required: true
  parallel:
    description: Parallel slots (C(-np), C(OLLAMA_NUM_PARALLEL)).
    type: int
    default: 1
  cache_type:
    description: KV cache element type (C(f16), C(q8_0), C(q4_0), C(f32)...).
    type: str
    default: f16
  engine:
    description: Whose semantics to use.
    type: str
    default: llama_cpp
    choices: [llama_cpp, ollama, dllama]
  flash_attn:
    description: Flash attention on (required for quantized caches).
    type: bool
    default: true
  kv_unified:
    description: llama-server C(-kvu) (one stream shared by the slots).
    type: bool
    default: false
  nodes:
    description: distributed-llama nodes (root + workers).
    type: int
    default: 1
  catalog:
    description: Extra catalog entries (C(herd_model_catalog)).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: KV cache of llama3.1:8b at 8192 tokens, 4 slots (llama-server)
  ansible.builtin.debug:
    msg: "{{ 'llama3.1:8b' | llamaherd.cluster.kv_cache_bytes(8192, parallel=4) }}"
  # => 1073741824 (1 GiB)

- name: Same model under Ollama with a q8_0 cache
  ansible.builtin.debug:
    msg: "{{ 'llama3.1:8b' | llamaherd.cluster.kv_cache_bytes(8192, engine='ollama', cache_type='q8_0') }}"
"""

RETURN = r"""
_value:
  description: Bytes (per node for C(dllama)).
  type: int
"""


def kv_cache_bytes(
    model: Any,
    context: int,
    parallel: int = 1,
    cache_type: str = "f16",
    engine: str = "llama_cpp",
    flash_attn: bool = True,
    kv_unified: bool = False,
    nodes: int = 1,
    catalog: dict | None = None,
) -> int:
    """KV cache bytes of ``model`` at ``context`` (see DOCUMENTATION)."""
    try:
        shape = model_shape(model, catalog)
        return engine_kv_bytes(
            shape, str(engine), int(context), int(parallel), str(cache_type), bool(flash_attn), bool(kv_unified), int(nodes)
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise AnsibleFilterError(f"kv_cache_bytes: {exc}") from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"kv_cache_bytes": kv_cache_bytes}
