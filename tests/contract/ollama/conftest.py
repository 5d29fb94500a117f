"""The Ollama API contract: the stand-in by default, a real server with OLLAMA_URL.

    OLLAMA_URL=http://127.0.0.1:11434 pytest -q tests/contract/ollama

Against a real server the suite pulls two small models from the Ollama
library (OLLAMA_CONTRACT_CHAT, default qwen2.5-coder:0.5b, ~400 MB;
OLLAMA_CONTRACT_EMBED, default all-minilm, ~45 MB), loads and unloads them,
and copies/deletes aliases named `herd-contract-*`. Point it only at a node
you may do that to. Without OLLAMA_URL it starts the stand-in
(tests/doubles/ollama/ollama.py) on 127.0.0.1 with an empty model store.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import ollama
import pytest

REPO = Path(__file__).resolve().parents[3]
STANDIN = REPO / "tests" / "doubles" / "ollama" / "ollama.py"
CHAT = os.environ.get("OLLAMA_CONTRACT_CHAT", "qwen2.5-coder:0.5b")
EMBED = os.environ.get("OLLAMA_CONTRACT_EMBED", "all-minilm")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _standin(tmp: Path) -> Iterator[str]:
    port = _free_port()
    env = dict(os.environ, OLLAMA_HOST=f"127.0.0.1:{port}", OLLAMA_MODELS=str(tmp / "models"))
    env.pop("OLLAMA_KEEP_ALIVE", None)
    log = (tmp / "ollama.log").open("w")
    proc = subprocess.Popen([sys.executable, str(STANDIN), "serve"], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(url + "/api/version", timeout=1) as r:
                    json.load(r)
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError((tmp / "ollama.log").read_text()) from None
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


@pytest.fixture(scope="session")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    real = os.environ.get("OLLAMA_URL")
    if real:
        yield real.rstrip("/")
        return
    with _standin(tmp_path_factory.mktemp("ollama")) as url:
        yield url


@pytest.fixture(scope="session")
def client(base_url: str) -> ollama.Client:
    return ollama.Client(host=base_url, timeout=600)


@pytest.fixture(scope="session")
def models(client: ollama.Client) -> dict[str, str]:
    """The chat and the embedding model, pulled (a no-op when present)."""
    for name in (CHAT, EMBED):
        assert client.pull(name).status == "success"
    return {"chat": CHAT, "embed": EMBED}
