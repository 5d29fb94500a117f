# Copyright: llama-herd developers
# Apache License 2.0
"""Filter model_weight_bytes: a thin wrapper over module_utils.model_shape.model_weight_bytes."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.module_utils.model_shape import model_weight_bytes as _weight_bytes

DOCUMENTATION = r"""
name: model_weight_bytes
author: llama-herd developers
version_added: "0.1.0"
short_description: Weight bytes of a model in a quantization
description:
  - Exact when a GGUF header is at hand (a registered M(llamaherd.cluster.gguf_info) result,
    or a catalog entry that carries its C(tensors)), as the sum of each tensor's bytes with
    ggml's block sizes.
  - Otherwise the parameter count times the quantization's bits per weight (single-type
    quantizations exactly, mixed presets such as C(Q4_K_M) by their measured average).
positional: quant
options:
  _input:
    description:
      - A catalog name, a catalog-style entry, a gguf_info result, or a parameter count
        (a number, then O(quant) is required).
    type: raw
    required: true
  quant:
    description: Quantization, e.g. C(Q4_K_M), C(Q8_0), C(F16), distributed-llama's C(q40); default the model's.
    type: str
  catalog:
    description: Extra catalog entries (C(herd_model_catalog)).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: 72B in Q8_0, from the catalog's parameter count
  ansible.builtin.debug:
    msg: "{{ ('qwen2.5:72b' | llamaherd.cluster.model_weight_bytes('Q8_0') / 2**30) | round(1) }} GiB"

- name: A parameter count
  ansible.builtin.debug:
    msg: "{{ 8.03e9 | llamaherd.cluster.model_weight_bytes('Q4_0') }}"

- name: Exact, from the file's header
  ansible.builtin.debug:
    msg: "{{ __gguf | llamaherd.cluster.model_weight_bytes }}"
"""

RETURN = r"""
_value:
  description: Bytes.
  type: int
"""


def model_weight_bytes(model: Any, quant: str | None = None, catalog: dict | None = None) -> int:
    """Weight bytes of ``model`` in ``quant`` (see DOCUMENTATION)."""
    try:
        return _weight_bytes(model, quant, catalog)
    except (ValueError, KeyError, TypeError) as exc:
        raise AnsibleFilterError(f"model_weight_bytes: {exc}") from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"model_weight_bytes": model_weight_bytes}
