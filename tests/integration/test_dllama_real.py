"""The float-type pairs preflight accepts are the ones distributed-llama runs,
and the patched dllama-api stays up through 100 chat completions and bad
clients; run for real on loopback through bench/dllama_real.py with complete
tiny model files: in CI against the stand-in (tests/doubles/distributed-llama,
~20 s; it gets its own patch, the role's are for upstream's code), and
against the real program with DLLAMA_SRC=/path/to/a checkout (built in a
temporary copy; results in bench/results/dllama-real-*.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "collections"))
sys.path.insert(0, str(REPO / "bench"))

from ansible_collections.llamaherd.cluster.plugins.module_utils import dllama  # noqa: E402

SOURCE = Path(os.environ.get("DLLAMA_SRC") or REPO / "tests" / "doubles" / "distributed-llama")


def test_runnable_pairs_match_the_real_program(tmp_path):
    import dllama_real as bench

    bin_dir, _, _ = bench.build(SOURCE, tmp_path)
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


def test_the_patched_api_answers_100_chats_and_survives_bad_clients(tmp_path):
    import dllama_real as bench

    real = bool(os.environ.get("DLLAMA_SRC"))
    patches = bench.role_patches() if real else [SOURCE / "patches" / "stand-in-says-patched.patch"]
    bin_dir, _, _ = bench.build(SOURCE, tmp_path, patches)
    models = tmp_path / "models"
    models.mkdir()
    bench.dm.write_model(models / "m_q40.m", bench.dm.Shape(weights="q40"))
    bench.dm.write_tokenizer(models / "t.t")
    chats = bench.api_chats(bin_dir, models, tmp_path, 100)
    assert chats["answered"] == 100 and chats["failure"] is None, chats
    assert chats["exit_code_before_kill"] is None and chats["completion_tokens"] >= 100, chats
    for row in bench.api_invalid_requests(bin_dir, models, tmp_path):
        assert row["next_chat"] == 200 and row["exit_code"] is None, row
