#!/usr/bin/python
# Copyright: llama-herd developers
# Apache License 2.0
"""Documentation for the herd_preflight action (it runs on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: herd_preflight
short_description: Validate a llama-herd inventory before any host changes
description:
  - Checks every host of the inventory (not only the hosts of the current
    C(--limit)) against the llama-herd inventory model, see
    C(docs/inventory.md).
  - Runs entirely on the controller and contacts no host, so it works on
    inventories whose addresses are unreachable or must not be contacted.
  - Each problem names the host, the variable and the fix.
version_added: "0.1.0"
author: llama-herd developers (!UNKNOWN)
options:
  deploys:
    description:
      - The concerns this run deploys (C(llama_cpp), C(distributed_llama), or C(all) for
        C(site.yml)); the entry playbooks set it. A file one of them would have to download and
        has no address for (a llama.cpp model without C(url)/C(sha256), a distributed-llama root
        without C(dllama_model_url)) is then an error when its host is in this run's limit, and
        a warning otherwise (a plan-only run).
    type: list
    elements: str
    default: []
  fail_on_warnings:
    description: Treat warnings as errors.
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
  diff_mode:
    description: Returns details on what changed (or would change in check mode) in diff mode.
    support: none
  action:
    description: Has an action plugin of the same name; it runs on the controller.
    support: full
notes:
  - Implemented as an action plugin; there is no remote part.
"""

EXAMPLES = r"""
- name: Validate the inventory
  llamaherd.cluster.herd_preflight:
  run_once: true
"""

RETURN = r"""
errors:
  description: One sentence per problem, naming host, variable and fix.
  returned: always
  type: list
  elements: str
warnings_found:
  description: Problems that do not stop a run.
  returned: always
  type: list
  elements: str
hosts_checked:
  description: Number of inventory hosts validated.
  returned: always
  type: int
"""
