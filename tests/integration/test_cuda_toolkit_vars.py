"""The llama_cpp role's own variables pick the CUDA toolkit, the nvcc the
build uses and the build key, as Ansible resolves them (real
ansible-playbook, the role's defaults/ and vars/, no host, no download).
The install and the compile are molecule/llama_cpp_cuda (make
molecule-llama_cpp_cuda, opt-in: 1.6 GB from Debian, an hour cold)."""

from __future__ import annotations

import json

import pytest
from conftest import REPO, run_playbook

V100 = {"vendor": "nvidia", "compute_capability": "7.0"}
RTX3090 = {"vendor": "nvidia", "compute_capability": "8.6"}
RTX5090 = {"vendor": "nvidia", "compute_capability": "12.0"}

PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars_files: [{repo}/roles/llama_cpp/defaults/main.yml, {repo}/roles/llama_cpp/vars/main.yml]
  vars:
    ansible_facts: {{distribution: {dist}, distribution_major_version: "{major}", distribution_release: x, architecture: x86_64}}
  tasks:
    - ansible.builtin.copy:
        dest: "{out}"
        content: "{{{{ {{'toolkit': __llama_cpp_cuda_toolkit, 'nvcc': __llama_cpp_cuda_nvcc, 'flags': __llama_cpp_flags,
                     'key': __llama_cpp_key, 'bin': __llama_cpp_cuda_bin}} | to_json }}}}"
        mode: "0644"
"""


def resolve(tmp_path, gpus, dist=("Debian", "12"), **inventory):
    """The role's resolved variables for a host with ``gpus`` on ``dist``;
    ``inventory``: more host variables (extra vars here: vars_files would
    win over play vars)."""
    out = tmp_path / "out.json"
    play = tmp_path / "play.yml"
    play.write_text(PLAY.format(repo=REPO, dist=dist[0], major=dist[1], out=out))
    given = tmp_path / "vars.json"
    given.write_text(
        json.dumps(
            {
                "llama_cpp_gpus": gpus,
                "llama_cpp_source_archive": "/x.tar.gz",
                "llama_cpp_source_archive_sha256": "0" * 64,
                **inventory,
            }
        )
    )
    res = run_playbook(str(play), "-e", f"@{given}", timeout=120)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    return json.loads(out.read_text())


def test_v100_on_debian_builds_with_debian_non_free_11_8(tmp_path):
    got = resolve(tmp_path, [V100])
    assert got["toolkit"]["source"] == "distro" and got["toolkit"]["version"] == "11.8"
    assert got["nvcc"] == "/usr/bin/nvcc" and got["bin"] == "/usr/bin"
    assert "-DCMAKE_CUDA_COMPILER=/usr/bin/nvcc" in got["flags"] and "-DCUDAToolkit_ROOT=/usr" in got["flags"]
    assert "-DCMAKE_CUDA_ARCHITECTURES=70" in got["flags"]


def test_the_toolkit_version_is_in_the_build_key(tmp_path):
    debian = resolve(tmp_path, [V100])
    pinned = resolve(tmp_path, [V100], herd_cuda_version="12.8")
    assert pinned["nvcc"] == "/usr/local/cuda-12.8/bin/nvcc" and pinned["toolkit"]["packages"] == ["cuda-toolkit-12-8"]
    assert pinned["key"] != debian["key"]
    # Same nvcc path and flags, other version: still another key.
    own = resolve(tmp_path, [V100], llama_cpp_cuda_compiler="/usr/bin/nvcc", herd_cuda_version="11.7")
    assert own["flags"] == debian["flags"] and own["key"] != debian["key"]


def test_a_users_toolkit_without_herd_cuda_version_keys_on_what_its_nvcc_says(tmp_path):
    # tasks/main.yml reads `nvcc --version` into llama_cpp_cuda_version_measured.
    own = {"llama_cpp_cuda_compiler": "/usr/local/cuda/bin/nvcc"}
    k128 = resolve(tmp_path, [RTX3090], **own, llama_cpp_cuda_version_measured="12.8")
    k130 = resolve(tmp_path, [RTX3090], **own, llama_cpp_cuda_version_measured="13.0")
    assert k128["flags"] == k130["flags"] and k128["key"] != k130["key"]
    declared = resolve(tmp_path, [RTX3090], **own, herd_cuda_version="13.0", llama_cpp_cuda_version_measured="13.0")
    assert declared["key"] == k130["key"]


@pytest.mark.parametrize(
    ("gpus", "nvcc", "archs"),
    [
        ([V100, RTX3090], "/usr/bin/nvcc", "70;86"),
        ([V100, RTX5090], "/usr/local/cuda-12.8/bin/nvcc", "120;70"),
        ([RTX5090], "/usr/local/cuda-13.0/bin/nvcc", "120"),
    ],
)
def test_mixed_generations_get_one_toolkit_and_every_architecture(tmp_path, gpus, nvcc, archs):
    got = resolve(tmp_path, gpus)
    assert got["nvcc"] == nvcc and f"-DCMAKE_CUDA_ARCHITECTURES={archs}" in got["flags"]


def test_cpu_hosts_need_no_toolkit_and_keep_their_key(tmp_path):
    got = resolve(tmp_path, [], dist=("Fedora", "40"))
    assert got["nvcc"] == "" and not any("CUDA" in f for f in got["flags"])
    assert got["key"].startswith("b11312-x86_64-")
