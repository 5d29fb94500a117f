#!/usr/bin/env python3
"""Start the Ollama stand-in (tests/doubles/ollama/ollama.py) with two traits
of the real server it does not have yet, which the load balancer's tests and
benchmark depend on:

- TCP_NODELAY on every connection (Go's net/http sets it; without it the
  stand-in's separate header and body writes meet delayed ACKs and every
  keep-alive response waits ~40 ms);
- OLLAMA_NUM_PARALLEL: at most that many generations at once per server, the
  rest wait their turn, as on a real node holding a 72B model (parallel 1).

Usage: standin_launch.py /path/to/ollama.py serve
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import threading


def main() -> int:
    path, args = sys.argv[1], sys.argv[2:]
    # The stand-in is installed as a command (no .py suffix): load it by path.
    loader = importlib.machinery.SourceFileLoader("ollama_standin", path)
    mod = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    sys.modules[loader.name] = mod
    loader.exec_module(mod)
    mod.Handler.disable_nagle_algorithm = True
    parallel = int(os.environ.get("OLLAMA_NUM_PARALLEL", "0") or 0)
    if parallel > 0:
        slots = threading.BoundedSemaphore(parallel)
        generate = mod.Handler.generate

        def queued(self, req):  # type: ignore[no-untyped-def]
            with slots:
                return generate(self, req)

        mod.Handler.generate = queued
    return mod.main(args)


if __name__ == "__main__":
    sys.exit(main())
