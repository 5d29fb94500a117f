#!/usr/bin/python
# Copyright: llama-herd developers
# Apache License 2.0
"""Manage one model on an Ollama server through its HTTP API."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ollama_model
short_description: Pull, alias, preload or remove a model on an Ollama server
description:
  - Talks to Ollama's HTTP API (C(/api/tags), C(/api/pull), C(/api/copy),
    C(/api/delete), C(/api/generate) or C(/api/embed) with C(keep_alive)).
  - Idempotent by digest; pulls only when the model is missing (or, with
    O(digest), when the installed digest differs); aliases are made with
    C(/api/copy) and re-pointed when they name another digest.
  - A failed or interrupted pull leaves the server as it was; Ollama writes a
    model's manifest only after every layer is verified, so the models it
    already had keep serving.
  - Long pulls report progress to the system log of the managed node
    (every 10% of each layer) and, with O(progress_file), as JSON lines to a
    file that C(tail -f) can follow.
version_added: "0.1.0"
author: llama-herd developers (!UNKNOWN)
options:
  name:
    description: Model name as C(ollama pull) takes it, e.g. C(llama3.1:8b); no tag means C(latest).
    type: str
    required: true
  aliases:
    description:
      - Other names for the same model, made with C(/api/copy), e.g. C(XL-LOC-FRE-qwen2.5-coder-32b).
      - With O(state=absent) these are removed as well.
    type: list
    elements: str
    default: []
  state:
    description: Whether the model (and its aliases) should be installed.
    type: str
    choices: [present, absent]
    default: present
  digest:
    description: Expected digest (as C(/api/tags) lists it); a different installed digest triggers a pull.
    type: str
  num_ctx:
    description:
      - The context length the model runs with, set as its own C(num_ctx) parameter (C(/api/create)
        from the model itself, as C(ollama create) with C(FROM) and C(PARAMETER num_ctx) does), so it
        wins over the server's C(OLLAMA_CONTEXT_LENGTH). Aliases are made after it and carry it.
      - Changed only when C(/api/show) reports another value. The model's digest changes with it, so
        do not combine it with O(digest).
    type: int
  keep_alive:
    description:
      - Preload the model after pulling and keep it loaded this long, as a Go duration with a unit on
        every number (C(30m), C(1h30m), C(90s)), or a whole number of seconds (C(-1) for ever).
        Checked before any request as Ollama reads it (C(time.ParseDuration)); C(300) is 300 seconds
        but a unit-less decimal like C(1.5) fails, as it would on the server (HTTP 400).
        Changed only when the model was not loaded.
      - Embedding models are loaded with C(/api/embed), others with C(/api/generate).
    type: str
  url:
    description: Base URL of the Ollama server.
    type: str
    default: http://127.0.0.1:11434
  timeout:
    description: Seconds to wait for API calls other than pulls.
    type: int
    default: 30
  pull_timeout:
    description: Seconds without data after which a pull counts as interrupted.
    type: int
    default: 600
  progress_file:
    description: File to which pull progress is written as JSON lines (truncated per pull).
    type: path
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
  diff_mode:
    description: Returns details on what changed (or would change in check mode) in diff mode.
    support: full
notes:
  - Needs only the Python standard library on the managed node.
"""

EXAMPLES = r"""
- name: Pull qwen2.5-coder:32b with its seed 002 alias
  llamaherd.cluster.ollama_model:
    name: qwen2.5-coder:32b
    aliases: [XL-LOC-FRE-qwen2.5-coder-32b]
    url: http://10.0.0.5:11434

- name: Keep the embedding model loaded
  llamaherd.cluster.ollama_model:
    name: mxbai-embed-large
    keep_alive: "-1"

- name: Remove a model that is no longer planned
  llamaherd.cluster.ollama_model:
    name: llama3.2:3b
    state: absent
"""

RETURN = r"""
name:
  description: Normalized model name.
  returned: always
  type: str
  sample: llama3.1:latest
digest:
  description: Digest of the model after the run (null when absent).
  returned: always
  type: str
pulled:
  description: Whether a pull happened (or would, in check mode).
  returned: always
  type: bool
copied:
  description: Aliases created or re-pointed.
  returned: always
  type: list
  elements: str
deleted:
  description: Names removed.
  returned: always
  type: list
  elements: str
preloaded:
  description: Whether the model was loaded into memory by this run.
  returned: always
  type: bool
progress:
  description: Pull status lines (last progress line per layer), as Ollama streamed them.
  returned: when pulled
  type: list
  elements: dict
"""

import json
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.llamaherd.cluster.plugins.module_utils.ollama import (
    OllamaClient,
    OllamaError,
    keep_alive_value,
    normalize_name,
    plan_model,
    shown_num_ctx,
)


class _Progress:
    """Logs every 10% of each layer; mirrors all lines to a file."""

    def __init__(self, module: AnsibleModule, name: str, path: str | None) -> None:
        self.module, self.name, self.path = module, name, path
        self.seen: dict[str, int] = {}
        self.fh = open(path, "w", encoding="utf-8") if path else None  # noqa: SIM115 - closed in close()

    def __call__(self, ev: Any) -> None:
        if self.fh:
            self.fh.write(json.dumps(ev) + "\n")
            self.fh.flush()
        total, done = ev.get("total"), ev.get("completed")
        if total and done is not None:
            step = int(10 * done / total)
            if self.seen.get(ev.get("digest", ""), -1) < step:
                self.seen[ev.get("digest", "")] = step
                self.module.log(f"ollama pull {self.name}: {ev.get('status')} {done}/{total} bytes ({10 * step}%)")

    def close(self) -> None:
        if self.fh:
            self.fh.close()


def run(module: AnsibleModule) -> dict[str, Any]:
    p = module.params
    try:
        name = normalize_name(p["name"])
        aliases = [normalize_name(a) for a in p["aliases"]]
        keep = None if p["keep_alive"] is None else keep_alive_value(p["keep_alive"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    client = OllamaClient(p["url"], timeout=p["timeout"], pull_timeout=p["pull_timeout"])
    result: dict[str, Any] = {
        "changed": False,
        "name": name,
        "digest": None,
        "pulled": False,
        "copied": [],
        "deleted": [],
        "preloaded": False,
        "num_ctx_set": False,
    }
    if p["num_ctx"] is not None and p["num_ctx"] <= 0:
        module.fail_json(msg=f"num_ctx: {p['num_ctx']} is not a context length; use a positive number of tokens such as 4096")
    installed = client.tags()
    plan = plan_model(p["state"], name, aliases, installed, p["digest"])
    # A context of its own: set when it is pulled now, or when it shows another value.
    if p["state"] == "present" and p["num_ctx"] is not None:
        current = None if plan["pull"] else shown_num_ctx(client.show(name).get("parameters"))
        if current != p["num_ctx"]:
            result["num_ctx_set"] = True
            result["changed"] = True
            plan["copy"] = list(aliases)  # the new digest: every alias is re-pointed
    before = {n: installed[n] for n in [name, *aliases] if n in installed}
    result["changed"] = bool(result["changed"] or plan["pull"] or plan["copy"] or plan["delete"])
    result.update(pulled=plan["pull"], copied=plan["copy"], deleted=plan["delete"])
    if p["state"] == "absent":
        if not module.check_mode:
            for n in plan["delete"]:
                client.delete(n)
        result["diff"] = {"before": before, "after": {}}
        return result
    if module.check_mode:
        after = dict(before)
        for n in [name, *plan["copy"]]:
            after[n] = "(pulled)" if plan["pull"] else installed.get(name)
        result["digest"] = installed.get(name)
        result["diff"] = {"before": before, "after": after}
        if p["keep_alive"] is not None and not plan["pull"]:
            result["preloaded"] = name not in client.running()
            result["changed"] = result["changed"] or result["preloaded"]
        elif p["keep_alive"] is not None:
            result["preloaded"] = True
        return result
    if plan["pull"]:
        progress = _Progress(module, name, p["progress_file"])
        try:
            result["progress"] = client.pull(name, progress)
        finally:
            progress.close()
        installed = client.tags()
        if name not in installed:
            raise OllamaError(f"pull {name} reported success but /api/tags does not list it")
    if result["num_ctx_set"]:
        client.create_with_parameters(name, {"num_ctx": p["num_ctx"]})
        if shown_num_ctx(client.show(name).get("parameters")) != p["num_ctx"]:
            raise OllamaError(f"{name}: /api/create reported success but /api/show does not give num_ctx {p['num_ctx']}")
    for a in plan["copy"]:
        client.copy(name, a)
    installed = client.tags()
    result["digest"] = installed.get(name)
    result["diff"] = {"before": before, "after": {n: installed.get(n) for n in [name, *aliases]}}
    if p["keep_alive"] is not None and name not in client.running():
        caps = client.show(name).get("capabilities") or []
        embedding = "embedding" in caps and "completion" not in caps
        client.preload(name, keep, embedding)
        result["preloaded"] = True
        result["changed"] = True
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "aliases": {"type": "list", "elements": "str", "default": []},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "digest": {"type": "str"},
            "keep_alive": {"type": "str"},
            "num_ctx": {"type": "int"},
            "url": {"type": "str", "default": "http://127.0.0.1:11434"},
            "timeout": {"type": "int", "default": 30},
            "pull_timeout": {"type": "int", "default": 600},
            "progress_file": {"type": "path"},
        },
        supports_check_mode=True,
        mutually_exclusive=[("num_ctx", "digest")],
    )
    try:
        module.exit_json(**run(module))
    except OllamaError as exc:
        module.fail_json(msg=str(exc), status=exc.status)


if __name__ == "__main__":
    main()
