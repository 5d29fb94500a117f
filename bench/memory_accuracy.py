#!/usr/bin/env python3
"""How well does llama-herd's memory model predict llama.cpp? (benchmark)

For each case: generate a real GGUF (tests/harness/make_gguf.py), load it in
the host-built llama-server b11312 (CPU backend, optionally with two
ggml-rpc-server workers on 127.0.0.1), read the model / KV / compute buffer
sizes it reports at ``-lv 4``, and compare with
``memory.llama_server_memory`` fed the GGUF header's tensor list. Two anchors
are scored on the same cases: seed 001's rule (file size only) and Ollama's
estimate (file size + f16 KV at the total context).

Writes bench/results/memory_accuracy.{md,json}. Not a pass/fail test.

    python bench/memory_accuracy.py [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "harness"))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.llamaherd.cluster.plugins.module_utils import llama_cpp as lc  # noqa: E402
from ansible_collections.llamaherd.cluster.plugins.module_utils import memory  # noqa: E402
from gguf import GGUFReader  # noqa: E402
from llama_measure import BIN, measure  # noqa: E402
from make_gguf import Shape, write_gguf  # noqa: E402

MIB = 2**20
MODELS = REPO / ".cache" / "bench-models"
RESULTS = REPO / "bench" / "results"

S = Shape
# (id, shape, llama-server args, rpc workers, tensor split)
CASES = [
    ("A llama f16 MHA", S(n_layer=8, n_embd=1024, n_head=16, n_head_kv=16, n_ff=2816, n_vocab=4096), {"ctx": 4096, "np": 1}),
    (
        "B gqa4 q8_0 np4",
        S(n_layer=12, n_embd=1024, n_head=16, n_head_kv=4, n_ff=2816, n_vocab=8192, weight_type="q8_0"),
        {"ctx": 8192, "np": 4},
    ),
    (
        "C gqa8 hd128 q8_0-KV",
        S(n_layer=8, n_embd=2048, n_head=16, n_head_kv=2, n_ff=5632, n_vocab=4096, weight_type="q8_0"),
        {"ctx": 8192, "np": 1, "ctk": "q8_0", "ctv": "q8_0"},
    ),
    (
        "D q4_0 repack",
        S(n_layer=16, n_embd=1024, n_head=8, n_head_kv=2, n_ff=4096, n_vocab=4096, weight_type="q4_0"),
        {"ctx": 4096, "np": 2},
    ),
    (
        "E no-FA long ctx",
        S(n_layer=6, n_embd=768, n_head=12, n_head_kv=4, n_ff=2048, n_vocab=2048),
        {"ctx": 8192, "np": 1, "fa": False},
    ),
    (
        "F head_dim 256",
        S(n_layer=6, n_embd=1024, n_head=8, n_head_kv=2, head_dim=256, n_ff=2048, n_vocab=2048, weight_type="q8_0"),
        {"ctx": 2048, "np": 3},
    ),
    (
        "G qwen2 tied f16",
        S(arch="qwen2", n_layer=10, n_embd=896, n_head=14, n_head_kv=2, head_dim=64, n_ff=4864, n_vocab=8192, tied=True),
        {"ctx": 4096, "np": 1, "kvu": True},
    ),
    (
        "H odd ctx np3 no-FA",
        S(n_layer=4, n_embd=512, n_head=8, n_head_kv=8, n_ff=1536, n_vocab=1024),
        {"ctx": 3000, "np": 3, "fa": False},
    ),
    (
        "I ub 256 f32",
        S(n_layer=4, n_embd=512, n_head=8, n_head_kv=4, n_ff=1408, n_vocab=1024, weight_type="f32"),
        {"ctx": 2048, "np": 1, "ub": 256},
    ),
    (
        "J RPC 2 workers q8_0",
        S(n_layer=12, n_embd=1024, n_head=16, n_head_kv=4, n_ff=2816, n_vocab=4096, weight_type="q8_0"),
        {"ctx": 4096, "np": 1, "rpc": 2, "ts": [1, 1]},
    ),
    (
        "K RPC 2 workers tied 2:1",
        S(arch="qwen2", n_layer=9, n_embd=896, n_head=14, n_head_kv=2, head_dim=64, n_ff=4864, n_vocab=8192, tied=True),
        {"ctx": 2048, "np": 1, "rpc": 2, "ts": [2, 1]},
    ),
    (
        "L RPC 3 workers no-FA",
        S(n_layer=12, n_embd=1024, n_head=16, n_head_kv=4, n_ff=2816, n_vocab=4096, weight_type="q8_0"),
        {"ctx": 2048, "np": 1, "fa": False, "rpc": 3, "ts": [1, 1, 1]},
    ),
    (
        "M RPC 1 worker",
        S(n_layer=6, n_embd=768, n_head=12, n_head_kv=4, n_ff=2048, n_vocab=2048),
        {"ctx": 8192, "np": 1, "rpc": 1, "ts": [1]},
    ),
    (
        "N RPC np2 ub256 1:3",
        S(n_layer=8, n_embd=1024, n_head=16, n_head_kv=16, n_ff=2816, n_vocab=4096),
        {"ctx": 8192, "np": 2, "ub": 256, "rpc": 2, "ts": [1, 3]},
    ),
    # Issue 15's corner cases, each given as a user writes extra_args.
    (
        "O ub 2048",
        S(n_layer=6, n_embd=1024, n_head=16, n_head_kv=4, n_ff=2816, n_vocab=4096, weight_type="q8_0"),
        {"ctx": 4096, "np": 1, "ub": 2048},
    ),
    (
        "P c 0 (trained 8192)",
        S(n_layer=6, n_embd=768, n_head=12, n_head_kv=4, n_ff=2048, n_vocab=2048, n_ctx=8192),
        {"ctx": 0, "np": 2},
    ),
    (
        "Q ctk q8_0 alone",
        S(n_layer=8, n_embd=1024, n_head=16, n_head_kv=4, n_ff=2816, n_vocab=4096),
        {"ctx": 8192, "np": 1, "ctk": "q8_0", "ctv": "f16"},
    ),
    (
        "R tied Q4_K repack",
        S(arch="qwen2", n_layer=8, n_embd=1024, n_head=16, n_head_kv=4, n_ff=2816, n_vocab=8192, tied=True),
        {"ctx": 4096, "np": 1, "quantize": "Q4_K"},
    ),
    (
        "S tied Q4_K_M np4 fa off",
        S(n_layer=8, n_embd=1024, n_head=16, n_head_kv=4, n_ff=2816, n_vocab=8192, tied=True),
        {"ctx": 4096, "np": 4, "fa": False, "quantize": "Q4_K_M"},
    ),
]


def user_args(c: dict) -> list[str]:
    """The case as a user writes herd_models[].extra_args (the memory flags)."""
    a = ["-c", str(c["ctx"]), "-np", str(c["np"])]
    if c.get("kvu"):
        a.append("-kvu")
    a += ["-fa", "on" if c.get("fa", True) else "off"]
    if c.get("ctk"):
        a += ["-ctk", c["ctk"], "-ctv", c.get("ctv", c["ctk"])]
    if c.get("ub"):
        a += ["-ub", str(c["ub"])]
    return a


def record_for(c: dict, n_ctx_train: int) -> dict:
    """The plan's llama-server record for the case: the user's flags parsed
    as the plan parses them (-c 0 is the trained context), the layer split
    as the plan sets it."""
    fields, rest, problems = lc.parse_server_args(user_args(c))
    assert not problems and not rest, problems
    ctx = fields.pop("context")
    rec = {"name": "bench", "context": ctx or n_ctx_train, "parallel": fields.pop("parallel"), **lc.server_settings(fields)}
    if c.get("rpc"):
        rec.update(n_gpu_layers=999, tensor_split=c["ts"])
    return rec


def args_for(rec: dict) -> list[str]:
    """llama-server's arguments from the record, by the role's own function;
    measure() adds the model, address, port and --rpc itself."""
    argv = lc.llama_server_argv("llama-server", {**rec, "model_path": "-", "port": 0}, "-")[1:]
    for flag in ("--model", "--host", "--port", "--alias", "--fit"):
        if flag in argv:
            i = argv.index(flag)
            del argv[i : i + 2]
    return [a for a in argv if a != "--no-webui"]


def header(path: Path) -> tuple[dict, list[tuple[str, str, int]]]:
    r = GGUFReader(str(path))
    tensors = [(t.name, t.tensor_type.name, int(t.n_elements)) for t in r.tensors]
    return {}, tensors


def predict(shape: Shape, tensors, rec: dict) -> dict:
    d = {
        "n_layer": shape.n_layer,
        "n_embd": shape.n_embd,
        "n_head": shape.n_head,
        "n_head_kv": shape.n_head_kv,
        "head_dim": shape.hd,
        "n_ff": shape.n_ff,
        "n_vocab": shape.n_vocab,
    }
    return memory.llama_server_memory(
        d,
        tensors=tensors,
        ctx=rec["context"],
        parallel=rec["parallel"],
        split=rec.get("tensor_split"),
        repack=True,
        **lc.memory_kwargs(rec),
    )


def measured_devices(buf: dict, cmd: list[str]) -> dict[str, dict[str, float]]:
    """Map llama.cpp's buffer names to our device keys: CPU* -> cpu, RPC by --rpc order."""
    out: dict[str, dict[str, float]] = {}
    endpoints = cmd[cmd.index("--rpc") + 1].split(",") if "--rpc" in cmd else []
    rpc_order = [f"RPC0[{e}]" for e in endpoints]
    for kind, devs in buf.items():
        k = {"model": "model", "KV": "kv", "compute": "compute", "output": "output"}.get(kind)
        if k is None:
            continue
        for dev, mib in devs.items():
            key = f"dev{rpc_order.index(dev)}" if dev.startswith("RPC") else "cpu"
            k2 = "repack" if dev == "CPU_REPACK" else k
            out.setdefault(key, {}).setdefault(k2, 0.0)
            out[key][k2] += mib
    return out


def err(pred: float, meas: float) -> float:
    return (pred - meas) / meas * 100 if meas else 0.0


def run(quick: bool) -> dict:
    MODELS.mkdir(parents=True, exist_ok=True)
    rows = []
    for cid, shape, c in CASES[: 4 if quick else None]:
        path = MODELS / f"acc-{cid.split()[0]}-{hashlib.sha256(repr(shape).encode()).hexdigest()[:10]}.gguf"
        if c.get("quantize"):
            path = quantized(path, shape, c["quantize"])
        elif not path.exists():
            write_gguf(path, shape)
        _, tensors = header(path)
        rec = record_for(c, shape.n_ctx)
        t0 = time.monotonic()
        m = measure(path, args_for(rec), rpc_workers=c.get("rpc", 0))
        if not m["ok"]:
            print(f"{cid}: llama-server did not report buffers:\n{m['tail']}", file=sys.stderr)
            continue
        meas = measured_devices(m["buffers"], m["cmd"])
        pred = predict(shape, tensors, rec)
        file_mib = path.stat().st_size / MIB
        meas_total = sum(sum(v.values()) for v in meas.values())
        pred_total = pred["total"] / MIB
        # Ollama's estimate: the file plus f16 KV at the total context (all cells).
        hd = shape.hd
        kv_ollama = memory.kv_cache_bytes(shape.n_layer, rec["context"], shape.n_head_kv, hd) / MIB
        devices = {}
        for key in sorted(set(meas) | {k for k, v in pred["devices"].items() if v["total"]}):
            mv = meas.get(key, {})
            pv = pred["devices"].get(key, {"model": 0, "kv": 0, "compute": 0, "repack": 0, "output": 0, "total": 0})
            devices[key] = {
                "measured": {k: round(v, 2) for k, v in mv.items()},
                "predicted": {k: round(pv[k] / MIB, 2) for k in ("model", "repack", "kv", "compute", "output")},
                "measured_total": round(sum(mv.values()), 2),
                "predicted_total": round(pv["total"] / MIB, 2),
            }
        rows.append(
            {
                "case": cid,
                "shape": {**shape.__dict__, "head_dim": hd},
                "run": c,
                "extra_args": user_args(c),
                "args": args_for(rec),
                "file_mib": round(file_mib, 2),
                "measured_total_mib": round(meas_total, 2),
                "predicted_total_mib": round(pred_total, 2),
                "error_pct": round(err(pred_total, meas_total), 2),
                "seed001_error_pct": round(err(file_mib, meas_total), 2),
                "ollama_error_pct": round(err(file_mib + kv_ollama, meas_total), 2),
                "devices": devices,
                "seconds": round(time.monotonic() - t0, 1),
            }
        )
        print(f"{cid:28s} measured {meas_total:9.2f} MiB predicted {pred_total:9.2f} ({rows[-1]['error_pct']:+.2f}%)", flush=True)
    return summarize(rows)


def quantized(f16_path: Path, shape: Shape, qtype: str) -> Path:
    """A K-quant GGUF made from the f16 one by the real llama-quantize
    (gguf-py cannot write K-quants). Q4_K is --pure: every matrix Q4_K, so
    the tied token embedding is repackable; Q4_K_M as people download it."""
    out = f16_path.with_name(f16_path.stem + f"-{qtype}.gguf")
    if out.exists():
        return out
    if not f16_path.exists():
        write_gguf(f16_path, shape)
    quantize = BIN / "llama-quantize"
    cmd = [str(quantize), *(["--pure"] if qtype == "Q4_K" else []), str(f16_path), str(out), qtype]
    subprocess.run(
        cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "LD_LIBRARY_PATH": str(BIN)}
    )
    return out


def within(pred: float, meas: float, pct: float) -> bool:
    return abs(pred - meas) <= max(meas * pct / 100, 16.0)


def summarize(rows: list[dict]) -> dict:
    errs = [abs(r["error_pct"]) for r in rows]
    dev_checks = [
        (d["predicted_total"], d["measured_total"])
        for r in rows
        if r["run"].get("rpc")
        for k, d in r["devices"].items()
        if k != "cpu"
    ]
    under = [
        r["case"] for r in rows if r["predicted_total_mib"] < r["measured_total_mib"] - max(r["measured_total_mib"] * 0.03, 16)
    ]
    return {
        "llama_cpp": "b11312 (CPU backend, host build)",
        "cases": rows,
        "median_abs_error_pct": round(statistics.median(errs), 2) if errs else None,
        "max_abs_error_pct": round(max(errs), 2) if errs else None,
        "all_within_3pct_or_16mib": all(within(r["predicted_total_mib"], r["measured_total_mib"], 3) for r in rows),
        "rpc_devices_within_5pct_or_16mib": all(within(p, m, 5) for p, m in dev_checks),
        "underestimates_beyond_tolerance": under,
        "seed001_median_abs_error_pct": round(statistics.median(abs(r["seed001_error_pct"]) for r in rows), 2) if rows else None,
        "ollama_median_abs_error_pct": round(statistics.median(abs(r["ollama_error_pct"]) for r in rows), 2) if rows else None,
    }


def markdown(s: dict) -> str:
    lines = [
        "# Memory model accuracy vs llama.cpp",
        "",
        f"llama.cpp {s['llama_cpp']}; generated by `bench/memory_accuracy.py`. Error = (predicted - measured) / measured.",
        "",
        "Each case is written as a user writes `herd_models[].extra_args`; the plan's parser turns it into the",
        "llama-server record, the role's `llama_server_argv` makes the launched command from it (in the JSON, `args`),",
        "and the estimate reads the same record. `-c 0` is the model's trained context.",
        "",
        "| case | extra_args | file MiB | measured MiB | predicted MiB | error | seed 001 rule | Ollama estimate |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in s["cases"]:
        lines.append(
            f"| {r['case']} | `{' '.join(r['extra_args'])}` | {r['file_mib']:.1f} | {r['measured_total_mib']:.2f} | "
            f"{r['predicted_total_mib']:.2f} | {r['error_pct']:+.2f}% | {r['seed001_error_pct']:+.1f}% | {r['ollama_error_pct']:+.1f}% |"
        )
    lines += ["", "Per device (MiB, measured / predicted: model+repack, KV, compute, output):", ""]
    lines += ["| case | device | model | KV | compute | output | total |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in s["cases"]:
        for dev, d in r["devices"].items():
            m, p = d["measured"], d["predicted"]
            lines.append(
                f"| {r['case']} | {dev} | {m.get('model', 0) + m.get('repack', 0):.2f} / {p['model'] + p['repack']:.2f} | "
                f"{m.get('kv', 0):.2f} / {p['kv']:.2f} | {m.get('compute', 0):.2f} / {p['compute']:.2f} | "
                f"{m.get('output', 0):.2f} / {p.get('output', 0):.2f} | "
                f"{d['measured_total']:.2f} / {d['predicted_total']:.2f} |"
            )
    lines += [
        "",
        f"- median |error| of the total: **{s['median_abs_error_pct']}%** (max {s['max_abs_error_pct']}%)",
        f"- every case within 3% or 16 MiB: **{s['all_within_3pct_or_16mib']}**",
        f"- every RPC device within 5% or 16 MiB: **{s['rpc_devices_within_5pct_or_16mib']}**",
        f"- underestimates beyond tolerance: **{s['underestimates_beyond_tolerance'] or 'none'}**",
        f"- anchors: seed 001's rule (file size) median |error| {s['seed001_median_abs_error_pct']}%; "
        f"Ollama-style (file + f16 KV at total ctx) {s['ollama_median_abs_error_pct']}%",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="first 4 cases only")
    a = ap.parse_args()
    s = run(a.quick)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "memory_accuracy.json").write_text(json.dumps(s, indent=2) + "\n")
    (RESULTS / "memory_accuracy.md").write_text(markdown(s))
    print(markdown(s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
