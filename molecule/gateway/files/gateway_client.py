"""The gateway seen by an OpenAI client (the `openai` package of the
gateway's own virtualenv). Prints one JSON object; the key comes from the
environment (GATEWAY_KEY), never from the command line.

    gateway_client.py URL chat|embed|nokey|wrongkey|burst N
"""

import json
import os
import sys
import urllib.error
import urllib.request

import openai

CHAT, EMBED = "llama3.2:1b", "nomic-embed-text"


def client(key):
    return openai.OpenAI(base_url=sys.argv[1] + "/v1", api_key=key, max_retries=0, timeout=60)


def chat(c):
    r = c.chat.completions.create(model=CHAT, messages=[{"role": "user", "content": "Say hello."}])
    return {"model": r.model, "content": r.choices[0].message.content}


def embed(c):
    r = c.embeddings.create(model=EMBED, input=["one herd", "one gateway"])
    return {"vectors": len(r.data), "dims": len(r.data[0].embedding)}


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


def main():
    what = sys.argv[2]
    key = os.environ["GATEWAY_KEY"]
    if what == "chat":
        out = chat(client(key))
    elif what == "embed":
        out = embed(client(key))
    elif what == "nokey":
        out = refused_without_key()
    elif what == "wrongkey":
        out = refused("sk-not-the-master-key-0000000000")
    elif what == "burst":
        ok, failed = 0, []
        for i in range(int(sys.argv[3])):
            try:
                (chat if i % 2 == 0 else embed)(client(key))
                ok += 1
            except openai.OpenAIError as exc:
                failed.append(f"{i}: {type(exc).__name__}: {exc}"[:300])
        out = {"ok": ok, "failed": failed}
    else:
        raise SystemExit(f"unknown step {what}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
