#!/usr/bin/env python3
"""Stand-in for the Ollama binary (https://github.com/ollama/ollama).

THIS IS NOT OLLAMA. No registry reachable from the llama-herd test machines
ships the Ollama binary, so the tests install a release archive built around
this file instead (tests/harness/ollama_archive.py). It implements the parts
of Ollama's documented HTTP API (docs/api.md, api/types.go upstream) that the
collection uses, with the same field names and status codes, and the CLI
verbs the role calls (`ollama serve`, `ollama --version`, plus `list`, `ps`,
`pull`, `cp`, `rm` as HTTP clients). It runs no model: completions are a
deterministic word salad, and "GPU offload" is arithmetic on declared sizes.

Environment (see README.md next to this file):
  OLLAMA_HOST, OLLAMA_MODELS, OLLAMA_KEEP_ALIVE, OLLAMA_MAX_LOADED_MODELS,
  OLLAMA_NUM_PARALLEL, OLLAMA_MAX_QUEUE
      as in Ollama (OLLAMA_NUM_PARALLEL unset: no limit).
  OLLAMA_STANDIN_VRAM_MIB      pretend GPU memory (0, default: CPU node)
  OLLAMA_STANDIN_MODELS        extra catalog entries "name=MiB,name=MiB"
  OLLAMA_STANDIN_PULL_ANY      1: any well-formed name is pullable
  OLLAMA_STANDIN_PULL_MIBPS    simulated download speed (0: unthrottled)
  OLLAMA_STANDIN_FAIL_PULL     names whose pull fails half way
  OLLAMA_STANDIN_TOKEN_MS      delay per generated token
  OLLAMA_STANDIN_NODE          value of the X-Ollama-Standin-Node header

Python 3 standard library only.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import re
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

STANDIN_VERSION = "0.0.0-standin"  # replaced by the archive builder
DEFAULT_PORT = 11434
DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
MIB = 1024 * 1024

# Model sizes in MiB, as `ollama list` shows them for the seed clusters'
# models (seed 001 table; seed 000/002 models rounded from the library).
CATALOG_MIB: dict[str, int] = {
    "all-minilm:latest": 45,
    "nomic-embed-text:latest": 274,
    "qwen2.5-coder:0.5b": 500,
    "mxbai-embed-large:latest": 705,
    "qwen2.5-coder:1.5b": 900,
    "llama3.2:1b": 1300,
    "qwen2.5-coder:3b": 1800,
    "llama3.2:3b": 1900,
    "llama3.2:latest": 1900,
    "codellama:7b": 3600,
    "qwen2.5-coder:7b": 4400,
    "llama3.1:latest": 4700,
    "llama3.1:8b": 4700,
    "codellama:13b": 6900,
    "qwen2.5:3b": 1900,
    "qwen2.5:7b": 4700,
    "qwen2.5:14b": 9000,
    "qwen2.5:32b": 19000,
    "qwen2.5:72b": 47000,
    "qwen2.5-coder:32b": 19000,
    "deepseek-r1:8b": 4900,
    "deepseek-r1:14b": 9000,
    "deepseek-r1:32b": 19000,
    "mistral:7b": 4100,
    "mistral-nemo:12b": 7100,
    "phi3.5:3.8b": 2200,
    "tinyllama:1.1b": 638,
    "bge-m3:latest": 1200,
    "granite-embedding:latest": 63,
    "snowflake-arctic-embed:335m": 669,
    "llama3.2-vision:11b": 7900,
    "codestral:22b": 12000,
    "llava:34b": 20000,
    "llama3.1:70b": 43000,
}

EMBED_HINTS = ("embed", "minilm", "bge-")
WORDS = [
    "the",
    "herd",
    "grazes",
    "on",
    "tokens",
    "while",
    "the",
    "load",
    "balancer",
    "counts",
    "connections",
    "and",
    "every",
    "node",
    "answers",
    "with",
    "a",
    "modest",
    "amount",
    "of",
    "plausible",
    "text",
]


# ---------------------------------------------------------------- names
class NameError_(ValueError):
    """A model name Ollama would reject."""


_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def parse_name(raw: str) -> tuple[str, str, str, str]:
    """Split a model reference like Ollama's types/model.Name.

    Returns (host, namespace, model, tag); fills registry.ollama.ai,
    library and latest like upstream.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise NameError_("invalid model name")
    s = raw.strip()
    if "@" in s:
        s = s.split("@", 1)[0]
    tag = DEFAULT_TAG
    last = s.rsplit("/", 1)[-1]
    if ":" in last:
        s, tag = s.rsplit(":", 1)
    parts = s.split("/")
    if len(parts) == 1:
        host, ns, model = DEFAULT_HOST, DEFAULT_NAMESPACE, parts[0]
    elif len(parts) == 2:
        host, ns, model = DEFAULT_HOST, parts[0], parts[1]
    elif len(parts) == 3:
        host, ns, model = parts
    else:
        raise NameError_("invalid model name")
    for p in (ns, model, tag):
        if not _PART.match(p):
            raise NameError_("invalid model name")
    return host, ns, model, tag


def short_name(raw: str) -> str:
    """The display form Ollama uses in /api/tags: `model:tag` or `ns/model:tag`."""
    host, ns, model, tag = parse_name(raw)
    if host == DEFAULT_HOST and ns == DEFAULT_NAMESPACE:
        return f"{model}:{tag}"
    if host == DEFAULT_HOST:
        return f"{ns}/{model}:{tag}"
    return f"{host}/{ns}/{model}:{tag}"


def catalog() -> dict[str, int]:
    """Built-in sizes plus OLLAMA_STANDIN_MODELS ("name=MiB,...")."""
    cat = dict(CATALOG_MIB)
    for item in os.environ.get("OLLAMA_STANDIN_MODELS", "").split(","):
        if "=" in item:
            name, mib = item.split("=", 1)
            cat[short_name(name.strip())] = int(mib.strip())
    return cat


def deterministic_mib(name: str) -> int:
    """Size for a name the catalog does not know: from its tag, else a hash."""
    _, _, _, tag = parse_name(name)
    m = re.match(r"^(\d+(?:\.\d+)?)([bm])", tag.lower())
    if m:
        params = float(m.group(1)) * (1 if m.group(2) == "b" else 0.001)
        return max(50, int(params * 600))  # ~Q4_K_M bytes per parameter
    h = int(hashlib.sha256(short_name(name).encode()).hexdigest()[:8], 16)
    return 100 + h % 4000


def model_mib(name: str) -> int | None:
    """Declared size of a pullable model, None when the registry lacks it."""
    key = short_name(name)
    cat = catalog()
    if key in cat:
        return cat[key]
    if os.environ.get("OLLAMA_STANDIN_PULL_ANY", "") in ("1", "true", "yes"):
        return deterministic_mib(name)
    return None


def is_embedding(name: str) -> bool:
    return any(h in short_name(name) for h in EMBED_HINTS)


# ---------------------------------------------------------------- durations
# Go's time.ParseDuration (go/src/time/format.go), digit for digit: the
# server decodes a string keep_alive with it (api/types.go:1258-1259 at
# v0.32.15), so "300" or "1.5" (no unit) is an error, "0" is not.
_UNIT_NS = {"ns": 1, "us": 1000, "\u00b5s": 1000, "\u03bcs": 1000, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_MAX_NS = (1 << 63) - 1
FOREVER = float(_MAX_NS) / 1e9  # time.Duration(math.MaxInt64), api/types.go:1254


def _quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def go_parse_duration(orig: str) -> int:
    """Nanoseconds, or ValueError with Go's message (``time: missing unit in duration "300"``)."""
    invalid = ValueError(f"time: invalid duration {_quote(orig)}")
    s, neg, total = orig, False, 0
    if s[:1] in ("-", "+"):
        neg, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if not s:
        raise invalid
    while s:
        if not (s[0] == "." or (s[0].isascii() and s[0].isdigit())):
            raise invalid
        m = re.match(r"[0-9]*", s)
        digits = m.group(0) if m else ""
        s = s[len(digits) :]
        v = int(digits) if digits else 0
        if v > _MAX_NS + 1:
            raise invalid
        frac, scale, post = 0, 1.0, False
        if s[:1] == ".":
            s = s[1:]
            fm = re.match(r"[0-9]*", s)
            fd = fm.group(0) if fm else ""
            s, post = s[len(fd) :], bool(fd)
            for ch in fd:  # leadingFraction: stop adding precision past int64
                if frac > _MAX_NS // 10:
                    continue
                frac, scale = frac * 10 + int(ch), scale * 10
        if not digits and not post:
            raise invalid
        i = 0
        while i < len(s) and s[i] != "." and not (s[i].isascii() and s[i].isdigit()):
            i += 1
        if i == 0:
            raise ValueError(f"time: missing unit in duration {_quote(orig)}")
        unit_s, s = s[:i], s[i:]
        unit = _UNIT_NS.get(unit_s)
        if unit is None:
            raise ValueError(f"time: unknown unit {_quote(unit_s)} in duration {_quote(orig)}")
        if v > (1 << 63) // unit:
            raise invalid
        v *= unit
        if frac > 0:
            v += int(float(frac) * (float(unit) / scale))
            if v > 1 << 63:
                raise invalid
        total += v
        if total > 1 << 63:
            raise invalid
    if neg:
        return -total
    if total > _MAX_NS:
        raise invalid
    return total


_GO_TYPE = {bool: "bool", list: "[]interface {}", dict: "map[string]interface {}"}


def parse_keep_alive(value: Any, default: float) -> float:
    """Seconds, as api.Duration.UnmarshalJSON (api/types.go:1243-1268) decodes
    keep_alive: absent/null -> the default; a JSON number is seconds; a string
    is a Go duration; negative -> forever; anything else is an error."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"Unsupported type: '{_GO_TYPE.get(type(value), type(value).__name__)}'")
    if isinstance(value, (int, float)):
        return FOREVER if value < 0 else float(value)
    ns = go_parse_duration(value)
    return FOREVER if ns < 0 else ns / 1e9


def env_keep_alive(raw: str | None) -> float:
    """OLLAMA_KEEP_ALIVE as envconfig.KeepAlive reads it: a Go duration, else
    whole seconds; unparsable -> 5m; negative -> forever."""
    if not raw:
        return 300.0
    try:
        secs = go_parse_duration(raw) / 1e9
    except ValueError:
        try:
            secs = float(int(raw))
        except ValueError:
            return 300.0
    return FOREVER if secs < 0 else secs


def rfc3339(ts: float) -> str:
    ts = min(ts, 253402300799.0)
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).astimezone().isoformat()


PARAMS_MT = "application/vnd.ollama.image.params"


def format_params(params: dict[str, Any]) -> str:
    """/api/show's parameters text (server/routes.go GetModelInfo: each key
    left-aligned in 30 columns, then Go's %#v; a list gives a line per item)."""

    def gov(v: Any) -> str:
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return json.dumps(v)

    lines = []
    for k, v in params.items():
        for item in v if isinstance(v, list) else [v]:
            lines.append(f"{k:<30} {gov(item)}")
    return "\n".join(lines)


# ---------------------------------------------------------------- store
class Store:
    """Manifests and blobs in Ollama's layout under OLLAMA_MODELS."""

    MANIFEST_MT = "application/vnd.docker.distribution.manifest.v2+json"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.manifests = root / "manifests"
        self.lock = threading.RLock()
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.manifests.mkdir(parents=True, exist_ok=True)

    def manifest_path(self, name: str) -> Path:
        host, ns, model, tag = parse_name(name)
        return self.manifests / host / ns / model / tag

    def read(self, name: str) -> tuple[dict[str, Any], str, float] | None:
        p = self.manifest_path(name)
        try:
            raw = p.read_bytes()
        except OSError:
            return None
        return json.loads(raw), hashlib.sha256(raw).hexdigest(), p.stat().st_mtime

    def names(self) -> list[str]:
        out = []
        for p in self.manifests.glob("*/*/*/*"):
            if p.is_file():
                host, ns, model, tag = p.relative_to(self.manifests).parts
                out.append(short_name(f"{host}/{ns}/{model}:{tag}"))
        return sorted(out)

    def blob_path(self, digest: str) -> Path:
        return self.blobs / digest.replace(":", "-")

    def write_manifest(self, name: str, manifest: dict[str, Any]) -> None:
        p = self.manifest_path(name)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_bytes(json.dumps(manifest, separators=(",", ":")).encode())
        os.replace(tmp, p)

    def copy(self, src: str, dst: str) -> bool:
        with self.lock:
            p = self.manifest_path(src)
            if not p.is_file():
                return False
            q = self.manifest_path(dst)
            q.parent.mkdir(parents=True, exist_ok=True)
            tmp = q.with_name(q.name + ".tmp")
            tmp.write_bytes(p.read_bytes())
            os.replace(tmp, q)
            return True

    def create_from(self, src: str, dst: str, params: dict[str, Any]) -> bool:
        """dst as src's layers with its params layer replaced by the merged
        parameters (server/create.go setParameters: the new keys win, the
        old ones stay), as `ollama create` with FROM and PARAMETER does."""
        with self.lock:
            got = self.read(src)
            if not got:
                return False
            manifest = json.loads(json.dumps(got[0]))
            merged = dict(params)
            for layer in manifest["layers"]:
                if layer["mediaType"] == PARAMS_MT:
                    old = json.loads(self.blob_path(layer["digest"]).read_bytes())
                    merged = {**old, **params}
            layers = [layer for layer in manifest["layers"] if layer["mediaType"] != PARAMS_MT]
            if merged:
                raw = json.dumps(merged).encode() + b"\n"  # json.Encoder ends with a newline
                digest = "sha256:" + hashlib.sha256(raw).hexdigest()
                self.blob_path(digest).write_bytes(raw)
                layers.append({"mediaType": PARAMS_MT, "digest": digest, "size": len(raw)})
            manifest["layers"] = layers
            self.write_manifest(dst, manifest)
            return True

    def params(self, manifest: dict[str, Any]) -> dict[str, Any]:
        for layer in manifest["layers"]:
            if layer["mediaType"] == PARAMS_MT:
                return json.loads(self.blob_path(layer["digest"]).read_bytes())
        return {}

    def delete(self, name: str) -> bool:
        with self.lock:
            p = self.manifest_path(name)
            if not p.is_file():
                return False
            p.unlink()
            for d in (p.parent, p.parent.parent, p.parent.parent.parent):
                try:
                    d.rmdir()
                except OSError:
                    break
            self.prune()
            return True

    def prune(self) -> None:
        used = set()
        for n in self.names():
            got = self.read(n)
            if got:
                m = got[0]
                used.add(m["config"]["digest"])
                used.update(layer["digest"] for layer in m["layers"])
        for b in self.blobs.iterdir():
            if b.name.replace("-", ":", 1) not in used and "-partial" not in b.name:
                b.unlink(missing_ok=True)


def layers_for(name: str, mib: int) -> list[tuple[str, bytes, int]]:
    """(media type, small content, declared size) for each layer."""
    key = short_name(name)
    template = b"{{ .Prompt }}"
    params = b'{"stop":["<|end|>"]}'
    lic = f"stand-in license text for {key}\n".encode()
    total = mib * MIB
    small = len(template) + len(params) + len(lic)
    model_content = f"ollama-standin weights for {key} ({mib} MiB declared)\n".encode()
    return [
        ("application/vnd.ollama.image.model", model_content, total - small - 512),
        ("application/vnd.ollama.image.template", template, len(template)),
        ("application/vnd.ollama.image.license", lic, len(lic)),
        ("application/vnd.ollama.image.params", params, len(params)),
    ]


def details_for(name: str) -> dict[str, Any]:
    _, _, model, tag = parse_name(name)
    family = re.sub(r"[-.:]?\d.*$", "", model.split("-")[0]) or model
    if is_embedding(name):
        family = "bert"
    m = re.match(r"^(\d+(?:\.\d+)?)([bm])", tag.lower())
    psize = f"{m.group(1)}{m.group(2).upper()}" if m else "unknown"
    return {
        "parent_model": "",
        "format": "gguf",
        "family": family,
        "families": [family],
        "parameter_size": psize,
        "quantization_level": "F16" if is_embedding(name) else "Q4_K_M",
    }


def loaded_bytes(file_bytes: int, embedding: bool) -> int:
    """What a loaded model takes, as /api/ps `size` reports it: not the file
    but the runner's footprint, weights + KV cache + compute buffers
    (server/sched.go fills runnerRef.size from llm.LlamaServer.TotalSize()).
    The stand-in runs no model, so this is a fixed rule: the file, plus 10%
    for the KV cache at the default context, plus a compute graph of 256 MiB
    (64 MiB for an embedding model)."""
    return file_bytes + file_bytes // 10 + (64 if embedding else 256) * MIB


# ---------------------------------------------------------------- scheduler
class Scheduler:
    """Loaded models, keep-alive expiry, LRU eviction and pretend VRAM."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loaded: dict[str, dict[str, Any]] = {}
        self.vram = int(os.environ.get("OLLAMA_STANDIN_VRAM_MIB", "0") or 0) * MIB
        max_loaded = int(os.environ.get("OLLAMA_MAX_LOADED_MODELS", "0") or 0)
        self.max_loaded = max_loaded if max_loaded > 0 else 3
        self.default_keep = env_keep_alive(os.environ.get("OLLAMA_KEEP_ALIVE"))
        # Requests a loaded model serves at once; the rest wait in a queue of
        # at most OLLAMA_MAX_QUEUE (upstream's default 512), then 503.
        self.parallel = int(os.environ.get("OLLAMA_NUM_PARALLEL", "0") or 0)
        self.max_queue = int(os.environ.get("OLLAMA_MAX_QUEUE", "0") or 0) or 512
        self.slots: dict[str, threading.Semaphore] = {}
        self.waiting = 0

    @contextlib.contextmanager
    def slot(self, key: str) -> Any:
        """Hold one of the model's OLLAMA_NUM_PARALLEL slots; yields False when the queue is full."""
        if self.parallel <= 0:
            yield True
            return
        with self.lock:
            if self.waiting >= self.max_queue:
                full = True
            else:
                full = False
                self.waiting += 1
                sem = self.slots.setdefault(key, threading.Semaphore(self.parallel))
        if full:
            yield False
            return
        try:
            sem.acquire()
        finally:
            with self.lock:
                self.waiting -= 1
        try:
            yield True
        finally:
            sem.release()

    def _expire(self) -> None:
        now = time.time()
        for k in [k for k, v in self.loaded.items() if v["expires"] <= now]:
            del self.loaded[k]

    def load(self, key: str, info: dict[str, Any], keep: float) -> None:
        size, digest = info["size"], info["digest"]
        with self.lock:
            self._expire()
            now = time.time()
            if keep == 0:
                self.loaded.pop(key, None)
                return
            if key in self.loaded:
                entry = self.loaded[key]
                entry.update(expires=now + keep, used=now)
                return
            while len(self.loaded) >= self.max_loaded:
                self._evict_lru()
            vram_used = sum(v["size_vram"] for v in self.loaded.values())
            if self.vram and size > self.vram - vram_used and size <= self.vram:
                while self.loaded and size > self.vram - vram_used:
                    self._evict_lru()
                    vram_used = sum(v["size_vram"] for v in self.loaded.values())
            free = max(0, self.vram - vram_used)
            self.loaded[key] = {
                "size": size,
                "size_vram": min(size, free),
                "digest": digest,
                "details": info["details"],
                "expires": now + keep,
                "used": now,
            }

    def _evict_lru(self) -> None:
        victim = min(self.loaded, key=lambda k: self.loaded[k]["used"])
        del self.loaded[victim]

    def unload(self, key: str) -> None:
        with self.lock:
            self.loaded.pop(key, None)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            self._expire()
            return {k: dict(v) for k, v in self.loaded.items()}


# ---------------------------------------------------------------- server
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Go's net/http sets TCP_NODELAY; without it the separate header and body
    # writes meet delayed ACKs and a keep-alive response waits ~40 ms.
    disable_nagle_algorithm = True
    server_version = "ollama-standin"
    store: Store
    sched: Scheduler
    pulls_lock = threading.Lock()

    def log_message(self, fmt: str, *args: Any) -> None:
        sys.stderr.write(f"[GIN] {self.log_date_time_string()} | {self.client_address[0]} | {fmt % args}\n")

    # -- plumbing
    def _headers(self, status: int, ctype: str, length: int | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("X-Ollama-Standin-Node", os.environ.get("OLLAMA_STANDIN_NODE") or socket.gethostname())
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def send_json(self, status: int, obj: Any) -> None:
        body = json.dumps(obj).encode()
        self._headers(status, "application/json; charset=utf-8", len(body))
        if self.command != "HEAD":
            self.wfile.write(body)

    def empty_ok(self) -> None:
        self._headers(200, "text/plain", 0)

    def error(self, status: int, msg: str) -> None:
        self.send_json(status, {"error": msg})

    def start_stream(self) -> None:
        self._headers(200, "application/x-ndjson", None)

    def chunk(self, obj: Any) -> None:
        data = json.dumps(obj).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def drain(self) -> bytes:
        """Read the whole request body (Content-Length or chunked), so that a
        keep-alive connection stays in step whatever the answer is."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def body(self) -> dict[str, Any] | None:
        raw = self.drain()
        if not raw.strip():
            # ShouldBindJSON on an empty body is io.EOF (server/routes.go:248-249)
            self.error(400, "missing request body")
            return None
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError:
            self.error(400, "invalid character in request body")
            return None
        if not isinstance(obj, dict):
            self.error(400, "json: cannot unmarshal into Go value of type struct")
            return None
        if "keep_alive" in obj:
            # Bound with the request (api/types.go:1243): a bad keep_alive is a
            # 400 before the model is even looked up.
            try:
                obj["_keep"] = parse_keep_alive(obj["keep_alive"], self.sched.default_keep)
            except ValueError as exc:
                self.error(400, str(exc))
                return None
        return obj

    def plain(self, status: int, text: str) -> None:
        """gin's own answers for unknown routes and methods: text/plain."""
        body = text.encode()
        self._headers(status, "text/plain", len(body))
        if self.command != "HEAD":
            self.wfile.write(body)

    def no_route(self, path: str) -> None:
        """404, or 405 when the path exists for another method
        (r.HandleMethodNotAllowed = true, server/routes.go:1870). The body is
        read first so the connection can be reused."""
        self.drain()
        if path in ROUTES and self.command not in ROUTES[path]:
            self.plain(405, "405 method not allowed")
        else:
            self.plain(404, "404 page not found")

    def model_field(self, req: dict[str, Any]) -> str | None:
        name = req.get("model") or req.get("name") or ""
        try:
            parse_name(name)
        except NameError_:
            self.error(400, "model is required" if not name else f"invalid model name: {name!r}")
            return None
        return name

    # -- routes
    def do_HEAD(self) -> None:
        path = self.path.split("?", 1)[0]
        if "HEAD" not in ROUTES.get(path, ()):
            self.no_route(path)
            return
        self.do_GET()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if self.command == "GET" and "GET" not in ROUTES.get(path, ()):
            self.no_route(path)
        elif path == "/":
            body = b"Ollama is running"
            self._headers(200, "text/plain; charset=utf-8", len(body))
            if self.command != "HEAD":
                self.wfile.write(body)
        elif path == "/api/version":
            self.send_json(200, {"version": STANDIN_VERSION})
        elif path == "/api/tags":
            self.send_json(200, {"models": self.list_models()})
        elif path == "/api/ps":
            self.send_json(200, {"models": self.running()})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        routes = {
            "/api/pull": self.pull,
            "/api/show": self.show,
            "/api/copy": self.copy,
            "/api/create": self.create,
            "/api/generate": self.generate,
            "/api/chat": self.generate,
            "/api/embed": self.embed,
            "/api/embeddings": self.embeddings,
        }
        fn = routes.get(path)
        if fn is None or self.command not in ROUTES.get(path, ()):
            self.no_route(path)
            return
        req = self.body()
        if req is not None:
            fn(req)

    def do_DELETE(self) -> None:
        path = self.path.split("?", 1)[0]
        if path != "/api/delete":
            self.no_route(path)
            return
        req = self.body()
        if req is not None:
            self.delete(req)

    def do_PUT(self) -> None:
        self.no_route(self.path.split("?", 1)[0])

    do_PATCH = do_PUT
    do_OPTIONS = do_PUT

    # -- handlers
    def meta(self, manifest: dict[str, Any], name: str) -> tuple[dict[str, Any], list[str]]:
        """Details and capabilities from the config blob (shared by aliases)."""
        try:
            cfg = json.loads(self.store.blob_path(manifest["config"]["digest"]).read_bytes())
            det = {
                "parent_model": "",
                "format": cfg["model_format"],
                "family": cfg["model_family"],
                "families": cfg["model_families"],
                "parameter_size": cfg["model_type"],
                "quantization_level": cfg["file_type"],
            }
            return det, list(cfg["capabilities"])
        except (OSError, ValueError, KeyError):
            return details_for(name), ["embedding"] if is_embedding(name) else ["completion"]

    def list_models(self) -> list[dict[str, Any]]:
        out = []
        for n in self.store.names():
            got = self.store.read(n)
            if not got:
                continue
            m, digest, mtime = got
            size = m["config"]["size"] + sum(layer["size"] for layer in m["layers"])
            out.append(
                {
                    "name": n,
                    "model": n,
                    "modified_at": rfc3339(mtime),
                    "size": size,
                    "digest": digest,
                    "details": self.meta(m, n)[0],
                }
            )
        out.sort(key=lambda x: x["modified_at"], reverse=True)
        return out

    def running(self) -> list[dict[str, Any]]:
        out = []
        # Longest time left first (server/routes.go:2296-2299).
        for key, v in sorted(self.sched.snapshot().items(), key=lambda kv: (-kv[1]["expires"], kv[0])):
            out.append(
                {
                    "name": key,
                    "model": key,
                    "size": v["size"],
                    "digest": v["digest"],
                    "details": v["details"],
                    "expires_at": rfc3339(v["expires"]),
                    "size_vram": v["size_vram"],
                    "context_length": 4096,
                }
            )
        return out

    def show(self, req: dict[str, Any]) -> None:
        name = self.model_field(req)
        if name is None:
            return
        got = self.store.read(name)
        if not got:
            self.error(404, f"model '{name}' not found")
            return
        m, _, mtime = got
        d, caps = self.meta(m, name)
        self.send_json(
            200,
            {
                "license": f"stand-in license text for {short_name(name)}\n",
                "modelfile": f"# Modelfile generated by the ollama stand-in\nFROM {short_name(name)}\n",
                "parameters": format_params({"stop": ["<|end|>"], **self.store.params(m)}),
                "template": "{{ .Prompt }}",
                "details": d,
                "model_info": {
                    "general.architecture": d["family"],
                    "general.parameter_count": m["layers"][0]["size"] * 2,
                    "general.file_type": 15,
                },
                "capabilities": caps,
                "modified_at": rfc3339(mtime),
            },
        )

    def copy(self, req: dict[str, Any]) -> None:
        src, dst = req.get("source", ""), req.get("destination", "")
        try:
            parse_name(src)
            parse_name(dst)
        except NameError_:
            self.error(400, "invalid model name")
            return
        if not self.store.copy(src, dst):
            self.error(404, f"model {_quote(src)} not found")  # server/routes.go:1680
            return
        self.empty_ok()  # CopyHandler writes nothing on success (server/routes.go:1683-1685)

    def create(self, req: dict[str, Any]) -> None:
        """From an installed model with parameters only (server/create.go
        CreateHandler; files, adapters, quantize, template and the rest are
        not in the stand-in)."""
        name = req.get("model") or req.get("name") or ""
        try:
            parse_name(name)
        except NameError_:
            self.error(400, "invalid model name")  # errtypes.InvalidModelNameErrMsg
            return
        src = req.get("from") or ""
        if not src and not req.get("files"):
            self.error(400, "neither 'from' or 'files' was specified")  # server/create.go:46
            return
        unsupported = sorted(k for k in ("files", "adapters", "quantize", "template", "system", "messages") if req.get(k))
        if unsupported:
            self.error(501, f"the ollama stand-in cannot create with {', '.join(unsupported)}")
            return
        params = req.get("parameters") or {}
        if not isinstance(params, dict):
            self.error(400, "json: cannot unmarshal parameters")
            return
        try:
            parse_name(src)
        except NameError_:
            self.error(400, "invalid model name")
            return
        # Upstream pulls an unknown FROM model (server/model.go parseFromModel);
        # the stand-in has no registry to pull from here.
        if not self.store.create_from(src, name, params):
            self.error(404, f"model '{src}' not found")
            return
        steps = [{"status": "using existing layer"}, {"status": "writing manifest"}, {"status": "success"}]
        if req.get("stream", True) is False:
            self.send_json(200, steps[-1])  # waitForStream: the last progress
            return
        self.start_stream()
        for step in steps:
            self.chunk(step)
        self.end_stream()

    def delete(self, req: dict[str, Any]) -> None:
        name = self.model_field(req)
        if name is None:
            return
        if not self.store.delete(name):
            self.error(404, f"model '{name}' not found")
            return
        self.sched.unload(short_name(name))
        self.empty_ok()  # DeleteHandler writes nothing on success (server/routes.go:1293-1297)

    def pull(self, req: dict[str, Any]) -> None:
        name = self.model_field(req)
        if name is None:
            return
        stream = req.get("stream", True) is not False
        events: list[dict[str, Any]] = []
        err: str | None = None
        if stream:
            self.start_stream()

        def emit(ev: dict[str, Any]) -> None:
            if stream:
                self.chunk(ev)
            else:
                events.append(ev)

        try:
            err = self._do_pull(name, emit)
        except (BrokenPipeError, ConnectionResetError):
            return  # client went away: partial blobs stay, no manifest
        if stream:
            if err:
                self.chunk({"error": err})
            self.end_stream()
        elif err:
            self.error(500, err)
        else:
            self.send_json(200, events[-1] if events else {"status": "success"})

    def _do_pull(self, name: str, emit: Any) -> str | None:
        emit({"status": "pulling manifest"})
        mib = model_mib(name)
        if mib is None:
            return "pull model manifest: file does not exist"
        key = short_name(name)
        fail = {short_name(x) for x in os.environ.get("OLLAMA_STANDIN_FAIL_PULL", "").split(",") if x.strip()}
        speed = float(os.environ.get("OLLAMA_STANDIN_PULL_MIBPS", "0") or 0)
        layers = layers_for(name, mib)
        det = details_for(name)
        cfg = json.dumps(
            {
                "model_format": "gguf",
                "model_family": det["family"],
                "model_families": det["families"],
                "model_type": det["parameter_size"],
                "file_type": det["quantization_level"],
                "capabilities": ["embedding"] if is_embedding(name) else ["completion"],
            }
        ).encode()
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": Store.MANIFEST_MT,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": "sha256:" + hashlib.sha256(cfg).hexdigest(),
                "size": 512,
            },
            "layers": [],
        }
        blobs = [(manifest["config"]["digest"], cfg, 512)]
        for mt, content, size in layers:
            digest = "sha256:" + hashlib.sha256(content).hexdigest()
            manifest["layers"].append({"mediaType": mt, "digest": digest, "size": size})
            blobs.append((digest, content, size))
        for digest, content, size in blobs[1:]:
            path = self.store.blob_path(digest)
            status = f"pulling {digest[7:19]}"
            if path.is_file():
                emit({"status": status, "digest": digest, "total": size, "completed": size})
                continue
            partial = path.with_name(path.name + "-partial")
            steps = 10 if size > MIB else 1
            for i in range(1, steps + 1):
                if speed > 0:
                    time.sleep(size / steps / MIB / speed)
                if key in fail and i == steps // 2 + 1:
                    partial.write_bytes(content[: len(content) // 2])
                    return f"max retries exceeded: read tcp: connection reset by peer (stand-in fault for {key})"
                partial.write_bytes(content[: len(content) * i // steps])
                emit({"status": status, "digest": digest, "total": size, "completed": size * i // steps})
            os.replace(partial, path)
        self.store.blob_path(blobs[0][0]).write_bytes(cfg)
        emit({"status": "verifying sha256 digest"})
        emit({"status": "writing manifest"})
        with self.store.lock:
            self.store.write_manifest(name, manifest)
        emit({"status": "success"})
        return None

    def _loadable(self, req: dict[str, Any]) -> tuple[str, dict[str, Any], str, float] | None:
        name = self.model_field(req)
        if name is None:
            return None
        got = self.store.read(name)
        if not got:
            self.error(404, f"model '{name}' not found")
            return None
        keep = req.get("_keep", self.sched.default_keep)
        m, digest, _ = got
        size = m["config"]["size"] + sum(layer["size"] for layer in m["layers"])
        det, caps = self.meta(m, name)
        size = loaded_bytes(size, "completion" not in caps)
        return short_name(name), {"size": size, "digest": digest, "details": det, "caps": caps}, name, keep

    def generate(self, req: dict[str, Any]) -> None:
        chat = self.path.startswith("/api/chat")
        got = self._loadable(req)
        if got is None:
            return
        key, info, name, keep = got
        prompt = req.get("prompt", "")
        if chat:
            msgs = req.get("messages") or []
            prompt = " ".join(str(m.get("content", "")) for m in msgs if isinstance(m, dict))
        now = rfc3339(time.time())
        # An empty prompt with keep_alive 0 unloads any model, embedding ones
        # too: it is checked before the capability (server/routes.go:403-415,
        # chat: 2505-2516); generate on an embedding model is a 400 (:466-469).
        unload = not prompt and "keep_alive" in req and keep == 0
        if "completion" not in info["caps"] and not unload:
            self.error(400, f'"{name}" does not support {"chat" if chat else "generate"}')
            return
        if not prompt:
            if unload:
                self.sched.unload(key)
                reason = "unload"
            else:
                self.sched.load(key, info, keep)
                reason = "load"
            out = {"model": name, "created_at": now, "done": True, "done_reason": reason}
            out.update({"message": {"role": "assistant", "content": ""}} if chat else {"response": ""})
            self.send_json(200, out)
            return
        with self.sched.slot(key) as got_slot:
            if not got_slot:
                self.error(503, "server busy, please try again.  maximum pending requests exceeded")
                return
            self._generate(req, chat, key, info, name, keep, prompt)

    def _generate(
        self, req: dict[str, Any], chat: bool, key: str, info: dict[str, Any], name: str, keep: float, prompt: str
    ) -> None:
        t0 = time.time()
        self.sched.load(key, info, keep)
        opts = req.get("options") or {}
        n = int(opts.get("num_predict") or 8)
        n = 8 if n < 0 else min(n, 4096)
        seed = int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16)
        tokens = [WORDS[(seed + i * 7) % len(WORDS)] + " " for i in range(n)]
        delay = float(os.environ.get("OLLAMA_STANDIN_TOKEN_MS", "0") or 0) / 1000

        def piece(text: str, done: bool) -> dict[str, Any]:
            out: dict[str, Any] = {"model": name, "created_at": rfc3339(time.time()), "done": done}
            if chat:
                out["message"] = {"role": "assistant", "content": text}
            else:
                out["response"] = text
            if done:
                dur = int((time.time() - t0) * 1e9)
                out.update(
                    done_reason="length" if n == int(opts.get("num_predict") or 8) else "stop",
                    total_duration=dur,
                    load_duration=1000,
                    prompt_eval_count=len(prompt.split()),
                    prompt_eval_duration=1000,
                    eval_count=n,
                    eval_duration=max(1, dur),
                )
            return out

        if req.get("stream", True) is False:
            time.sleep(delay * n)
            self.send_json(200, piece("".join(tokens), True) | {"done": True})
            return
        self.start_stream()
        try:
            for t in tokens:
                time.sleep(delay)
                self.chunk(piece(t, False))
            self.chunk(piece("", True))
            self.end_stream()
        except (BrokenPipeError, ConnectionResetError):
            return

    def embed(self, req: dict[str, Any]) -> None:
        got = self._loadable(req)
        if got is None:
            return
        key, info, name, keep = got
        inputs = req.get("input")
        if (isinstance(inputs, list) and not all(isinstance(x, str) for x in inputs)) or not isinstance(
            inputs, (list, str, type(None))
        ):
            self.error(400, "invalid input type")  # server/routes.go:826-839
            return
        # Any model is scheduled (no capability asked: server/routes.go:852);
        # empty input only loads, honouring keep_alive (:862-864).
        if keep == 0:
            self.sched.unload(key)
        else:
            self.sched.load(key, info, keep)
        inputs = inputs if isinstance(inputs, list) else ([inputs] if inputs else [])
        vecs = []
        for text in inputs:
            h = hashlib.sha256(str(text).encode()).digest()
            vecs.append([round((b - 128) / 128, 4) for b in h[:16]])
        # prompt_eval_count is the tokens of every input, as upstream's
        # EmbedHandler adds them up (LiteLLM's ollama provider reads it).
        count = sum(len(str(text).split()) for text in inputs)
        self.send_json(200, {"model": name, "embeddings": vecs, "total_duration": 1000, "prompt_eval_count": count})

    def embeddings(self, req: dict[str, Any]) -> None:
        """The older /api/embeddings (server/routes.go:1042-1100): `prompt`, one
        `embedding`; an empty prompt only loads."""
        name = req.get("model") or ""
        try:
            parse_name(name)
        except NameError_:
            self.error(400, "model is required")  # :1052-1055
            return
        got = self.store.read(name)
        if not got:
            self.error(404, f"model {_quote(name)} not found, try pulling it first")  # :3115-3116
            return
        m, digest, _ = got
        det, caps = self.meta(m, name)
        file_bytes = m["config"]["size"] + sum(layer["size"] for layer in m["layers"])
        info = {"size": loaded_bytes(file_bytes, "completion" not in caps), "digest": digest, "details": det}
        keep = req.get("_keep", self.sched.default_keep)
        if keep == 0:
            self.sched.unload(short_name(name))
        else:
            self.sched.load(short_name(name), info, keep)
        prompt = req.get("prompt") or ""
        if not prompt:
            self.send_json(200, {"embedding": []})  # :1078-1081
            return
        h = hashlib.sha256(str(prompt).encode()).digest()
        self.send_json(200, {"embedding": [round((b - 128) / 128, 4) for b in h[:16]]})


# Methods per path, as server/routes.go:1877-1911 registers them (the rest is
# not implemented here: see README "Divergences").
ROUTES: dict[str, tuple[str, ...]] = {
    "/": ("GET", "HEAD"),
    "/api/version": ("GET", "HEAD"),
    "/api/tags": ("GET", "HEAD"),
    "/api/ps": ("GET",),
    "/api/pull": ("POST",),
    "/api/show": ("POST",),
    "/api/copy": ("POST",),
    "/api/create": ("POST",),
    "/api/delete": ("DELETE",),
    "/api/generate": ("POST",),
    "/api/chat": ("POST",),
    "/api/embed": ("POST",),
    "/api/embeddings": ("POST",),
}


# ---------------------------------------------------------------- CLI
def parse_host(value: str | None) -> tuple[str, str, int]:
    """(scheme, host, port) from OLLAMA_HOST, as envconfig.Host() does."""
    s = (value or "").strip().strip("\"'")
    default_port = DEFAULT_PORT
    scheme, sep, hostport = s.partition("://")
    if not sep:
        scheme, hostport = "http", s
    elif scheme == "http":
        default_port = 80
    elif scheme == "https":
        default_port = 443
    hostport = hostport.split("/", 1)[0]
    host, port = hostport, default_port
    m = re.match(r"^\[(.*)\](?::(\d+))?$", hostport)
    if m:
        host, port = m.group(1), int(m.group(2) or default_port)
    elif hostport.count(":") == 1:
        h, p = hostport.split(":")
        host, port = h, int(p) if p else default_port
    return scheme, host or "127.0.0.1", port


def models_dir() -> Path:
    env = os.environ.get("OLLAMA_MODELS")
    if env:
        return Path(env)
    return Path(os.environ.get("HOME", "/tmp")) / ".ollama" / "models"


def serve() -> int:
    _, host, port = parse_host(os.environ.get("OLLAMA_HOST"))
    store = Store(models_dir())
    Handler.store = store
    Handler.sched = Scheduler()

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    try:
        httpd = Server((host, port), Handler)
    except OSError as exc:
        print(f"Error: listen tcp {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    vram = Handler.sched.vram // MIB
    sys.stderr.write(
        f'time={rfc3339(time.time())} level=INFO msg="Listening on {host}:{port} (version {STANDIN_VERSION})"\n'
        f'time={rfc3339(time.time())} level=INFO msg="ollama STAND-IN (not Ollama): models={store.root} '
        f'vram={vram} MiB max_loaded={Handler.sched.max_loaded}"\n'
    )
    sys.stderr.flush()
    with contextlib.suppress(KeyboardInterrupt):
        httpd.serve_forever()
    return 0


def client_base() -> str:
    scheme, host, port = parse_host(os.environ.get("OLLAMA_HOST"))
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def call(method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 5) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(client_base() + path, data=data, method=method)
    return urllib.request.urlopen(req, timeout=timeout)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print("Usage:\n  ollama [flags]\n  ollama [command]\n\n(stand-in) commands: serve list ps pull cp rm")
        return 0
    cmd = argv[0]
    if cmd in ("-v", "--version", "version"):
        try:
            with call("GET", "/api/version", timeout=2) as r:
                server = json.load(r)["version"]
            print(f"ollama version is {server}")
            if server != STANDIN_VERSION:
                print(f"Warning: client version is {STANDIN_VERSION}")
        except (OSError, ValueError, KeyError):
            print("Warning: could not connect to a running Ollama instance")
            print(f"Warning: client version is {STANDIN_VERSION}")
        return 0
    if cmd in ("serve", "start"):
        return serve()
    try:
        if cmd in ("list", "ls"):
            with call("GET", "/api/tags") as r:
                print(f"{'NAME':<40}{'ID':<14}{'SIZE':<10}MODIFIED")
                for m in json.load(r)["models"]:
                    print(f"{m['name']:<40}{m['digest'][:12]:<14}{m['size'] / 1e9:.1f} GB")
            return 0
        if cmd == "ps":
            with call("GET", "/api/ps") as r:
                print(f"{'NAME':<40}{'SIZE':<12}PROCESSOR")
                for m in json.load(r)["models"]:
                    gpu = round(100 * m["size_vram"] / m["size"]) if m["size"] else 0
                    proc = "100% GPU" if gpu == 100 else ("100% CPU" if gpu == 0 else f"{100 - gpu}%/{gpu}% CPU/GPU")
                    print(f"{m['name']:<40}{m['size'] / 1e9:<12.1f}{proc}")
            return 0
        if cmd == "pull" and len(argv) == 2:
            with call("POST", "/api/pull", {"model": argv[1]}, timeout=3600) as r:
                for line in r:
                    ev = json.loads(line)
                    if "error" in ev:
                        print(f"Error: {ev['error']}", file=sys.stderr)
                        return 1
                    print(ev.get("status", ""))
            return 0
        if cmd == "cp" and len(argv) == 3:
            with call("POST", "/api/copy", {"source": argv[1], "destination": argv[2]}):
                print(f"copied '{argv[1]}' to '{argv[2]}'")
            return 0
        if cmd == "rm" and len(argv) >= 2:
            for n in argv[1:]:
                with call("DELETE", "/api/delete", {"model": n}):
                    print(f"deleted '{n}'")
            return 0
    except urllib.error.HTTPError as exc:
        try:
            msg = json.load(exc)["error"]
        except (ValueError, KeyError):
            msg = str(exc)
        print(f"Error: {msg}", file=sys.stderr)
        return 1
    except OSError:
        print("Error: could not connect to ollama app, is it running?", file=sys.stderr)
        return 1
    print(f'Error: unknown command "{cmd}" for "ollama"', file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
