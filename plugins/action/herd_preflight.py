# Copyright: llama-herd developers
# Apache License 2.0
"""Controller-side preflight: validates the whole inventory without contacting
any host (the example inventories' addresses must never be reached)."""

from __future__ import annotations

import json

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible_collections.llamaherd.cluster.plugins.module_utils.inventory import (
    DOWNLOADING_CONCERNS,
    derived_groups,
    preflight_summary,
)
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import preflight_problems

# hostvars that matter to validation; anything else is not read (reading every
# variable would template every host's whole variable set).
_PREFIXES = ("herd_", "ollama_", "llama_cpp_", "dllama_", "nginx_lb_", "gpu_router_", "gateway_")
_EXACT = ("ansible_host", "ansible_connection")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("fail_on_warnings", "deploys"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        fail_on_warnings = bool(self._task.args.get("fail_on_warnings", False))
        deploys = self._task.args.get("deploys") or []
        if isinstance(deploys, str) or not all(isinstance(d, str) for d in deploys):
            raise AnsibleError("herd_preflight: deploys must be a list of concern names")
        concerns = DOWNLOADING_CONCERNS if "all" in deploys else [d for d in deploys if d in DOWNLOADING_CONCERNS]
        # The hosts this run reaches (--limit): only their downloads can stop it.
        reached = list(task_vars.get("ansible_play_hosts_all") or [])
        deploying = dict.fromkeys(concerns, reached)
        all_hostvars = task_vars["hostvars"]
        groups = {g: list(h) for g, h in task_vars["groups"].items()}
        collected = {}
        for host in groups.get("all", []):
            hv = all_hostvars[host]
            wanted = {}
            for key in hv:
                if key in _EXACT or key.startswith(_PREFIXES):
                    try:
                        wanted[key] = hv[key]
                    except AnsibleError as exc:
                        wanted[key] = f"<undefined: {exc.message}>"
            collected[host] = wanted
        # The plan on what is known before any host is contacted (declared
        # values, cached measurements): a model it cannot resolve stops here,
        # not after measure.yml has reached every host.
        known = json.loads(json.dumps(collected, default=str))
        for host in known:
            facts = all_hostvars[host].get("ansible_facts") or {}
            if isinstance(facts, dict) and facts.get("herd_measured"):
                known[host]["herd_measured"] = json.loads(json.dumps(facts["herd_measured"], default=str))
        errors, warnings = preflight_problems(collected, groups, known, deploying)
        # A forgotten -i falls back to ansible.cfg's inventory: the demo.
        sources = task_vars.get("ansible_inventory_sources") or []
        demo = any(str(s).rstrip("/").endswith("inventory/demo") for s in sources)
        if demo:
            self._display.warning(
                "This run targets the demo inventory (inventory/demo, what ansible.cfg uses when -i is not given): pass -i <your inventory> for your cluster."
            )
        result.update(
            changed=False,
            errors=errors,
            warnings_found=warnings,
            hosts_checked=len(collected),
            # (group, host) pairs for add_host: the whole inventory, not the limit
            group_members=[[g, h] for g, hosts in derived_groups(groups).items() for h in hosts],
        )
        for w in warnings:
            self._display.warning(w)
        if errors or (fail_on_warnings and warnings):
            problems = errors + (warnings if fail_on_warnings else [])
            result["failed"] = True
            result["msg"] = f"preflight found {len(problems)} problem(s); nothing was changed:\n- " + "\n- ".join(problems)
        else:
            result["msg"] = f"inventory ok: {len(collected)} hosts checked"
            result["summary"] = "\n".join(preflight_summary(collected, groups, len(warnings), demo))
        return result
