"""The placement record's file: where it lives, what it accepts, how a
--limit run updates it."""

from __future__ import annotations

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils.placement_state import (
    StateError,
    default_state_dir,
    merged_state,
    parse_state,
    render_state,
)


def test_it_lives_beside_the_first_inventory_source(tmp_path):
    inv_dir = tmp_path / "prod"
    inv_dir.mkdir()
    (inv_dir / "hosts.yml").write_text("all: {}\n")
    assert default_state_dir([str(inv_dir), "/elsewhere"]) == str(inv_dir / ".herd-state")
    assert default_state_dir([str(inv_dir / "hosts.yml")]) == str(inv_dir / ".herd-state")


def test_it_reads_back_what_it_writes():
    text = render_state({"a": ["m1", "m2"], "b": []})
    assert parse_state(text) == {"a": ["m1", "m2"], "b": []}
    assert "deleting it" in text and text.endswith("\n")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{not json", "it is not JSON"),
        ('{"ollama_models": {}}', "not a format 1 placement record"),
        ('["a"]', "not a format 1 placement record"),
        ('{"format": 1, "ollama_models": {"a": "m1"}}', "ollama_models.a must be a list of model names"),
    ],
)
def test_a_damaged_file_is_refused_with_the_reason(text, why):
    with pytest.raises(StateError, match=why):
        parse_state(text)


def test_a_limited_run_updates_only_its_hosts():
    plan = {"hosts": {"a": {"ollama_models": [{"name": "new"}]}, "b": {"ollama_models": [{"name": "moved-here"}]}}}
    last = {"a": ["old"], "b": ["kept"], "gone": ["x"]}
    # b is outside the limit: nothing changes on it, so its entry stays;
    # "gone" left ollama_nodes and is dropped; c is new and inside the limit.
    assert merged_state(last, plan, ["a", "b", "c"], ["a", "c"]) == {"a": ["new"], "b": ["kept"], "c": []}
