#!/usr/bin/env python3
"""Fault helper, copied to a cluster host by tests/faults/faults.yml.

    herd_fault.py kill UNIT [--check URL] [--timeout S]
    herd_fault.py serve URL [--body JSON] [--expect KEY] [--timeout S]
    herd_fault.py load URL --body JSON --requests N --concurrency C --time-limit S

kill: SIGKILL the unit's main process, then time how long until systemd has
started a new one and URL answers (http://... any HTTP status, or
tcp://host:port). Never give a tcp:// check to a dllama worker: a probe that
is not a root makes it exit. serve: time until a POST to URL returns 200 with
a non-empty KEY in the JSON answer. load: a fixed number of requests with a
time limit; every request's start, end and outcome. Prints one JSON object;
exits 1 when the fault was not survived. Standard library only (the hosts'
Python)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request


def unit_props(unit: str) -> dict[str, str]:
    out = subprocess.run(
        ["systemctl", "show", unit, "-p", "MainPID,NRestarts,RestartUSec,ActiveState"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def answers(url: str) -> bool:
    try:
        if url.startswith("tcp://"):
            host, port = url[6:].rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=1):
                return True
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # it answered, even if it refused us
    except OSError:
        return False


def post(url: str, body: bytes, timeout: float) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def usec(text: str) -> float:
    """systemd's RestartUSec ('3s', '100ms', '1min 30s') in seconds."""
    total = 0.0
    units = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0}
    for part in text.split():
        num = part.rstrip("abcdefghijklmnopqrstuvwxyz")
        total += float(num) * units.get(part[len(num) :], 1.0)
    return total


def cmd_kill(args: argparse.Namespace) -> dict:
    before = unit_props(args.unit)
    pid = int(before["MainPID"])
    res = {"unit": args.unit, "check": args.check, "old_pid": pid, "restart_sec": usec(before["RestartUSec"])}
    if before["ActiveState"] != "active" or pid == 0:
        return res | {"ok": False, "error": f"{args.unit} is {before['ActiveState']} before the fault"}
    if args.check and not answers(args.check):
        return res | {"ok": False, "error": f"{args.check} does not answer before the fault"}
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    new_pid, back_at = 0, None
    while time.monotonic() - t0 < args.timeout:
        now = unit_props(args.unit)
        new_pid = int(now["MainPID"])
        if now["ActiveState"] == "active" and new_pid not in (0, pid) and (not args.check or answers(args.check)):
            back_at = time.monotonic()
            break
        time.sleep(0.1)
    after = unit_props(args.unit)
    res |= {
        "new_pid": new_pid,
        "restarts": int(after["NRestarts"]) - int(before["NRestarts"]),
        "seconds": None if back_at is None else round(back_at - t0, 2),
    }
    res["ok"] = back_at is not None and res["restarts"] >= 1
    if not res["ok"]:
        res["error"] = f"{args.unit} not back within {args.timeout} s (state {after['ActiveState']}, pid {new_pid})"
    return res


def cmd_serve(args: argparse.Namespace) -> dict:
    t0 = time.monotonic()
    last = ""
    while time.monotonic() - t0 < args.timeout:
        try:
            status, body = post(args.url, args.body.encode(), 30)
            if status == 200:
                data = json.loads(body)
                value = data
                for key in args.expect.split("."):
                    value = value[int(key)] if isinstance(value, list) else value.get(key)
                if value:
                    return {"url": args.url, "ok": True, "seconds": round(time.monotonic() - t0, 2), "answer": value}
            last = f"HTTP {status}: {body[:200]!r}"
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            last = repr(exc)
        time.sleep(0.5)
    return {"url": args.url, "ok": False, "seconds": None, "error": f"no answer within {args.timeout} s; last: {last}"}


def cmd_load(args: argparse.Namespace) -> dict:
    results: list[dict] = []
    lock = threading.Lock()
    todo = iter(range(args.requests))
    t0 = time.time()

    def worker() -> None:
        while time.time() - t0 < args.time_limit:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            start = time.time()
            try:
                status, body = post(args.url, args.body.encode(), args.time_limit)
                ok = status == 200 and b'"response"' in body
                err = "" if ok else f"HTTP {status}: {body[:120]!r}"
            except OSError as exc:
                ok, err = False, repr(exc)
            with lock:
                results.append({"i": i, "start": start, "end": time.time(), "ok": ok, "error": err})
            time.sleep(args.pause)

    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failed = [r for r in results if not r["ok"]]
    return {
        "url": args.url,
        "requested": args.requests,
        "completed": len(results),
        "failed": failed,
        "starts": sorted(round(r["start"], 3) for r in results),
        "started": t0,
        "seconds": round(time.time() - t0, 2),
        "ok": len(results) == args.requests,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    k = sub.add_parser("kill")
    k.add_argument("unit")
    k.add_argument("--check", default="")
    k.add_argument("--timeout", type=float, default=60)
    s = sub.add_parser("serve")
    s.add_argument("url")
    s.add_argument("--body", required=True)
    s.add_argument("--expect", required=True)
    s.add_argument("--timeout", type=float, default=120)
    lo = sub.add_parser("load")
    lo.add_argument("url")
    lo.add_argument("--body", required=True)
    lo.add_argument("--requests", type=int, default=200)
    lo.add_argument("--concurrency", type=int, default=4)
    lo.add_argument("--pause", type=float, default=0.05)
    lo.add_argument("--time-limit", type=float, default=60)
    args = ap.parse_args()
    res = {"kill": cmd_kill, "serve": cmd_serve, "load": cmd_load}[args.cmd](args)
    print(json.dumps(res))
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
