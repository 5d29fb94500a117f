# Copyright: llama-herd developers
# Apache License 2.0
"""A small GGUF header reader (stdlib only) and the bridge from a header, or
Ollama's ``/api/show``, to the catalog's model-shape entry.

The ``gguf_info`` module runs :func:`read_header` on the host that holds the
file (no ``gguf`` package there); the tests check every field against the
``gguf`` package's ``GGUFReader`` on the same files. :func:`catalog_entry`
turns the result into the structure ``catalog.py`` and ``memory.py`` read, so
a header overrides catalog guesses (``catalog.merge_entry``).

GGUF layout (little endian): magic ``GGUF``, version u32, tensor count u64,
metadata count u64, the metadata (key string, value type u32, value), the
tensor infos (name, n_dims u32, dims u64 x n_dims, ggml type u32, offset
u64), padding to ``general.alignment`` (default 32), then the tensor data.
Only the header is read; tensor bytes come from ggml's block sizes.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from typing import Any, BinaryIO

from .memory import GGML_BLOCKS, GGML_TYPE_IDS, MIB, normalize_quant

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
MAX_INLINE_ARRAY = 4096  # longer arrays (vocabularies) are summarised, not returned

# GGUF metadata value types: id -> (name, struct format or None)
_VALUE_TYPES: dict[int, tuple[str, str | None]] = {
    0: ("uint8", "<B"),
    1: ("int8", "<b"),
    2: ("uint16", "<H"),
    3: ("int16", "<h"),
    4: ("uint32", "<I"),
    5: ("int32", "<i"),
    6: ("float32", "<f"),
    7: ("bool", "<?"),
    8: ("string", None),
    9: ("array", None),
    10: ("uint64", "<Q"),
    11: ("int64", "<q"),
    12: ("float64", "<d"),
}

# llama.cpp's file types (general.file_type, enum llama_ftype) -> the
# quantization name memory.normalize_quant knows (None: read the tensors).
FILE_TYPES: dict[int, str | None] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K",  # Q2_K_S
    22: None,  # IQ3_XS
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: None,  # IQ3_M
    28: "IQ2_S",
    29: None,  # IQ2_M
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4",
}


class GGUFError(ValueError):
    """The file is not a readable GGUF (the message says where it broke)."""


class _Reader:
    def __init__(self, fh: BinaryIO, size: int) -> None:
        self.fh = fh
        self.size = size
        self.pos = 0

    def read(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > self.size:
            raise GGUFError(f"truncated header: {what} needs {n} bytes at offset {self.pos}, the file has {self.size}")
        data = self.fh.read(n)
        if len(data) != n:
            raise GGUFError(f"short read of {what} at offset {self.pos}")
        self.pos += n
        return data

    def skip(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise GGUFError(f"truncated header: {what} needs {n} bytes at offset {self.pos}, the file has {self.size}")
        self.fh.seek(n, os.SEEK_CUR)
        self.pos += n

    def unpack(self, fmt: str, what: str) -> Any:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        n = self.unpack("<Q", what)
        return self.read(n, what).decode("utf-8", errors="replace")

    def value(self, vtype: int, what: str, keep: bool = True) -> Any:
        if vtype not in _VALUE_TYPES:
            raise GGUFError(f"{what}: unknown metadata value type {vtype}")
        name, fmt = _VALUE_TYPES[vtype]
        if fmt is not None:
            return self.unpack(fmt, what)
        if name == "string":
            if keep:
                return self.string(what)
            self.skip(self.unpack("<Q", what), what)
            return None
        itype = self.unpack("<I", what)
        count = self.unpack("<Q", what)
        if itype not in _VALUE_TYPES or itype == 9:
            raise GGUFError(f"{what}: unsupported array item type {itype}")
        iname, ifmt = _VALUE_TYPES[itype]
        inline = keep and count <= MAX_INLINE_ARRAY
        if ifmt is not None:
            width = struct.calcsize(ifmt)
            if not inline:
                self.skip(width * count, what)
                return {"array_type": iname, "length": count}
            raw = self.read(width * count, what)
            return list(struct.unpack(f"<{count}{ifmt[1:]}", raw))
        items = [self.value(itype, what, keep=inline) for _i in range(count)]
        return items if inline else {"array_type": iname, "length": count}


def _get(meta: Mapping[str, Any], arch: str, key: str) -> Any:
    return meta.get(f"{arch}.{key}")


def read_header(path: str, metadata: bool = True) -> dict[str, Any]:
    """Read a GGUF file's header: shapes, per-tensor types and bytes, sizes.

    Keys: ``path``, ``version``, ``file_size``, ``alignment``,
    ``data_offset``, ``architecture``, ``name``, ``block_count``,
    ``context_length``, ``embedding_length``, ``feed_forward_length``,
    ``head_count``, ``head_count_kv`` (ints, or per-layer lists),
    ``key_length``, ``value_length`` (head dims; llama.cpp's default
    n_embd / n_head when absent), ``sliding_window``, ``vocab_size``,
    ``file_type`` (name), ``expert_count``, ``tensors`` ([{name, type,
    shape, n_elements, bytes, offset}]), ``tensor_bytes``, ``n_params``,
    and with ``metadata`` every key-value (vocabularies summarised).
    """
    try:
        size = os.path.getsize(path)
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise GGUFError(f"cannot open {path}: {exc.strerror}") from None
    with fh:
        r = _Reader(fh, size)
        magic = r.read(4, "magic") if size >= 4 else b""
        if magic != GGUF_MAGIC:
            raise GGUFError(f"{path} is not a GGUF file (magic {magic!r}, expected b'GGUF')")
        version = r.unpack("<I", "version")
        if version not in (2, 3):
            raise GGUFError(f"{path}: GGUF version {version} is not supported (2 or 3)")
        n_tensors = r.unpack("<Q", "tensor count")
        n_kv = r.unpack("<Q", "metadata count")
        meta: dict[str, Any] = {}
        for i in range(n_kv):
            key = r.string(f"metadata key {i}")
            vtype = r.unpack("<I", f"type of {key}")
            meta[key] = r.value(vtype, key)
        tensors = []
        for i in range(n_tensors):
            name = r.string(f"tensor {i} name")
            n_dims = r.unpack("<I", f"{name} n_dims")
            if n_dims > 8:
                raise GGUFError(f"tensor {name}: {n_dims} dimensions")
            shape = [r.unpack("<Q", f"{name} dim") for _i in range(n_dims)]
            tid = r.unpack("<I", f"{name} type")
            offset = r.unpack("<Q", f"{name} offset")
            if tid not in GGML_TYPE_IDS:
                raise GGUFError(f"tensor {name}: unknown ggml type id {tid}")
            gtype = GGML_TYPE_IDS[tid]
            block, nbytes = GGML_BLOCKS[gtype]
            n_el = 1
            for d in shape:
                n_el *= d
            if shape and shape[0] % block:
                raise GGUFError(f"tensor {name}: row length {shape[0]} is not a multiple of the {gtype} block ({block})")
            tensors.append(
                {
                    "name": name,
                    "type": gtype,
                    "shape": shape,
                    "n_elements": n_el,
                    "bytes": n_el // block * nbytes,
                    "offset": offset,
                }
            )
        header_end = r.pos
    alignment = int(meta.get("general.alignment", DEFAULT_ALIGNMENT))
    if alignment <= 0 or alignment & (alignment - 1):
        raise GGUFError(f"{path}: general.alignment {alignment} is not a power of two")
    data_offset = (header_end + alignment - 1) // alignment * alignment
    end = max((t["offset"] + t["bytes"] for t in tensors), default=0)
    if data_offset + end > size:
        raise GGUFError(f"{path} is truncated: tensor data ends at {data_offset + end} bytes, the file has {size}")
    arch = str(meta.get("general.architecture", ""))
    n_embd = _get(meta, arch, "embedding_length")
    n_head = _get(meta, arch, "attention.head_count")
    head_dim = None
    if isinstance(n_embd, int) and n_head:
        h = max(n_head) if isinstance(n_head, list) else n_head
        head_dim = n_embd // h if h else None
    vocab = _get(meta, arch, "vocab_size")
    toks = meta.get("tokenizer.ggml.tokens")
    if vocab is None and toks is not None:
        vocab = toks["length"] if isinstance(toks, dict) else len(toks)
    if vocab is None:
        emb = next((t for t in tensors if t["name"] == "token_embd.weight"), None)
        vocab = emb["shape"][1] if emb and len(emb["shape"]) > 1 else None
    ftype = meta.get("general.file_type")
    info: dict[str, Any] = {
        "path": str(path),
        "version": version,
        "file_size": size,
        "alignment": alignment,
        "data_offset": data_offset,
        "architecture": arch,
        "name": meta.get("general.name"),
        "block_count": _get(meta, arch, "block_count"),
        "context_length": _get(meta, arch, "context_length"),
        "embedding_length": n_embd,
        "feed_forward_length": _get(meta, arch, "feed_forward_length"),
        "head_count": n_head,
        "head_count_kv": _get(meta, arch, "attention.head_count_kv"),
        "key_length": _get(meta, arch, "attention.key_length") or head_dim,
        "value_length": _get(meta, arch, "attention.value_length") or head_dim,
        "sliding_window": _get(meta, arch, "attention.sliding_window"),
        "vocab_size": vocab,
        "file_type": FILE_TYPES.get(ftype) if isinstance(ftype, int) else None,
        "expert_count": _get(meta, arch, "expert_count"),
        "n_tensors": n_tensors,
        "tensors": tensors,
        "tensor_bytes": sum(t["bytes"] for t in tensors),
        "n_params": sum(t["n_elements"] for t in tensors),
    }
    if info["head_count_kv"] is None:
        info["head_count_kv"] = n_head  # llama.cpp: no GQA key means MHA
    if metadata:
        info["metadata"] = meta
    return info


def _one(value: Any) -> int | None:
    """A per-layer list -> its largest value (a safe bound for the memory model)."""
    if isinstance(value, list):
        nums = [v for v in value if isinstance(v, (int, float))]
        return int(max(nums)) if nums else None
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def dominant_type(tensors: list[Mapping[str, Any]]) -> str | None:
    """The ggml type holding most of the bytes of 2-D tensors (a file type guess)."""
    by: dict[str, int] = {}
    for t in tensors:
        if len(t.get("shape", ())) >= 2:
            by[t["type"]] = by.get(t["type"], 0) + int(t["bytes"])
    return max(sorted(by), key=by.get) if by else None


def catalog_entry(info: Mapping[str, Any], with_tensors: bool = False) -> dict[str, Any]:
    """A :func:`read_header` (or ``gguf_info``) result -> a catalog entry
    (``arch``, ``n_layer``, ``n_embd``, ``n_head``, ``n_head_kv``,
    ``head_dim``/``head_dim_k``/``head_dim_v``, ``n_ff``, ``n_vocab``,
    ``n_ctx_train``, ``n_swa``, ``params_b``, ``quant``, ``size_mib``,
    ``tied_embeddings``). Per-layer head or FFN lists become their maximum,
    so the memory model errs on the safe side. Unknown values are left out
    (so ``catalog.merge_entry`` keeps the catalog's). With ``with_tensors`` the
    entry carries the header's [name, type, elements] list, which the plan
    uses for exact per-device weights of an RPC split."""
    tensors = list(info.get("tensors") or [])
    entry: dict[str, Any] = {
        "arch": info.get("architecture") or None,
        "n_layer": _one(info.get("block_count")),
        "n_embd": _one(info.get("embedding_length")),
        "n_head": _one(info.get("head_count")),
        "n_head_kv": _one(info.get("head_count_kv")),
        "n_ff": _one(info.get("feed_forward_length")),
        "n_vocab": _one(info.get("vocab_size")),
        "n_ctx_train": _one(info.get("context_length")),
        "n_swa": _one(info.get("sliding_window")),
    }
    hk, hv = _one(info.get("key_length")), _one(info.get("value_length"))
    if hk:
        entry["head_dim"] = hk if hk == hv or not hv else max(hk, hv)
        entry["head_dim_k"] = hk
        entry["head_dim_v"] = hv or hk
    if info.get("n_params"):
        entry["params_b"] = int(info["n_params"]) / 1e9
    quant = info.get("file_type") or dominant_type(tensors)
    if quant:
        try:
            quant = normalize_quant(quant)
        except ValueError:
            quant = None
    if quant:
        entry["quant"] = quant
        if info.get("file_size"):
            entry["size_mib"] = {quant: round(int(info["file_size"]) / MIB, 1)}
    if tensors:
        entry["tied_embeddings"] = not any(t["name"] == "output.weight" for t in tensors)
        if with_tensors and entry.get("quant"):
            entry["tensors"] = [list(t) for t in tensor_list(info)]
    return {k: v for k, v in entry.items() if v is not None}


def tensor_list(info: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    """(name, ggml type, elements) of every tensor, as memory.llama_server_memory takes them."""
    return [(str(t["name"]), str(t["type"]), int(t["n_elements"])) for t in info.get("tensors") or []]


def entry_from_ollama_show(show: Mapping[str, Any]) -> dict[str, Any]:
    """Ollama's ``/api/show`` response -> a catalog entry. Its ``model_info``
    carries the GGUF metadata keys (``llama.block_count``...), ``details``
    the quantization and ``general.parameter_count`` the size."""
    mi = dict(show.get("model_info") or {})
    arch = str(mi.get("general.architecture", ""))
    details = show.get("details") or {}
    toks = mi.get("tokenizer.ggml.tokens")
    info = {
        "architecture": arch,
        "block_count": _get(mi, arch, "block_count"),
        "context_length": _get(mi, arch, "context_length"),
        "embedding_length": _get(mi, arch, "embedding_length"),
        "feed_forward_length": _get(mi, arch, "feed_forward_length"),
        "head_count": _get(mi, arch, "attention.head_count"),
        "head_count_kv": _get(mi, arch, "attention.head_count_kv") or _get(mi, arch, "attention.head_count"),
        "key_length": _get(mi, arch, "attention.key_length"),
        "value_length": _get(mi, arch, "attention.value_length"),
        "sliding_window": _get(mi, arch, "attention.sliding_window"),
        "vocab_size": _get(mi, arch, "vocab_size") or (len(toks) if isinstance(toks, list) and toks else None),
        "n_params": mi.get("general.parameter_count"),
        "file_type": details.get("quantization_level"),
    }
    if not info["key_length"] and _one(info["embedding_length"]) and _one(info["head_count"]):
        info["key_length"] = _one(info["embedding_length"]) // _one(info["head_count"])
    return catalog_entry(info)
