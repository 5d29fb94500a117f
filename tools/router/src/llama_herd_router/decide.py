"""Routing decisions: pure functions of the cluster's state and a model's size.

Nothing here talks to a node. The wording is seed 001's: "Fits in 3276MB VRAM
(2571MB free)", "Node has no GPU", "Model too large (4700MB > 3276MB usable
VRAM)", "Result: Model must run on CPU". Sizes are MiB (the seed's "MB").
Usable VRAM is the node's ``usable_mib`` when the configuration gives it (the
gpu_router role writes the plan's Ollama GPU budget there: total x margin less
Ollama's per-GPU reserve and what llama.cpp or distributed-llama booked on the
card), else the collection's ``memory.usable_mib`` (total x margin).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from ._herd import catalog, memory
from .ollama import Loaded, same_model

# Where a node's VRAM figure comes from (``status`` says which).
VRAM_CONFIG = "config"  # vram_mib in the configuration (the role renders the collection's GPU facts)
VRAM_OBSERVED = "observed"  # learned from the node's /api/ps size_vram history
VRAM_UNKNOWN = "unknown"

# Verdict kinds, in the order a node is checked.
DOWN = "down"
UNKNOWN_VRAM = "unknown_vram"
NO_GPU = "no_gpu"
UNKNOWN_SIZE = "unknown_size"
LOADED = "loaded"
TOO_LARGE = "too_large"
NOT_PULLED = "not_pulled"
NO_ROOM = "no_room"
FITS = "fits"


@dataclass(frozen=True)
class NodeState:
    """What the router knows about one node at one moment."""

    url: str
    name: str
    vram_mib: int | None
    reachable: bool = True
    error: str = ""
    loaded: tuple[Loaded, ...] = ()
    pulled: Mapping[str, int] | None = None  # full name -> bytes; None = not asked
    version: str = ""
    vram_source: str = VRAM_CONFIG  # config | observed | unknown
    vram_note: str = ""  # how an observed figure was learned
    budget_mib: int | None = None  # the plan's usable VRAM for Ollama, when configured

    @property
    def has_gpu(self) -> bool:
        return bool(self.vram_mib)

    @property
    def kind(self) -> str:
        """GPU, CPU, down or unknown: the label after the URL in reports."""
        if not self.reachable:
            return "down"
        if self.vram_mib is None:
            return "unknown"
        return "GPU" if self.vram_mib > 0 else "CPU"

    @property
    def used_mib(self) -> int:
        """VRAM used by loaded models (``/api/ps`` ``size_vram``)."""
        return sum(m.size_vram_mib for m in self.loaded)

    def usable_mib(self, margin: float) -> int:
        """The plan's budget when configured, else total VRAM x safety
        margin, whole MiB (4096 x 0.8 -> 3276)."""
        if self.budget_mib is not None and self.vram_mib:
            return self.budget_mib
        return math.floor(memory.usable_mib(self.vram_mib or 0, margin))

    def free_mib(self, margin: float) -> int:
        """Usable VRAM not used by loaded models (never negative); a node that
        is down has none."""
        if not self.reachable:
            return 0
        return max(0, self.usable_mib(margin) - self.used_mib)

    def find(self, model: str) -> Loaded | None:
        """The loaded copy of ``model`` on this node, if any."""
        return next((m for m in self.loaded if same_model(m.name, model)), None)

    def has_pulled(self, model: str) -> bool | None:
        """Whether ``model`` is in ``/api/tags`` (None: unknown)."""
        if self.pulled is None:
            return None
        return any(same_model(name, model) for name in self.pulled)

    def with_loaded(self, model: str, size_mib: int) -> NodeState:
        """This state after ``model`` is loaded fully on GPU (for planning)."""
        b = size_mib * memory.MIB
        entry = Loaded(name=model, size_mib=size_mib, size_vram_mib=size_mib, size_bytes=b, size_vram_bytes=b)
        return replace(self, loaded=(*tuple(m for m in self.loaded if not same_model(m.name, model)), entry))


@dataclass(frozen=True)
class Verdict:
    """Whether ``model`` can go on one node's GPU, and why."""

    url: str
    name: str
    node_kind: str
    kind: str
    ok: bool
    reason: str
    free_mib: int = 0
    usable_mib: int = 0


@dataclass(frozen=True)
class Decision:
    """Where ``model`` should run: the best GPU node, or CPU, with every node's verdict."""

    model: str
    size_mib: int | None
    verdicts: tuple[Verdict, ...]
    best: Verdict | None
    cpu_node: str | None = None
    result: str = field(default="")

    @property
    def on_gpu(self) -> bool:
        return self.best is not None

    @property
    def unknown_vram(self) -> tuple[str, ...]:
        """Reachable nodes whose VRAM is unknown: where the model might fit, unverified."""
        return tuple(v.url for v in self.verdicts if v.kind == UNKNOWN_VRAM)


def model_size(
    model: str,
    nodes: Sequence[NodeState] = (),
    overrides: Mapping[str, int] | None = None,
) -> int | None:
    """A model's size in MiB: the config's ``model_sizes``, else the catalog
    (seed 001's database and the other seed models), else ``/api/tags``."""
    for name, size in (overrides or {}).items():
        if same_model(name, model):
            return int(size)
    size = catalog.model_size_mib(model)
    if size is not None:
        return int(size)
    for node in nodes:
        for name, n_bytes in (node.pulled or {}).items():
            if same_model(name, model) and n_bytes > 0:
                return round(n_bytes / memory.MIB)
    return None


def verdict(node: NodeState, model: str, size_mib: int | None, margin: float) -> Verdict:
    """One node's answer for ``model`` of ``size_mib``, checked in a fixed order:
    down, VRAM unknown, no GPU, size unknown, already on GPU, too large for the
    usable VRAM, not pulled, not enough free VRAM, fits."""
    usable = node.usable_mib(margin) if node.has_gpu else 0
    free = node.free_mib(margin) if node.has_gpu else 0

    def v(kind: str, ok: bool, reason: str) -> Verdict:
        return Verdict(node.url, node.name, node.kind, kind, ok, reason, free, usable)

    if not node.reachable:
        return v(DOWN, False, f"Node unreachable ({node.error})" if node.error else "Node unreachable")
    if node.vram_mib is None:
        return v(
            UNKNOWN_VRAM,
            False,
            "VRAM unknown (no vram_mib in the config, and /api/ps has not shown a model on this node yet; "
            "set vram_mib, or deploy with the gpu_router role)",
        )
    if not node.has_gpu:
        return v(NO_GPU, False, "Node has no GPU")
    if size_mib is None:
        return v(UNKNOWN_SIZE, False, "Model size unknown (add it to model_sizes in the config, or pull it)")
    here = node.find(model)
    if here is not None and here.on_gpu:
        return v(LOADED, True, f"Already on GPU ({here.size_vram_mib}MB in VRAM, {free}MB free of {usable}MB usable)")
    if size_mib > usable:
        return v(TOO_LARGE, False, f"Model too large ({size_mib}MB > {usable}MB usable VRAM)")
    if node.has_pulled(model) is False:
        return v(NOT_PULLED, False, f"Model not pulled on this node (ollama pull {model})")
    # A partial copy here (some layers on CPU) frees its VRAM when reloaded.
    room = free + (here.size_vram_mib if here is not None else 0)
    if size_mib > room:
        return v(NO_ROOM, False, f"Not enough free VRAM ({size_mib}MB > {room}MB free of {usable}MB usable)")
    return v(FITS, True, f"Fits in {usable}MB VRAM ({room}MB free)")


def decide(
    nodes: Sequence[NodeState],
    model: str,
    margin: float = memory.DEFAULT_MARGIN,
    size_mib: int | None = None,
    overrides: Mapping[str, int] | None = None,
) -> Decision:
    """Route ``model``: a node where it is already on GPU wins, then the GPU
    node with the most free VRAM; if none fits, it must run on CPU (on a node
    where it is already loaded, else the first reachable node without a GPU)."""
    size = size_mib if size_mib is not None else model_size(model, nodes, overrides)
    verdicts = tuple(verdict(n, model, size, margin) for n in nodes)
    fits = [v for v in verdicts if v.ok]
    best = None
    if fits:
        # Stable: ties keep the configuration's node order.
        best = sorted(fits, key=lambda v: (v.kind != LOADED, -v.free_mib))[0]
        return Decision(model, size, verdicts, best, result=f"Best choice: {best.url} (GPU)")
    reachable = [n for n in nodes if n.reachable]
    cpu = next((n for n in reachable if n.find(model) is not None), None)
    cpu = cpu or next((n for n in reachable if n.vram_mib == 0), None) or (reachable[0] if reachable else None)
    unknown = [v.url for v in verdicts if v.kind == UNKNOWN_VRAM]
    if unknown:
        # Not a verified "must run on CPU": these nodes may have a GPU with room.
        result = f"Result: NOT VERIFIED: VRAM unknown on {len(unknown)} node(s) ({', '.join(unknown)})"
        return Decision(model, size, verdicts, None, cpu.url if cpu else None, result)
    if cpu is None:
        return Decision(model, size, verdicts, None, None, "Result: No node is reachable")
    return Decision(model, size, verdicts, None, cpu.url, "Result: Model must run on CPU")
