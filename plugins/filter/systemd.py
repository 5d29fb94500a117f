# Copyright: llama-herd developers
# Apache License 2.0
"""Filters systemd_device_allow and systemd_hardening: thin wrappers over
module_utils.systemd (documented in systemd_device_allow.yml, systemd_hardening.yml)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.module_utils.systemd import device_allow, hardening


def systemd_device_allow(vendors: Any) -> list[str]:
    """['amd'] -> ['/dev/kfd rw', 'char-drm rw']."""
    if isinstance(vendors, str) or not isinstance(vendors, (list, tuple)):
        raise AnsibleFilterError(f"systemd_device_allow: expected a list of GPU vendors, got {vendors!r}")
    try:
        return device_allow(vendors)
    except ValueError as exc:
        raise AnsibleFilterError(f"systemd_device_allow: {exc}") from exc


def systemd_hardening(options: Any) -> list[str]:
    """{'gpu_vendors': ['amd'], 'umask': '0022'} -> the unit's hardening lines."""
    if not isinstance(options, dict):
        raise AnsibleFilterError(f"systemd_hardening: expected a mapping of hardening options, got {options!r}")
    try:
        return hardening(**{str(k): v for k, v in options.items()})
    except ValueError as exc:
        raise AnsibleFilterError(f"systemd_hardening: {exc}") from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"systemd_device_allow": systemd_device_allow, "systemd_hardening": systemd_hardening}
