"""Unit tests for plugins/filter/systemd.py."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.filter.systemd import FilterModule, systemd_device_allow, systemd_hardening


def test_device_allow_for_amd():
    assert systemd_device_allow(["amd"]) == ["/dev/kfd rw", "char-drm rw"]


@pytest.mark.parametrize("bad", ["nvidia", None, ["matrox"]])
def test_rejects_what_is_not_a_list_of_known_vendors(bad):
    with pytest.raises(AnsibleFilterError, match="systemd_device_allow"):
        systemd_device_allow(bad)


def test_hardening_passes_the_options_on():
    lines = systemd_hardening({"gpu_vendors": ["amd"], "umask": "0022"})
    assert "DeviceAllow=/dev/kfd rw" in lines and "PrivateDevices=true" not in lines
    assert lines[-1] == "UMask=0022"
    assert "PrivateDevices=true" in systemd_hardening({})


@pytest.mark.parametrize(
    ("bad", "message"),
    [(["amd"], "mapping"), ({"umsk": "0022"}, "unknown hardening option"), ({"gpu_vendors": ["matrox"]}, "matrox")],
)
def test_hardening_rejects_bad_options_plainly(bad, message):
    with pytest.raises(AnsibleFilterError, match=f"systemd_hardening: .*{message}"):
        systemd_hardening(bad)


def test_registered():
    assert FilterModule().filters() == {"systemd_device_allow": systemd_device_allow, "systemd_hardening": systemd_hardening}
