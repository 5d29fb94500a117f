"""Every routing decision path, in seed 001's words."""

from __future__ import annotations

import pytest
from llama_herd_router import decide as d
from llama_herd_router.ollama import Loaded

MIB = 2**20


def loaded(name: str, size: int, vram: int) -> Loaded:
    return Loaded(name=name, size_mib=size, size_vram_mib=vram, size_bytes=size * MIB, size_vram_bytes=vram * MIB)


def gpu(url: str = "http://gpu:11434", vram: int = 4096, *models: Loaded, pulled: dict | None = None) -> d.NodeState:
    return d.NodeState(url, url, vram, loaded=tuple(models), pulled=pulled)


CPU = d.NodeState("http://cpu:11434", "cpu", 0)


def test_usable_vram_is_the_shared_memory_model():
    # Seed 001: 4096 MB x 80% -> 3276 MB usable.
    assert gpu().usable_mib(0.8) == 3276
    assert gpu().free_mib(0.8) == 3276


def test_the_plans_budget_replaces_total_times_margin():
    """Deployed by the role, a node carries the plan's Ollama budget
    (usable_mib): 4096 x 0.8 - 457 MiB reserve; a node without a GPU stays 0."""
    node = d.NodeState("http://gpu:11434", "gpu", 4096, loaded=(loaded("m:latest", 840, 840),), budget_mib=2820)
    assert (node.usable_mib(0.8), node.free_mib(0.8)) == (2820, 1980)
    v = d.verdict(node, "big", 4700, 0.8)
    assert v.reason == "Model too large (4700MB > 2820MB usable VRAM)"
    assert d.NodeState("http://cpu:11434", "cpu", 0, budget_mib=0).usable_mib(0.8) == 0


def test_fits_reports_usable_and_free_like_the_seed():
    # Seed 001's 1050 Ti: 705 MB already in VRAM, 2571 MB free.
    node = gpu("http://gpu:11434", 4096, loaded("other:latest", 705, 705))
    v = d.verdict(node, "mxbai-embed-large", 705, 0.8)
    assert (v.kind, v.ok, v.reason) == (d.FITS, True, "Fits in 3276MB VRAM (2571MB free)")


def test_no_gpu():
    v = d.verdict(CPU, "mxbai-embed-large", 705, 0.8)
    assert (v.kind, v.ok, v.reason) == (d.NO_GPU, False, "Node has no GPU")
    assert v.node_kind == "CPU"


def test_too_large_against_usable_not_total():
    v = d.verdict(gpu(), "llama3.1:latest", 4700, 0.8)
    assert (v.kind, v.ok) == (d.TOO_LARGE, False)
    assert v.reason == "Model too large (4700MB > 3276MB usable VRAM)"
    # 3500 MB is under the 4096 MB total but over the 80% margin.
    assert d.verdict(gpu(), "x", 3500, 0.8).kind == d.TOO_LARGE
    assert d.verdict(gpu(), "x", 3500, 0.9).kind == d.FITS


def test_not_enough_free_vram():
    node = gpu("http://gpu:11434", 8192, loaded("qwen2.5-coder:7b", 4400, 4400))
    v = d.verdict(node, "llama3.1:latest", 4700, 0.8)
    assert (v.kind, v.reason) == (d.NO_ROOM, "Not enough free VRAM (4700MB > 2153MB free of 6553MB usable)")


def test_node_down():
    node = d.NodeState("http://gone:11434", "gone", 8192, reachable=False, error="/api/version: [Errno 111] Connection refused")
    v = d.verdict(node, "mxbai-embed-large", 705, 0.8)
    assert (v.kind, v.ok, v.node_kind) == (d.DOWN, False, "down")
    assert v.reason == "Node unreachable (/api/version: [Errno 111] Connection refused)"


def test_already_loaded_on_gpu_wins_over_more_free_vram():
    here = gpu("http://small:11434", 4096, loaded("mxbai-embed-large:latest", 705, 705))
    roomy = gpu("http://big:11434", 24576)
    dec = d.decide([roomy, here], "mxbai-embed-large", 0.8)
    assert dec.best is not None and dec.best.url == "http://small:11434"
    assert dec.best.kind == d.LOADED
    assert dec.best.reason == "Already on GPU (705MB in VRAM, 2571MB free of 3276MB usable)"


def test_partial_offload_is_not_already_loaded_and_its_vram_counts_as_free():
    # Half on GPU: reloading it frees the 400 MB it holds.
    node = gpu("http://gpu:11434", 1024, loaded("mxbai-embed-large:latest", 705, 400))
    v = d.verdict(node, "mxbai-embed-large", 705, 0.8)
    assert v.kind == d.FITS
    assert v.reason == "Fits in 819MB VRAM (819MB free)"


def test_not_pulled_on_a_node_that_lists_its_models():
    node = gpu(pulled={"llama3.2:3b": 1900 * MIB})
    v = d.verdict(node, "mxbai-embed-large", 705, 0.8)
    assert (v.kind, v.ok) == (d.NOT_PULLED, False)
    assert "ollama pull mxbai-embed-large" in v.reason
    assert d.verdict(gpu(pulled={"mxbai-embed-large:latest": 1}), "mxbai-embed-large", 705, 0.8).kind == d.FITS


def test_unknown_vram_and_unknown_size_are_never_routed_to():
    unknown = d.NodeState("http://plain:11434", "plain", None)
    assert d.verdict(unknown, "x", 10, 0.8).kind == d.UNKNOWN_VRAM
    assert d.verdict(gpu(), "no-such-model", None, 0.8).kind == d.UNKNOWN_SIZE
    dec = d.decide([gpu()], "no-such-model:7b-custom", 0.8)
    assert dec.size_mib is None and dec.best is None


def test_best_gpu_node_has_the_most_free_vram():
    a = gpu("http://a:11434", 4096)
    b = gpu("http://b:11434", 8192, loaded("qwen2.5-coder:7b", 4400, 4400))
    dec = d.decide([CPU, b, a], "mxbai-embed-large", 0.8)
    assert dec.best is not None and dec.best.url == "http://a:11434"
    assert dec.result == "Best choice: http://a:11434 (GPU)"
    assert dec.size_mib == 705  # the catalog's (seed 001's) size


def test_must_run_on_cpu_picks_the_node_that_already_holds_it():
    other_cpu = d.NodeState("http://cpu2:11434", "cpu2", 0, loaded=(loaded("llama3.1:latest", 4700, 0),))
    dec = d.decide([gpu(), CPU, other_cpu], "llama3.1:latest", 0.8)
    assert dec.best is None
    assert dec.result == "Result: Model must run on CPU"
    assert dec.cpu_node == "http://cpu2:11434"
    assert [v.kind for v in dec.verdicts] == [d.TOO_LARGE, d.NO_GPU, d.NO_GPU]


def test_no_reachable_node():
    down = d.NodeState("http://gone:11434", "gone", 0, reachable=False)
    dec = d.decide([down], "mxbai-embed-large", 0.8)
    assert dec.cpu_node is None and dec.result == "Result: No node is reachable"


@pytest.mark.parametrize(
    ("name", "overrides", "pulled", "size"),
    [
        ("llama3.1:latest", {}, {}, 4700),
        ("llama3.1", {}, {}, 4700),
        ("mxbai-embed-large", {"mxbai-embed-large:latest": 800}, {}, 800),
        ("my-model:7b", {}, {"my-model:7b": 2500 * MIB}, 2500),
        ("my-model:7b", {}, {}, None),
    ],
)
def test_model_size_sources_in_order(name, overrides, pulled, size):
    node = gpu(pulled=pulled)
    assert d.model_size(name, [node], overrides) == size
