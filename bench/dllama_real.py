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
import json
import os
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

FLOAT_TYPES = ("f32", "f16", "q40", "q80")
ERROR = re.compile(r"(🚨 Critical error: .*|terminate called.*|\s*what\(\):.*|Assertion .*)")
PROMPT = "hello world"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(src: Path, work: Path) -> tuple[Path, float, str]:
    tree = work / "src"
    shutil.copytree(src, tree, ignore=shutil.ignore_patterns(".git"))
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=os.environ.get("DLLAMA_SRC"), help="a distributed-llama checkout (default $DLLAMA_SRC)")
    ap.add_argument("--out")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=128)
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
        result = {
            "commit": commit,
            "build_seconds": round(took, 1),
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
