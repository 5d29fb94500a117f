"""A small Ollama HTTP client (stdlib only): the four endpoints the router uses.

``/api/version`` (is it up), ``/api/tags`` (what is pulled), ``/api/ps`` (what
is loaded: ``size`` and ``size_vram`` in bytes) and ``/api/generate`` with
``keep_alive`` (load a model without a prompt, or unload it with 0).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

MIB = 2**20


class OllamaError(RuntimeError):
    """A node did not answer (``status`` 0), or answered with an HTTP error."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Loaded:
    """A model in a node's ``/api/ps``: total size and the part in VRAM, in MiB."""

    name: str
    size_mib: int
    size_vram_mib: int
    size_bytes: int = 0
    size_vram_bytes: int = 0

    @property
    def on_gpu(self) -> bool:
        """Fully on GPU: Ollama reports ``size_vram == size``."""
        return self.size_bytes > 0 and self.size_vram_bytes == self.size_bytes


def tag(name: str) -> str:
    """Ollama's full name for a model: ``mxbai-embed-large`` -> ``mxbai-embed-large:latest``."""
    name = name.strip()
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def same_model(a: str, b: str) -> bool:
    """Whether two Ollama model names name the same tag."""
    return tag(a).lower() == tag(b).lower()


class Client:
    """One Ollama node at ``url`` (``http://host:11434``)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, path: str, body: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method="GET" if body is None else "POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:200]
            raise OllamaError(f"{path}: HTTP {exc.code} {detail}".strip(), exc.code) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise OllamaError(f"{path}: {reason}") from exc
        try:
            return json.loads(raw or b"{}")
        except ValueError as exc:
            raise OllamaError(f"{path}: answer is not JSON") from exc

    def version(self) -> str:
        """Ollama's version string."""
        return str(self._call("/api/version").get("version", ""))

    def tags(self) -> dict[str, int]:
        """Pulled models: full name -> file size in bytes."""
        out = {}
        for m in self._call("/api/tags").get("models") or []:
            name = m.get("name") or m.get("model")
            if name:
                out[tag(name)] = int(m.get("size") or 0)
        return out

    def ps(self) -> list[Loaded]:
        """Loaded models with their total size and the part in VRAM."""
        out = []
        for m in self._call("/api/ps").get("models") or []:
            size = int(m.get("size") or 0)
            vram = int(m.get("size_vram") or 0)
            out.append(
                Loaded(
                    name=tag(m.get("name") or m.get("model") or "?"),
                    size_mib=round(size / MIB),
                    size_vram_mib=round(vram / MIB),
                    size_bytes=size,
                    size_vram_bytes=vram,
                )
            )
        return out

    def _keep(self, model: str, keep_alive: str | int, timeout: float | None) -> None:
        # /api/generate with no prompt loads (or, with keep_alive 0, unloads).
        # Embedding models refuse generate (HTTP 400 "does not support
        # generate"); /api/embed with no input does the same for them.
        try:
            self._call("/api/generate", {"model": model, "keep_alive": keep_alive, "stream": False}, timeout=timeout)
        except OllamaError as exc:
            if exc.status != 400 or "does not support" not in str(exc):
                raise
            self._call("/api/embed", {"model": model, "input": [], "keep_alive": keep_alive}, timeout=timeout)

    def load(self, model: str, keep_alive: str | int, timeout: float) -> None:
        """Load ``model`` into memory (no prompt) and keep it there for ``keep_alive``."""
        self._keep(model, keep_alive, timeout)

    def unload(self, model: str) -> None:
        """Unload ``model`` now (``keep_alive: 0``)."""
        self._keep(model, 0, None)
