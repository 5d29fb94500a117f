"""Unit tests for plugins/filter/systemd.py."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.filter.systemd import FilterModule, systemd_device_allow


def test_device_allow_for_amd():
    assert systemd_device_allow(["amd"]) == ["/dev/kfd rw", "char-drm rw"]


@pytest.mark.parametrize("bad", ["nvidia", None, ["matrox"]])
def test_rejects_what_is_not_a_list_of_known_vendors(bad):
    with pytest.raises(AnsibleFilterError, match="systemd_device_allow"):
        systemd_device_allow(bad)


def test_registered():
    assert FilterModule().filters() == {"systemd_device_allow": systemd_device_allow}
