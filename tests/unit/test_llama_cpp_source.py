"""tests/harness/llama_cpp_source.py repacks every file of the sdist's
vendor/llama.cpp under one top directory, long names included."""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))

import llama_cpp_source as lcs

PREFIX = f"llama_cpp_python-{lcs.SDIST_VERSION}/vendor/llama.cpp/"
TOP = f"llama.cpp-b{lcs.LLAMA_CPP_BUILD}/"
# Over 100 characters inside the sdist (so tarfile keeps it in a pax
# header), under 100 once repacked: the case that used to keep its old path.
LONG = "ggml/src/ggml-cuda/template-instances/fattn-vec-instance-f16-f16.cu"
SHORT = "CMakeLists.txt"


def _sdist(path: Path, fmt: int) -> Path:
    with tarfile.open(path, "w:gz", format=fmt) as tf:
        for name in (SHORT, LONG, ".git"):
            data = name.encode()
            info = tarfile.TarInfo(PREFIX + name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def test_long_names_land_under_the_top_directory(tmp_path):
    assert len(PREFIX + LONG) > 100 >= len(TOP + LONG)
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        out = lcs.repack(_sdist(tmp_path / f"sdist-{fmt}.tar.gz", fmt), tmp_path / f"out-{fmt}.tar.gz")
        with tarfile.open(out) as tf:
            names = sorted(tf.getnames())
            assert names == [TOP + SHORT, TOP + LONG]
            tf.extractall(tmp_path / f"x-{fmt}", filter="data")
        assert (tmp_path / f"x-{fmt}" / TOP / LONG).read_text() == LONG
        assert lcs.misplaced(out) == []


def test_misplaced_finds_a_member_outside_the_top_directory(tmp_path):
    bad = _sdist(tmp_path / "bad.tar.gz", tarfile.PAX_FORMAT)
    assert lcs.misplaced(bad) == [PREFIX + SHORT, PREFIX + LONG, PREFIX + ".git"]
