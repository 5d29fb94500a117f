"""Start the Ollama stand-in (tests/doubles/ollama) as a real process on 127.0.0.1."""

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

REPO = Path(__file__).resolve().parents[3]
STANDIN = REPO / "tests" / "doubles" / "ollama" / "ollama.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def standin(tmp: Path, **env: str) -> Iterator[str]:
    """Yield the base URL of a running stand-in; stop it afterwards."""
    port = free_port()
    full = dict(os.environ)
    full.update(OLLAMA_HOST=f"127.0.0.1:{port}", OLLAMA_MODELS=str(tmp / "models"), **env)
    log = (tmp / "ollama.log").open("w")
    proc = subprocess.Popen([sys.executable, str(STANDIN), "serve"], env=full, stderr=log, stdout=log)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
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
        proc.wait(5)
        log.close()
