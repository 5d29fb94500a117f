"""Unit tests for plugins/filter/hsa_override.py."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.filter.hsa_override import FilterModule, hsa_override


@pytest.mark.parametrize(
    ("gfx", "version"),
    [("gfx1151", "11.5.1"), ("gfx1100", "11.0.0"), ("gfx90a", "9.0.10"), ("gfx1030", "10.3.0"), (" GFX1151 ", "11.5.1")],
)
def test_versions(gfx, version):
    assert hsa_override(gfx) == version


@pytest.mark.parametrize("bad", ["1151", "gfx", "gfx11g1", "", None])
def test_bad_targets(bad):
    with pytest.raises(AnsibleFilterError, match=r"hsa_override: .*is not a gfx target"):
        hsa_override(bad)


def test_registered():
    assert FilterModule().filters() == {"hsa_override": hsa_override}
