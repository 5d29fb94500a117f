#!/usr/bin/env python3
"""Load a GGUF in the host-built llama-server (and optional ggml-rpc-servers)
on 127.0.0.1 and read the buffer sizes it reports at ``-lv 4``.

Library for bench/memory_accuracy.py; only loopback is ever used.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(os.environ.get("HERD_LLAMA_BIN", REPO / ".cache" / "llama.cpp-b11312-host" / "build" / "bin"))

# "load_tensors:   CPU_Mapped model buffer size =     2.53 MiB"
# "llama_kv_cache:        CPU KV buffer size =     0.50 MiB"
# "sched_reserve:        CPU compute buffer size =     5.01 MiB"
_BUF_RE = re.compile(r"(\S+)\s+(model|KV|compute|output|RS) buffer size =\s+([0-9.]+) MiB")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.2)
    raise TimeoutError(f"port {port} did not open")


def parse_buffers(log: str) -> dict[str, dict[str, float]]:
    """{kind: {device: MiB}}; the last report per device wins (reserve runs twice)."""
    out: dict[str, dict[str, float]] = {}
    for dev, kind, size in _BUF_RE.findall(log):
        out.setdefault(kind, {})[dev] = float(size)
    return out


def measure(model: Path, args: list[str], rpc_workers: int = 0, rpc_mem_mib: list[int] | None = None) -> dict:
    """Start workers + server, wait for the buffers to be reported, stop (head first)."""
    workers: list[subprocess.Popen] = []
    endpoints = []
    logs = []
    try:
        for i in range(rpc_workers):
            p = free_port()
            cmd = [str(BIN / "ggml-rpc-server"), "-H", "127.0.0.1", "-p", str(p)]
            if rpc_mem_mib:
                cmd += ["-m", str(rpc_mem_mib[i])]
            w = subprocess.Popen(
                cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "LD_LIBRARY_PATH": str(BIN)}
            )
            workers.append(w)
            _wait_port(p, w)
            endpoints.append(f"127.0.0.1:{p}")
        port = free_port()
        cmd = [str(BIN / "llama-server"), "-m", str(model), "--host", "127.0.0.1", "--port", str(port), "-lv", "4", "-fit", "off"]
        cmd += args
        if endpoints:
            cmd += ["--rpc", ",".join(endpoints)]
        logf = Path(f"/tmp/herd-measure-{port}.log")
        with logf.open("w") as fh:
            srv = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, "LD_LIBRARY_PATH": str(BIN)})
            try:
                end = time.monotonic() + 120
                while time.monotonic() < end:
                    text = logf.read_text(errors="replace")
                    if "load_model: initializing" in text or "server is listening" in text or srv.poll() is not None:
                        break
                    time.sleep(0.2)
            finally:
                srv.terminate()
                try:
                    srv.wait(10)
                except subprocess.TimeoutExpired:
                    srv.kill()
        text = logf.read_text(errors="replace")
        logs.append(text)
        logf.unlink(missing_ok=True)
        return {"buffers": parse_buffers(text), "ok": "compute buffer size" in text, "cmd": cmd, "tail": text[-2000:]}
    finally:
        for w in workers:
            w.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                w.wait(10)
