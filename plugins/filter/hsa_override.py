# Copyright: llama-herd developers
# Apache License 2.0
"""Filter hsa_override: a thin wrapper over module_utils.rocm.gfx_to_hsa_override."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.module_utils.rocm import gfx_to_hsa_override

DOCUMENTATION = r"""
name: hsa_override
author: llama-herd developers
version_added: "0.1.0"
short_description: The HSA_OVERRIDE_GFX_VERSION value for an AMD gfx target
description:
  - C(gfx<major><minor><stepping>) with the last two digits in hex becomes C(major.minor.stepping)
    (C(gfx1151) is C(11.5.1), C(gfx90a) is C(9.0.10)), the form ROCm's C(HSA_OVERRIDE_GFX_VERSION) takes.
  - Fails on anything that is not a gfx target.
options:
  _input:
    description: A gfx target as C(rocminfo) prints it, e.g. C(gfx1151).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Environment for Ollama on a Strix Halo
  ansible.builtin.debug:
    msg: "HSA_OVERRIDE_GFX_VERSION={{ 'gfx1151' | llamaherd.cluster.hsa_override }}"
  # => HSA_OVERRIDE_GFX_VERSION=11.5.1
"""

RETURN = r"""
_value:
  description: The version string, e.g. C(11.5.1).
  type: str
"""


def hsa_override(gfx_target: Any) -> str:
    """gfx1151 -> 11.5.1."""
    try:
        return gfx_to_hsa_override(str(gfx_target).strip().lower())
    except ValueError as exc:
        raise AnsibleFilterError(f"hsa_override: {exc}") from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"hsa_override": hsa_override}
