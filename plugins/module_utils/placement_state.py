# Copyright: llama-herd developers
# Apache License 2.0
"""The placement record: where the last successful plan put each Ollama
model, kept in a file beside the inventory (``.herd-state/placement.json``;
Ansible skips hidden entries of an inventory directory). The next plan keeps
replicas there unless moving is worth more (docs/plan.md, "Stickiness").
Pure functions; the herd_plan action reads and writes the file."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

STATE_DIR = ".herd-state"
STATE_FILE = "placement.json"
FORMAT = 1
ABOUT = (
    "Where the last successful llama-herd plan put each Ollama model, per node. The next plan keeps "
    "replicas there unless moving is worth more. Written by playbooks/plan.yml; safe to keep in git; "
    "deleting it lets the next plan start afresh."
)


class StateError(ValueError):
    """The file is there but is not a placement record."""


def default_state_dir(inventory_sources: Iterable[str]) -> str:
    """``.herd-state`` in the first inventory source's directory (the source
    itself when it is a directory), so every run with the same ``-i`` finds it."""
    first = next(iter(inventory_sources), None)
    if not first:
        return os.path.abspath(STATE_DIR)
    base = first if os.path.isdir(first) else os.path.dirname(os.path.abspath(first))
    return os.path.join(base, STATE_DIR)


def parse_state(text: str) -> dict[str, list[str]]:
    """node -> model names, from the file's text."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise StateError(f"it is not JSON ({exc})") from None
    nodes = data.get("ollama_models") if isinstance(data, Mapping) else None
    if not isinstance(nodes, Mapping) or data.get("format") != FORMAT:
        raise StateError(f"it is not a format {FORMAT} placement record (a mapping with format and ollama_models)")
    out = {}
    for node, names in nodes.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise StateError(f"ollama_models.{node} must be a list of model names")
        out[str(node)] = list(names)
    return out


def merged_state(
    last: Mapping[str, list[str]], plan: Mapping[str, Any], ollama_nodes: Iterable[str], run_hosts: Iterable[str]
) -> dict[str, list[str]]:
    """The record after this plan: the nodes this run deploys get the plan's
    placement; an Ollama node outside a --limit keeps its entry, as nothing
    changes on it; a node no longer in ollama_nodes is dropped."""
    run = set(run_hosts)
    out = {}
    for node in sorted(set(ollama_nodes)):
        if node in run:
            out[node] = sorted(m["name"] for m in (plan.get("hosts") or {}).get(node, {}).get("ollama_models", []))
        elif node in last:
            out[node] = list(last[node])
    return out


def render_state(placements: Mapping[str, list[str]]) -> str:
    return json.dumps({"about": ABOUT, "format": FORMAT, "ollama_models": placements}, indent=2) + "\n"
