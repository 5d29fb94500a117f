"""Ollama's HTTP API as llama-herd uses it, case by case.

Every case names the upstream lines it encodes: ollama/ollama at tag v0.32.15
(`git show v0.32.15:<file>` in the mirror, see DESIGN.md). Endpoints and
fields are the ones the collection (plugins/module_utils/ollama.py, the
ollama_model module, the roles' health checks) and the GPU router
(tools/router) use. Behaviour goes through the official client (`ollama` on
PyPI, pinned in requirements.txt); raw HTTP covers what it hides: status
codes and bodies of plain errors, HEAD, and connection reuse.
"""

from __future__ import annotations

import http.client
import json
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import ollama
import pytest

ALIAS = "herd-contract-alias:latest"


def raw(base_url: str, method: str, path: str, body: Any = None, *, data: bytes | None = None) -> tuple[int, str, str]:
    """(status, content type, body text) of one request on a new connection."""
    u = urlsplit(base_url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=600)
    try:
        payload = data if data is not None else (None if body is None else json.dumps(body).encode())
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        conn.request(method, path, body=payload, headers=headers)
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type") or "", r.read().decode()
    finally:
        conn.close()


def err(status_body: tuple[int, str, str]) -> tuple[int, str]:
    status, _, body = status_body
    return status, json.loads(body)["error"]


def ps(base_url: str) -> dict[str, dict[str, Any]]:
    status, _, body = raw(base_url, "GET", "/api/ps")
    assert status == 200
    return {m["name"]: m for m in json.loads(body)["models"]}


def full(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


# ------------------------------------------------------------------ liveness
def test_root_and_version(base_url: str) -> None:
    """server/routes.go:1877-1880: GET/HEAD / is `Ollama is running`; /api/version is {"version"}."""
    assert raw(base_url, "GET", "/")[::2] == (200, "Ollama is running")
    assert raw(base_url, "HEAD", "/")[0] == 200
    status, ctype, body = raw(base_url, "GET", "/api/version")
    assert status == 200 and ctype.startswith("application/json")
    assert isinstance(json.loads(body)["version"], str)
    assert raw(base_url, "HEAD", "/api/version")[0] == 200


# ------------------------------------------------------------------ pull, tags, show
def test_pull_streams_progress_to_success(client: ollama.Client, models: dict[str, str]) -> None:
    """server/routes.go:1102-1161 (PullHandler streams api.ProgressResponse,
    api/types.go:777); the last line of a good pull is `success`
    (server/images.go PullModel)."""
    events = list(client.pull(models["embed"], stream=True))
    assert events[0].status == "pulling manifest"
    assert events[-1].status == "success"
    layers = [e for e in events if e.digest]
    assert layers and all(e.total and e.completed is not None for e in layers)


def test_pull_not_streamed(base_url: str, models: dict[str, str]) -> None:
    """server/routes.go:1155-1158: `"stream": false` answers one final object."""
    status, _, body = raw(base_url, "POST", "/api/pull", {"model": models["embed"], "stream": False})
    assert status == 200 and json.loads(body) == {"status": "success"}


def test_tags_fields(base_url: str, models: dict[str, str]) -> None:
    """api/types.go:797-832 (ListResponse, ListModelResponse) and :933-942
    (ModelDetails): what the module and the router read from /api/tags."""
    status, _, body = raw(base_url, "GET", "/api/tags")
    assert status == 200
    listed = {m["name"]: m for m in json.loads(body)["models"]}
    m = listed[full(models["chat"])]
    assert m["model"] == m["name"]
    assert m["size"] > 0 and m["digest"] and len(m["digest"]) == 64
    datetime.fromisoformat(m["modified_at"])
    for key in ("format", "family", "families", "parameter_size", "quantization_level"):
        assert key in m["details"]


def test_show(client: ollama.Client, models: dict[str, str]) -> None:
    """api/types.go:737-755 (ShowResponse): capabilities tell an embedding
    model from a completion model (the module picks /api/embed or /api/generate
    to preload from them)."""
    assert "embedding" in client.show(models["embed"]).capabilities
    chat = client.show(models["chat"])
    assert "completion" in chat.capabilities
    assert chat.details.format and chat.modelinfo


def test_show_unknown_model_is_404(client: ollama.Client) -> None:
    """server/routes.go:1366-1367: `model 'x' not found`, 404."""
    with pytest.raises(ollama.ResponseError) as exc:
        client.show("herd-contract-missing:latest")
    assert exc.value.status_code == 404
    assert exc.value.error == "model 'herd-contract-missing:latest' not found"


# ------------------------------------------------------------------ copy, delete
def test_copy_then_delete(base_url: str, client: ollama.Client, models: dict[str, str]) -> None:
    """server/routes.go:1647-1686 (copy: 200, empty body) and 1247-1298
    (delete: 200, then 404 `model 'x' not found` at :1272). An alias made by
    copy has the source's digest (the module compares digests)."""
    assert raw(base_url, "POST", "/api/copy", {"source": models["embed"], "destination": ALIAS})[::2] == (200, "")
    _, _, body = raw(base_url, "GET", "/api/tags")
    tags = {m["name"]: m["digest"] for m in json.loads(body)["models"]}
    assert tags[ALIAS] == tags[full(models["embed"])]
    assert client.delete(ALIAS).status == "success"
    assert err(raw(base_url, "DELETE", "/api/delete", {"model": ALIAS})) == (404, f"model '{ALIAS}' not found")


def test_copy_unknown_source_is_404(base_url: str) -> None:
    """server/routes.go:1679-1680: `model "x" not found` (%q), 404."""
    got = err(raw(base_url, "POST", "/api/copy", {"source": "herd-contract-missing", "destination": ALIAS}))
    assert got == (404, 'model "herd-contract-missing" not found')


# ------------------------------------------------------------------ create
CTX_VARIANT = "herd-contract-ctx:latest"


def num_ctx(show_parameters: str) -> int | None:
    """num_ctx from /api/show's parameters text, as the ollama_model module reads it."""
    for line in (show_parameters or "").splitlines():
        key, _, value = line.partition(" ")
        if key == "num_ctx":
            return int(float(value.strip()))
    return None


def test_create_from_an_installed_model_with_num_ctx(base_url: str, client: ollama.Client, models: dict[str, str]) -> None:
    """server/create.go:51-260 (CreateHandler with `from`) and :1352-1402
    (setParameters: new keys win, old ones stay); waitForStream answers the
    last progress, {"status": "success"} (server/routes.go:2070-2095);
    /api/show prints each parameter as `%-30s %#v` (server/routes.go:1497-1509).
    A new parameters layer gives a new digest (the module re-points aliases)."""
    base = full(models["chat"])
    body = {"model": CTX_VARIANT, "from": base, "parameters": {"num_ctx": 2048}, "stream": False}
    status, _, text = raw(base_url, "POST", "/api/create", body)
    assert (status, json.loads(text)) == (200, {"status": "success"})
    shown = client.show(CTX_VARIANT)
    assert num_ctx(shown.parameters) == 2048
    assert any(line.startswith("num_ctx" + " " * 24) for line in shown.parameters.splitlines())
    _, _, tags = raw(base_url, "GET", "/api/tags")
    digests = {m["name"]: m["digest"] for m in json.loads(tags)["models"]}
    assert digests[CTX_VARIANT] != digests[base]
    # Created again on its own name: the new value replaces the old one.
    body = {"model": CTX_VARIANT, "from": CTX_VARIANT, "parameters": {"num_ctx": 4096}, "stream": False}
    assert raw(base_url, "POST", "/api/create", body)[0] == 200
    assert num_ctx(client.show(CTX_VARIANT).parameters) == 4096
    assert client.delete(CTX_VARIANT).status == "success"


def test_create_without_from_or_files_is_400(base_url: str) -> None:
    """server/create.go:46 (errNeitherFromOrFiles), answered with status 400."""
    got = err(raw(base_url, "POST", "/api/create", {"model": CTX_VARIANT, "stream": False}))
    assert got == (400, "neither 'from' or 'files' was specified")


# ------------------------------------------------------------------ generate, chat
def test_generate_not_streamed(client: ollama.Client, models: dict[str, str]) -> None:
    """api/types.go:891-930 + Metrics :557: one object, done, with counts."""
    r = client.generate(models["chat"], "Say hi.", options={"num_predict": 4}, keep_alive="1m")
    assert r.done and isinstance(r.response, str) and r.done_reason in ("stop", "length")
    assert r.eval_count and r.eval_count <= 4 and r.total_duration


def test_generate_streams_until_done(client: ollama.Client, models: dict[str, str]) -> None:
    """server/routes.go:245 GenerateHandler streams NDJSON chunks; only the last is done."""
    parts = list(client.generate(models["chat"], "Say hi.", options={"num_predict": 4}, stream=True, keep_alive="1m"))
    assert len(parts) >= 2
    assert [p.done for p in parts[:-1]] == [False] * (len(parts) - 1) and parts[-1].done


def test_chat(client: ollama.Client, models: dict[str, str]) -> None:
    """api/types.go:520 ChatResponse: the answer is an assistant message."""
    r = client.chat(models["chat"], [{"role": "user", "content": "Say hi."}], options={"num_predict": 4}, keep_alive="1m")
    assert r.done and r.message.role == "assistant"


def test_generate_unknown_model_is_404(base_url: str) -> None:
    """server/routes.go:278-282: `model 'x' not found`, 404."""
    got = err(raw(base_url, "POST", "/api/generate", {"model": "herd-contract-missing", "prompt": "x"}))
    assert got == (404, "model 'herd-contract-missing' not found")


def test_generate_on_embedding_model_is_400(client: ollama.Client, models: dict[str, str]) -> None:
    """server/routes.go:466-469: `"x" does not support generate`, 400."""
    with pytest.raises(ollama.ResponseError) as exc:
        client.generate(models["embed"], "hello")
    assert exc.value.status_code == 400
    assert exc.value.error == f'"{models["embed"]}" does not support generate'


def test_missing_body_is_400(base_url: str) -> None:
    """server/routes.go:248-249 (and every handler): an empty body is
    `missing request body`, 400."""
    for method, path in (("POST", "/api/generate"), ("POST", "/api/show"), ("POST", "/api/pull"), ("DELETE", "/api/delete")):
        assert err(raw(base_url, method, path, data=b"")) == (400, "missing request body"), path


# ------------------------------------------------------------------ load, unload, /api/ps
def test_load_and_unload_with_empty_prompt(base_url: str, client: ollama.Client, models: dict[str, str]) -> None:
    """server/routes.go:477-485 (empty prompt: done_reason `load`) and 403-415
    (empty prompt + keep_alive 0: `unload`, the runner expires)."""
    name = full(models["chat"])
    r = client.generate(models["chat"], "", keep_alive="10m")
    assert r.done and r.done_reason == "load"
    assert name in ps(base_url)
    r = client.generate(models["chat"], "", keep_alive=0)
    assert r.done_reason == "unload"
    _gone(base_url, name)


def test_unload_embedding_model_through_generate(base_url: str, client: ollama.Client, models: dict[str, str]) -> None:
    """server/routes.go:403-415 runs before the capability check at :466: an
    embedding model unloads with /api/generate, empty prompt, keep_alive 0."""
    name = full(models["embed"])
    client.embed(models["embed"], [], keep_alive="10m")
    assert name in ps(base_url)
    assert client.generate(models["embed"], "", keep_alive=0).done_reason == "unload"
    _gone(base_url, name)


def test_chat_unload_without_messages(base_url: str, client: ollama.Client, models: dict[str, str]) -> None:
    """server/routes.go:2505-2516: chat with no messages and keep_alive 0 unloads."""
    client.generate(models["chat"], "", keep_alive="10m")
    r = client.chat(models["chat"], [], keep_alive=0)
    assert r.done_reason == "unload" and r.message.role == "assistant"
    _gone(base_url, full(models["chat"]))


def _gone(base_url: str, name: str) -> None:
    # expireRunner unloads in the background on a real server (server/sched.go).
    for _ in range(100):
        if name not in ps(base_url):
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} still in /api/ps after unload")


def test_ps_fields_and_loaded_size(base_url: str, client: ollama.Client, models: dict[str, str]) -> None:
    """api/types.go:817-844 (ProcessModelResponse) filled at
    server/routes.go:2271-2302: `size` is the runner's memory (weights + KV
    cache + buffers, server/sched.go:1765-1773 llama.MemorySize()), so it is
    larger than the file /api/tags lists; `size_vram` is the part in VRAM."""
    client.generate(models["chat"], "", keep_alive="10m")
    _, _, body = raw(base_url, "GET", "/api/tags")
    file_size = {m["name"]: m["size"] for m in json.loads(body)["models"]}[full(models["chat"])]
    m = ps(base_url)[full(models["chat"])]
    assert m["model"] == m["name"] == full(models["chat"])
    assert m["size"] > file_size
    assert 0 <= m["size_vram"] <= m["size"]
    assert m["context_length"] > 0 and len(m["digest"]) == 64
    expires = datetime.fromisoformat(m["expires_at"])
    left = expires.timestamp() - time.time()
    assert 60 < left <= 600 + 5
    assert "family" in m["details"]


def test_ps_longest_expiry_first(base_url: str, client: ollama.Client, models: dict[str, str]) -> None:
    """server/routes.go:2296-2299: sorted by time left, longest first."""
    client.generate(models["chat"], "", keep_alive="2m")
    client.embed(models["embed"], [], keep_alive="20m")
    assert list(ps(base_url))[:2] == [full(models["embed"]), full(models["chat"])]


# ------------------------------------------------------------------ embed, embeddings
def test_embed(client: ollama.Client, models: dict[str, str]) -> None:
    """api/types.go:603-632: `embeddings` is one vector per input."""
    r = client.embed(models["embed"], ["one", "two"])
    assert len(r.embeddings) == 2 and len(r.embeddings[0]) > 0
    assert r.prompt_eval_count and r.prompt_eval_count >= 2  # server/routes.go EmbedHandler: PromptEvalCount
    assert client.embed(models["embed"], []).embeddings == []  # server/routes.go:862-864


def test_embed_invalid_input_is_400(base_url: str, models: dict[str, str]) -> None:
    """server/routes.go:826-839: `invalid input type`, 400."""
    assert err(raw(base_url, "POST", "/api/embed", {"model": models["embed"], "input": [1, 2]})) == (400, "invalid input type")


def test_embed_empty_input_loads_any_model(base_url: str, client: ollama.Client, models: dict[str, str]) -> None:
    """server/routes.go:852: /api/embed schedules with no capability asked, so
    an empty input loads a completion model too (no 400)."""
    assert client.embed(models["chat"], [], keep_alive="5m").embeddings == []
    assert full(models["chat"]) in ps(base_url)


def test_embeddings_legacy(client: ollama.Client, models: dict[str, str]) -> None:
    """server/routes.go:1042-1100 (/api/embeddings): one `embedding`; an
    empty prompt only loads and answers an empty list (:1078-1081)."""
    assert len(client.embeddings(models["embed"], "hello").embedding) > 0
    assert client.embeddings(models["embed"], "").embedding == []


# ------------------------------------------------------------------ keep_alive
@pytest.mark.parametrize(
    ("keep_alive", "error"),
    [
        ("300", 'time: missing unit in duration "300"'),
        ("1.5", 'time: missing unit in duration "1.5"'),
        ("5 m", 'time: unknown unit " m" in duration "5 m"'),
        ("m", 'time: invalid duration "m"'),
        ("", 'time: invalid duration ""'),
        ("10d", 'time: unknown unit "d" in duration "10d"'),
        (True, "Unsupported type: 'bool'"),
    ],
)
def test_keep_alive_rejected(base_url: str, models: dict[str, str], keep_alive: Any, error: str) -> None:
    """api/types.go:1243-1268: a string keep_alive goes to Go's
    time.ParseDuration (:1258-1259), which wants a unit on every number
    (only "0" is special); other JSON types but numbers are refused (:1265).
    Decoding happens while binding, before the model is looked up
    (server/routes.go:248-253), so even an unknown model gets the 400."""
    for model in (models["chat"], "herd-contract-missing"):
        body = {"model": model, "prompt": "", "keep_alive": keep_alive}
        assert err(raw(base_url, "POST", "/api/generate", body)) == (400, error)


@pytest.mark.parametrize(
    ("keep_alive", "seconds"),
    [(300, 300), (90.5, 90.5), ("300s", 300), ("1h1m", 3660), ("1.5m", 90), ("+2m", 120), (".5h", 1800)],
)
def test_keep_alive_accepted(base_url: str, models: dict[str, str], keep_alive: Any, seconds: float) -> None:
    """api/types.go:1251-1257: a JSON number is seconds; a Go duration string
    is read by time.ParseDuration. expires_at in /api/ps shows it."""
    body = {"model": models["chat"], "prompt": "", "keep_alive": keep_alive, "stream": False}
    status, _, answer = raw(base_url, "POST", "/api/generate", body)
    assert status == 200 and json.loads(answer)["done_reason"] == "load"
    left = datetime.fromisoformat(ps(base_url)[full(models["chat"])]["expires_at"]).timestamp() - time.time()
    assert seconds - 5 <= left <= seconds + 1


@pytest.mark.parametrize("keep_alive", [-1, "-1m", "-1s"])
def test_keep_alive_negative_is_forever(base_url: str, models: dict[str, str], keep_alive: Any) -> None:
    """api/types.go:1252-1254, 1263-1264: negative = time.Duration(MaxInt64),
    an expires_at centuries away."""
    body = {"model": models["chat"], "prompt": "", "keep_alive": keep_alive, "stream": False}
    assert raw(base_url, "POST", "/api/generate", body)[0] == 200
    expires = datetime.fromisoformat(ps(base_url)[full(models["chat"])]["expires_at"])
    assert expires.year > 2200


def test_keep_alive_string_zero_unloads(base_url: str, client: ollama.Client, models: dict[str, str]) -> None:
    """ "0" is the one unit-less string time.ParseDuration accepts; it unloads
    like the number 0 (server/routes.go:404)."""
    client.generate(models["chat"], "", keep_alive="5m")
    assert client.generate(models["chat"], "", keep_alive="0").done_reason == "unload"
    _gone(base_url, full(models["chat"]))


# ------------------------------------------------------------------ unknown routes, keep-alive reuse
def test_unknown_route_and_method(base_url: str) -> None:
    """gin's own answers (router from server/routes.go:1869-1870,
    HandleMethodNotAllowed): unknown path 404 `404 page not found`, a known
    path with the wrong method 405 `405 method not allowed`, both text/plain."""
    status, ctype, body = raw(base_url, "POST", "/api/nope", {"model": "x"})
    assert (status, body) == (404, "404 page not found") and ctype.startswith("text/plain")
    status, ctype, body = raw(base_url, "GET", "/api/pull")
    assert (status, body) == (405, "405 method not allowed") and ctype.startswith("text/plain")


def test_connection_reused_after_errors(base_url: str, models: dict[str, str]) -> None:
    """HTTP/1.1 keep-alive (Go net/http): after a 404 on an unknown POST with
    a body, a 405, a 400 and a 404 JSON error, the same connection still
    answers the next request (nginx reuses upstream connections)."""
    u = urlsplit(base_url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=60)
    body = json.dumps({"model": models["embed"], "prompt": "x" * 4096}).encode()
    hdr = {"Content-Type": "application/json"}
    try:
        conn.request("GET", "/api/version")
        conn.getresponse().read()
        sock = conn.sock
        for method, path, payload in (
            ("POST", "/api/embeddings-typo", body),
            ("DELETE", "/api/nope", body),
            ("GET", "/api/pull", None),
            ("POST", "/api/generate", json.dumps({"model": models["chat"], "keep_alive": "300"}).encode()),
            ("POST", "/api/show", json.dumps({"model": "herd-contract-missing"}).encode()),
        ):
            conn.request(method, path, body=payload, headers=hdr if payload else {})
            r = conn.getresponse()
            r.read()
            assert r.status in (400, 404, 405), (path, r.status)
            conn.request("GET", "/api/ps")
            r = conn.getresponse()
            assert r.status == 200, f"after {method} {path}: {r.status}"
            assert "models" in json.loads(r.read())
            assert conn.sock is sock, "the server closed the connection"
    finally:
        conn.close()
