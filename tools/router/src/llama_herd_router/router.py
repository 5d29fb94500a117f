"""Talking to the cluster: reading every node's state and optimizing.

:func:`gather` never raises for a node: a node that does not answer is
reported as down. :func:`optimize` walks the priority models in order,
routes each on the state as it will be after the earlier ones are placed,
preloads it on the best GPU node (``/api/generate`` with ``keep_alive``),
then checks ``/api/ps``: the model must be fully on GPU (``size_vram ==
size``). With ``apply=False`` it only plans.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from . import decide as d
from .config import Config
from .ollama import Client, OllamaError, same_model

log = logging.getLogger("llama_herd_router")

ClientFactory = Callable[[str, float], Client]


def gather(cfg: Config, client: ClientFactory = Client) -> list[d.NodeState]:
    """Every configured node's state: reachable or not, loaded and pulled models."""
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
            out.append(d.NodeState(node.url, node.name, node.vram_mib, reachable=False, error=str(exc)))
            continue
        out.append(d.NodeState(node.url, node.name, node.vram_mib, loaded=loaded, pulled=pulled, version=version))
    return out


@dataclass
class Step:
    """What optimize did (or would do) for one priority model."""

    model: str
    action: str  # on_gpu | load | loaded | failed | cpu
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
        """No load failed (a model that must stay on CPU is not a failure)."""
        return all(s.action != "failed" for s in self.steps)


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
