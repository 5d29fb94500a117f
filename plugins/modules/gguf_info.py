#!/usr/bin/python
# Copyright: llama-herd developers
# Apache License 2.0
"""Read a GGUF model file's header on the host that holds it."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gguf_info
short_description: Read the shape and tensor sizes of a GGUF model file
description:
  - Reads only the header of a GGUF file (no tensor data, no C(gguf) Python
    package needed on the host) and returns the architecture, block count, attention heads
    and KV heads, head dimensions, context length, embedding and feed-forward
    sizes, sliding window, vocabulary size, file type, and each tensor's ggml
    type, shape and byte size.
  - RV(catalog_entry) is the same model in the catalog's terms (see
    C(docs/plan.md)); put it under C(herd_model_catalog) with the model's
    name so the plan uses the file's real shape, size and tensor bytes
    instead of the catalog's guess.
version_added: "0.1.0"
author: llama-herd developers (!UNKNOWN)
options:
  path:
    description: The GGUF file on the managed host.
    type: path
    required: true
  tensors:
    description: Return the per-tensor list (hundreds of entries for large models).
    type: bool
    default: true
  metadata:
    description: Return every metadata key-value (arrays longer than 4096 items, such as vocabularies, are summarised).
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
    details: The module only reads.
  diff_mode:
    description: Returns details on what changed (or would change in check mode) in diff mode.
    support: none
notes:
  - GGUF versions 2 and 3.
"""

EXAMPLES = r"""
- name: Read the model header where the file lives
  llamaherd.cluster.gguf_info:
    path: /srv/models/qwen2.5-coder-32b-instruct-q8_0.gguf
    tensors: false
  register: __gguf

- name: Let the plan use the file's real shape
  ansible.builtin.set_fact:
    herd_model_catalog: "{{ herd_model_catalog | default({}) | combine({'qwen2.5-coder:32b': __gguf.catalog_entry}) }}"
"""

RETURN = r"""
gguf:
  description: The header.
  returned: success
  type: dict
  contains:
    architecture:
      description: C(general.architecture), e.g. C(llama), C(qwen2).
      type: str
    block_count:
      description: Repeating blocks (layers).
      type: int
    context_length:
      description: Training context.
      type: int
    embedding_length:
      description: Hidden size.
      type: int
    feed_forward_length:
      description: FFN size (a per-layer list for some models).
      type: raw
    head_count:
      description: Attention heads (a per-layer list for some models).
      type: raw
    head_count_kv:
      description: KV heads (equal to head_count when the file has no GQA key).
      type: raw
    key_length:
      description: Key head dimension (embedding_length / head_count when not stored).
      type: int
    value_length:
      description: Value head dimension.
      type: int
    sliding_window:
      description: Sliding-window size, if any.
      type: int
    vocab_size:
      description: Vocabulary size.
      type: int
    file_type:
      description: Quantization of the file (C(general.file_type)), e.g. C(Q4_K_M).
      type: str
    tensors:
      description: Per tensor C(name), ggml C(type), C(shape), C(n_elements), C(bytes), C(offset) (from the data start).
      type: list
      elements: dict
    tensor_bytes:
      description: Sum of the tensors' bytes.
      type: int
    n_params:
      description: Sum of the tensors' elements.
      type: int
    file_size:
      description: File size in bytes.
      type: int
    data_offset:
      description: Where the tensor data starts.
      type: int
catalog_entry:
  description:
    - The catalog entry for this model (n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab,
      n_ctx_train, quant, size_mib...).
    - With O(tensors=true) it also carries C(tensors) ([name, ggml type, elements] of every tensor),
      which the plan uses for exact per-device weights when it splits the model over RPC.
  returned: success
  type: dict
  sample: {arch: qwen2, n_layer: 64, n_embd: 5120, n_head: 40, n_head_kv: 8, head_dim: 128, quant: Q8_0, size_mib: {Q8_0: 33202.8}}
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.llamaherd.cluster.plugins.module_utils.gguf_header import GGUFError, catalog_entry, read_header


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "tensors": {"type": "bool", "default": True},
            "metadata": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    p: dict[str, Any] = module.params
    try:
        info = read_header(p["path"], metadata=p["metadata"])
    except GGUFError as exc:
        module.fail_json(msg=f"path: {exc}")
    entry = catalog_entry(info, with_tensors=p["tensors"])
    if not p["tensors"]:
        info.pop("tensors")
    module.exit_json(changed=False, gguf=info, catalog_entry=entry)


if __name__ == "__main__":
    main()
