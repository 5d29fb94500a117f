# Copyright: llama-herd developers
# Apache License 2.0
"""Filter fits: a thin wrapper over module_utils.memory.fits."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.module_utils import memory

DOCUMENTATION = r"""
name: fits
author: llama-herd developers
version_added: "0.1.0"
short_description: Whether a memory need fits on a device after the safety margin
description:
  - True when C(need_mib) <= C(total_mib) x C(margin) - C(used_mib).
  - Use M(llamaherd.cluster.herd_plan) for whole placements; this is the single check.
positional: total_mib, margin
options:
  _input:
    description: What the model needs, in MiB (weights + KV + compute + reserve).
    type: float
    required: true
  total_mib:
    description: The device's total memory in MiB.
    type: float
    required: true
  margin:
    description: Safety margin, a fraction in (0, 1].
    type: float
    default: 0.8
  used_mib:
    description: MiB already taken by other models.
    type: float
    default: 0
"""

EXAMPLES = r"""
- name: Does a 4700 MiB model fit a 4 GB card? (seed 001 - no, 3276 MiB usable)
  ansible.builtin.debug:
    msg: "{{ 4700 | llamaherd.cluster.fits(4096) }}"
  # => false

- name: Refuse to go on when it would not fit
  ansible.builtin.assert:
    that: (__need_mib | llamaherd.cluster.fits(herd_gpus[0].vram_mib, used_mib=__loaded_mib))
"""

RETURN = r"""
_value:
  description: Whether it fits.
  type: bool
"""


def fits(need_mib: Any, total_mib: Any, margin: Any = memory.DEFAULT_MARGIN, used_mib: Any = 0.0) -> bool:
    """need <= total x margin - used."""
    try:
        if isinstance(need_mib, bool) or not isinstance(need_mib, (int, float)) or need_mib < 0:
            raise memory.MemoryError_(f"the need must be a non-negative number of MiB, got {need_mib!r}")
        ok, _free = memory.fits(float(need_mib), total_mib, margin, float(used_mib))
        return ok
    except (memory.MemoryError_, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"fits: {exc}") from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"fits": fits}
