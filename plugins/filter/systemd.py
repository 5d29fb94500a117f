# Copyright: llama-herd developers
# Apache License 2.0
"""Filter systemd_device_allow: a thin wrapper over module_utils.systemd.device_allow."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.module_utils.systemd import device_allow

DOCUMENTATION = r"""
name: systemd_device_allow
author: llama-herd developers
version_added: "0.1.0"
short_description: The DeviceAllow lines a unit needs for the GPUs of some vendors
description:
  - The one table of GPU device access every llama-herd unit uses (Ollama, llama-server, the RPC worker),
    so a unit on a host with several cards can open all of them.
  - NVIDIA gets the C(nvidia-frontend) group (C(/dev/nvidiactl) and every C(/dev/nvidiaN)), C(nvidia-uvm),
    C(nvidia-caps) and C(drm); AMD gets C(/dev/kfd) and C(drm); Intel C(drm).
  - Fails on a vendor the table does not know.
options:
  _input:
    description: GPU vendors, e.g. the plan's C(ollama_gpu.vendors).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Device access of a host with NVIDIA cards
  ansible.builtin.debug:
    msg: "{{ ['nvidia'] | llamaherd.cluster.systemd_device_allow }}"
  # => ['char-nvidia-frontend rw', 'char-nvidia-uvm rw', 'char-nvidia-caps rw', 'char-drm rw']
"""

RETURN = r"""
_value:
  description: DeviceAllow values, one per line of the unit; empty for no vendor.
  type: list
  elements: str
"""


def systemd_device_allow(vendors: Any) -> list[str]:
    """['amd'] -> ['/dev/kfd rw', 'char-drm rw']."""
    if isinstance(vendors, str) or not isinstance(vendors, (list, tuple)):
        raise AnsibleFilterError(f"systemd_device_allow: expected a list of GPU vendors, got {vendors!r}")
    try:
        return device_allow(vendors)
    except ValueError as exc:
        raise AnsibleFilterError(f"systemd_device_allow: {exc}") from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"systemd_device_allow": systemd_device_allow}
