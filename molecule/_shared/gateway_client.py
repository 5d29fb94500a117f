"""The gateway seen by an OpenAI client (the `openai` package of the
gateway's own virtualenv). Prints one JSON object; the key comes from the
environment (GATEWAY_KEY), never from the command line.

    gateway_client.py URL chat [MODEL]|embed [MODEL]|models|nokey|wrongkey
    gateway_client.py URL spread N SECONDS [DELAY]

spread: after DELAY seconds, N requests (chat and embeddings in turn) evenly
over SECONDS; counts the answers by the backend LiteLLM says served each one
(its x-litellm-model-api-base header).
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request

import openai

CHAT, EMBED = "llama3.2:1b", "nomic-embed-text"


def client(key):
    return openai.OpenAI(base_url=sys.argv[1] + "/v1", api_key=key, max_retries=0, timeout=60)


def chat(c, model=CHAT):
    raw = c.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": "Say hello."}])
    r = raw.parse()
    return {"model": r.model, "content": r.choices[0].message.content, "api_base": raw.headers.get("x-litellm-model-api-base")}


def embed(c, model=EMBED):
    raw = c.embeddings.with_raw_response.create(model=model, input=["one herd", "one gateway"])
    r = raw.parse()
    return {"vectors": len(r.data), "dims": len(r.data[0].embedding), "api_base": raw.headers.get("x-litellm-model-api-base")}


def models(c):
    return {"models": sorted(m.id for m in c.models.list())}


def refused_without_key():
    """The OpenAI client will not send a request without a key: plain HTTP."""
    body = json.dumps({"model": CHAT, "messages": [{"role": "user", "content": "hi"}]}).encode()
    req = urllib.request.Request(sys.argv[1] + "/v1/chat/completions", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return {"refused": False, "status": r.status}
    except urllib.error.HTTPError as exc:
        return {"refused": True, "status": exc.code}


def refused(key):
    try:
        chat(client(key))
    except openai.APIStatusError as exc:
        return {"refused": True, "status": exc.status_code}
    return {"refused": False}


def served_by(c, i):
    """One request; the api_base of the deployment that answered it."""
    if i % 2 == 0:
        raw = c.chat.completions.with_raw_response.create(model=CHAT, messages=[{"role": "user", "content": "Say hello."}])
        assert raw.parse().choices[0].message.content
    else:
        raw = c.embeddings.with_raw_response.create(model=EMBED, input=["one herd", "one gateway"])
        assert len(raw.parse().data) == 2
    return raw.headers.get("x-litellm-model-api-base") or "unknown"


def spread(key, n, seconds, delay):
    time.sleep(delay)
    ok, failed, by_backend = 0, [], {}
    start = time.monotonic()
    gap = seconds / max(n - 1, 1)
    for i in range(n):
        time.sleep(max(0.0, start + i * gap - time.monotonic()))
        try:
            base = served_by(client(key), i)
            by_backend[base] = by_backend.get(base, 0) + 1
            ok += 1
        except (openai.OpenAIError, AssertionError) as exc:
            failed.append(f"{i} at {time.monotonic() - start:.1f} s: {type(exc).__name__}: {exc}"[:300])
    return {"ok": ok, "failed": failed, "by_backend": by_backend, "seconds": round(time.monotonic() - start, 1)}


def main():
    what = sys.argv[2]
    key = os.environ["GATEWAY_KEY"]
    if what == "chat":
        out = chat(client(key), *sys.argv[3:4])
    elif what == "embed":
        out = embed(client(key), *sys.argv[3:4])
    elif what == "models":
        out = models(client(key))
    elif what == "nokey":
        out = refused_without_key()
    elif what == "wrongkey":
        out = refused("sk-not-the-master-key-0000000000")
    elif what == "spread":
        delay = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
        out = spread(key, int(sys.argv[3]), float(sys.argv[4]), delay)
    else:
        raise SystemExit(f"unknown step {what}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
