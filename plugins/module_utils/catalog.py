# Copyright: llama-herd developers
# Apache License 2.0
"""The model catalog: shapes and file sizes of the models the seeds name.

Pure data plus lookups; no Ansible, no third-party imports, so the GPU router
package can ship this file as is. The catalog is a *guess*: an entry from the
inventory (``herd_model_catalog``), a GGUF header (``gguf_info``) or Ollama's
``/api/show`` overrides it (see :func:`merge_entry`).

Sizes:

* ``size_mib`` maps a quantization to the model file size in MiB, as Ollama
  reports it (``ollama list``). The first seven-to-twelve entries are seed
  001's "KNOWN MODELS DATABASE" verbatim (its "MB" are MiB: 4700 MB is
  4.59 GB). Other Ollama sizes are the library's decimal GB figures converted
  to MiB.
* Shapes come from each model's published ``config.json`` / GGUF header:
  ``n_layer`` (blocks), ``n_embd``, ``n_head``, ``n_head_kv``, ``head_dim``,
  ``n_ff``, ``n_vocab``, ``n_ctx_train``, ``params_b`` (billions).
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Mapping
from typing import Any

from .memory import weight_bytes

# Ollama's default quantization for library tags without an explicit one.
OLLAMA_DEFAULT_QUANT = "Q4_K_M"

_GIB = 1024.0
_GB_TO_MIB = 1e9 / 2**20  # Ollama's "GB" are decimal


def _gb(x: float) -> int:
    return round(x * _GB_TO_MIB)


# Shapes that several entries share (a fine-tune keeps its base model's shape).
_QWEN25_3B: dict[str, Any] = {
    "arch": "qwen2",
    "params_b": 3.09,
    "n_layer": 36,
    "n_embd": 2048,
    "n_head": 16,
    "n_head_kv": 2,
    "head_dim": 128,
    "n_ff": 11008,
    "n_vocab": 151936,
    "n_ctx_train": 32768,
}

_LLAMA31_8B: dict[str, Any] = {
    "arch": "llama",
    "params_b": 8.03,
    "n_layer": 32,
    "n_embd": 4096,
    "n_head": 32,
    "n_head_kv": 8,
    "head_dim": 128,
    "n_ff": 14336,
    "n_vocab": 128256,
    "n_ctx_train": 131072,
}

_QWEN25_14B: dict[str, Any] = {
    "arch": "qwen2",
    "params_b": 14.8,
    "n_layer": 48,
    "n_embd": 5120,
    "n_head": 40,
    "n_head_kv": 8,
    "head_dim": 128,
    "n_ff": 13824,
    "n_vocab": 152064,
    "n_ctx_train": 32768,
}

_QWEN25_32B: dict[str, Any] = {
    "arch": "qwen2",
    "params_b": 32.8,
    "n_layer": 64,
    "n_embd": 5120,
    "n_head": 40,
    "n_head_kv": 8,
    "head_dim": 128,
    "n_ff": 27648,
    "n_vocab": 152064,
    "n_ctx_train": 32768,
}


# name -> entry. Keys of an entry:
#   arch, params_b, n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab,
#   n_ctx_train, kind ("chat" | "embedding" | "vision"), quant (default),
#   size_mib {quant: MiB}, aliases [names], notes
CATALOG: dict[str, dict[str, Any]] = {
    # ------------------------------------------------ seed 001's database
    "all-minilm": {
        "arch": "bert",
        "params_b": 0.023,
        "n_layer": 6,
        "n_embd": 384,
        "n_head": 12,
        "n_head_kv": 12,
        "head_dim": 32,
        "n_ff": 1536,
        "n_vocab": 30522,
        "n_ctx_train": 512,
        "kind": "embedding",
        "quant": "F16",
        "size_mib": {"F16": 45},
    },
    "nomic-embed-text": {
        "arch": "nomic-bert",
        "params_b": 0.137,
        "n_layer": 12,
        "n_embd": 768,
        "n_head": 12,
        "n_head_kv": 12,
        "head_dim": 64,
        "n_ff": 3072,
        "n_vocab": 30522,
        "n_ctx_train": 2048,
        "kind": "embedding",
        "quant": "F16",
        "size_mib": {"F16": 274},
    },
    "qwen2.5-coder:0.5b": {
        "arch": "qwen2",
        "params_b": 0.494,
        "n_layer": 24,
        "n_embd": 896,
        "n_head": 14,
        "n_head_kv": 2,
        "head_dim": 64,
        "n_ff": 4864,
        "n_vocab": 151936,
        "n_ctx_train": 32768,
        "kind": "chat",
        "quant": "Q4_K_M",
        "size_mib": {"Q4_K_M": 500},
    },
    "mxbai-embed-large": {
        "arch": "bert",
        "params_b": 0.335,
        "n_layer": 24,
        "n_embd": 1024,
        "n_head": 16,
        "n_head_kv": 16,
        "head_dim": 64,
        "n_ff": 4096,
        "n_vocab": 30522,
        "n_ctx_train": 512,
        "kind": "embedding",
        "quant": "F16",
        "size_mib": {"F16": 705},
    },
    "qwen2.5-coder:1.5b": {
        "arch": "qwen2",
        "params_b": 1.54,
        "n_layer": 28,
        "n_embd": 1536,
        "n_head": 12,
        "n_head_kv": 2,
        "head_dim": 128,
        "n_ff": 8960,
        "n_vocab": 151936,
        "n_ctx_train": 32768,
        "kind": "chat",
        "quant": "Q4_K_M",
        "size_mib": {"Q4_K_M": 900},
    },
    "llama3.2:1b": {
        "arch": "llama",
        "params_b": 1.24,
        "n_layer": 16,
        "n_embd": 2048,
        "n_head": 32,
        "n_head_kv": 8,
        "head_dim": 64,
        "n_ff": 8192,
        "n_vocab": 128256,
        "n_ctx_train": 131072,
        "kind": "chat",
        "quant": "Q8_0",
        "size_mib": {"Q8_0": 1300},
    },
    "qwen2.5-coder:3b": {
        **_QWEN25_3B,
        "kind": "chat",
        "quant": "Q4_K_M",
        "size_mib": {"Q4_K_M": 1800},
    },
    "llama3.2:3b": {
        "arch": "llama",
        "params_b": 3.21,
        "n_layer": 28,
        "n_embd": 3072,
        "n_head": 24,
        "n_head_kv": 8,
        "head_dim": 128,
        "n_ff": 8192,
        "n_vocab": 128256,
        "n_ctx_train": 131072,
        "kind": "chat",
        "quant": "Q4_K_M",
        "size_mib": {"Q4_K_M": 1900},
        "aliases": ["llama3.2", "llama3.2:latest"],
    },
    "codellama:7b": {
        "arch": "llama",
        "params_b": 6.74,
        "n_layer": 32,
        "n_embd": 4096,
        "n_head": 32,
        "n_head_kv": 32,
        "head_dim": 128,
        "n_ff": 11008,
        "n_vocab": 32016,
        "n_ctx_train": 16384,
        "kind": "chat",
        "quant": "Q4_0",
        "size_mib": {"Q4_0": 3600},
        "aliases": ["codellama", "codellama:latest"],
    },
    "qwen2.5-coder:7b": {
        "arch": "qwen2",
        "params_b": 7.62,
        "n_layer": 28,
        "n_embd": 3584,
        "n_head": 28,
        "n_head_kv": 4,
        "head_dim": 128,
        "n_ff": 18944,
        "n_vocab": 152064,
        "n_ctx_train": 32768,
        "kind": "chat",
        "quant": "Q4_K_M",
        "size_mib": {"Q4_K_M": 4400},
        "aliases": ["qwen2.5-coder", "qwen2.5-coder:latest"],
    },
    "llama3.1:latest": {
        **_LLAMA31_8B,
        "kind": "chat",
        "quant": "Q4_K_M",
        "size_mib": {"Q4_K_M": 4700},
        "aliases": ["llama3.1", "llama3.1:8b"],
    },
    "codellama:13b": {
        "arch": "llama",
        "params_b": 13.0,
        "n_layer": 40,
        "n_embd": 5120,
        "n_head": 40,
        "n_head_kv": 40,
        "head_dim": 128,
        "n_ff": 13824,
        "n_vocab": 32016,
        "n_ctx_train": 16384,
        "kind": "chat",
        "quant": "Q4_0",
        "size_mib": {"Q4_0": 6900},
    },
    # ------------------------------------------------ seeds 000, 002, 004
    "qwen2.5:3b": {
        **_QWEN25_3B,
        "kind": "chat",
        "quant": "Q4_K_M",
        "size_mib": {"Q4_K_M": _gb(1.9)},
    },
    "qwen2.5:14b": {
        **_QWEN25_14B,
        "kind": "chat",
        "quant": "Q4_K_M",
        "size_mib": {"Q4_K_M": _gb(9.0)},
    },
    "qwen2.5:32b": {
        **_QWEN25_32B,
        "kind": "chat",
        "quant": "Q4_K_M",
        "size_mib": {"Q4_K_M": _gb(20)},
    },
    "qwen2.5-coder:32b": {
        **_QWEN25_32B,
        "kind": "chat",
        "quant": "Q4_K_M",
        "size_mib": {"Q4_K_M": _gb(20)},
    },
    "deepseek-r1:32b": {
        # The R1 distill of Qwen2.5 32B: the same shape, a longer trained context.
        **_QWEN25_32B,
        "n_ctx_train": 131072,
        "kind": "chat",
        "quant": "Q4_K_M",
        "size_mib": {"Q4_K_M": _gb(20)},
    },
    "qwen2.5:72b": {
        "arch": "qwen2",
        "params_b": 72.7,
        "n_layer": 80,
        "n_embd": 8192,
        "n_head": 64,
        "n_head_kv": 8,
        "head_dim": 128,
        "n_ff": 29568,
        "n_vocab": 152064,
        "n_ctx_train": 32768,
        "kind": "chat",
        "quant": "Q4_K_M",
        # Ollama lists 47 GB; seed 000 says "~45GB" (GiB): the same file.
        "size_mib": {"Q4_K_M": _gb(47)},
    },
    "llama3.1:70b": {
        "arch": "llama",
        "params_b": 70.6,
        "n_layer": 80,
        "n_embd": 8192,
        "n_head": 64,
        "n_head_kv": 8,
        "head_dim": 128,
        "n_ff": 28672,
        "n_vocab": 128256,
        "n_ctx_train": 131072,
        "kind": "chat",
        "quant": "Q4_K_M",
        "size_mib": {"Q4_K_M": _gb(43)},
    },
    "llama3.2-vision:11b": {
        "arch": "mllama",
        "params_b": 10.7,
        "n_layer": 40,
        "n_embd": 4096,
        "n_head": 32,
        "n_head_kv": 8,
        "head_dim": 128,
        "n_ff": 14336,
        "n_vocab": 128256,
        "n_ctx_train": 131072,
        "kind": "vision",
        "quant": "Q4_K_M",
        "size_mib": {"Q4_K_M": _gb(7.8)},
        "aliases": ["llama3.2-vision", "llama3.2-vision:latest"],
    },
    # distributed-llama's converted Llama 3.1 8B (seed 004): q40 weights.
    "llama3.1:8b-dllama": {
        **_LLAMA31_8B,
        "kind": "chat",
        "quant": "Q4_0",
        "size_mib": {"Q4_0": 6316},
    },
    # ------------------------------------------------ seed 003 (llama.cpp RPC)
    # An "embiggened" Qwen3: 80 blocks of 8192 with 64 query / 8 KV heads.
    # Sizes are seed 003's: Q8_0 = 83002634240 bytes (its size check), which
    # `ls -lh` shows as 77G; Q4_K_M 47.4 in the same unit.
    "or1-behemoth-73b": {
        "arch": "qwen3",
        "params_b": 72.7,
        "n_layer": 80,
        "n_embd": 8192,
        "n_head": 64,
        "n_head_kv": 8,
        "head_dim": 128,
        "n_ff": 29568,
        "n_vocab": 151936,
        "n_ctx_train": 40960,
        "kind": "chat",
        "quant": "Q8_0",
        "size_mib": {"Q8_0": 83002634240 // 2**20, "Q4_K_M": round(47.4 * 1024)},
        "aliases": ["OR1-Behemoth"],
    },
    "strand-rust-coder-14b": {
        **_QWEN25_14B,
        "kind": "chat",
        "quant": "Q8_0",
        "size_mib": {},
        "aliases": ["Strand-Rust-Coder-14B-v1"],
    },
}

# Keys an entry may carry (from the catalog, the inventory or a GGUF header).
ENTRY_KEYS = {
    "arch",
    "params_b",
    "n_layer",
    "n_embd",
    "n_head",
    "n_head_kv",
    "head_dim",
    "head_dim_k",
    "head_dim_v",
    "n_ff",
    "n_vocab",
    "n_ctx_train",
    "kind",
    "quant",
    "size_mib",
    "aliases",
    "notes",
    "n_swa",
    "swa_layers",
    "recurrent_layers",
    "tied_embeddings",
    "tensors",  # [[name, ggml type, elements]] from a GGUF header (gguf_info)
}

_QUANT_TAG_RE = re.compile(r"[-_.]((?:i?q\d[a-z0-9_]*)|f16|bf16|f32|fp16)$", re.IGNORECASE)


def _index(catalog: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    idx: dict[str, str] = {}
    for name, entry in catalog.items():
        idx[name.lower()] = name
        for alias in entry.get("aliases", ()):
            idx.setdefault(str(alias).lower(), name)
    return idx


def canonical_name(name: str, catalog: Mapping[str, Mapping[str, Any]] | None = None) -> str | None:
    """The catalog key for ``name`` (aliases, ``:latest`` and case folded)."""
    cat = CATALOG if catalog is None else catalog
    idx = _index(cat)
    key = str(name).strip().lower()
    for candidate in (key, key.removesuffix(":latest"), f"{key}:latest"):
        if candidate in idx:
            return idx[candidate]
    # "qwen2.5:72b-instruct-q8_0" -> "qwen2.5:72b"
    base = _QUANT_TAG_RE.sub("", key)
    base = re.sub(r"-(instruct|chat|text|base)$", "", base)
    if base != key and base in idx:
        return idx[base]
    return None


def quant_from_tag(name: str) -> str | None:
    """The quantization an Ollama tag names, e.g. ``qwen2.5:7b-instruct-q8_0`` -> ``Q8_0``."""
    m = _QUANT_TAG_RE.search(str(name))
    if not m:
        return None
    q = m.group(1).upper()
    return "F16" if q == "FP16" else q


def lookup(name: str, catalog: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any] | None:
    """A copy of the catalog entry for ``name`` (with its ``name``), or None."""
    cat = CATALOG if catalog is None else catalog
    key = canonical_name(name, cat)
    if key is None:
        return None
    entry = copy.deepcopy(dict(cat[key]))
    entry["name"] = key
    return entry


def model_size_mib(name: str, quant: str | None = None, catalog: Mapping[str, Mapping[str, Any]] | None = None) -> int | None:
    """The model file size in MiB as Ollama reports it, or None if unknown.

    ``quant`` defaults to the tag's quantization, then the entry's default.
    When the catalog has the shape but not that quantization's size, the size
    is estimated from the parameter count (see memory.weight_bytes).
    """
    entry = lookup(name, catalog)
    if entry is None:
        return None
    q = (quant or quant_from_tag(name) or entry.get("quant") or OLLAMA_DEFAULT_QUANT).upper()
    sizes = {str(k).upper(): v for k, v in (entry.get("size_mib") or {}).items()}
    if q in sizes:
        return int(sizes[q])
    if entry.get("params_b"):
        return round(weight_bytes(float(entry["params_b"]) * 1e9, q) / 2**20)
    return None


def merge_entry(base: Mapping[str, Any] | None, override: Mapping[str, Any] | None) -> dict[str, Any]:
    """``override`` (inventory, GGUF header, /api/show) wins key by key;
    ``size_mib`` maps merge per quantization."""
    out: dict[str, Any] = copy.deepcopy(dict(base or {}))
    for key, value in (override or {}).items():
        if value is None:
            continue
        if key == "size_mib" and isinstance(value, Mapping):
            sizes = dict(out.get("size_mib") or {})
            sizes.update({str(k).upper(): v for k, v in value.items()})
            out["size_mib"] = sizes
        else:
            out[key] = copy.deepcopy(value)
    return out


def extended_catalog(extra: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """The built-in catalog extended/overridden by ``herd_model_catalog``."""
    cat = {k: copy.deepcopy(v) for k, v in CATALOG.items()}
    for name, entry in (extra or {}).items():
        key = canonical_name(name, cat) or str(name)
        cat[key] = merge_entry(cat.get(key), entry)
    return cat


# What the plan needs of a model it sizes; an entry for a name the built-in
# catalog does not know must give all of them.
SHAPE_KEYS = ("n_layer", "n_embd", "n_head", "n_head_kv", "n_ff", "n_vocab")
_NUMBER_KEYS = ("params_b", "n_layer", "n_embd", "n_head", "n_head_kv", "head_dim", "n_ff", "n_vocab", "n_ctx_train")


def kind_of(value: Any) -> str:
    """What a value is, in the words of YAML rather than Python's (Ansible's
    tagged types included): a mapping, a list, a string, a number."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "nothing" if value is None else "a value of another kind"


def shown(value: Any) -> str:
    """A value as the inventory would write it, for "got ..." in a message:
    strings quoted, lists in flow style, no Python None/True/{...}."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(str(value))
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(shown(v) if isinstance(v, (Mapping, list, tuple)) or v is None else str(v) for v in value) + "]"
    return str(value)


def entry_problems(name: Any, entry: Any) -> list[tuple[str, str, str]]:
    """(variable, problem, fix) for one ``herd_model_catalog`` entry: not a
    mapping, unknown keys (naming the close one), numbers that are not
    positive numbers, and for a model the built-in catalog does not know,
    the shape keys the plan needs."""
    var = f"herd_model_catalog[{name}]"
    if not isinstance(entry, Mapping):
        fix = f"write herd_model_catalog: {{{name}: {{n_layer: 32, n_embd: 4096, ...}}}} (docs/inventory.md)"
        return [(var, f"must be a mapping of the model's shape, got {kind_of(entry)}", fix)]
    problems = []
    for key in sorted(set(entry) - ENTRY_KEYS - {"name"}, key=str):
        close = difflib.get_close_matches(str(key), sorted(ENTRY_KEYS), n=1)
        problems.append(
            (
                f"{var}.{key}",
                "unknown key" + (f", close to {close[0]}" if close else ""),
                f"rename it to {close[0]}" if close else f"use only {', '.join(sorted(ENTRY_KEYS))}",
            )
        )
    for key in _NUMBER_KEYS:
        v = entry.get(key)
        if key in entry and (isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0):
            problems.append(
                (f"{var}.{key}", f"must be a positive number, got {kind_of(v)}", f"write {key}: 32 (a number, unquoted)")
            )
    sizes = entry.get("size_mib")
    if "size_mib" in entry and not isinstance(sizes, Mapping):
        problems.append(
            (
                f"{var}.size_mib",
                f"must map a quantization to the file's MiB, got {kind_of(sizes)}",
                "write size_mib: {Q4_K_M: 4700}",
            )
        )
    if canonical_name(str(name)) is None:
        missing = [k for k in SHAPE_KEYS if k not in entry]
        # A typo'd key is reported above; do not also call its key missing.
        near = {c for key in entry for c in difflib.get_close_matches(str(key), SHAPE_KEYS, n=1)}
        missing = [k for k in missing if k not in near]
        if missing:
            problems.append(
                (
                    var,
                    f"the built-in catalog does not know {name}, and this entry lacks {', '.join(missing)}, which the plan needs to size it",
                    "add them from the model's config.json or GGUF header (llamaherd.cluster.gguf_info reads them)",
                )
            )
    return problems
