"""roles/dllama/files/dllama-patch, the tool the role applies dllama_patches
with: each patch once, in order; a patch written for other code fails in
words and leaves the tree alone. Against the stand-in always; the role's
default patches against a real checkout when DLLAMA_SRC is set."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "roles" / "dllama" / "files" / "dllama-patch"
STANDIN = REPO / "tests" / "doubles" / "distributed-llama"
STANDIN_PATCH = STANDIN / "patches" / "stand-in-says-patched.patch"
DEFAULTS = yaml.safe_load((REPO / "roles" / "dllama" / "defaults" / "main.yml").read_text())
ROLE_PATCHES = [REPO / "roles" / "dllama" / "files" / p for p in DEFAULTS["dllama_patches"]]


def run(src: Path, *patches: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(TOOL), str(src), *map(str, patches)], capture_output=True, text=True, check=False)


def tree(src: Path) -> dict[str, bytes]:
    return {str(p.relative_to(src)): p.read_bytes() for p in sorted(src.rglob("*")) if p.is_file() and ".git" not in p.parts}


def test_the_default_patches_are_the_role_files():
    assert ROLE_PATCHES and all(p.is_file() for p in ROLE_PATCHES)
    assert sorted(ROLE_PATCHES) == sorted((REPO / "roles" / "dllama" / "files" / "patches").glob("*.patch"))


def test_a_patch_applies_once(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(STANDIN, src)
    first = run(src, STANDIN_PATCH)
    assert (first.returncode, first.stdout) == (0, "applied stand-in-says-patched.patch\n"), first.stderr
    patched = tree(src)
    assert b'std::printf("Stand-in patch applied\\n");' in patched["src/dllama-api.cpp"]
    again = run(src, STANDIN_PATCH)
    assert (again.returncode, again.stdout) == (0, "already applied stand-in-says-patched.patch\n"), again.stderr
    assert tree(src) == patched


def test_a_patch_for_other_code_fails_in_words_and_changes_nothing(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(STANDIN, src)
    before = tree(src)
    r = run(src, *ROLE_PATCHES)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith(f"{ROLE_PATCHES[0].name} does not apply to the source in {src}: "), r.stderr
    assert tree(src) == before


def test_a_missing_patch_is_named(tmp_path):
    r = run(tmp_path, tmp_path / "nope.patch")
    assert r.returncode == 1 and f"cannot read the patch {tmp_path / 'nope.patch'}" in r.stderr


@pytest.mark.skipif(not os.environ.get("DLLAMA_SRC"), reason="needs DLLAMA_SRC=/path/to/a distributed-llama checkout")
def test_the_default_patches_apply_to_the_pinned_source(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(os.environ["DLLAMA_SRC"], src, ignore=shutil.ignore_patterns(".git"))
    names = [p.name for p in ROLE_PATCHES]
    first = run(src, *ROLE_PATCHES)
    assert (first.returncode, first.stdout.splitlines()) == (0, [f"applied {n}" for n in names]), first.stderr
    again = run(src, *ROLE_PATCHES)
    assert again.stdout.splitlines() == [f"already applied {n}" for n in names], again.stderr
    assert not list(src.rglob("*.orig")) and not list(src.rglob("*.rej"))
