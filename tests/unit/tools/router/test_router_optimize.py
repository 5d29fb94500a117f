"""optimize: priority order, already on GPU, verification of size_vram == size,
nodes that are down, monitor-only planning. The nodes are in-memory fakes of
the four Ollama calls the router makes."""

from __future__ import annotations

from llama_herd_router import decide as d
from llama_herd_router.config import parse
from llama_herd_router.ollama import Loaded, OllamaError
from llama_herd_router.router import gather, optimize

MIB = 2**20


class FakeNode:
    """A node: ``vram`` of GPU; ``partial`` models load only half on GPU."""

    def __init__(self, vram: int, loaded: dict[str, tuple[int, int]] | None = None, up: bool = True, partial=()):
        self.vram = vram
        self.loaded = dict(loaded or {})
        self.up = up
        self.partial = set(partial)
        self.calls: list[tuple[str, str]] = []


SIZES = {"mxbai-embed-large:latest": 705, "llama3.2:3b": 1900, "nomic-embed-text:latest": 274, "llama3.1:latest": 4700}


class FakeClient:
    def __init__(self, fleet: dict[str, FakeNode], url: str) -> None:
        self.node = fleet[url]

    def _up(self) -> None:
        if not self.node.up:
            raise OllamaError("/api/version: [Errno 111] Connection refused")

    def version(self) -> str:
        self._up()
        return "0.32.15"

    def tags(self) -> dict[str, int]:
        return {k: v * MIB for k, v in SIZES.items()}

    def ps(self) -> list[Loaded]:
        self._up()
        return [Loaded(k, s, v, s * MIB, v * MIB) for k, (s, v) in self.node.loaded.items()]

    def load(self, model: str, keep_alive, timeout) -> None:
        self._up()
        full = model if ":" in model else f"{model}:latest"
        self.node.calls.append(("load", full))
        size = SIZES[full]
        self.node.loaded[full] = (size, size // 2 if full in self.node.partial else (size if self.node.vram else 0))

    def unload(self, model: str) -> None:
        full = model if ":" in model else f"{model}:latest"
        self.node.calls.append(("unload", full))
        self.node.loaded.pop(full, None)


def setup(fleet: dict[str, FakeNode], priority: list[str], **extra):
    cfg = parse(
        {
            "nodes": [{"url": u, "vram_mib": n.vram} for u, n in fleet.items()],
            "priority_models": priority,
            **extra,
        }
    )
    factory = lambda url, timeout: FakeClient(fleet, url)  # noqa: E731
    return cfg, factory


def test_priority_order_decides_who_gets_scarce_vram():
    # 1024 MB x 0.8 = 819 usable: room for one of the two embedding models.
    fleet = {"http://gpu:11434": FakeNode(1024), "http://cpu:11434": FakeNode(0)}
    cfg, client = setup(fleet, ["mxbai-embed-large", "nomic-embed-text"])
    res = optimize(cfg, gather(cfg, client), client=client)
    assert [(s.model, s.action) for s in res.steps] == [("mxbai-embed-large", "loaded"), ("nomic-embed-text", "cpu")]
    assert "Not enough free VRAM (274MB > 114MB free of 819MB usable)" in res.steps[1].message
    assert res.ok

    fleet = {"http://gpu:11434": FakeNode(1024), "http://cpu:11434": FakeNode(0)}
    cfg, client = setup(fleet, ["nomic-embed-text", "mxbai-embed-large"])
    res = optimize(cfg, gather(cfg, client), client=client)
    assert [(s.model, s.action) for s in res.steps] == [("nomic-embed-text", "loaded"), ("mxbai-embed-large", "cpu")]


def test_already_on_gpu_loads_nothing():
    fleet = {"http://gpu:11434": FakeNode(4096, {"mxbai-embed-large:latest": (705, 705)})}
    cfg, client = setup(fleet, ["mxbai-embed-large"])
    res = optimize(cfg, gather(cfg, client), client=client)
    assert [s.action for s in res.steps] == ["on_gpu"]
    assert fleet["http://gpu:11434"].calls == []


def test_cpu_copy_is_unloaded_after_the_gpu_copy_is_verified():
    fleet = {"http://cpu:11434": FakeNode(0, {"mxbai-embed-large:latest": (705, 0)}), "http://gpu:11434": FakeNode(4096)}
    cfg, client = setup(fleet, ["mxbai-embed-large"])
    res = optimize(cfg, gather(cfg, client), client=client)
    assert res.steps[0].action == "loaded" and res.steps[0].unloaded == ["http://cpu:11434"]
    assert fleet["http://cpu:11434"].calls == [("unload", "mxbai-embed-large:latest")]

    fleet = {"http://cpu:11434": FakeNode(0, {"mxbai-embed-large:latest": (705, 0)}), "http://gpu:11434": FakeNode(4096)}
    cfg, client = setup(fleet, ["mxbai-embed-large"], unload_cpu_copies=False)
    optimize(cfg, gather(cfg, client), client=client)
    assert fleet["http://cpu:11434"].calls == []


def test_partial_offload_after_load_is_a_failure():
    fleet = {"http://gpu:11434": FakeNode(4096, partial=["llama3.2:3b"])}
    cfg, client = setup(fleet, ["llama3.2:3b"])
    res = optimize(cfg, gather(cfg, client), client=client)
    assert res.steps[0].action == "failed"
    assert "not fully on GPU: only 950MB of 1900MB in VRAM" in res.steps[0].message
    assert not res.ok


def test_a_node_that_is_down_is_reported_and_skipped():
    fleet = {"http://gone:11434": FakeNode(24576, up=False), "http://gpu:11434": FakeNode(4096)}
    cfg, client = setup(fleet, ["mxbai-embed-large"])
    nodes = gather(cfg, client)
    assert [n.reachable for n in nodes] == [False, True]
    assert "Connection refused" in nodes[0].error
    res = optimize(cfg, nodes, client=client)
    assert res.steps[0].node == "http://gpu:11434" and res.steps[0].action == "loaded"


def test_report_only_plans_in_order_and_calls_nothing():
    fleet = {"http://gpu:11434": FakeNode(1024)}
    cfg, client = setup(fleet, ["mxbai-embed-large", "nomic-embed-text"])
    res = optimize(cfg, gather(cfg, client), apply=False, client=client)
    # The plan already counts the first model's VRAM against the second.
    assert [s.action for s in res.steps] == ["load", "cpu"]
    assert fleet["http://gpu:11434"].calls == []
    assert not res.applied


def test_with_loaded_replaces_a_partial_copy():
    node = d.NodeState("http://g", "g", 4096, loaded=(Loaded("m:latest", 100, 50, 100 * MIB, 50 * MIB),))
    after = node.with_loaded("m", 100)
    assert after.used_mib == 100 and len(after.loaded) == 1 and after.loaded[0].on_gpu


def test_a_node_answering_garbage_is_reported_as_down():
    class Garbage(FakeClient):
        def ps(self):
            raise AttributeError("'list' object has no attribute 'get'")

    fleet = {"http://odd:11434": FakeNode(4096), "http://gpu:11434": FakeNode(4096)}
    cfg, _ = setup(fleet, [])
    nodes = gather(cfg, lambda url, timeout: (Garbage if "odd" in url else FakeClient)(fleet, url))
    assert [n.reachable for n in nodes] == [False, True]
    assert "has no attribute" in nodes[0].error


def plain(fleet: dict[str, FakeNode], priority: list[str], **extra):
    """Seed 001's configuration: plain node URLs, no vram_mib."""
    cfg = parse({"nodes": list(fleet), "priority_models": priority, **extra})
    return cfg, lambda url, timeout: FakeClient(fleet, url)


def test_plain_urls_with_nothing_loaded_are_not_a_success():
    fleet = {"http://a:11434": FakeNode(4096), "http://b:11434": FakeNode(0)}
    cfg, client = plain(fleet, ["mxbai-embed-large", "llama3.2:3b"])
    nodes = gather(cfg, client)
    assert [(n.vram_mib, n.vram_source) for n in nodes] == [(None, "unknown"), (None, "unknown")]
    res = optimize(cfg, nodes, client=client)
    assert [s.action for s in res.steps] == ["unverified", "unverified"]
    assert not res.ok
    assert not any(n.calls for n in fleet.values())
    from llama_herd_router.report import optimize_result

    line = optimize_result(res)
    assert line.startswith("Result: NOT VERIFIED: VRAM unknown on 2 node(s) (http://a:11434, http://b:11434)")


def test_vram_learned_from_api_ps():
    fleet = {
        "http://gpu:11434": FakeNode(4096, {"llama3.2:3b": (1900, 1900)}),
        "http://full:11434": FakeNode(4096, {"llama3.1:latest": (4700, 3000)}),
        "http://cpu:11434": FakeNode(0, {"llama3.1:latest": (4700, 0)}),
    }
    cfg, client = plain(fleet, [])
    got = {n.url: (n.vram_mib, n.vram_source, n.vram_note) for n in gather(cfg, client)}
    assert got["http://gpu:11434"][:2] == (1900, "observed")
    assert "at least 1900MB" in got["http://gpu:11434"][2]
    assert got["http://full:11434"][:2] == (3000, "observed") and "GPU full" in got["http://full:11434"][2]
    assert got["http://cpu:11434"][:2] == (0, "observed") and "no GPU" in got["http://cpu:11434"][2]


def test_learned_vram_is_kept_between_runs(tmp_path):
    state = str(tmp_path / "vram.json")
    fleet = {"http://gpu:11434": FakeNode(4096, {"llama3.2:3b": (1900, 1900)})}
    cfg, client = plain(fleet, [], state_file=state)
    gather(cfg, client)
    fleet["http://gpu:11434"].loaded.clear()  # unloaded since: the history still knows
    (node,) = gather(cfg, client)
    assert (node.vram_mib, node.vram_source) == (1900, "observed")
    cfg2, client2 = plain(fleet, [], state_file=None)
    assert gather(cfg2, client2)[0].vram_source == "unknown"


def test_configured_vram_wins_and_says_so():
    fleet = {"http://gpu:11434": FakeNode(4096, {"llama3.2:3b": (1900, 1900)})}
    cfg, client = setup(fleet, [])
    (node,) = gather(cfg, client)
    assert (node.vram_mib, node.vram_source) == (4096, "config")


def test_a_node_that_is_down_has_no_free_vram():
    fleet = {"http://gone:11434": FakeNode(8192, up=False)}
    cfg, client = setup(fleet, [])
    (node,) = gather(cfg, client)
    assert not node.reachable and node.free_mib(0.8) == 0
