"""Talking to the cluster: reading every node's state and optimizing.

:func:`gather` never raises for a node: a node that does not answer is
reported as down. :func:`optimize` walks the priority models in order,
routes each on the state as it will be after the earlier ones are placed,
preloads it on the best GPU node (``/api/generate`` with ``keep_alive``),
then checks ``/api/ps``: the model must be fully on GPU (``size_vram ==
size``). With ``apply=False`` it only plans.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import decide as d
from .config import Config
from .ollama import Client, Loaded, OllamaError, same_model

log = logging.getLogger("llama_herd_router")

ClientFactory = Callable[[str, float], Client]


class VramHistory:
    """What each node's ``/api/ps`` has shown about its GPU, for nodes the
    configuration gives no ``vram_mib``.

    Ollama reports per loaded model ``size`` (its memory) and ``size_vram``
    (the part on GPU). The most VRAM ever seen in use at once is a lower bound
    of what the GPU holds; a partial offload (``0 < size_vram < size``) means
    the GPU was full then, so that sum is about all Ollama can use. Loaded
    models that never had a byte on GPU mean no GPU. Nothing loaded yet:
    unknown. Kept in memory by the daemon, and in ``state_file`` (JSON) when
    it can be written, so one-shot commands learn from earlier checks too.
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = Path(path) if path else None
        self.seen: dict[str, dict[str, int | bool]] = {}
        if self.path is not None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self.seen = {str(k): dict(v) for k, v in data.get("nodes", {}).items()}
            except (OSError, ValueError, AttributeError, TypeError):
                self.seen = {}

    def observe(self, url: str, loaded: Sequence[Loaded]) -> None:
        if not loaded:
            return
        rec = self.seen.setdefault(url, {"max_vram_mib": 0, "full": False, "cpu_only_checks": 0})
        in_vram = sum(m.size_vram_mib for m in loaded)
        partial = any(0 < m.size_vram_bytes < m.size_bytes for m in loaded)
        if in_vram > int(rec["max_vram_mib"]) or (partial and not rec["full"]):
            rec["max_vram_mib"] = max(in_vram, int(rec["max_vram_mib"]))
            rec["full"] = bool(rec["full"]) or partial
        if in_vram == 0:
            rec["cpu_only_checks"] = int(rec["cpu_only_checks"]) + 1

    def learned(self, url: str) -> tuple[int | None, str, str]:
        """(vram_mib, source, note) for a node without a configured vram_mib."""
        rec = self.seen.get(url)
        if rec and int(rec["max_vram_mib"]) > 0:
            mib = int(rec["max_vram_mib"])
            if rec["full"]:
                return mib, d.VRAM_OBSERVED, f"/api/ps: {mib}MB in VRAM when a model did not fit (GPU full)"
            return mib, d.VRAM_OBSERVED, f"/api/ps: at least {mib}MB (the most seen in VRAM at once)"
        if rec and int(rec["cpu_only_checks"]) > 0:
            return 0, d.VRAM_OBSERVED, "/api/ps: loaded models have never had a byte in VRAM (no GPU)"
        return None, d.VRAM_UNKNOWN, "no vram_mib in the config and no model seen loaded yet"

    def save(self) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps({"nodes": self.seen}, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:  # a read-only home under systemd: learning stays in memory
            log.debug("cannot keep the VRAM history in %s: %s", self.path, exc)


def gather(cfg: Config, client: ClientFactory = Client, history: VramHistory | None = None) -> list[d.NodeState]:
    """Every configured node's state: reachable or not, loaded and pulled
    models, and its VRAM: from the configuration, else learned (VramHistory)."""
    history = history if history is not None else VramHistory(cfg.state_file)
    out = []
    for node in cfg.nodes:
        c = client(node.url, cfg.request_timeout)
        try:
            version = c.version()
            loaded = tuple(c.ps())
            pulled = c.tags()
        except (OllamaError, ValueError, TypeError, KeyError, AttributeError) as exc:
            # Down, or answering something that is not Ollama's API.
            log.warning("node %s is unreachable: %s", node.url, exc)
            vram, source, note = _vram(node.vram_mib, history, node.url)
            out.append(
                d.NodeState(
                    node.url,
                    node.name,
                    vram,
                    reachable=False,
                    error=str(exc),
                    vram_source=source,
                    vram_note=note,
                    budget_mib=node.usable_mib,
                )
            )
            continue
        if node.vram_mib is None:
            history.observe(node.url, loaded)
        vram, source, note = _vram(node.vram_mib, history, node.url)
        out.append(
            d.NodeState(
                node.url,
                node.name,
                vram,
                loaded=loaded,
                pulled=pulled,
                version=version,
                vram_source=source,
                vram_note=note,
                budget_mib=node.usable_mib,
            )
        )
    history.save()
    return out


def _vram(configured: int | None, history: VramHistory, url: str) -> tuple[int | None, str, str]:
    if configured is not None:
        return configured, d.VRAM_CONFIG, "vram_mib in the config"
    return history.learned(url)


@dataclass
class Step:
    """What optimize did (or would do) for one priority model."""

    model: str
    action: str  # on_gpu | load | loaded | failed | cpu | unverified
    node: str | None
    message: str
    decision: d.Decision | None = None
    unloaded: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.action in ("on_gpu", "load", "loaded")


@dataclass
class OptimizeResult:
    """Every step of one optimization, and whether it all went well."""

    steps: list[Step]
    applied: bool
    finished_at: float = 0.0

    @property
    def ok(self) -> bool:
        """No load failed and nothing was left unverified (a model that must
        stay on CPU because no GPU has room is not a failure; one that stays
        on CPU because some node's VRAM is unknown is not a success)."""
        return all(s.action not in ("failed", "unverified") for s in self.steps)

    @property
    def loads(self) -> int:
        """Loads onto GPU verified in /api/ps."""
        return sum(1 for s in self.steps if s.action == "loaded")

    @property
    def failures(self) -> int:
        return sum(1 for s in self.steps if s.action == "failed")


def _replace_node(nodes: Sequence[d.NodeState], new: d.NodeState) -> list[d.NodeState]:
    return [new if n.url == new.url else n for n in nodes]


def optimize(cfg: Config, nodes: Sequence[d.NodeState], apply: bool = True, client: ClientFactory = Client) -> OptimizeResult:
    """Put the priority models on GPU, in priority order (see the module doc)."""
    state = list(nodes)
    steps: list[Step] = []
    for model in cfg.priority_models:
        dec = d.decide(state, model, cfg.vram_safety_margin, overrides=cfg.model_sizes)
        best = dec.best
        if best is None:
            if dec.unknown_vram:
                msg = f"{model} not placed: VRAM unknown on {', '.join(dec.unknown_vram)}"
                steps.append(Step(model, "unverified", dec.cpu_node, msg, dec))
            else:
                reasons = "; ".join(f"{v.url}: {v.reason}" for v in dec.verdicts)
                steps.append(Step(model, "cpu", dec.cpu_node, f"{model} stays on CPU ({reasons})", dec))
            continue
        if best.kind == d.LOADED:
            steps.append(Step(model, "on_gpu", best.url, f"{model} already on GPU at {best.url}", dec))
            continue
        node = next(n for n in state if n.url == best.url)
        if not apply:
            steps.append(Step(model, "load", best.url, f"would load {model} on GPU at {best.url}: {best.reason}", dec))
            state = _replace_node(state, node.with_loaded(model, dec.size_mib or 0))
            continue
        log.info("loading %s on GPU at %s (%s)", model, best.url, best.reason)
        c = client(best.url, cfg.request_timeout)
        try:
            c.load(model, cfg.keep_alive, cfg.load_timeout)
            here = next((m for m in c.ps() if same_model(m.name, model)), None)
        except OllamaError as exc:
            steps.append(Step(model, "failed", best.url, f"loading {model} at {best.url} failed: {exc}", dec))
            log.error("loading %s at %s failed: %s", model, best.url, exc)
            continue
        if here is None or not here.on_gpu:
            got = "not loaded" if here is None else f"only {here.size_vram_mib}MB of {here.size_mib}MB in VRAM"
            steps.append(Step(model, "failed", best.url, f"{model} at {best.url} is not fully on GPU: {got}", dec))
            log.error("%s at %s is not fully on GPU: %s", model, best.url, got)
            if here is not None:
                state = _replace_node(state, replace(node, loaded=(*tuple(m for m in node.loaded if m is not here), here)))
            continue
        step = Step(model, "loaded", best.url, f"{model} now on GPU at {best.url}", dec)
        log.info("%s now on GPU at %s (%sMB in VRAM)", model, best.url, here.size_vram_mib)
        state = _replace_node(
            state, replace(node, loaded=(*tuple(m for m in node.loaded if not same_model(m.name, model)), here))
        )
        if cfg.unload_cpu_copies:
            for other in state:
                copy = other.find(model) if other.url != best.url and other.reachable else None
                if copy is None or copy.on_gpu:
                    continue
                try:
                    client(other.url, cfg.request_timeout).unload(model)
                except OllamaError as exc:
                    log.warning("could not unload the CPU copy of %s at %s: %s", model, other.url, exc)
                    continue
                log.info("unloaded the CPU copy of %s at %s", model, other.url)
                step.unloaded.append(other.url)
                state = _replace_node(state, replace(other, loaded=tuple(m for m in other.loaded if m is not copy)))
        steps.append(step)
    return OptimizeResult(steps=steps, applied=apply, finished_at=time.time())
