"""Unit tests import the collection as Ansible does: through the in-repo
collections/ansible_collections link."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "collections"))
# The plan inputs the tests share (tests/harness/plan_inputs.py), so a test
# file that imports them also runs alone.
sys.path.insert(0, str(REPO / "tests" / "harness"))
