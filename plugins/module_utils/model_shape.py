# Copyright: llama-herd developers
# Apache License 2.0
"""One model's shape from whatever the user has at hand: a catalog name, a
catalog-style entry, a ``gguf_info`` result or a bare GGUF header. Used by
the memory filters; pure Python, no Ansible imports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import memory
from .catalog import extended_catalog, lookup, merge_entry
from .gguf_header import catalog_entry, entry_from_ollama_show


def model_shape(model: Any, catalog: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """A catalog entry for ``model``:

    * a name (``qwen2.5:72b``): the built-in catalog extended by ``catalog``
      (``herd_model_catalog``);
    * a registered ``gguf_info`` result (``gguf`` + ``catalog_entry``) or a
      bare header (``tensors`` as dicts): the header, with its tensors;
    * Ollama's ``/api/show`` response (``model_info``), e.g. the ``json`` of
      an ``ansible.builtin.uri`` result;
    * any other mapping: a catalog entry; with a ``name`` the catalog knows,
      its keys override the catalog's.

    Raises ValueError naming what is missing.
    """
    cat = extended_catalog(catalog or {})
    if isinstance(model, str):
        entry = lookup(model, cat)
        if entry is None:
            raise ValueError(f"unknown model {model!r}: add it to herd_model_catalog or pass its shape (e.g. a gguf_info result)")
        return entry
    if not isinstance(model, Mapping):
        raise ValueError(f"a model must be a name or a mapping, got {type(model).__name__}")
    if isinstance(model.get("json"), Mapping) and "model_info" in model["json"]:
        model = model["json"]  # a registered ansible.builtin.uri result
    if isinstance(model.get("model_info"), Mapping):
        return entry_from_ollama_show(model)
    if isinstance(model.get("gguf"), Mapping):
        header = model["gguf"]
        entry = dict(model.get("catalog_entry") or catalog_entry(header))
        if header.get("tensors") and not entry.get("tensors"):
            entry = catalog_entry(header, with_tensors=True)
        return entry
    tensors = model.get("tensors")
    if tensors and isinstance(tensors[0], Mapping):
        return catalog_entry(model, with_tensors=True)
    base = lookup(str(model["name"]), cat) if model.get("name") else None
    return merge_entry(base, model)


def model_weight_bytes(model: Any, quant: str | None = None, catalog: Mapping[str, Mapping[str, Any]] | None = None) -> int:
    """Weight bytes of a model: exact from a GGUF header's tensors when they
    are given (and ``quant`` is theirs or unset), else parameter count x the
    bits per weight of ``quant`` (default: the entry's). A number is a
    parameter count (``quant`` required)."""
    if isinstance(model, (int, float)) and not isinstance(model, bool):
        if not quant:
            raise ValueError("a parameter count needs a quantization, e.g. 8.03e9 | model_weight_bytes('Q4_K_M')")
        return round(memory.weight_bytes(float(model), quant))
    entry = model_shape(model, catalog)
    q = memory.normalize_quant(quant or entry.get("quant") or "")
    tensors = entry.get("tensors")
    if tensors and (not quant or memory.normalize_quant(str(entry.get("quant"))) == q):
        return sum(memory.tensor_bytes(int(n), str(t)) for _name, t, n in tensors)
    if not entry.get("params_b"):
        raise ValueError(f"{entry.get('name', 'model')}: no params_b and no GGUF tensors; cannot size its weights")
    return round(memory.weight_bytes(float(entry["params_b"]) * 1e9, q))
