"""gguf_info runs for real on this machine (local connection) on a generated
model; its answer agrees with the gguf package's reader."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO, VENV_BIN, ansible_env
from gguf import GGUFReader

sys.path.insert(0, str(REPO / "tests" / "harness"))
from make_gguf import Shape, write_gguf


def _adhoc(tmp_path, args: str, check: bool = False) -> dict:
    env = ansible_env()
    env["ANSIBLE_LOAD_CALLBACK_PLUGINS"] = "true"
    env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.builtin.json"
    env["ANSIBLE_CACHE_PLUGIN_CONNECTION"] = str(tmp_path / "facts")
    cmd = [str(VENV_BIN / "ansible"), "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}"]
    cmd += ["-m", "llamaherd.cluster.gguf_info", "-a", args, *(["--check"] if check else []), "localhost"]
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    return json.loads(res.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_gguf_info_reads_a_real_file(tmp_path):
    path = tmp_path / "m.gguf"
    write_gguf(path, Shape(arch="qwen2", n_layer=3, n_embd=256, n_head=8, n_head_kv=2, n_ff=512, weight_type="q8_0"))
    result = _adhoc(tmp_path, f"path={path} tensors=false", check=True)
    assert not result.get("failed"), result
    assert result["changed"] is False
    g = result["gguf"]
    reader = GGUFReader(str(path))
    assert g["architecture"] == "qwen2" and g["block_count"] == 3 and g["head_count_kv"] == 2
    assert g["tensor_bytes"] == sum(int(t.n_bytes) for t in reader.tensors)
    assert g["file_size"] == path.stat().st_size and g["data_offset"] == reader.data_offset
    assert "tensors" not in g and "tensors" not in result["catalog_entry"]
    assert result["catalog_entry"]["quant"] == "Q8_0" and result["catalog_entry"]["n_layer"] == 3


def test_gguf_info_fails_on_a_non_gguf_file(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not a model\n", encoding="utf-8")
    result = _adhoc(tmp_path, f"path={bad}")
    assert result["failed"] is True
    assert "is not a GGUF file" in result["msg"] and str(bad) in result["msg"]
