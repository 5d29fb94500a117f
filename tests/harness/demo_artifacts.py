#!/usr/bin/env python3
"""Every artifact `make demo` installs, made on the controller, no internet.

    demo_artifacts.py [--out .cache/demo] [--mirror-address 10.89.64.10]
                                            -> writes OUT/vars.yml, prints its path

site.yml installs real artifacts from pinned upstream URLs; this machine
reaches only the Debian, PyPI and npm registries. The molecule scenarios solve
that per role; this does the same for the whole demo cluster, and writes
OUT/vars.yml with the role variables pointing at what it made (pass it to
ansible-playbook with `-e @.cache/demo/vars.yml`):

- Ollama: a release archive in the official layout, built by
  tests/harness/ollama_archive.py around the STAND-IN binary
  (tests/doubles/ollama), or the real archive when OLLAMA_ARCHIVE (and
  OLLAMA_ARCHIVE_VERSION) is set. No registry here ships Ollama.
- llama.cpp: the REAL pinned source (b11312, from the llama-cpp-python sdist
  on PyPI, tests/harness/llama_cpp_source.py) and a tiny real GGUF with
  random weights (tests/harness/make_gguf.py) in the shape of the demo
  inventory's herd_model_catalog entry, served by lb1 (demo_scaffold.yml).
- the gateway (the orchestrator, inventory/demo/orchestrator.yml): LiteLLM's
  REAL hashed lock from PyPI, downloaded by the role on the controller into
  .cache/llama-herd/gateway (gateway_wheelhouse); its secrets come from
  tests/harness/demo_secrets.py, in Ansible Vault.
- distributed-llama: the STAND-IN source (tests/doubles/distributed-llama),
  or a real checkout when DLLAMA_SRC=/path/to/distributed-llama is set,
  packed like GitHub's archives; header-only model and tokenizer files in
  the real formats (they exercise the download and topology checks, not
  inference), served by lb1.

Everything is reproducible: a second run rewrites identical bytes, so the
checksums in vars.yml, and the hosts' installs, do not change.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
HARNESS = REPO / "tests" / "harness"
DLLAMA_STANDIN = REPO / "tests" / "doubles" / "distributed-llama"
OLLAMA_VERSION = "0.32.15"
# Where the demo hosts download models from: lb1's file server (see
# playbooks/demo_scaffold.yml), on the demo network. molecule/cluster passes
# its own load balancer's address.
MIRROR_ADDRESS = "10.89.64.10"
MIRROR_PORT = 8099
# The llama.cpp model: the shape of herd_model_catalog['herd-tiny-llama'] in
# inventory/demo/group_vars/all.yml, in the quant the plan chooses (Q8_0).
LLAMA_MODEL = "herd-tiny-llama"
LLAMA_GGUF_ARGS = [
    "--arch=llama",
    "--n-layer=4",
    "--n-embd=256",
    "--n-head=8",
    "--n-head-kv=2",
    "--head-dim=32",
    "--n-ff=512",
    "--n-vocab=512",
    "--n-ctx=2048",
    "--type=q8_0",
    "--seed=0",
]
# The dllama model: 2 KV heads as herd_model_catalog['herd-tiny-dllama'], so
# the plan's 2 nodes (root + 1 worker) pass the topology rule.
DLLAMA_KV_HEADS = 2


def log(msg: str) -> None:
    print(f"[demo-artifacts] {msg}", file=sys.stderr, flush=True)


def run(argv: list[str], **kw) -> str:
    res = subprocess.run(argv, check=True, capture_output=True, text=True, cwd=REPO, **kw)
    return res.stdout.strip()


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ollama(out: Path) -> dict:
    build = json.loads(
        run(
            [
                sys.executable,
                str(HARNESS / "ollama_archive.py"),
                "build",
                "--version",
                OLLAMA_VERSION,
                "--out",
                str(out / "ollama"),
            ]
        )
    )
    name, archive = next(iter(build["archives"].items()))
    real = bool(os.environ.get("OLLAMA_ARCHIVE"))
    log(f"ollama {build['version']}: {archive['path']} ({'real' if real else 'stand-in'})")
    return {
        "vars": {
            "ollama_version": build["version"],
            "ollama_archive_src": archive["path"],
            "ollama_archive_checksum": f"sha256:{archive['sha256']}",
        },
        "standin": not real,
        "what": f"Ollama {build['version']} release archive {name}",
    }


def llama_cpp(out: Path, mirror_url: str) -> dict:
    archive = run([sys.executable, str(HARNESS / "llama_cpp_source.py"), "archive"])
    archive_sha = run([sys.executable, str(HARNESS / "llama_cpp_source.py"), "sha256"])
    models = out / "models"
    models.mkdir(parents=True, exist_ok=True)
    gguf = models / f"{LLAMA_MODEL}-q8_0.gguf"
    if not gguf.exists():
        tmp = gguf.with_suffix(".tmp")
        run([sys.executable, str(HARNESS / "make_gguf.py"), str(tmp), *LLAMA_GGUF_ARGS])
        tmp.replace(gguf)
    log(f"llama.cpp source {archive}; model {gguf}")
    return {
        "vars": {
            "llama_cpp_source_archive": archive,
            "llama_cpp_source_archive_sha256": archive_sha,
            "llama_cpp_artifact_dir": str(out / "llama_cpp-artifacts"),
            # The head1 container mounts the controller's ccache here
            # (harness_podman_volumes in inventory/demo), so a re-run compiles
            # nothing.
            "llama_cpp_ccache_dir": "/mnt/herd-ccache",
            "llama_cpp_models": [
                {
                    "name": LLAMA_MODEL,
                    "file": gguf.name,
                    "url": f"{mirror_url}/{gguf.name}",
                    "sha256": sha256(gguf),
                    "size_bytes": gguf.stat().st_size,
                }
            ],
        },
        "served": [str(gguf)],
        "standin": False,
        "what": "llama.cpp b11312 source (llama-cpp-python 0.3.36 sdist) and a tiny real GGUF (random weights)",
    }


def dllama(out: Path, mirror_url: str) -> dict:
    src = Path(os.environ.get("DLLAMA_SRC") or DLLAMA_STANDIN)
    scratch = out / "dllama"
    (scratch / "models").mkdir(parents=True, exist_ok=True)
    archive = scratch / "distributed-llama-src.tar.gz"
    # Byte-identical on every run (sorted, fixed times and owners, gzip -n),
    # one top-level directory as GitHub's archives: the same recipe as
    # molecule/distributed_llama.
    subprocess.run(
        "set -o pipefail; tar -C \"$SRC\" --exclude=.git --exclude='*.o' --exclude=./dllama --exclude=./dllama-api"
        " --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --transform 's,^\\.,distributed-llama,'"
        ' -cf - . | gzip -n > "$OUT.tmp" && mv "$OUT.tmp" "$OUT"',
        shell=True,
        executable="/bin/bash",
        check=True,
        env={**os.environ, "SRC": str(src), "OUT": str(archive)},
    )
    model = scratch / "models" / "dllama_model_herd_tiny_q40.m"
    tokenizer = scratch / "models" / "dllama_tokenizer_herd_tiny.t"
    run(
        [
            sys.executable,
            str(DLLAMA_STANDIN / "tools" / "make_model.py"),
            str(model),
            str(tokenizer),
            "--kv-heads",
            str(DLLAMA_KV_HEADS),
            "--weights",
            "q40",
            "--size-kib",
            "256",
        ]
    )
    real = bool(os.environ.get("DLLAMA_SRC"))
    log(f"distributed-llama source {archive} from {src} ({'real' if real else 'stand-in'})")
    # The role's patches fix upstream's code, which the stand-in does not
    # contain: it gets its own patch (see its patches/); a real checkout the
    # role's default list.
    if real:
        patches = yaml.safe_load((REPO / "roles" / "dllama" / "defaults" / "main.yml").read_text())["dllama_patches"]
    else:
        patches = [str(DLLAMA_STANDIN / "patches" / "stand-in-says-patched.patch")]
    return {
        "vars": {
            "dllama_source_archive": str(archive),
            "dllama_patches": patches,
            "dllama_artifact_dir": str(scratch / "artifacts"),
            "dllama_model_url": f"{mirror_url}/{model.name}",
            "dllama_model_sha256": sha256(model),
            "dllama_tokenizer_url": f"{mirror_url}/{tokenizer.name}",
            "dllama_tokenizer_sha256": sha256(tokenizer),
            "dllama_model_kv_heads": DLLAMA_KV_HEADS,
            "dllama_weights_float_type": "q40",
        },
        "served": [str(model), str(tokenizer)],
        "standin": not real,
        "what": f"distributed-llama source from {src}; header-only model files (real formats, no weights)",
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=REPO / ".cache" / "demo")
    p.add_argument("--mirror-address", default=MIRROR_ADDRESS, help="the address the mirror host serves on")
    args = p.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    mirror_url = f"http://{args.mirror_address}:{MIRROR_PORT}"

    parts = {"ollama": ollama(out), "llama_cpp": llama_cpp(out, mirror_url), "dllama": dllama(out, mirror_url)}
    variables: dict = {}
    for part in parts.values():
        variables.update(part["vars"])
    variables["demo_mirror"] = {
        "address": args.mirror_address,
        "port": MIRROR_PORT,
        "files": [f for part in parts.values() for f in part.get("served", [])],
    }
    # The gateway's LiteLLM lock, downloaded by the controller into the
    # project's cache (shared with molecule/gateway) and copied to the host.
    variables["gateway_wheelhouse"] = True
    variables["gateway_wheelhouse_dir"] = str(REPO / ".cache" / "llama-herd" / "gateway")
    variables["demo_artifacts"] = {name: {"what": part["what"], "standin": part["standin"]} for name, part in parts.items()}
    dest = out / "vars.yml"
    text = "---\n# Written by tests/harness/demo_artifacts.py; do not edit.\n" + yaml.safe_dump(variables, sort_keys=True)
    if not dest.exists() or dest.read_text() != text:
        dest.write_text(text)
    print(dest)


if __name__ == "__main__":
    main()
