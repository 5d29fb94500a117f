#!/usr/bin/env python3
"""The pinned llama.cpp source, from the llama-cpp-python sdist on PyPI.

llama-cpp-python 0.3.36 vendors llama.cpp b11312 under vendor/llama.cpp. This
script downloads the sdist with pip (PyPI is the one registry that ships the
full source here), repacks vendor/llama.cpp as a plain source archive that
roles/llama_cpp accepts (llama_cpp_source_archive + sha256), and can build
the CPU binaries on the controller for benchmarks.

    llama_cpp_source.py archive     -> prints the path of the .tar.gz
    llama_cpp_source.py sha256      -> prints its sha256
    llama_cpp_source.py build-host  -> builds ggml-rpc-server + llama-server in .cache, prints bin dir
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("HERD_CACHE", REPO / ".cache"))
SDIST_VERSION = "0.3.36"
LLAMA_CPP_BUILD = "11312"
SDIST = CACHE / "src" / f"llama_cpp_python-{SDIST_VERSION}.tar.gz"
ARCHIVE = CACHE / "src" / f"llama.cpp-b{LLAMA_CPP_BUILD}.tar.gz"
HOST_BUILD = CACHE / f"llama.cpp-b{LLAMA_CPP_BUILD}-host"


def log(msg: str) -> None:
    print(f"[llama-cpp-source] {msg}", file=sys.stderr, flush=True)


def fetch_sdist() -> Path:
    if SDIST.exists():
        return SDIST
    SDIST.parent.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip"]
    log(f"downloading llama-cpp-python=={SDIST_VERSION} sdist")
    subprocess.run(
        [*pip, "download", "--no-deps", "--no-binary", ":all:", "-d", str(SDIST.parent), f"llama-cpp-python=={SDIST_VERSION}"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return SDIST


def repack(sdist: Path, dest: Path) -> Path:
    """vendor/llama.cpp of ``sdist`` as ``dest`` with one top directory
    llama.cpp-b<N>/ (deterministic tarball)."""
    prefix = f"llama_cpp_python-{SDIST_VERSION}/vendor/llama.cpp/"
    top = f"llama.cpp-b{LLAMA_CPP_BUILD}"
    tmp = dest.with_suffix(".partial")
    with tarfile.open(sdist) as src, tarfile.open(tmp, "w:gz", format=tarfile.PAX_FORMAT) as dst:
        for member in sorted(src.getmembers(), key=lambda m: m.name):
            if not member.name.startswith(prefix):
                continue
            rel = member.name[len(prefix) :]
            if rel == ".git" or rel.startswith(".git/"):
                continue  # a submodule pointer into the sdist's own git dir
            member.name = f"{top}/{rel}"
            # A long name lives in the pax header, which tarfile writes back
            # as is and which wins over member.name when unpacking: without
            # this, 556 files (the CUDA kernels among them) kept their sdist path.
            member.pax_headers.pop("path", None)
            member.mtime, member.uid, member.gid, member.uname, member.gname = 0, 0, 0, "", ""
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
    tmp.rename(dest)
    return dest


def misplaced(path: Path) -> list[str]:
    """Members of an archive outside its llama.cpp-b<N>/ top directory."""
    top = f"llama.cpp-b{LLAMA_CPP_BUILD}/"
    with tarfile.open(path) as tf:
        return [m.name for m in tf.getmembers() if not m.name.startswith(top)]


def archive() -> Path:
    """The pinned source as a tarball the role accepts. One cached by an
    earlier version of this script with misplaced files is made again."""
    if ARCHIVE.exists():
        if not misplaced(ARCHIVE):
            return ARCHIVE
        log(f"{ARCHIVE} has files outside its top directory; repacking")
        ARCHIVE.unlink()
    return repack(fetch_sdist(), ARCHIVE)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_host() -> Path:
    """CPU build of rpc-server and llama-server on the controller (benchmarks)."""
    bindir = HOST_BUILD / "build" / "bin"
    if (bindir / "llama-server").exists() and (bindir / "ggml-rpc-server").exists():
        return bindir
    arc = archive()
    src = HOST_BUILD / "src"
    if not src.exists():
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp, tarfile.open(arc) as tf:
            tf.extractall(tmp, filter="data")
            HOST_BUILD.mkdir(parents=True, exist_ok=True)
            shutil.move(str(next(Path(tmp).iterdir())), src)
    flags = [
        "-DGGML_RPC=ON",
        "-DGGML_NATIVE=OFF",
        "-DLLAMA_USE_PREBUILT_UI=OFF",
        "-DLLAMA_OPENSSL=OFF",
        f"-DLLAMA_BUILD_NUMBER={LLAMA_CPP_BUILD}",
        "-DLLAMA_CURL=OFF",
        "-DCMAKE_BUILD_TYPE=Release",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
    ]
    if shutil.which("ccache"):
        flags += ["-DCMAKE_C_COMPILER_LAUNCHER=ccache", "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"]
    build = HOST_BUILD / "build"
    log("configuring llama.cpp (CPU, RPC) on the controller")
    subprocess.run(["cmake", "-S", str(src), "-B", str(build), *flags], check=True, stdout=subprocess.DEVNULL)
    log("building llama-server and rpc-server (minutes on two cores, seconds from a warm ccache)")
    subprocess.run(
        ["cmake", "--build", str(build), "-j", str(os.cpu_count() or 2), "--target", "llama-server", "ggml-rpc-server"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return bindir


def main() -> None:
    cmd = sys.argv[1] if len(sys.argv) > 1 else "archive"
    if cmd == "archive":
        print(archive())
    elif cmd == "sha256":
        print(sha256(archive()))
    elif cmd == "build-host":
        print(build_host())
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
