# Copyright: llama-herd developers
# Apache License 2.0
"""Jinja filters over plugins/module_utils/dllama.py (no logic here)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.module_utils import dllama


def _wrap(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (dllama.DllamaError, KeyError, TypeError) as exc:
        raise AnsibleFilterError(f"distributed-llama: {exc}") from exc


def dllama_worker_argv(binary, port, nthreads, host=None):
    """argv of `dllama worker`."""
    return _wrap(dllama.worker_argv, binary, int(port), int(nthreads), host=host)


def dllama_api_argv(
    binary, model, tokenizer, workers, buffer_float_type="q80", max_seq_len=None, nthreads=1, host=None, port=dllama.API_PORT
):
    """argv of `dllama-api`."""
    return _wrap(
        dllama.api_argv,
        binary,
        model,
        tokenizer,
        list(workers or []),
        buffer_float_type=buffer_float_type,
        max_seq_len=int(max_seq_len) if max_seq_len else None,
        nthreads=int(nthreads),
        host=host,
        port=int(port),
    )


def dllama_root_argv(binary, mode, model, tokenizer, workers, buffer_float_type="q80", max_seq_len=None, nthreads=1, extra=None):
    """argv of `dllama <mode>` on the root (inference, chat, perplexity)."""
    return _wrap(
        dllama.root_argv,
        binary,
        model,
        tokenizer,
        list(workers or []),
        mode=mode,
        buffer_float_type=buffer_float_type,
        max_seq_len=int(max_seq_len) if max_seq_len else None,
        nthreads=int(nthreads),
        extra=extra,
    )


def dllama_systemd_exec(argv):
    """An argv as one systemd ExecStart= value."""
    return dllama.systemd_join(argv)


def dllama_worker_endpoints(hosts, hostvars):
    """`host:port` of each worker host (inventory order = node index)."""
    return _wrap(dllama.worker_endpoints, hostvars, list(hosts))


def dllama_topology_problems(nodes, kv_heads=None, weights_float_type=None, buffer_float_type="q80"):
    """Sentences for each topology rule broken (empty when fine)."""
    probs = _wrap(dllama.topology_problems, int(nodes), kv_heads, weights_float_type, buffer_float_type)
    return [f"{var}: {problem}. Fix: {fix}." for var, problem, fix in probs]


def dllama_consul_workers(catalog):
    """`host:port` of each worker in a Consul catalog answer (sorted by address)."""
    return _wrap(dllama.consul_workers, list(catalog or []))


class FilterModule:
    def filters(self):
        return {
            "dllama_worker_argv": dllama_worker_argv,
            "dllama_api_argv": dllama_api_argv,
            "dllama_root_argv": dllama_root_argv,
            "dllama_systemd_exec": dllama_systemd_exec,
            "dllama_worker_endpoints": dllama_worker_endpoints,
            "dllama_topology_problems": dllama_topology_problems,
            "dllama_consul_workers": dllama_consul_workers,
        }
