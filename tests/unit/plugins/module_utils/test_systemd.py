"""Unit tests for plugins/module_utils/systemd.py, and that every unit
template takes its GPU device access from it (its hardening as a whole:
tests/unit/test_unit_hardening.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils.systemd import (
    BASELINE,
    HARDENING_OPTIONS,
    device_allow,
    hardening,
)

REPO = Path(__file__).resolve().parents[4]


def test_nvidia_covers_every_card_of_the_host():
    lines = device_allow(["nvidia"])
    assert "char-nvidia-frontend rw" in lines  # major 195: /dev/nvidiactl and every /dev/nvidiaN
    assert not any(line.startswith("/dev/nvidia") for line in lines)


def test_vendors_combine_without_repeats():
    assert device_allow(["amd", "nvidia"]).count("char-drm rw") == 1
    assert device_allow(["AMD"]) == ["/dev/kfd rw", "char-drm rw"]
    assert device_allow([]) == []


def test_an_unknown_vendor_is_named():
    with pytest.raises(ValueError, match="'matrox'"):
        device_allow(["matrox"])


@pytest.mark.parametrize("template", sorted(REPO.glob("roles/*/templates/*.j2")), ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_no_template_lists_gpu_devices_itself(template):
    text = template.read_text()
    for line in text.splitlines():
        if line.startswith("DeviceAllow="):
            assert "systemd_device_allow" in text and "{{" in line, f"{template}: {line}"


def _keys(lines):
    return [line.split("=", 1)[0] for line in lines]


def test_defaults_are_the_baseline_and_the_strictest_choices():
    lines = hardening()
    assert set(BASELINE) <= set(lines)
    for line in (
        "ProtectSystem=strict",
        "PrivateDevices=true",
        "MemoryDenyWriteExecute=true",
        "ProtectProc=invisible",
        "ProcSubset=pid",
        "CapabilityBoundingSet=",
        "UMask=0077",
    ):
        assert line in lines
    assert "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" in lines
    # PrivateDevices implies a closed device policy; saying it would override a packaged unit's strict one.
    assert not {"DevicePolicy", "DeviceAllow", "ReadWritePaths", "PrivateIPC", "IPAddressDeny"} & set(_keys(lines))
    # One line per directive: a unit never sets a key twice by accident.
    assert len(set(_keys(lines))) == len(lines)


def test_gpu_vendors_open_their_devices_instead_of_private_devices():
    lines = hardening(gpu_vendors=["nvidia", "amd"])
    assert "PrivateDevices=true" not in lines and "DevicePolicy=closed" in lines
    assert [line for line in lines if line.startswith("DeviceAllow=")] == [
        f"DeviceAllow={d}" for d in device_allow(["nvidia", "amd"])
    ]


def test_each_option_changes_only_its_directives():
    lines = hardening(
        address_families=["AF_NETLINK"],
        read_write_paths=["/var/lib/a", "/var/lib/b"],
        write_execute=True,
        proc="all",
        deny_syscalls=["@privileged", "@resources"],
        capabilities=["CAP_NET_ADMIN"],
        protect_system="full",
        protect_home="read-only",
        private_ipc=True,
        umask="0022",
        ip_address_deny="any",
    )
    assert "MemoryDenyWriteExecute" not in _keys(lines) and "ProtectProc" not in _keys(lines)
    for line in (
        "RestrictAddressFamilies=AF_NETLINK",
        "ReadWritePaths=/var/lib/a /var/lib/b",
        "ProtectSystem=full",
        "ProtectHome=read-only",
        "SystemCallFilter=~@privileged @resources",
        "CapabilityBoundingSet=CAP_NET_ADMIN",
        "PrivateIPC=true",
        "UMask=0022",
        "IPAddressDeny=any",
        "SystemCallFilter=@system-service",
    ):
        assert line in lines
    assert hardening(proc="invisible").count("ProtectProc=invisible") == 1
    assert "ProcSubset=pid" not in hardening(proc="invisible")


def test_the_order_is_stable():
    assert hardening(gpu_vendors=["amd"], umask="0022") == hardening(umask="0022", gpu_vendors=["amd"])
    assert hardening()[0] == "NoNewPrivileges=true" and hardening()[-1] == "UMask=0077"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"umsk": "0022"}, "unknown hardening option.*umsk.*known: gpu_vendors"),
        ({"proc": "none"}, "proc is 'none'; choose one of pid, invisible, all"),
        ({"protect_system": True}, "protect_system"),
        ({"write_execute": "yes"}, "write_execute must be true or false"),
        ({"read_write_paths": "/var/lib/x"}, "read_write_paths must be a list"),
        ({"address_families": []}, "address_families is empty"),
        ({"gpu_vendors": ["matrox"]}, "'matrox'"),
    ],
)
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        hardening(**options)


def test_every_option_is_documented_with_a_reason():
    assert all(why for _default, why in HARDENING_OPTIONS.values())
    doc = (REPO / "plugins/filter/systemd_hardening.yml").read_text()
    assert all(f"C({name})" in doc for name in HARDENING_OPTIONS), "plugins/filter/systemd_hardening.yml misses an option"
