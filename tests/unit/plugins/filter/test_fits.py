"""Unit tests for plugins/filter/fits.py."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.filter.fits import FilterModule, fits


def test_seed001_examples():
    # seed 001: llama3.1 (4700 MB) does not fit a 4 GB card (3276 MB usable); qwen2.5-coder:3b (1800) does
    assert fits(4700, 4096) is False
    assert fits(1800, 4096) is True
    assert fits(1800, 4096, used_mib=1500) is False  # 1800 + 1500 > 3276.8
    assert fits(3276.8, 4096) is True  # the boundary fits
    assert fits(4000, 4096, margin=1.0) is True


@pytest.mark.parametrize(
    ("need", "total", "margin", "words"),
    [(-5, 4096, 0.8, "non-negative"), ("big", 4096, 0.8, "non-negative"), (1, -1, 0.8, "total memory"), (1, 4096, 2, "margin")],
)
def test_bad_input(need, total, margin, words):
    with pytest.raises(AnsibleFilterError, match=words):
        fits(need, total, margin)


def test_registered():
    assert FilterModule().filters() == {"fits": fits}
