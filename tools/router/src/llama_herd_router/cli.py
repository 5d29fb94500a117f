"""``llama-herd-router``: status, route, check, models, optimize, daemon.

Exit codes: 0 success; 1 a model could not be placed on GPU (``check``), an
optimization failed, or a node's VRAM is unknown so the answer is not
verified (``check``, ``optimize``); 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from . import __version__, report
from . import decide as d
from .config import DEFAULT_CONFIG, Config, ConfigError, load
from .metrics import MetricsServer, render
from .router import OptimizeResult, VramHistory, gather, optimize

log = logging.getLogger("llama_herd_router")
COMMANDS = ("status", "route", "check", "models", "optimize", "daemon")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llama-herd-router",
        description="VRAM-aware GPU router for Ollama clusters: keeps priority models on GPU and explains every decision.",
    )
    p.add_argument("--config", default=DEFAULT_CONFIG, help=f"YAML configuration (default {DEFAULT_CONFIG})")
    p.add_argument("--json", action="store_true", help="print JSON instead of a report")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="change nothing: print the cluster report (no command), plan optimize without loading, run daemon once",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("status", help="VRAM and loaded models per node")
    for name, text in (("route", "where MODEL should run, and why"), ("check", "which nodes can fit MODEL on GPU")):
        sp = sub.add_parser(name, help=text)
        sp.add_argument("model", metavar="MODEL")
    sub.add_parser("models", help="known models and their sizes")
    sub.add_parser("optimize", help="load the priority models on the best GPU nodes")
    dp = sub.add_parser("daemon", help="check (and optimize) every check_interval; serve metrics")
    dp.add_argument("--cycles", type=int, default=0, help="stop after N checks (0: run until stopped)")
    return p


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, sort_keys=True) if args.json else text, flush=True)


def _status(args: argparse.Namespace, cfg: Config) -> int:
    nodes = gather(cfg)
    m = cfg.vram_safety_margin
    prio = list(cfg.priority_models)
    data = {
        "margin": m,
        "nodes": [report.node_json(n, m) for n in nodes],
        "priority_models": [report.decision_json(d.decide(nodes, x, m, overrides=cfg.model_sizes)) for x in prio],
    }
    _emit(args, data, report.status_text(nodes, m, prio, cfg.model_sizes))
    return 0


def _route(args: argparse.Namespace, cfg: Config, check: bool) -> int:
    nodes = gather(cfg)
    dec = d.decide(nodes, args.model, cfg.vram_safety_margin, overrides=cfg.model_sizes)
    _emit(args, report.decision_json(dec), report.check_text(dec) if check else report.route_text(dec))
    return 0 if (dec.on_gpu or not check) else 1  # check: not on GPU, or not verified (VRAM unknown)


def _optimize(args: argparse.Namespace, cfg: Config) -> int:
    res = optimize(cfg, gather(cfg), apply=not args.report_only)
    _emit(args, report.optimize_json(res), report.optimize_text(res))
    return 0 if res.ok else 1


class Daemon:
    """Check the cluster every ``check_interval``; optimize when ``auto_optimize``."""

    def __init__(self, cfg: Config, report_only: bool = False) -> None:
        self.cfg = cfg
        self.report_only = report_only
        self.stop = threading.Event()
        self.checks = 0
        self.last: OptimizeResult | None = None
        self.metrics: MetricsServer | None = None
        self.history = VramHistory(cfg.state_file)
        self.loads_total = 0
        self.load_failures_total = 0

    def cycle(self) -> None:
        """One check: never raises for a node problem."""
        cfg = self.cfg
        nodes = gather(cfg, history=self.history)
        self.checks += 1
        up = sum(n.reachable for n in nodes)
        log.info("check %d: %d of %d nodes reachable", self.checks, up, len(nodes))
        for n in nodes:
            if n.reachable:
                loaded = ", ".join(f"{m.name} ({'GPU' if m.on_gpu else 'CPU'})" for m in n.loaded) or "nothing loaded"
                log.info("%s (%s): %s", n.url, n.kind, loaded)
            if n.vram_source != d.VRAM_CONFIG:
                log.info("%s: VRAM %s (%s)", n.url, "unknown" if n.vram_mib is None else f"{n.vram_mib}MB", n.vram_note)
        if cfg.auto_optimize and cfg.priority_models and not self.report_only:
            self.last = optimize(cfg, nodes, apply=True)
            self.loads_total += self.last.loads
            self.load_failures_total += self.last.failures
            for s in self.last.steps:
                (log.info if s.ok or s.action == "cpu" else log.error)("optimize: %s", s.message)
            nodes = gather(cfg, history=self.history)
        elif cfg.priority_models:
            plan = optimize(cfg, nodes, apply=False)
            for s in plan.steps:
                log.info("monitor only: %s", s.message)
        if self.metrics is not None:
            self.metrics.update(self.page(nodes, time.time()))

    def page(self, nodes: list[d.NodeState], checked_at: float | None) -> str:
        cfg = self.cfg
        return render(
            nodes,
            cfg.vram_safety_margin,
            cfg.priority_models,
            self.checks,
            checked_at,
            self.last,
            loads_total=self.loads_total,
            load_failures_total=self.load_failures_total,
        )

    def run(self, cycles: int = 0) -> int:
        cfg = self.cfg
        if cfg.metrics_enabled and not self.report_only:
            # Well-formed before the first check: HELP/TYPE, counters at 0.
            self.metrics = MetricsServer(cfg.metrics_address, cfg.metrics_port, self.page([], None))
            self.metrics.start()
            log.info("metrics on http://%s:%d/metrics", cfg.metrics_address, cfg.metrics_port)
        mode = "auto-optimize" if cfg.auto_optimize else "monitor only"
        log.info("watching %d nodes every %gs (%s)", len(cfg.nodes), cfg.check_interval, mode)
        try:
            while not self.stop.is_set():
                try:
                    self.cycle()
                except Exception:  # a bug in one check must not stop the service
                    log.exception("check failed")
                if self.report_only or (cycles and self.checks >= cycles):
                    break
                self.stop.wait(cfg.check_interval)
        finally:
            if self.metrics is not None:
                self.metrics.stop()
        log.info("stopped after %d checks", self.checks)
        return 0


def _daemon(args: argparse.Namespace, cfg: Config) -> int:
    daemon = Daemon(cfg, report_only=args.report_only)

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        daemon.stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return daemon.run(cycles=args.cycles)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``llama-herd-router``."""
    args = _parser().parse_args(argv)
    if args.command is None:
        # Seed 001: `--report-only` prints the cluster report; no command runs the daemon.
        args.command = "status" if args.report_only else "daemon"
        args.cycles = 0
    if args.command == "models":
        rows = report.models_rows({})
        with contextlib.suppress(ConfigError):  # the built-in database needs no configuration
            rows = report.models_rows(load(args.config).model_sizes)
        _emit(args, [{"name": n, "size_mib": s} for n, s in rows], report.models_text(rows))
        return 0
    try:
        cfg = load(args.config)
    except ConfigError as exc:
        print(f"llama-herd-router: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=cfg.log_level,
        stream=sys.stderr,
        format="%(levelname)s %(message)s",
    )
    if args.command == "status":
        return _status(args, cfg)
    if args.command in ("route", "check"):
        return _route(args, cfg, check=args.command == "check")
    if args.command == "optimize":
        return _optimize(args, cfg)
    return _daemon(args, cfg)
