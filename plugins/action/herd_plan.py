# Copyright: llama-herd developers
# Apache License 2.0
"""Controller-side plan: inventory + cached facts -> herd_plan. Never
connects to a host (the example inventories must not be contacted)."""

from __future__ import annotations

import json
import os
import tempfile

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible_collections.llamaherd.cluster.plugins.module_utils.placement_state import (
    STATE_FILE,
    StateError,
    default_state_dir,
    merged_state,
    parse_state,
    render_state,
)
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import build_plan, measurement_changes
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan_diff import plan_changes
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan_report import console, html_report, markdown

_PREFIXES = ("herd_", "ollama_", "llama_cpp_", "dllama_", "nginx_lb_")
_SOLVERS = ("auto", "highs", "greedy")


def _plain(value):
    """Tagged Ansible strings and lazy containers -> plain JSON types."""
    return json.loads(json.dumps(value, default=str))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("solver", "report_dir", "fail_on_errors", "state_dir", "state_hosts"))
    _requires_connection = False

    @staticmethod
    def _changes(path, plan):
        """plan_diff's sentences against the previous plan.json at path."""
        try:
            with open(path, encoding="utf-8") as fh:
                previous = json.load(fh)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            previous = exc
        if not isinstance(previous, dict):
            why = previous if isinstance(previous, Exception) else "it is not a JSON object"
            return [
                {
                    "kind": "note",
                    "text": f"The previous plan {path} cannot be read ({why}), so this plan is not compared with it; "
                    "this run replaces it.",
                }
            ]
        return plan_changes(previous, plan)

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
        state_dir = args.get("state_dir") or default_state_dir(task_vars.get("ansible_inventory_sources") or [])
        if report_dir and not os.path.isabs(report_dir):
            report_dir = os.path.join(state_dir, report_dir)  # beside the placement record
        state_path = os.path.join(state_dir, STATE_FILE)
        last = None
        if os.path.exists(state_path):
            try:
                with open(state_path, encoding="utf-8") as fh:
                    last = parse_state(fh.read())
            except (OSError, StateError) as exc:
                return {
                    "failed": True,
                    "msg": f"The placement record {state_path} cannot be read: {exc}. Nothing was changed. "
                    "Fix: restore it (from git, if you keep it there), or delete it to plan afresh "
                    "(models may then move between nodes).",
                }
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
            # Where the last plan put each Ollama model: the record beside the
            # inventory; before there was one, a fact older releases cached.
            if last is not None:
                if host in last:
                    wanted["herd_placed"] = {"ollama_models": last[host]}
            elif isinstance(facts, dict) and facts.get("herd_placed"):
                wanted["herd_placed"] = _plain(facts["herd_placed"])
            collected[host] = wanted
        plan = build_plan(collected, groups, solver=solver)
        # The same plan on declared values alone: what measuring changed
        # (measure.yml ran; preflight judged the declared values).
        if any("herd_measured" in hv for hv in collected.values()):
            declared = {h: {k: v for k, v in hv.items() if k != "herd_measured"} for h, hv in collected.items()}
            plan["measurement_changes"] = measurement_changes(build_plan(declared, groups, solver=solver), plan, collected)
        plan = _plain(plan)
        files = {}
        # What changed since the plan.json this run replaces (None: there is
        # none). Shown in plan.html and the summary, never kept in plan.json:
        # the same inputs still write the same plan.json.
        changes = None
        if report_dir:
            changes = self._changes(os.path.join(report_dir, "plan.json"), plan)
            os.makedirs(report_dir, exist_ok=True)
            for name, text in (
                ("plan.json", json.dumps(plan, indent=2) + "\n"),
                ("plan.md", markdown(plan) + "\n"),
                ("plan.html", html_report(plan, changes)),
            ):
                path = os.path.join(report_dir, name)
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(text)
                files[name] = path
        result.update(
            changed=False,
            herd_plan=plan,
            report=markdown(plan).splitlines(),
            # What plan.yml prints: aligned plain text, lines of 92 columns at most.
            summary=console(plan, files, os.getcwd(), changes),
            changes=changes,
            files=files,
            state_file=state_path,
        )
        # Only a plan that stands is recorded; check mode records nothing.
        if not plan["errors"] and not task_vars.get("ansible_check_mode"):
            last_nodes = last if last is not None else {}
            if last is None:
                for h, hv in collected.items():
                    rec = hv.get("herd_placed")
                    if isinstance(rec, dict) and isinstance(rec.get("ollama_models"), list):
                        last_nodes[h] = [n for n in rec["ollama_models"] if isinstance(n, str)]
            run_hosts = args.get("state_hosts") or groups.get("all", [])
            text = render_state(merged_state(last_nodes, plan, groups.get("ollama_nodes", []), run_hosts))
            old = None
            if os.path.exists(state_path):
                with open(state_path, encoding="utf-8") as fh:
                    old = fh.read()
            if text != old:
                try:
                    os.makedirs(state_dir, exist_ok=True)
                    fd, tmp_path = tempfile.mkstemp(prefix=".placement.", dir=state_dir)
                    with os.fdopen(fd, "w", encoding="utf-8") as fh:
                        fh.write(text)
                    os.chmod(tmp_path, 0o644)
                    os.replace(tmp_path, state_path)
                except OSError as exc:
                    return {
                        "failed": True,
                        "msg": f"The placement record cannot be written to {state_path} ({exc.strerror}). Nothing was changed. "
                        "Fix: set herd_state_dir to a directory you can write, beside the inventory.",
                    }
                result["changed"] = True
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
