# Copyright: llama-herd developers
# Apache License 2.0
"""Filter usable_mib: a thin wrapper over module_utils.memory.usable_mib."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.module_utils import memory

DOCUMENTATION = r"""
name: usable_mib
author: llama-herd developers
version_added: "0.1.0"
short_description: Memory a model may use on a device, after the safety margin
description:
  - Total x margin (seed 001's rule, C(herd_vram_safety_margin), default 0.8); for example
    4096 MiB gives 3276.8 MiB.
  - Engine reserves (Ollama's 457 MiB on a GPU, llama-server's 1024 MiB) are not subtracted
    here; the plan does that per engine.
positional: margin
options:
  _input:
    description: Total memory in MiB.
    type: float
    required: true
  margin:
    description: Safety margin, a fraction in (0, 1].
    type: float
    default: 0.8
"""

EXAMPLES = r"""
- name: Usable VRAM of a 24 GB card
  ansible.builtin.debug:
    msg: "{{ 24564 | llamaherd.cluster.usable_mib }}"
  # => 19651.2

- name: With the inventory's margin
  ansible.builtin.debug:
    msg: "{{ herd_ram_mib | llamaherd.cluster.usable_mib(herd_vram_safety_margin | default(0.8)) }}"
"""

RETURN = r"""
_value:
  description: MiB.
  type: float
"""


def usable_mib(total_mib: Any, margin: Any = memory.DEFAULT_MARGIN) -> float:
    """total x margin; bad numbers fail with what to change."""
    try:
        return memory.usable_mib(total_mib, margin)
    except memory.MemoryError_ as exc:
        raise AnsibleFilterError(f"usable_mib: {exc}") from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"usable_mib": usable_mib}
