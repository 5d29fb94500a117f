#!/usr/bin/env python3
# Copyright: llama-herd developers
# Apache License 2.0
"""Run a real distributed-llama checkout on tiny complete models, on loopback.

    DLLAMA_SRC=/path/to/distributed-llama python bench/dllama_real.py [--out RESULT.json]

Copies the checkout to a temporary directory, builds ``make dllama
dllama-api -j2`` there (timed), writes complete model files for every
weights float type and one tokenizer with tests/harness/dllama_model.py,
then measures:

* the float-type matrix: ``dllama inference`` for each (weights,
  ``--buffer-float-type``) pair, root alone and root + 1 worker
  (``dllama worker --host 127.0.0.1``), with the abort message of the root
  and of the worker and whether the worker exited;
* tokens/s of a short inference for the pairs that run (``--runs`` runs each);
* two ``POST /v1/chat/completions`` to ``dllama-api`` on a free loopback
  port, then the same after one bare TCP connect-and-close to its port.

Every process it starts listens on or talks to 127.0.0.1 only and is killed
by its own pid before the script ends. Prints JSON (and writes it with --out).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "harness"))

import dllama_model as dm
import yaml

REPO = Path(__file__).resolve().parents[1]
ROLE_FILES = REPO / "roles" / "dllama" / "files"

FLOAT_TYPES = ("f32", "f16", "q40", "q80")
ERROR = re.compile(r"(🚨 Critical error: .*|terminate called.*|\s*what\(\):.*|Assertion .*)")
PROMPT = "hello world"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def role_patches() -> list[Path]:
    """The role's default dllama_patches (roles/dllama/defaults/main.yml), as paths."""
    defaults = yaml.safe_load((REPO / "roles" / "dllama" / "defaults" / "main.yml").read_text())
    return [ROLE_FILES / p for p in defaults["dllama_patches"]]


def build(src: Path, work: Path, patches: list[Path] | tuple = (), name: str = "src") -> tuple[Path, float, str]:
    """Copy src to work/name, apply patches with the role's dllama-patch, build."""
    tree = work / name
    shutil.copytree(src, tree, ignore=shutil.ignore_patterns(".git"))
    if patches:
        subprocess.run([str(ROLE_FILES / "dllama-patch"), str(tree), *map(str, patches)], check=True, capture_output=True)
    t0 = time.monotonic()
    p = subprocess.run(["make", "dllama", "dllama-api", "-j2"], cwd=tree, capture_output=True, text=True, check=False)
    took = time.monotonic() - t0
    if p.returncode != 0:
        raise SystemExit(f"build failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    commit = subprocess.run(
        ["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return tree, took, commit or "unknown"


def first_error(text: str) -> str | None:
    lines = [m.group(1).strip() for m in ERROR.finditer(text)]
    return " / ".join(lines[:2]) if lines else None


def stop(proc: subprocess.Popen) -> int | None:
    """Kill one process we started (by its pid); its exit code if it had already exited."""
    rc = proc.poll()
    if rc is None:
        proc.kill()
        proc.wait(timeout=10)
    return rc


def root(bin_dir: Path, models: Path, weights: str, buffer: str, workers: list[int], steps: int) -> subprocess.CompletedProcess:
    argv = [str(bin_dir / "dllama"), "inference", "--model", str(models / f"m_{weights}.m"), "--tokenizer", str(models / "t.t")]
    argv += ["--buffer-float-type", buffer, "--nthreads", "1", "--prompt", PROMPT, "--steps", str(steps), "--seed", "1"]
    argv += ["--temperature", "0"]
    if workers:
        argv += ["--workers", *(f"127.0.0.1:{p}" for p in workers)]
    return subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=120, check=False)


def with_worker(bin_dir: Path, work: Path, fn):
    """Run fn(port) with one worker on loopback; returns (fn's result, worker log, worker exit code or None)."""
    port = free_port()
    log = work / f"worker-{port}.log"
    with open(log, "w") as out:
        w = subprocess.Popen(
            [str(bin_dir / "dllama"), "worker", "--host", "127.0.0.1", "--port", str(port), "--nthreads", "1"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        time.sleep(0.5)  # never probe a worker's port: a non-root connection makes it exit
        result = fn(port)
        time.sleep(0.5)
    finally:
        rc = stop(w)
    return result, log.read_text(errors="replace"), rc


def matrix(bin_dir: Path, models: Path, work: Path) -> list[dict]:
    rows = []
    for w in FLOAT_TYPES:
        for b in FLOAT_TYPES:
            one = root(bin_dir, models, w, b, [], 16)
            two, wlog, wrc = with_worker(bin_dir, work, lambda port, w=w, b=b: root(bin_dir, models, w, b, [port], 16))
            rows.append(
                {
                    "weights": w,
                    "buffer": b,
                    "root_alone": {"rc": one.returncode, "error": first_error(one.stdout + one.stderr)},
                    "root_plus_worker": {
                        "rc": two.returncode,
                        "error": first_error(two.stdout + two.stderr),
                        "worker_error": first_error(wlog),
                        "worker_exited": wrc is not None,
                    },
                }
            )
    return rows


def tokens_per_s(text: str) -> dict[str, float]:
    out = {}
    for phase in ("Evaluation", "Prediction"):
        m = re.search(phase + r"\n(?:.*\n){0,3}?\s*tokens/s: ([0-9.]+) \(([0-9.]+) ms/tok\)", text)
        if m:
            out[phase.lower()] = float(m.group(1))
            out[phase.lower() + "_ms_per_token"] = float(m.group(2))
    return out


def speed(bin_dir: Path, models: Path, work: Path, runs: int, steps: int) -> list[dict]:
    rows = []
    for w, b in (("q40", "q80"), ("f32", "f32")):
        for nodes in (1, 2):
            for i in range(runs):
                if nodes == 1:
                    p = root(bin_dir, models, w, b, [], steps)
                else:
                    p, _, _ = with_worker(bin_dir, work, lambda port, w=w, b=b: root(bin_dir, models, w, b, [port], steps))
                rows.append(
                    {"weights": w, "buffer": b, "nodes": nodes, "run": i + 1, "rc": p.returncode, **tokens_per_s(p.stdout)}
                )
    return rows


def api(bin_dir: Path, models: Path, work: Path, probe_first: bool = False) -> dict:
    """Two chat requests to dllama-api. With probe_first, open and close one
    bare TCP connection first (what a port health check does)."""
    port = free_port()
    log = work / f"api-{port}.log"
    argv = [str(bin_dir / "dllama-api"), "--model", str(models / "m_q40.m"), "--tokenizer", str(models / "t.t")]
    argv += ["--buffer-float-type", "q80", "--nthreads", "1", "--host", "127.0.0.1", "--port", str(port), "--seed", "1"]
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}).encode()
    answers = []
    with open(log, "w") as out:
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        # No readiness probe: a bare connect-and-close makes dllama-api abort
        # (see probe_first). The tiny model loads in milliseconds.
        time.sleep(2)
        if probe_first:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            time.sleep(0.5)
        for _ in range(2):
            req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body, method="POST")
            req.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    answers.append({"status": r.status, "body": json.loads(r.read())})
            except (urllib.error.URLError, ConnectionError, json.JSONDecodeError) as exc:
                answers.append({"error": repr(exc)})
            answers[-1]["server_alive"] = p.poll() is None
    finally:
        rc = stop(p)
    return {
        "probe_first": probe_first,
        "answers": answers,
        "exit_code_before_kill": rc,
        "log_tail": log.read_text(errors="replace")[-1200:],
    }


WORDS = ("the", "a", "cluster", "node", "token", "model", "answer", "question", "small", "large", "red", "blue")


def chat_bodies(n: int, seed: int = 7) -> list[dict]:
    """n chat requests of varied length: 0-30 words, one to three messages
    (a system message, an earlier turn), max_tokens 1-24; all fit the tiny
    model's 256 positions."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 30)))
        messages = [{"role": "user", "content": words}]
        if i % 3 == 1:
            messages.insert(0, {"role": "system", "content": "be brief"})
        if i % 5 == 2:
            messages[:0] = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
        out.append({"messages": messages, "max_tokens": rng.randint(1, 24)})
    return out


def start_api(bin_dir: Path, models: Path, work: Path) -> tuple[subprocess.Popen, int, Path]:
    """dllama-api on a free loopback port, once it answers GET /v1/models (an
    HTTP request: a bare TCP probe would make the unpatched API abort)."""
    port = free_port()
    log = work / f"api-{port}.log"
    argv = [str(bin_dir / "dllama-api"), "--model", str(models / "m_q40.m"), "--tokenizer", str(models / "t.t")]
    argv += ["--buffer-float-type", "q80", "--nthreads", "1", "--host", "127.0.0.1", "--port", str(port), "--seed", "1"]
    with open(log, "w") as out:
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and p.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5):
                break
        except OSError:
            time.sleep(0.2)
    return p, port, log


def post_chat(port: int, body: dict) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=json.dumps(body).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            answer = json.loads(r.read())
            return {"status": r.status, "completion_tokens": answer["usage"]["completion_tokens"]}
    except (OSError, KeyError, json.JSONDecodeError) as exc:
        return {"error": repr(exc)}


def api_chats(bin_dir: Path, models: Path, work: Path, n: int = 100) -> dict:
    """n chat completions of varied length against one dllama-api; stops at
    the first request that gets no answer (the server died)."""
    p, port, log = start_api(bin_dir, models, work)
    answered, tokens, failure = 0, 0, None
    try:
        for i, body in enumerate(chat_bodies(n)):
            got = post_chat(port, body)
            if got.get("status") != 200:
                time.sleep(0.5)
                failure = {"request": i, "body": body, **got, "exit_code": p.poll()}
                break
            answered += 1
            tokens += got["completion_tokens"]
    finally:
        rc = stop(p)
    return {
        "requests": n,
        "answered": answered,
        "completion_tokens": tokens,
        "failure": failure,
        "exit_code_before_kill": rc,
        "log_tail": None if failure is None else log.read_text(errors="replace")[-600:],
    }


def api_invalid_requests(bin_dir: Path, models: Path, work: Path) -> list[dict]:
    """After each bad client (a bare connect-and-close, headers cut off, a
    body that is not JSON), is the next chat completion answered?"""
    bad = {
        "bare_connect": b"",
        "headers_cut_off": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n",
        "body_not_json": b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
    }
    rows = []
    for name, data in bad.items():
        p, port, _ = start_api(bin_dir, models, work)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
                with contextlib.suppress(OSError):
                    s.recv(4096)
            time.sleep(0.3)
            got = post_chat(port, {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4})
            rows.append({"client": name, "next_chat": got.get("status") or got.get("error"), "exit_code": p.poll()})
        finally:
            stop(p)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=os.environ.get("DLLAMA_SRC"), help="a distributed-llama checkout (default $DLLAMA_SRC)")
    ap.add_argument("--out")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=128)
    ap.add_argument("--chats", type=int, default=100, help="chat completions per dllama-api build")
    ap.add_argument("--api-only", action="store_true", help="only the dllama-api runs, unpatched and with the role's patches")
    a = ap.parse_args()
    if not a.src:
        raise SystemExit("set DLLAMA_SRC=/path/to/distributed-llama or pass --src")
    with tempfile.TemporaryDirectory(prefix="dllama-real-") as tmp:
        work = Path(tmp)
        bin_dir, took, commit = build(Path(a.src), work)
        models = work / "models"
        models.mkdir()
        for w in FLOAT_TYPES:
            dm.write_model(models / f"m_{w}.m", dm.Shape(weights=w))
        dm.write_tokenizer(models / "t.t")
        patched_dir, patched_took, _ = build(Path(a.src), work, role_patches(), name="src-patched")
        result = {
            "commit": commit,
            "patches": [p.name for p in role_patches()],
            "api_chats": {
                "unpatched": api_chats(bin_dir, models, work, a.chats),
                "patched": api_chats(patched_dir, models, work, a.chats),
            },
            "api_invalid_requests": {
                "unpatched": api_invalid_requests(bin_dir, models, work),
                "patched": api_invalid_requests(patched_dir, models, work),
            },
        }
        if not a.api_only:
            result |= {
                "build_seconds": round(took, 1),
                "build_seconds_patched": round(patched_took, 1),
                "shape": {**dm.Shape().header(), "vocab_size": dm.Shape().vocab_size},
                "matrix": matrix(bin_dir, models, work),
                "speed": speed(bin_dir, models, work, a.runs, a.steps),
                "api": api(bin_dir, models, work),
                "api_after_bare_connect": api(bin_dir, models, work, probe_first=True),
            }
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if a.out:
        Path(a.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
