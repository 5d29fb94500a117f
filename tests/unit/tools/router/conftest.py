"""The router package is imported from its source tree; its ``_herd`` package
reads the collection's module_utils in place (as the built wheel ships them)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "tools" / "router" / "src"))
