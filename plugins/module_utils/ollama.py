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

try:
    from ansible.module_utils.urls import open_url
except ImportError:  # the GPU router's wheel ships this file and runs without Ansible
    open_url = None

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


# Go's time.ParseDuration units (go/src/time/format.go unitMap), in ns.
_GO_UNITS = {
    "ns": 1,
    "us": 10**3,
    "\u00b5s": 10**3,
    "\u03bcs": 10**3,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
_INT64_MAX = (1 << 63) - 1
_DIGITS = re.compile(r"[0-9]*")


def go_duration_ns(text: str) -> int:
    """Nanoseconds of a Go duration string, exactly as time.ParseDuration
    reads it; ValueError with Go's message otherwise (`time: missing unit in
    duration "300"`). A sign is optional, every number needs a unit, "0" is
    the one exception."""
    quoted = json.dumps(text, ensure_ascii=False)
    invalid = ValueError(f"time: invalid duration {quoted}")
    s, neg, total = text, False, 0
    if s[:1] in ("-", "+"):
        neg, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if not s:
        raise invalid
    while s:
        if not (s[0] == "." or ("0" <= s[0] <= "9")):
            raise invalid
        digits = _DIGITS.match(s).group(0)  # type: ignore[union-attr]
        s = s[len(digits) :]
        value = int(digits) if digits else 0
        if value > _INT64_MAX + 1:
            raise invalid
        frac, scale, post = 0, 1.0, False
        if s[:1] == ".":
            fd = _DIGITS.match(s[1:]).group(0)  # type: ignore[union-attr]
            s, post = s[1 + len(fd) :], bool(fd)
            for ch in fd:
                if frac > _INT64_MAX // 10:
                    continue
                frac, scale = frac * 10 + int(ch), scale * 10
        if not digits and not post:
            raise invalid
        i = 0
        while i < len(s) and s[i] != "." and not ("0" <= s[i] <= "9"):
            i += 1
        if i == 0:
            raise ValueError(f"time: missing unit in duration {quoted}")
        unit_text, s = s[:i], s[i:]
        unit = _GO_UNITS.get(unit_text)
        if unit is None:
            raise ValueError(f"time: unknown unit {json.dumps(unit_text, ensure_ascii=False)} in duration {quoted}")
        if value > (1 << 63) // unit:
            raise invalid
        value = value * unit + (int(float(frac) * (float(unit) / scale)) if frac else 0)
        total += value
        if value > 1 << 63 or total > 1 << 63:
            raise invalid
    if neg:
        return -total
    if total > _INT64_MAX:
        raise invalid
    return total


def keep_alive_value(raw: str | int) -> int | str:
    """The JSON value to send as `keep_alive`, checked as Ollama will decode it
    (api.Duration.UnmarshalJSON, api/types.go:1243-1268 at v0.32.15): a whole
    number of seconds goes as a JSON number (-1: for ever); anything else is
    sent as a string, which the server reads with Go's time.ParseDuration and
    answers 400 when that fails. ValueError says why and how to write it."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    text = str(raw).strip()
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    try:
        go_duration_ns(text)
    except ValueError as exc:
        raise ValueError(
            f"keep_alive {text!r} is not a duration Ollama accepts ({exc}): Ollama reads it with Go's "
            "time.ParseDuration and answers 400. Give every number a unit (90s, 30m, 1h30m, 1.5h), "
            "or a whole number of seconds (300; -1 keeps the model loaded for ever; 0 unloads)"
        ) from None
    return text


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
        headers = {"Content-Type": "application/json"} if data is not None else None
        try:
            if open_url is not None:
                return open_url(self.base + path, data=data, headers=headers, method=method, timeout=timeout)
            req = urllib.request.Request(self.base + path, data=data, headers=headers or {}, method=method)
            return urllib.request.build_opener().open(req, timeout=timeout)
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
        """Loaded models (/api/ps, api/types.go:835-844 at v0.32.15): name ->
        the entry, whose `size` is the loaded footprint (weights + KV cache +
        buffers, larger than the file) and `size_vram` the part on GPU."""
        out = {}
        for m in self._json("GET", "/api/ps").get("models") or []:
            name = m.get("model") or m.get("name")
            if name:
                out[normalize_name(name)] = m
        return out

    def show(self, name: str) -> dict[str, Any]:
        return self._json("POST", "/api/show", {"model": name})

    def create_with_parameters(self, name: str, parameters: Mapping[str, Any]) -> None:
        """Give ``name`` new parameters in place: /api/create from itself
        (server/create.go setParameters: the given keys replace, the rest stay)."""
        self._json("POST", "/api/create", {"model": name, "from": name, "parameters": dict(parameters), "stream": False})

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
        """Load a model into memory (empty prompt / empty input) and keep it.
        `keep_alive` is checked first (keep_alive_value): no request on a bad one."""
        keep_alive = keep_alive_value(keep_alive)
        if embedding:
            self._json("POST", "/api/embed", {"model": name, "input": [], "keep_alive": keep_alive})
        else:
            self._json("POST", "/api/generate", {"model": name, "prompt": "", "keep_alive": keep_alive})


def shown_num_ctx(parameters: Any) -> int | None:
    """num_ctx from /api/show's ``parameters`` text (``%-30s %#v`` per line,
    server/routes.go:1497-1509), or None when the model sets none."""
    for line in str(parameters or "").splitlines():
        key, _sep, value = line.strip().partition(" ")
        if key == "num_ctx":
            try:
                return int(float(value.strip()))
            except ValueError:
                return None
    return None


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
