#!/usr/bin/env python3
"""Release archives for the ollama role's tests.

    ollama_archive.py build --version 0.32.15 [--arch amd64] [--rocm] [--format tgz|tar.zst] --out DIR

Writes DIR/ollama-linux-<arch>.<format> (and, with --rocm, the ROCm add-on
archive ollama-linux-<arch>-rocm.<format>; upstream ships .tar.zst from
v0.14.0, .tgz before) in the layout of Ollama's official
release archives (bin/ollama, lib/ollama/...), plus DIR/sha256sum.txt in the
format of the release's checksum file, and prints a JSON summary:
{"version", "archives": {"<file>": {"path", "sha256"}}}.

No registry here ships Ollama, so bin/ollama is the stand-in from
tests/doubles/ollama/ (it says so in its log and in lib/ollama/STANDIN.txt),
with its version set to --version. When OLLAMA_ARCHIVE points to a real
release archive, that file is used instead (OLLAMA_ARCHIVE_VERSION must name
its version; OLLAMA_ROCM_ARCHIVE likewise for the ROCm add-on), so the same
test runs the real binary. Archives are byte-for-byte reproducible (fixed
mtimes, owners and order), so rebuilding does not change their checksum.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STANDIN = REPO / "tests" / "doubles" / "ollama" / "ollama.py"
MTIME = 1_700_000_000

NOTICE = """This archive is a TEST STAND-IN for Ollama, built by llama-herd's
tests/harness/ollama_archive.py. bin/ollama is tests/doubles/ollama/ollama.py,
a Python implementation of the parts of Ollama's HTTP API the collection
uses. It runs no model. Use the official archive from
https://github.com/ollama/ollama/releases for anything real.
"""


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _add(tar: tarfile.TarFile, name: str, data: bytes | None, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = mode
    if data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def write_archive(path: Path, entries: list[tuple[str, bytes | None, int]]) -> None:
    """A gzip (.tgz) or zstd (.tar.zst, the zstd program) compressed tar."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data, mode in entries:
            _add(tar, name, data, mode)
    tmp = path.with_name(path.name + ".tmp")
    if path.name.endswith(".zst"):
        packed = subprocess.run(["zstd", "-q", "-c", "-19"], input=raw.getvalue(), capture_output=True, check=True).stdout
        tmp.write_bytes(packed)
    else:
        with tmp.open("wb") as f, gzip.GzipFile(filename="", fileobj=f, mode="wb", mtime=MTIME) as gz:
            gz.write(raw.getvalue())
    os.replace(tmp, path)


def standin_binary(version: str) -> bytes:
    src = STANDIN.read_text()
    out, n = re.subn(r'^STANDIN_VERSION = "[^"]*"', f'STANDIN_VERSION = "{version}"', src, count=1, flags=re.M)
    if n != 1:
        raise SystemExit(f"{STANDIN}: STANDIN_VERSION line not found")
    return out.encode()


def build(version: str, arch: str, rocm: bool, out: Path, fmt: str = "tgz") -> dict:
    out.mkdir(parents=True, exist_ok=True)
    base = f"ollama-linux-{arch}"
    archives: dict[str, Path] = {}
    real = os.environ.get("OLLAMA_ARCHIVE")
    if real:
        src = Path(real)
        version = os.environ.get("OLLAMA_ARCHIVE_VERSION") or sys.exit("OLLAMA_ARCHIVE_VERSION must name the archive's version")
        dest = out / src.name
        if src.resolve() != dest.resolve():
            shutil.copyfile(src, dest)
        archives[src.name] = dest
        if rocm:
            rsrc = Path(os.environ.get("OLLAMA_ROCM_ARCHIVE") or sys.exit("OLLAMA_ROCM_ARCHIVE must accompany --rocm"))
            rdest = out / rsrc.name
            if rsrc.resolve() != rdest.resolve():
                shutil.copyfile(rsrc, rdest)
            archives[rsrc.name] = rdest
    else:
        notice = NOTICE.encode()
        main = out / f"{base}.{fmt}"
        write_archive(
            main,
            [
                ("bin", None, 0o755),
                ("bin/ollama", standin_binary(version), 0o755),
                ("lib", None, 0o755),
                ("lib/ollama", None, 0o755),
                ("lib/ollama/STANDIN.txt", notice, 0o644),
            ],
        )
        archives[main.name] = main
        if rocm:
            radd = out / f"{base}-rocm.{fmt}"
            write_archive(
                radd,
                [
                    ("lib", None, 0o755),
                    ("lib/ollama", None, 0o755),
                    ("lib/ollama/rocm", None, 0o755),
                    ("lib/ollama/rocm/STANDIN.txt", notice, 0o644),
                ],
            )
            archives[radd.name] = radd
    sums = {name: sha256(path) for name, path in archives.items()}
    (out / "sha256sum.txt").write_text("".join(f"{s}  ./{n}\n" for n, s in sorted(sums.items())))
    return {
        "version": version,
        "standin": not real,
        "archives": {n: {"path": str(p), "sha256": sums[n]} for n, p in archives.items()},
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="write the archive(s) and sha256sum.txt")
    b.add_argument("--version", required=True)
    b.add_argument("--arch", default="amd64", choices=["amd64", "arm64"])
    b.add_argument("--rocm", action="store_true", help="also the ROCm add-on archive")
    b.add_argument("--format", default="tgz", choices=["tgz", "tar.zst"], help="compression (upstream: tar.zst from 0.14.0)")
    b.add_argument("--out", required=True, type=Path)
    args = ap.parse_args(argv)
    print(json.dumps(build(args.version, args.arch, args.rocm, args.out, args.format), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
