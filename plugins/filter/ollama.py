# Copyright: llama-herd developers
# Apache License 2.0
"""Jinja filters for the ollama role over module_utils (no logic here)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.module_utils import ollama


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


class FilterModule:
    def filters(self):
        return {
            "ollama_version": ollama_version,
            "ollama_model_name": ollama_model_name,
            "ollama_models": ollama_models,
        }
