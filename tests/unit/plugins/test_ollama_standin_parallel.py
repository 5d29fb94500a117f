"""The Ollama stand-in queues generations beyond OLLAMA_NUM_PARALLEL and
answers 503 beyond OLLAMA_MAX_QUEUE, as Ollama does (the load balancer's
tests depend on one generation at a time per node)."""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ollama_standin import standin


def _post(url: str, path: str, body: dict) -> tuple[int, float]:
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()
            return r.status, time.monotonic() - t0
    except urllib.error.HTTPError as exc:
        return exc.code, time.monotonic() - t0


def test_generations_beyond_num_parallel_wait_and_beyond_the_queue_get_503(tmp_path):
    env = {"OLLAMA_NUM_PARALLEL": "1", "OLLAMA_MAX_QUEUE": "1", "OLLAMA_STANDIN_TOKEN_MS": "40"}
    with standin(tmp_path, **env) as url:
        assert _post(url, "/api/pull", {"model": "qwen2.5:3b", "stream": False})[0] == 200
        gen = {"model": "qwen2.5:3b", "prompt": "x", "stream": False, "options": {"num_predict": 10}}
        results: list[tuple[int, float]] = [(0, 0.0)] * 3

        def one(i: int) -> None:
            results[i] = _post(url, "/api/generate", gen)

        threads = []
        for i in range(3):
            threads.append(threading.Thread(target=one, args=(i,)))
            threads[-1].start()
            time.sleep(0.1)
        for t in threads:
            t.join(30)
        # The first runs (0.4 s), the second waits for it, the third finds the queue full.
        assert [r[0] for r in results] == [200, 200, 503]
        assert results[1][1] > results[0][1] + 0.15
        # Other endpoints never wait for a generation slot.
        with urllib.request.urlopen(url + "/api/version", timeout=5) as r:
            assert r.status == 200


def test_without_num_parallel_generations_run_at_once(tmp_path):
    with standin(tmp_path, OLLAMA_STANDIN_TOKEN_MS="40") as url:
        _post(url, "/api/pull", {"model": "qwen2.5:3b", "stream": False})
        gen = {"model": "qwen2.5:3b", "prompt": "x", "stream": False, "options": {"num_predict": 10}}
        results: list[tuple[int, float]] = []
        threads = [threading.Thread(target=lambda: results.append(_post(url, "/api/generate", gen))) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert [r[0] for r in results] == [200, 200, 200]
        assert max(r[1] for r in results) < 0.4 * 2
