# Copyright: llama-herd developers
# Apache License 2.0
"""distributed-llama: topology rules and command lines, written once.

Pure functions (no Ansible at import time). The rules are the ones the real
program enforces at start-up (src/app.cpp ``runInferenceApp``) or by design
(the network splits the model over a power-of-two number of nodes), checked
here on the controller so a bad inventory fails before any host changes:

* nodes = workers + 1 must be a power of two ("6 nodes: use 4 or 8");
* nodes must not exceed the model's KV heads;
* only two (weights, buffer) float-type pairs run: q40 weights with
  ``--buffer-float-type q80`` and f32 weights with f32 (:data:`RUNNABLE_FLOAT_TYPES`);
* the memory one node needs must fit the host's RAM (the formula lives in
  ``memory.dllama_per_node_bytes``; :func:`per_node_mib` only calls it).

The command lines follow the real parser's grammar: ``dllama <mode>`` then
``--flag value`` pairs; ``--workers`` takes every following argument that does
not start with ``-`` as ``host:port``; ``--host`` (the bind address) must be
an IPv4 literal because the program passes it to ``inet_addr``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional, Tuple  # noqa: UP035 - see Problem below

from .catalog import extended_catalog, lookup
from .memory import DEFAULT_MARGIN, MIB, dllama_per_node_bytes
from .ports import default_port

WORKER_PORT = default_port("dllama_worker_port")
API_PORT = default_port("dllama_api_port")
FLOAT_TYPES = ("f32", "f16", "q40", "q80")
MODES = ("inference", "perplexity", "chat", "worker")
DEFAULT_BUFFER_FLOAT_TYPE = "q80"
DEFAULT_WEIGHTS_FLOAT_TYPE = "q40"
# The parser takes all four FLOAT_TYPES, but at the pinned commit (8d624a7) the
# CPU build runs only these (weights -> buffer) pairs; measured with complete
# model files in bench/results/dllama-real-2026-12-04.md. src/app.cpp
# runInferenceApp refuses q40 weights without a q80 buffer ("This version
# supports only Q40 weights with Q80 sync type"); every other pair fails when
# the CPU device builds its ops (src/nn/nn-cpu.cpp): src/nn/nn-core.cpp
# getOpQuantType knows no f16/q40 buffer and no f16/q80 weights behind an f32
# input ("Unsupported op quant: F_32/F_16/F_32"), and the OP_MATMUL entries of
# src/nn/nn-cpu-ops.cpp getCpuOpForward are F32_F32_F32 and Q80_Q40_F32 only
# ("Unsupported CPU op code: MATMUL, quant: Q80_F32_F32"). A worker given such
# a pair by its root exits with the same message.
RUNNABLE_FLOAT_TYPES = {"q40": "q80", "f32": "f32"}

# (host, variable, problem, fix). Evaluated at import: typing's forms keep it
# importable on the Python 3.8/3.9 managed nodes ansible-core still supports.
Problem = Tuple[Optional[str], str, str, str]  # noqa: UP006, UP045


class DllamaError(ValueError):
    """An argument the real program would reject."""


# ------------------------------------------------------------------ rules
def is_power_of_two(n: int) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n > 0 and n & (n - 1) == 0


def power_of_two_neighbours(n: int) -> tuple[int, int]:
    """The powers of two around ``n``: 6 -> (4, 8), 1 -> (1, 2), 0 -> (1, 1)."""
    if n <= 1:
        return (1, 1 if n < 1 else 2)
    lower = 1 << (n.bit_length() - 1)
    upper = lower if lower == n else lower << 1
    return (lower, upper)


def node_count_fix(nodes: int) -> str:
    """'6 nodes: use 4 or 8' (workers = nodes - 1)."""
    lower, upper = power_of_two_neighbours(nodes)
    if lower == upper:
        return f"{nodes} nodes is a power of two"
    return f"{nodes} nodes: use {lower} or {upper} (the root plus {lower - 1} or {upper - 1} workers)"


def _a(float_type: str) -> str:
    """The article: 'an f32 buffer', 'a q80 buffer'."""
    return "an" if float_type.startswith("f") else "a"


def topology_problems(
    nodes: int,
    kv_heads: int | None = None,
    weights_float_type: str | None = None,
    buffer_float_type: str = DEFAULT_BUFFER_FLOAT_TYPE,
) -> list[tuple[str, str, str]]:
    """The rules one topology breaks, as (variable, problem, fix) triples."""
    out: list[tuple[str, str, str]] = []
    if not is_power_of_two(nodes):
        lower, upper = power_of_two_neighbours(nodes)
        out.append(
            (
                "dllama_workers",
                f"distributed-llama needs a power-of-two number of nodes (workers + root), got {nodes}",
                f"{nodes} nodes: use {lower} or {upper}: put {lower - 1} or {upper - 1} hosts in dllama_workers",
            )
        )
    if kv_heads is not None and nodes > kv_heads:
        best = 1 << (kv_heads.bit_length() - 1) if kv_heads > 0 else 1
        out.append(
            (
                "dllama_workers",
                f"{nodes} nodes is more than the model's {kv_heads} KV heads (distributed-llama splits the KV heads across nodes)",
                f"use at most {best} nodes ({best - 1} workers), or a model with more KV heads",
            )
        )
    runnable = ", ".join(f"{w} weights with {_a(b)} {b} buffer" for w, b in RUNNABLE_FLOAT_TYPES.items())
    buffer_known = buffer_float_type in FLOAT_TYPES
    if not buffer_known:
        out.append(
            (
                "dllama_buffer_float_type",
                f"unknown float type {buffer_float_type!r}",
                f"use one of {', '.join(FLOAT_TYPES)} (q80 is the usual choice)",
            )
        )
    if weights_float_type is not None and weights_float_type not in FLOAT_TYPES:
        out.append(
            (
                "dllama_weights_float_type",
                f"unknown float type {weights_float_type!r}",
                f"use one of {', '.join(FLOAT_TYPES)} (the type the model was converted to, e.g. q40)",
            )
        )
    elif weights_float_type is not None and weights_float_type not in RUNNABLE_FLOAT_TYPES:
        out.append(
            (
                "dllama_weights_float_type",
                f"distributed-llama cannot run {weights_float_type} weights (it runs only {runnable})",
                "convert the model to q40 (with dllama_buffer_float_type: q80) or f32 (with f32)",
            )
        )
    elif weights_float_type is not None and buffer_known and buffer_float_type != RUNNABLE_FLOAT_TYPES[weights_float_type]:
        need = RUNNABLE_FLOAT_TYPES[weights_float_type]
        out.append(
            (
                "dllama_buffer_float_type",
                f"{weights_float_type} weights need {_a(need)} {need} sync buffer, got {buffer_float_type!r}",
                f"set dllama_buffer_float_type: {need}",
            )
        )
    elif weights_float_type is None and buffer_known and buffer_float_type not in RUNNABLE_FLOAT_TYPES.values():
        out.append(
            (
                "dllama_buffer_float_type",
                f"distributed-llama runs no weights with {_a(buffer_float_type)} {buffer_float_type} sync buffer (it runs only {runnable})",
                "set dllama_buffer_float_type: q80 (q40 weights) or f32 (f32 weights)",
            )
        )
    return out


def per_node_mib(
    shape: Mapping[str, Any],
    seq_len: int,
    nodes: int,
    weights_float_type: str = DEFAULT_WEIGHTS_FLOAT_TYPE,
    root: bool = False,
    node_index: int | None = None,
) -> float:
    """MiB one node needs (a worker without node_index: the largest, the
    last). The formula is memory.dllama_per_node_bytes."""
    return dllama_per_node_bytes(shape, seq_len, nodes, weights_float_type, root=root, node_index=node_index) / MIB


# ---------------------------------------------------------- command lines
def _check_port(var: str, port: Any) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise DllamaError(f"{var}: {port!r} is not a TCP port")
    return port


def _check_threads(nthreads: Any) -> int:
    if isinstance(nthreads, bool) or not isinstance(nthreads, int) or nthreads < 1:
        # The real parser: "Number of threads must be at least 1".
        raise DllamaError(f"nthreads: must be at least 1, got {nthreads!r}")
    return nthreads


def _check_bind(host: str) -> str:
    try:
        ip = ipaddress.ip_address(str(host))
    except ValueError:
        ip = None
    if ip is None or ip.version != 4:
        # createServerSocket() uses inet_addr(): names and IPv6 are "Invalid bind host".
        raise DllamaError(f"bind address {host!r} must be an IPv4 address (dllama binds with inet_addr)")
    return str(ip)


def workers_arg(workers: Iterable[tuple[str, int] | Mapping[str, Any] | str]) -> list[str]:
    """``[("10.0.0.2", 9990), ...]`` -> ``["10.0.0.2:9990", ...]``.

    Items may be (host, port) pairs, {host, port} mappings or "host:port".
    A host must not start with "-" (the parser would end the list there).
    """
    out = []
    for w in workers:
        if isinstance(w, str):
            host, sep, port_s = w.rpartition(":")
            if not sep or not port_s.isdigit():
                raise DllamaError(f"invalid worker address {w!r}: expected host:port")
            port = int(port_s)
        elif isinstance(w, Mapping):
            host, port = w["host"], w["port"]
        else:
            host, port = w
        host = str(host)
        if not host or host.startswith("-") or ":" in host or " " in host:
            raise DllamaError(f"invalid worker host {host!r}")
        out.append(f"{host}:{_check_port('worker port', port)}")
    return out


def worker_argv(binary: str, port: int = WORKER_PORT, nthreads: int = 1, host: str | None = None) -> list[str]:
    """``dllama worker --port P --nthreads N [--host ADDR]``."""
    argv = [binary, "worker", "--port", str(_check_port("dllama_worker_port", port)), "--nthreads", str(_check_threads(nthreads))]
    if host is not None:
        argv += ["--host", _check_bind(host)]
    return argv


def root_argv(
    binary: str,
    model: str,
    tokenizer: str,
    workers: Sequence[Any] = (),
    mode: str | None = None,
    buffer_float_type: str = DEFAULT_BUFFER_FLOAT_TYPE,
    max_seq_len: int | None = None,
    nthreads: int = 1,
    host: str | None = None,
    port: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> list[str]:
    """The root's command line: ``dllama <mode> ...`` or, with ``mode=None``,
    ``dllama-api ...``. ``--workers`` comes last: it eats every following
    argument that does not start with "-"."""
    if mode is not None and mode not in MODES:
        raise DllamaError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    if mode == "worker":
        raise DllamaError("use worker_argv for workers")
    if buffer_float_type not in FLOAT_TYPES:
        raise DllamaError(f"Invalid float type: {buffer_float_type}")
    argv = [binary] + ([mode] if mode else [])
    argv += ["--model", str(model), "--tokenizer", str(tokenizer), "--buffer-float-type", buffer_float_type]
    if max_seq_len:
        if isinstance(max_seq_len, bool) or not isinstance(max_seq_len, int) or max_seq_len < 1:
            raise DllamaError(f"max_seq_len: must be a positive number, got {max_seq_len!r}")
        argv += ["--max-seq-len", str(max_seq_len)]
    argv += ["--nthreads", str(_check_threads(nthreads))]
    if host is not None:
        argv += ["--host", _check_bind(host)]
    if port is not None:
        argv += ["--port", str(_check_port("dllama_api_port", port))]
    for flag, value in (extra or {}).items():
        if not str(flag).startswith("--") or flag == "--workers":
            raise DllamaError(f"extra flag {flag!r} must be a --flag other than --workers")
        argv += [str(flag), str(value)]
    ws = workers_arg(workers)
    if ws:
        argv += ["--workers", *ws]
    return argv


def api_argv(binary: str, model: str, tokenizer: str, workers: Sequence[Any] = (), **kw: Any) -> list[str]:
    """``dllama-api --model M --tokenizer T ... --host A --port P --workers h:p ...``."""
    kw.setdefault("port", API_PORT)
    return root_argv(binary, model, tokenizer, workers, mode=None, **kw)


def consul_workers(catalog: Iterable[Mapping[str, Any]]) -> list[str]:
    """``host:port`` of each worker in a Consul ``/v1/catalog/service/<name>``
    answer, sorted by address (numerically for IPv4) so the node order is
    stable between runs. ``ServiceAddress`` is empty when the service uses
    its node's address: then the node's ``Address`` is the worker's."""
    found = []
    for entry in catalog:
        host = str(entry.get("ServiceAddress") or entry.get("Address") or "")
        port = entry.get("ServicePort")
        if not host:
            raise DllamaError(f"Consul entry {entry.get('ServiceID', '?')!r} has neither ServiceAddress nor Address")
        try:
            key: tuple = (0, int(ipaddress.IPv4Address(host)))
        except ValueError:
            key = (1, host)
        found.append((key, _check_port("ServicePort", port), host))
    return workers_arg((host, port) for _order, port, host in sorted(found, key=lambda f: (f[0], f[1])))


# ------------------------------------------------------------ inventory
def _model_for(hv: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The herd_models entry distributed-llama serves (engine: dllama), if any."""
    name = hv.get("dllama_model_name")
    models = hv.get("herd_models")
    if not isinstance(models, list):
        return {"name": name} if name else None
    for m in models:
        if isinstance(m, Mapping) and (m.get("name") == name if name else m.get("engine") == "dllama"):
            return m
    return {"name": name} if name else None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _cluster(hostvars: Mapping[str, Mapping[str, Any]], groups: Mapping[str, Iterable[str]]) -> dict[str, Any]:
    """What the inventory says about its distributed-llama cluster: the
    nodes, the model's catalog entry, float types, sequence length, KV heads
    and the problems found on the way."""
    roots = list(groups.get("dllama_root", []))
    workers = list(groups.get("dllama_workers", []))
    root = roots[0] if roots else None
    hv: Mapping[str, Any] = hostvars.get(root, {}) if root else hostvars.get(workers[0], {}) if workers else {}
    out: dict[str, Any] = {"roots": roots, "workers": workers, "root": root, "hv": hv, "problems": []}
    out["nodes"] = len(workers) + (1 if roots else 0)

    model = _model_for(hv) or {}
    weights = hv.get("dllama_weights_float_type", model.get("quant"))
    if isinstance(weights, str):
        weights = weights.lower().replace("_", "")
        weights = {"q4": "q40", "q8": "q80"}.get(weights, weights)
    out["weights"] = weights
    out["buffer"] = hv.get("dllama_buffer_float_type", model.get("buffer_float_type", DEFAULT_BUFFER_FLOAT_TYPE))
    out["seq_len"] = hv.get("dllama_max_seq_len", model.get("context"))

    entry = None
    if model.get("name"):
        try:
            cat = extended_catalog(hv.get("herd_model_catalog") if isinstance(hv.get("herd_model_catalog"), Mapping) else None)
            entry = lookup(str(model.get("shape") or model["name"]), cat)
        except (TypeError, ValueError, AttributeError):
            entry = None
    out["entry"] = entry
    kv_heads = hv.get("dllama_model_kv_heads", (entry or {}).get("n_head_kv"))
    if kv_heads is not None and (not _is_int(kv_heads) or kv_heads < 1):
        out["problems"].append(
            (root, "dllama_model_kv_heads", f"must be a positive whole number, got {kv_heads!r}", "read it from the model card")
        )
        kv_heads = None
    out["kv_heads"] = kv_heads
    return out


def _needs(c: Mapping[str, Any]) -> dict[str, float]:
    """MiB each node of a checked cluster needs ({} when the model's shape or
    the sequence length is unknown)."""
    entry, seq_len, weights = c["entry"], c["seq_len"], c["weights"]
    if entry is None or not _is_int(seq_len) or seq_len < 1:
        return {}
    if weights not in FLOAT_TYPES:
        weights = DEFAULT_WEIGHTS_FLOAT_TYPE
    try:
        return {
            host: per_node_mib(entry, seq_len, c["nodes"], weights, root=host == c["root"])
            for host in [*c["roots"][:1], *c["workers"]]
        }
    except (KeyError, TypeError, ValueError):
        return {}


def inventory_problems(hostvars: Mapping[str, Mapping[str, Any]], groups: Mapping[str, Iterable[str]]) -> list[Problem]:
    """Topology problems of the inventory's distributed-llama cluster.

    Reads the groups ``dllama_root``/``dllama_workers``, the root's
    ``dllama_buffer_float_type``/``dllama_weights_float_type``/
    ``dllama_max_seq_len``/``dllama_model_kv_heads``, the dllama entry of
    ``herd_models`` (quant, buffer_float_type, context) and each node's
    ``herd_ram_mib``. Shapes come from the catalog (``herd_model_catalog``
    extends it)."""
    c = _cluster(hostvars, groups)
    roots, workers, root, hv, nodes = c["roots"], c["workers"], c["root"], c["hv"], c["nodes"]
    if not roots and not workers:
        return []
    problems: list[Problem] = []
    for h in set(roots) & set(workers):
        problems.append((h, "dllama_workers", "the root is also listed as a worker", "take it out of dllama_workers"))
    problems += c["problems"]

    for var, problem, fix in topology_problems(nodes, c["kv_heads"], c["weights"], str(c["buffer"])):
        problems.append((root if var != "dllama_workers" else None, var, problem, fix))
    if problems:
        return problems

    weights = c["weights"] if c["weights"] in FLOAT_TYPES else DEFAULT_WEIGHTS_FLOAT_TYPE
    margin = hv.get("herd_vram_safety_margin", DEFAULT_MARGIN)
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 < margin <= 1:
        margin = DEFAULT_MARGIN
    for host, need in _needs(c).items():
        ram = hostvars.get(host, {}).get("herd_ram_mib")
        if not _is_int(ram) or ram <= 0:
            continue
        usable = ram * margin
        if need > usable:
            problems.append(
                (
                    host,
                    "herd_ram_mib",
                    f"distributed-llama needs {need:.0f} MiB on this {'root' if host == root else 'worker'} "
                    f"({nodes} nodes, max_seq_len {c['seq_len']}, {weights} weights) but {ram} MiB x {margin} "
                    f"leaves {usable:.0f} MiB",
                    f"use {nodes * 2} nodes if the model's KV heads allow, a shorter dllama_max_seq_len, or a host with more RAM",
                )
            )
    return problems


# ------------------------------------------------------------ rendering
_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_")


def systemd_join(argv: Sequence[str]) -> str:
    """One ExecStart= line: tokens with other characters are double-quoted;
    systemd's specifiers (%) and variables ($) are escaped."""
    out = []
    for token in argv:
        t = str(token).replace("%", "%%").replace("$", "$$")
        if t and set(t) <= _SAFE:
            out.append(t)
        else:
            out.append('"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return " ".join(out)


def worker_endpoints(hostvars: Mapping[str, Mapping[str, Any]], hosts: Iterable[str]) -> list[str]:
    """``host:port`` for each worker, in order (the order is the node index):
    dllama_bind_address, else herd_cluster_address, else ansible_host; and
    dllama_worker_port."""
    out = []
    for h in hosts:
        hv = hostvars[h]
        addr = hv.get("dllama_bind_address") or hv.get("herd_cluster_address") or hv.get("ansible_host") or h
        out.append(f"{addr}:{hv.get('dllama_worker_port', WORKER_PORT)}")
    return workers_arg(out)
