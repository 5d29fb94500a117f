#!/usr/bin/env python3
"""A CUDA 13.0 toolkit from NVIDIA's wheels on PyPI, laid out as NVIDIA's
installer lays out /usr/local/cuda-13.0, for the llama_cpp_cuda_switch
scenario (a host that moves from Debian's CUDA 11.8 to a 13.0 the user
installed, through llama_cpp_cuda_compiler).

NVIDIA's apt repository is not reachable here; PyPI is. The wheels put the
toolkit under nvidia/cu13/: nvcc's profile (bin/nvcc.profile) then wants
headers under targets/x86_64-linux/include and cicc under nvvm/bin, which
merging the wheels into one prefix gives. CMake's FindCUDAToolkit wants the
unversioned library names (libcudart.so, libcublas.so) the wheels leave out.
cuobjdump has no 13.0 wheel (13.2 is the first): it goes into its own
directory, as a newer tool that reads 13.0 binaries.

    cuda_wheels.py prefix   -> makes .cache/cuda-wheels/{cuda-13.0,tools}, prints the prefix
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("HERD_CACHE", REPO / ".cache")) / "cuda-wheels"
VERSION = "13.0"
# What a llama.cpp CUDA build needs: nvcc and its tools, cicc (nvvm), the
# headers (crt, runtime, cccl), cudart and cuBLAS. sha256 from PyPI.
TOOLKIT = {
    "nvidia-cuda-nvcc==13.0.88": "56fe502eb77625a12f25172caa3cdddb4e4c8ba2c8c17dba44b164761b380f03",
    "nvidia-nvvm==13.0.88": "c5f41ffeb6466944a026dfa5317d7d85355c119bbec279205d22f1869d1054e0",
    "nvidia-cuda-crt==13.0.88": "2c8043c7c9e02492716426e9919fc78d2c5b3b2a7a768a88e952676b08aa55a4",
    "nvidia-cuda-runtime==13.0.96": "7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548",
    "nvidia-cuda-cccl==13.0.85": "e0da7ad981f3a8aff08241b5bfc1af868742a63e2762f53a5171c492ef242649",
    "nvidia-cublas==13.0.2.14": "0cf238ffdbe46c00cb9aa98e7bca745c223a5ca5a53e686ac8b3e5a08fe80d6c",
}
TOOLS = {
    "nvidia-cuda-cuobjdump==13.2.51": "95c69d3ddf0c2c1f535ec44c3433a66aeee19f588d9d22f73356e20b25f12b50",
}
UNVERSIONED = {"libcudart.so": "libcudart.so.13", "libcublas.so": "libcublas.so.13", "libcublasLt.so": "libcublasLt.so.13"}


def log(msg: str) -> None:
    print(f"[cuda-wheels] {msg}", file=sys.stderr, flush=True)


def download(pins: dict[str, str], dest: Path) -> list[Path]:
    """The pinned wheels, checked against their hashes by pip."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as req:
        req.write("".join(f"{pin} --hash=sha256:{digest}\n" for pin, digest in pins.items()))
    try:
        pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:"]
        subprocess.run([*pip, "--require-hashes", "-r", req.name, "-d", str(dest)], check=True)
    finally:
        os.unlink(req.name)
    names = [pin.split("==")[0].replace("-", "_") + "-" + pin.split("==")[1] + "-" for pin in pins]
    return [next(dest.glob(f"{n}*.whl")) for n in names]


def extract(wheel: Path, into: Path) -> None:
    """nvidia/cu13/* of ``wheel`` into ``into``, keeping the executable bits."""
    prefix = "nvidia/cu13/"
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if not info.filename.startswith(prefix) or info.is_dir():
                continue
            target = into / info.filename[len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            mode = (info.external_attr >> 16) & 0o777
            target.chmod(mode or 0o644)


def build_prefix() -> Path:
    prefix = CACHE / f"cuda-{VERSION}"
    tools = CACHE / "tools"
    stamp = CACHE / "stamp.json"
    want = {"toolkit": TOOLKIT, "tools": TOOLS}
    if stamp.exists() and json.loads(stamp.read_text()) == want and (prefix / "bin" / "nvcc").exists():
        return prefix
    wheels = download({**TOOLKIT, **TOOLS}, CACHE / "download")
    for d in (prefix, tools):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    for wheel in wheels[: len(TOOLKIT)]:
        log(f"unpacking {wheel.name}")
        extract(wheel, prefix)
    for wheel in wheels[len(TOOLKIT) :]:
        extract(wheel, tools)
    for name, target in UNVERSIONED.items():
        (prefix / "lib" / name).symlink_to(target)
    (prefix / "lib64").symlink_to("lib")
    target_dir = prefix / "targets" / "x86_64-linux"
    target_dir.mkdir(parents=True)
    (target_dir / "include").symlink_to("../../include")
    (target_dir / "lib").symlink_to("../../lib")
    (prefix / "version.json").write_text(
        json.dumps({"cuda": {"name": "CUDA SDK", "version": VERSION}, "wheels": list(TOOLKIT)}, indent=1) + "\n"
    )
    stamp.write_text(json.dumps(want))
    return prefix


def main() -> None:
    if sys.argv[1:] != ["prefix"]:
        sys.exit(__doc__)
    prefix = build_prefix()
    out = subprocess.run([str(prefix / "bin" / "nvcc"), "--version"], check=True, capture_output=True, text=True).stdout
    log(out.strip().splitlines()[-1])
    print(prefix)


if __name__ == "__main__":
    main()
