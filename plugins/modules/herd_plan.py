#!/usr/bin/python
# Copyright: llama-herd developers
# Apache License 2.0
"""Documentation for the herd_plan action (it runs on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: herd_plan
short_description: Decide what runs where in a llama-herd cluster
description:
  - Turns the inventory (C(herd_models), C(herd_gpus), C(herd_ram_mib), groups)
    and cached C(gpu_facts) results into a placement (see C(docs/plan.md)) covering
    Ollama models per node (on GPU, in RAM, or partly offloaded, each with the
    reason), load-balanced pools, llama-server instances split over RPC
    workers, and the distributed-llama topology.
  - Runs entirely on the controller and contacts no host.
  - Placement runs a greedy and a best-fit, each improved by a local search
    (C(greedy+search), C(best-fit+search)), then SciPy's HiGHS (the LP relaxation rounded,
    C(highs-lp), proven optimal when it reaches the LP bound; else the MILP
    within a time limit) and keeps the best; C(solver) in the result says
    which one answered.
  - Among placements of equal value it keeps each Ollama replica where the last
    plan put it (the placement record in I(state_dir), or where there is none yet
    the C(herd_placed) facts older releases cached; C(herd_plan_sticky=false)
    ignores it); a placement worth more still wins.
  - After a plan without errors, outside check mode, it rewrites the placement
    record for the hosts in I(state_hosts) (atomically, only when it changes;
    the task then reports changed).
version_added: "0.1.0"
author: llama-herd developers (!UNKNOWN)
options:
  solver:
    description: C(auto) (HiGHS, greedy fallback), C(highs) or C(greedy).
    type: str
    default: auto
    choices: [auto, highs, greedy]
  report_dir:
    description:
      - Write C(plan.json), C(plan.md) and C(plan.html) here.
      - A relative path is taken under O(state_dir), beside the placement record.
    type: str
  fail_on_errors:
    description: Fail when a demand cannot be met (the default).
    type: bool
    default: true
  state_dir:
    description:
      - Directory of the placement record C(placement.json).
      - Default C(.herd-state) in the directory of the first inventory source.
    type: path
  state_hosts:
    description:
      - The hosts this run deploys; their entries in the placement record are
        rewritten, the other Ollama nodes keep theirs. Default all hosts.
    type: list
    elements: str
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
- name: Plan the cluster
  llamaherd.cluster.herd_plan:
    report_dir: "{{ playbook_dir }}/../.cache/plan"
  run_once: true
  register: __plan
"""

RETURN = r"""
herd_plan:
  description: The plan (solver, hosts, pools, llama_cpp, dllama, errors, warnings and report tables).
  returned: always
  type: dict
report:
  description: The Markdown report, one line per item.
  returned: always
  type: list
  elements: str
summary:
  description:
    - The plan for a terminal, as C(playbooks/plan.yml) prints it; plain text, aligned, at most 92 columns a line.
    - Errors, warnings, per Ollama host one line per model, the llama.cpp devices, the distributed-llama nodes,
      the pools, and the report's path (relative to the current directory when under it).
  returned: always
  type: str
files:
  description: Paths of the written reports, by name.
  returned: when report_dir is set
  type: dict
state_file:
  description: The placement record's path (read, and written when the plan stands).
  returned: success
  type: str
"""
