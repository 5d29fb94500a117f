"""The float-type pairs preflight accepts are the ones the real distributed-llama
runs. Slow and opt-in: set DLLAMA_SRC=/path/to/a/distributed-llama checkout
(builds it in a temporary copy, ~20 s, then runs it on loopback through
bench/dllama_real.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "collections"))
sys.path.insert(0, str(REPO / "bench"))

from ansible_collections.llamaherd.cluster.plugins.module_utils import dllama  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("DLLAMA_SRC"), reason="set DLLAMA_SRC to a distributed-llama checkout"),
]


def test_runnable_pairs_match_the_real_program(tmp_path):
    import dllama_real as bench

    bin_dir, _, _ = bench.build(Path(os.environ["DLLAMA_SRC"]), tmp_path)
    models = tmp_path / "models"
    models.mkdir()
    for w in bench.FLOAT_TYPES:
        bench.dm.write_model(models / f"m_{w}.m", bench.dm.Shape(weights=w))
    bench.dm.write_tokenizer(models / "t.t")
    rows = bench.matrix(bin_dir, models, tmp_path)
    runs = {(r["weights"], r["buffer"]) for r in rows if r["root_alone"]["rc"] == 0 and r["root_plus_worker"]["rc"] == 0}
    assert runs == set(dllama.RUNNABLE_FLOAT_TYPES.items())
    for r in rows:
        accepted = dllama.topology_problems(2, 2, r["weights"], r["buffer"]) == []
        assert accepted == ((r["weights"], r["buffer"]) in runs), r
        assert (r["root_alone"]["rc"] == 0) == (r["root_plus_worker"]["rc"] == 0), r
