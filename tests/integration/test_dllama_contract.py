"""The stand-in and the real distributed-llama agree: the same cases run
against tests/doubles/distributed-llama in CI and against a real checkout
when DLLAMA_SRC=/path/to/distributed-llama is set (built in a temporary
copy). Float-type pairs and the API's crash fix are in test_dllama_real.py;
this file holds the rest of the contract: argument errors, topology, API
routes and response fields, model and tokenizer format, a worker lost to a
probe or mid-request, one root at a time. Loopback only."""

from __future__ import annotations

import http.client
import json
import os
import select
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import dllama_real as bench  # noqa: E402

SOURCE = Path(os.environ.get("DLLAMA_SRC") or REPO / "tests" / "doubles" / "distributed-llama")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    work = tmp_path_factory.mktemp("dllama")
    # The real program as the role builds it: with the role's dllama_patches.
    patches = bench.role_patches() if os.environ.get("DLLAMA_SRC") else ()
    bin_dir, _, _ = bench.build(SOURCE, work, patches)
    models = work / "models"
    models.mkdir()
    bench.dm.write_model(models / "m_q40.m", bench.dm.Shape(weights="q40"))
    bench.dm.write_tokenizer(models / "t.t")
    return bin_dir, models, work


def run(bin_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(bin_dir / "dllama"), *args], capture_output=True, text=True, errors="replace", timeout=60, check=False
    )


def inference(models: Path, *extra: str, model: str = "m_q40.m", tokenizer: str = "t.t") -> list[str]:
    return [
        "inference", "--model", str(models / model), "--tokenizer", str(models / tokenizer),
        "--buffer-float-type", "q80", "--nthreads", "1", "--prompt", "hi", "--steps", "4", *extra,
    ]  # fmt: skip


def refused(p: subprocess.CompletedProcess, message: str) -> None:
    assert p.returncode != 0, p.stdout[-500:]
    assert message in p.stdout + p.stderr, (p.stdout + p.stderr)[-800:]


def test_the_tiny_model_generates_tokens(built):
    bin_dir, models, _ = built
    p = run(bin_dir, *inference(models))
    assert p.returncode == 0, (p.stdout + p.stderr)[-800:]


def test_an_unknown_option_is_refused(built):
    bin_dir, models, _ = built
    refused(run(bin_dir, *inference(models, "--no-such-option", "1")), "Unknown option: --no-such-option")


def test_an_unknown_float_type_is_refused(built):
    bin_dir, models, _ = built
    args = inference(models)
    args[args.index("q80")] = "f64"
    refused(run(bin_dir, *args), "Invalid float type: f64")


def test_more_nodes_than_kv_heads_is_refused_before_connecting(built):
    bin_dir, models, _ = built
    # The tiny model has 2 KV heads; 4 nodes. Nothing listens on these ports:
    # the check must come before any connection.
    ports = [str(bench.free_port()) for _ in range(3)]
    p = run(bin_dir, *inference(models, "--workers", *(f"127.0.0.1:{x}" for x in ports)))
    refused(p, "does not support more nodes than the number of KV heads")


def test_three_nodes_are_refused(built):
    """Not a power of two. The messages differ: upstream has no check and
    aborts in its KV cache slicing (`kvDim % nNodes == 0`, SIGABRT), the
    stand-in says so; both end the root with a failure."""
    bin_dir, models, _ = built
    bench.dm.write_model(models / "kv4.m", bench.dm.Shape(weights="q40", n_kv_heads=4))
    ports = [bench.free_port() for _ in range(2)]
    workers = [
        subprocess.Popen(
            [str(bin_dir / "dllama"), "worker", "--host", "127.0.0.1", "--port", str(x), "--nthreads", "1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for x in ports
    ]
    try:
        time.sleep(0.5)  # never probe a worker's port: a non-root connection makes it exit
        p = run(bin_dir, *inference(models, "--workers", *(f"127.0.0.1:{x}" for x in ports), model="kv4.m"))
    finally:
        for w in workers:
            bench.stop(w)
    assert p.returncode != 0, p.stdout[-500:]
    assert "Tokens" not in p.stdout and "nTokens" not in p.stdout, p.stdout[-500:]


def test_a_tokenizer_with_a_wrong_magic_is_refused(built):
    bin_dir, models, _ = built
    bad = models / "bad.t"
    data = bytearray((models / "t.t").read_bytes())
    data[0:4] = (0x12345).to_bytes(4, "little")
    bad.write_bytes(bytes(data))
    refused(run(bin_dir, *inference(models, tokenizer="bad.t")), "Invalid tokenizer file")


@pytest.mark.skipif(
    not os.environ.get("DLLAMA_SRC"),
    reason="the stand-in reads only the header (its README: the demo's header-only models must load)",
)
def test_a_truncated_model_is_refused(built):
    bin_dir, models, _ = built
    data = (models / "m_q40.m").read_bytes()
    (models / "short.m").write_bytes(data[: len(data) - 4096])
    refused(run(bin_dir, *inference(models, model="short.m")), "Missing bytes in weight file")


def chat(port: int, max_tokens: int) -> dict:
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def test_api_routes_and_response_fields(built):
    bin_dir, models, work = built
    api, port, _log = bench.start_api(bin_dir, models, work)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=10) as r:
            listed = json.loads(r.read())
        assert listed["object"] == "list" and listed["data"], listed
        answer = chat(port, 6)
        cut = chat(port, 1)
    finally:
        bench.stop(api)
    # Upstream at the pin leaves index uninitialised and finish_reason "";
    # the role's patch 0003 sets both.
    assert answer["object"] == "chat.completion", answer
    choice = answer["choices"][0]
    assert choice["index"] == 0 and choice["finish_reason"] in ("stop", "length"), answer
    assert choice["message"]["role"] == "assistant", answer
    usage = answer["usage"]
    assert usage["prompt_tokens"] > 0 and 0 < usage["completion_tokens"] <= 6, answer
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"], answer
    # One token allowed: the answer is cut by the limit (the tiny model's first
    # token at seed 1 is no end-of-sequence token).
    assert cut["usage"]["completion_tokens"] == 1 and cut["choices"][0]["finish_reason"] == "length", cut


def start_worker(bin_dir: Path, port: int, log: Path) -> subprocess.Popen:
    with open(log, "a") as out:
        return subprocess.Popen(
            [str(bin_dir / "dllama"), "worker", "--host", "127.0.0.1", "--port", str(port), "--nthreads", "1"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def start_api_with_worker(bin_dir: Path, models: Path, work: Path, worker_port: int) -> tuple[subprocess.Popen, int, Path]:
    """dllama-api with one worker (2 nodes), line-buffered so its log can be
    read while it runs; returns once it answers GET /v1/models."""
    port = bench.free_port()
    log = work / f"api-{port}.log"
    argv = ["stdbuf", "-oL", str(bin_dir / "dllama-api"), "--model", str(models / "m_q40.m")]
    argv += ["--tokenizer", str(models / "t.t"), "--buffer-float-type", "q80", "--nthreads", "1"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--seed", "1", "--workers", f"127.0.0.1:{worker_port}"]
    with open(log, "w") as out:
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    assert answers_models(port, p, 30), log.read_text()[-800:]
    return p, port, log


def answers_models(port: int, proc: subprocess.Popen, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def test_a_port_probe_ends_an_idle_worker(built):
    """Why the role never health-checks a worker by connecting to it: upstream
    reads the node count from whatever connects (src/nn/nn-network.cpp:298-304
    at 8d624a7), outside the worker loop's try (src/app.cpp:305-313), so a
    closed probe ends the process (src/dllama.cpp:278-280)."""
    bin_dir, _, work = built
    port = bench.free_port()
    log = work / f"probed-{port}.log"
    worker = start_worker(bin_dir, port, log)
    try:
        time.sleep(0.5)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        code = worker.wait(timeout=10)
    finally:
        bench.stop(worker)
    assert code == 1, log.read_text()[-500:]
    assert "🚨 Critical error: Socket closed" in log.read_text(), log.read_text()[-500:]


def test_a_worker_lost_mid_request_ends_that_request_and_the_api_reconnects(built):
    """Upstream: the forward pass fails on the dead worker's socket
    (src/nn/nn-executor.cpp:149-154, 200-201), the API's serve loop rethrows
    (src/dllama-api.cpp:569-572), the request gets no answer, the HTTP port
    closes and main retries every 3 s until every worker is back
    (src/dllama-api.cpp:617-627); the process never exits."""
    bin_dir, models, work = built
    wport = bench.free_port()
    wlog = work / f"worker-{wport}.log"
    worker = start_worker(bin_dir, wport, wlog)
    time.sleep(0.5)
    api, port, log = start_api_with_worker(bin_dir, models, work, wport)
    try:
        assert chat(port, 2)["usage"]["completion_tokens"] >= 1
        worker.kill()
        worker.wait()
        with pytest.raises((http.client.HTTPException, OSError)):
            chat(port, 2)
        time.sleep(1)
        assert api.poll() is None, log.read_text()[-800:]
        worker = start_worker(bin_dir, wport, wlog)
        assert answers_models(port, api, 30), log.read_text()[-800:]
        assert chat(port, 2)["usage"]["completion_tokens"] >= 1
    finally:
        bench.stop(api)
        bench.stop(worker)
    text = log.read_text()
    assert "🚨 Inference error: Execution failed in one of the threads" in text, text[-800:]
    assert "🔄 Retrying in 3 seconds..." in text, text[-800:]
    assert text.count("⭕ Network is initialized") == 2, text[-800:]


def test_one_root_at_a_time(built):
    """A worker serving a root has closed its listening socket (upstream's
    NnNetwork::serve owns it, src/nn/nn-network.cpp:297-348): a second root
    cannot connect (src/nn/nn-network.cpp:164-167) and ends with a critical
    error; the first root and the worker go on."""
    bin_dir, models, work = built
    wport = bench.free_port()
    worker = start_worker(bin_dir, wport, work / f"busy-{wport}.log")
    time.sleep(0.5)
    api, port, log = start_api_with_worker(bin_dir, models, work, wport)
    try:
        second = run(bin_dir, *inference(models, "--workers", f"127.0.0.1:{wport}"))
        assert worker.poll() is None and api.poll() is None, log.read_text()[-800:]
        assert chat(port, 2)["usage"]["completion_tokens"] >= 1
    finally:
        bench.stop(api)
        bench.stop(worker)
    refused(second, "Critical error: Cannot connect")
    assert "Cannot connect to 127.0.0.1:" in second.stdout, second.stdout[-500:]


def first_line_while_running(argv: list[str], seconds: float = 10) -> str:
    """The first line the program writes to a pipe, read while it still runs
    (the journal is such a pipe): upstream buffers stdout in 4 KiB blocks
    there; the role's patch 0004 makes it line-buffered."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        ready, _, _ = select.select([p.stdout], [], [], seconds)
        line = p.stdout.readline().decode(errors="replace") if ready else ""
        assert p.poll() is None, f"exited with {p.returncode}"
        return line
    finally:
        bench.stop(p)


def test_a_worker_and_the_api_write_their_log_line_by_line(built):
    bin_dir, models, _ = built
    port = bench.free_port()
    worker = [str(bin_dir / "dllama"), "worker", "--host", "127.0.0.1", "--port", str(port), "--nthreads", "1"]
    assert first_line_while_running(worker).startswith(f"Listening on 127.0.0.1:{port}")
    api = [str(bin_dir / "dllama-api"), "--model", str(models / "m_q40.m"), "--tokenizer", str(models / "t.t")]
    api += ["--buffer-float-type", "q80", "--nthreads", "1", "--host", "127.0.0.1", "--port", str(bench.free_port())]
    assert first_line_while_running(api).strip()
