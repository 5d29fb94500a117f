"""The router package is imported from its source tree; its ``_herd`` package
reads the collection's module_utils in place (as the built wheel ships them)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "tools" / "router" / "src"))


import pytest


@pytest.fixture(autouse=True)
def _state_home(tmp_path, monkeypatch):
    """The VRAM history file goes to a per-test directory, never ~/.local/state."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
