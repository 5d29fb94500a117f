"""Unit tests for plugins/filter/usable_mib.py (seed 001's 80% rule)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.filter.usable_mib import FilterModule, usable_mib


def test_seed001_rule():
    assert usable_mib(4096) == pytest.approx(3276.8)  # "Usable VRAM: 3276 MB (80% safety)"
    assert usable_mib(24564, 0.9) == pytest.approx(22107.6)
    assert usable_mib(0) == 0


@pytest.mark.parametrize(("total", "margin"), [(-1, 0.8), ("4096", 0.8), (4096, 0), (4096, 1.2), (True, 0.8)])
def test_bad_input(total, margin):
    with pytest.raises(AnsibleFilterError, match="usable_mib: "):
        usable_mib(total, margin)


def test_registered():
    assert FilterModule().filters() == {"usable_mib": usable_mib}
