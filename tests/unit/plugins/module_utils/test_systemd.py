"""Unit tests for plugins/module_utils/systemd.py, and that every unit
template takes its GPU device access from it."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible_collections.llamaherd.cluster.plugins.module_utils.systemd import device_allow

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
