# Copyright: llama-herd developers
# Apache License 2.0
"""Filter model_catalog_entry: a thin wrapper over module_utils.model_shape.model_shape."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.module_utils.model_shape import model_shape

DOCUMENTATION = r"""
name: model_catalog_entry
author: llama-herd developers
version_added: "0.1.0"
short_description: A model's catalog entry from a GGUF header, Ollama's /api/show, or a name
description:
  - Turns what is known about a model into the structure C(herd_model_catalog) takes
    (C(n_layer), C(n_embd), C(n_head), C(n_head_kv), C(head_dim), C(n_ff), C(n_vocab),
    C(n_ctx_train), C(params_b), C(quant), C(size_mib)...), so the plan uses it instead of
    the built-in catalog's guess (see C(docs/plan.md)).
  - Accepts a registered M(llamaherd.cluster.gguf_info) result (its tensors included), Ollama's
    C(/api/show) response (or a registered M(ansible.builtin.uri) result holding it), a catalog
    name, or a partial entry with a C(name) the catalog knows.
options:
  _input:
    description: The model.
    type: raw
    required: true
  catalog:
    description: Extra catalog entries (C(herd_model_catalog)) to look names up in.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Ask Ollama what it knows about a model
  ansible.builtin.uri:
    url: http://127.0.0.1:11434/api/show
    method: POST
    body_format: json
    body: {model: "qwen2.5-coder:32b"}
  register: __show

- name: Let the plan use it
  ansible.builtin.set_fact:
    herd_model_catalog: "{{ herd_model_catalog | default({}) | combine({'qwen2.5-coder:32b': __show | llamaherd.cluster.model_catalog_entry}) }}"
"""

RETURN = r"""
_value:
  description: The catalog entry.
  type: dict
"""


def model_catalog_entry(model: Any, catalog: dict | None = None) -> dict[str, Any]:
    """The catalog entry for ``model`` (see DOCUMENTATION)."""
    try:
        return model_shape(model, catalog)
    except (ValueError, KeyError, TypeError) as exc:
        raise AnsibleFilterError(f"model_catalog_entry: {exc}") from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"model_catalog_entry": model_catalog_entry}
