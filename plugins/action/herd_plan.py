# Copyright: llama-herd developers
# Apache License 2.0
"""Controller-side plan: inventory + cached facts -> herd_plan. Never
connects to a host (the example inventories must not be contacted)."""

from __future__ import annotations

import json
import os

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan_report import html_report, markdown

_PREFIXES = ("herd_", "ollama_", "llama_cpp_", "dllama_", "nginx_lb_")
_SOLVERS = ("auto", "highs", "greedy")


def _plain(value):
    """Tagged Ansible strings and lazy containers -> plain JSON types."""
    return json.loads(json.dumps(value, default=str))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("solver", "report_dir", "fail_on_errors"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        solver = args.get("solver", "auto")
        if solver not in _SOLVERS:
            return {"failed": True, "msg": f"solver: {solver!r} is not one of {', '.join(_SOLVERS)}"}
        report_dir = args.get("report_dir")
        fail_on_errors = bool(args.get("fail_on_errors", True))
        all_hostvars = task_vars["hostvars"]
        groups = {str(g): [str(h) for h in hs] for g, hs in task_vars["groups"].items()}
        collected = {}
        for host in groups.get("all", []):
            hv = all_hostvars[host]
            wanted = {}
            for key in hv:
                if key.startswith(_PREFIXES):
                    try:
                        wanted[key] = _plain(hv[key])
                    except AnsibleError as exc:
                        return {"failed": True, "msg": f"host {host}: {key}: cannot be templated: {exc.message}"}
            # Facts cached by gpu_facts (ansible_facts.herd_measured) win over declared values.
            facts = hv.get("ansible_facts") or {}
            if isinstance(facts, dict) and facts.get("herd_measured"):
                wanted["herd_measured"] = _plain(facts["herd_measured"])
            # Where the last plan put each Ollama model (plan.yml caches it): a tie-break.
            if isinstance(facts, dict) and facts.get("herd_placed"):
                wanted["herd_placed"] = _plain(facts["herd_placed"])
            collected[host] = wanted
        plan = build_plan(collected, groups, solver=solver)
        plan = _plain(plan)
        files = {}
        if report_dir:
            os.makedirs(report_dir, exist_ok=True)
            for name, text in (
                ("plan.json", json.dumps(plan, indent=2) + "\n"),
                ("plan.md", markdown(plan) + "\n"),
                ("plan.html", html_report(plan)),
            ):
                path = os.path.join(report_dir, name)
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(text)
                files[name] = path
        result.update(changed=False, herd_plan=plan, report=markdown(plan).splitlines(), files=files)
        for w in plan["warnings"]:
            self._display.warning(w)
        if plan["errors"] and fail_on_errors:
            result["failed"] = True
            result["msg"] = f"the plan cannot meet the demands ({plan['solver']}); nothing was changed:\n- " + "\n- ".join(
                plan["errors"]
            )
        else:
            result["msg"] = (
                f"plan ready ({plan['solver']}): {sum(len(v['ollama_models']) for v in plan['hosts'].values())} Ollama placements"
            )
        return result
