# Copyright: llama-herd developers
# Apache License 2.0
"""Jinja filters for the ollama role over module_utils (no logic here)."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.module_utils import ollama
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import ollama_gpu_record


def ollama_version(output):
    """Version of the binary from `ollama --version` output ('' if none)."""
    return ollama.parse_version(str(output)) or ""


def ollama_model_name(name):
    """llama3.1 -> llama3.1:latest, as /api/tags lists it."""
    try:
        return ollama.normalize_name(str(name))
    except ValueError as exc:
        raise AnsibleFilterError(f"ollama: {exc}") from exc


def ollama_models(items):
    """ollama_models items as [{name, aliases}] with normalized names."""
    try:
        return ollama.normalize_models(items)
    except ValueError as exc:
        raise AnsibleFilterError(f"ollama_models: {exc}") from exc


def ollama_gpu(hv):
    """A node's GPUs as the plan sees them (measured win over declared) and its
    ROCm override: {gpus, vendors, gfx_target, gfx_source, hsa_override, hsa_source}.
    ``hv`` holds herd_measured, herd_gpus, ollama_gfx_target and
    ollama_hsa_override_gfx_version (any may be missing)."""
    if not isinstance(hv, Mapping):
        raise AnsibleFilterError(f"ollama_gpu: expected a mapping of host variables, got {type(hv).__name__}")
    try:
        return ollama_gpu_record(hv)
    except ValueError as exc:
        raise AnsibleFilterError(f"ollama_gpu: {exc}") from exc


class FilterModule:
    def filters(self):
        return {
            "ollama_version": ollama_version,
            "ollama_model_name": ollama_model_name,
            "ollama_models": ollama_models,
            "ollama_gpu": ollama_gpu,
        }
