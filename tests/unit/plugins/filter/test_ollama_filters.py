"""Unit tests for plugins/filter/ollama.py (each filter, and its registration)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.filter.ollama import (
    FilterModule,
    ollama_model_name,
    ollama_models,
    ollama_version,
)


@pytest.mark.parametrize(
    ("output", "version"),
    [
        ("ollama version is 0.32.15", "0.32.15"),
        ("Warning: could not connect to a running Ollama instance\nWarning: client version is 0.9.6", "0.9.6"),
        ("ollama version is 0.33.0\nWarning: client version is 0.32.15", "0.32.15"),  # the binary, not the server
        ("", ""),
        (None, ""),
        ("bash: ollama: command not found", ""),
    ],
)
def test_ollama_version(output, version):
    assert ollama_version(output) == version


@pytest.mark.parametrize(
    ("name", "normalized"),
    [("llama3.1", "llama3.1:latest"), ("registry.ollama.ai/library/qwen2.5:3b", "qwen2.5:3b"), ("user/m", "user/m:latest")],
)
def test_ollama_model_name(name, normalized):
    assert ollama_model_name(name) == normalized


@pytest.mark.parametrize("bad", ["", "a/b/c/d", "bad name"])
def test_ollama_model_name_rejects(bad):
    with pytest.raises(AnsibleFilterError, match="ollama: "):
        ollama_model_name(bad)


def test_ollama_models_merges_aliases():
    items = ["llama3.1", {"name": "qwen2.5-coder:32b", "alias": "XL-LOC-FRE-qwen2.5-coder-32b"}, "llama3.1:latest"]
    assert ollama_models(items) == [
        {"name": "llama3.1:latest", "aliases": []},
        {"name": "qwen2.5-coder:32b", "aliases": ["XL-LOC-FRE-qwen2.5-coder-32b:latest"]},
    ]


def test_ollama_models_rejects_entries_without_a_name():
    with pytest.raises(AnsibleFilterError, match=r"ollama_models: .*mapping with 'name'"):
        ollama_models([{"alias": "x"}])


def test_registered():
    assert FilterModule().filters() == {
        "ollama_version": ollama_version,
        "ollama_model_name": ollama_model_name,
        "ollama_models": ollama_models,
    }
