# Copyright: llama-herd developers
# Apache License 2.0
"""Ollama: model names, version strings and a small HTTP API client.

The client speaks Ollama's documented API (docs/api.md upstream): /api/tags,
/api/ps, /api/show, /api/pull (streaming NDJSON), /api/copy, /api/delete,
/api/generate and /api/embed (keep_alive preload). Standard library only, so
it runs on managed nodes as part of a module.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from typing import Any

DEFAULT_REGISTRY = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_VERSION = re.compile(r"(?:client version is|ollama version is)\s+v?([0-9][0-9A-Za-z.+-]*)")
_HSA = re.compile(r"^\d{1,2}\.\d{1,2}\.\d{1,2}$")


class OllamaError(Exception):
    """An API call failed; `status` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def normalize_name(name: str) -> str:
    """The form Ollama lists a model under: `llama3.1` -> `llama3.1:latest`,
    `registry.ollama.ai/library/x:y` -> `x:y`, `user/x` -> `user/x:latest`."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("a model name must be a non-empty string")
    s = name.strip()
    tag = DEFAULT_TAG
    if ":" in s.rsplit("/", 1)[-1]:
        s, tag = s.rsplit(":", 1)
    parts = s.split("/")
    if len(parts) > 3:
        raise ValueError(f"{name!r} is not a model name like llama3.1:8b or namespace/model:tag")
    for p in [*parts, tag]:
        if not _PART.match(p):
            raise ValueError(f"{name!r} is not a model name like llama3.1:8b or namespace/model:tag")
    if len(parts) == 3 and parts[0] == DEFAULT_REGISTRY:
        parts = parts[1:]
    if len(parts) == 2 and parts[0] == DEFAULT_NAMESPACE:
        parts = parts[1:]
    return "/".join(parts) + ":" + tag


def parse_version(output: str) -> str | None:
    """Version of the installed binary from `ollama --version` output.

    The client version wins: when a different server answers, the output
    is `ollama version is <server>` plus `Warning: client version is <bin>`.
    """
    found = {m.group(0).split()[0]: m.group(1) for m in _VERSION.finditer(output or "")}
    return found.get("client") or found.get("ollama")


def valid_hsa_override(value: str) -> bool:
    """HSA_OVERRIDE_GFX_VERSION looks like 11.5.1."""
    return bool(_HSA.match(str(value)))


def normalize_models(items: Iterable[Any]) -> list[dict[str, Any]]:
    """`ollama_models` items (a name, or {name, alias?, aliases?}) as
    [{name, aliases: [...]}] with normalized names, duplicates merged."""
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        if isinstance(item, str):
            name, aliases = item, []
        elif isinstance(item, Mapping) and "name" in item:
            name = item["name"]
            aliases = list(item.get("aliases") or [])
            if item.get("alias"):
                aliases.append(item["alias"])
        else:
            raise ValueError(f"model entry {item!r} must be a name or a mapping with 'name'")
        key = normalize_name(name)
        entry = out.setdefault(key, {"name": key, "aliases": []})
        for a in aliases:
            a = normalize_name(a)
            if a not in entry["aliases"] and a != key:
                entry["aliases"].append(a)
    return list(out.values())


class OllamaClient:
    """Minimal client for one Ollama server."""

    def __init__(self, base_url: str, timeout: float = 30.0, pull_timeout: float = 3600.0) -> None:
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        self.pull_timeout = pull_timeout

    def _open(self, method: str, path: str, body: Mapping[str, Any] | None, timeout: float) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            return urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as exc:
            try:
                msg = json.loads(exc.read() or b"{}").get("error") or exc.reason
            except ValueError:
                msg = exc.reason
            raise OllamaError(f"{method} {path}: HTTP {exc.code}: {msg}", exc.code) from None
        except (OSError, ValueError) as exc:
            raise OllamaError(f"{method} {path}: no answer from {self.base}: {exc}") from None

    def _json(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        with self._open(method, path, body, self.timeout) as resp:
            raw = resp.read()
        try:
            return json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise OllamaError(f"{method} {path}: not JSON: {raw[:200]!r}") from None

    def version(self) -> str:
        return str(self._json("GET", "/api/version")["version"])

    def tags(self) -> dict[str, str]:
        """Installed models: normalized name -> digest."""
        return {normalize_name(m["name"]): m["digest"] for m in self._json("GET", "/api/tags").get("models") or []}

    def running(self) -> dict[str, dict[str, Any]]:
        return {normalize_name(m["name"]): m for m in self._json("GET", "/api/ps").get("models") or []}

    def show(self, name: str) -> dict[str, Any]:
        return self._json("POST", "/api/show", {"model": name})

    def copy(self, source: str, destination: str) -> None:
        self._json("POST", "/api/copy", {"source": source, "destination": destination})

    def delete(self, name: str) -> None:
        self._json("DELETE", "/api/delete", {"model": name})

    def pull(self, name: str, progress: Callable[[Mapping[str, Any]], None] | None = None) -> list[dict[str, Any]]:
        """Pull and follow the NDJSON stream; raise OllamaError on an error line
        or when the stream ends without `success`. Returns the status lines
        (one per status change, the last progress line of each layer)."""
        events: list[dict[str, Any]] = []
        try:
            with self._open("POST", "/api/pull", {"model": name, "stream": True}, self.pull_timeout) as resp:
                for line in resp:
                    if not line.strip():
                        continue
                    ev = json.loads(line)
                    if "error" in ev:
                        raise OllamaError(f"pull {name}: {ev['error']}")
                    if progress:
                        progress(ev)
                    if events and events[-1].get("status") == ev.get("status"):
                        events[-1] = ev
                    else:
                        events.append(ev)
        except (OSError, ValueError) as exc:
            raise OllamaError(f"pull {name}: interrupted: {exc}") from None
        if not events or events[-1].get("status") != "success":
            raise OllamaError(f"pull {name}: interrupted: the stream ended without success (last: {events[-1:]})")
        return events

    def preload(self, name: str, keep_alive: str | int, embedding: bool) -> None:
        """Load a model into memory (empty prompt / empty input) and keep it."""
        if embedding:
            self._json("POST", "/api/embed", {"model": name, "input": [], "keep_alive": keep_alive})
        else:
            self._json("POST", "/api/generate", {"model": name, "prompt": "", "keep_alive": keep_alive})


def plan_model(
    state: str, name: str, aliases: list[str], installed: Mapping[str, str], digest: str | None = None
) -> dict[str, Any]:
    """What to do for one model, given what /api/tags lists (pure).

    present: pull when the name is missing or its digest differs from
    `digest` (when given); copy each alias that is missing or points at
    another digest. absent: delete the name and the aliases listed.
    """
    if state == "absent":
        return {"pull": False, "copy": [], "delete": [n for n in [name, *aliases] if n in installed]}
    have = installed.get(name)
    pull = have is None or (digest is not None and not have.endswith(digest.split(":")[-1]))
    target = None if pull else have
    copy = [a for a in aliases if pull or installed.get(a) != target]
    return {"pull": pull, "copy": copy, "delete": []}
