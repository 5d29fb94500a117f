"""The memory filters resolve by FQCN and take positional and keyword
arguments in a real template (ansible ad-hoc on localhost, no host contacted)."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO, VENV_BIN, ansible_env

TEMPLATE = (
    "{{ {"
    "'kv': 'llama3.1:8b' | llamaherd.cluster.kv_cache_bytes(8192, parallel=4),"
    "'kv_ollama_q8': 'llama3.1:8b' | llamaherd.cluster.kv_cache_bytes(4096, engine='ollama', cache_type='q8_0'),"
    "'weights': 8e9 | llamaherd.cluster.model_weight_bytes('Q8_0'),"
    "'usable': 4096 | llamaherd.cluster.usable_mib,"
    "'fits': 4700 | llamaherd.cluster.fits(4096),"
    "'fits_margin': 4000 | llamaherd.cluster.fits(4096, 1.0),"
    "'hsa': 'gfx1151' | llamaherd.cluster.hsa_override"
    "} | to_json }}"
)


def test_filters_in_a_template(tmp_path):
    env = ansible_env()
    env["ANSIBLE_LOAD_CALLBACK_PLUGINS"] = "true"
    env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.builtin.json"
    env["ANSIBLE_CACHE_PLUGIN_CONNECTION"] = str(tmp_path / "facts")
    cmd = [str(VENV_BIN / "ansible"), "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}"]
    cmd += ["-m", "ansible.builtin.debug", "-a", f"msg={TEMPLATE}", "localhost"]
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    msg = json.loads(res.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]
    out = json.loads(msg) if isinstance(msg, str) else msg
    assert out == {
        "kv": 2**30,
        "kv_ollama_q8": 4096 * 32 * 8 * 128 * 2 * 34 // 32,
        "weights": 8_500_000_000,
        "usable": 3276.8,
        "fits": False,
        "fits_margin": True,
        "hsa": "11.5.1",
    }
