"""The dllama units, rendered from the role's templates: a start that cannot
succeed stops after a few tries (StartLimit* in [Unit]), and the root's
units refuse to start, saying which file and the fix, when the model or the
tokenizer cannot be read (the ExecStartPre line, run here as systemd would);
`systemd-analyze verify` finds nothing to say about any of them."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess

import pytest
from conftest import REPO, run_playbook

UNITS = ("dllama-api.service", "dllama-root.service", "dllama-worker.service")


@pytest.fixture(scope="module")
def units(tmp_path_factory) -> dict[str, configparser.ConfigParser]:
    out = tmp_path_factory.mktemp("units")
    r = run_playbook(str(REPO / "tests/integration/dllama/render_units.yml"), "-e", f"render_dir={out}")
    assert r.returncode == 0, r.stdout + r.stderr
    parsed = {}
    for name in UNITS:
        cp = configparser.ConfigParser(strict=False, interpolation=None)
        cp.optionxform = str
        cp.text = (out / name).read_text()  # for systemd-analyze verify
        cp.read_string(cp.text)
        parsed[name] = cp
    return parsed


def exec_argv(line: str) -> list[str]:
    """systemd's command-line quoting for what systemd_join writes: double
    quotes with backslash escapes, and $$ for a literal $."""
    return shlex.split(line.replace("$$", "$"))


@pytest.mark.parametrize("name", ["dllama-api.service", "dllama-worker.service"])
def test_restarting_units_stop_after_five_failed_starts(units, name):
    unit = units[name]["Unit"]
    assert (unit.get("StartLimitIntervalSec"), unit.get("StartLimitBurst")) == ("120", "5")
    assert units[name]["Service"]["Restart"] == "always"
    assert "StartLimitBurst" not in units[name]["Service"]  # ignored there by systemd


@pytest.mark.parametrize("name", ["dllama-api.service", "dllama-root.service"])
def test_root_units_check_the_model_files_first(units, name, tmp_path):
    argv = exec_argv(units[name]["Service"]["ExecStartPre"])
    assert argv[-4:] == ["dllama_model", "/var/lib/dllama/models/m.m", "dllama_tokenizer", "/var/lib/dllama/models/t.t"]
    model, tokenizer = tmp_path / "m.m", tmp_path / "t.t"
    run = [*argv[:-4], "dllama_model", str(model), "dllama_tokenizer", str(tokenizer)]

    missing = subprocess.run(run, capture_output=True, text=True, check=False)
    assert missing.returncode == 1
    assert f"the dllama_model file {model} is missing, empty or not readable by user" in missing.stderr
    assert "Fix: check dllama_model_url" in missing.stderr and "systemctl reset-failed" in missing.stderr

    model.write_bytes(b"x")
    tokenizer.write_bytes(b"")
    empty = subprocess.run(run, capture_output=True, text=True, check=False)
    assert empty.returncode == 1 and f"the dllama_tokenizer file {tokenizer} is missing, empty" in empty.stderr

    tokenizer.write_bytes(b"x")
    ok = subprocess.run(run, capture_output=True, text=True, check=False)
    assert (ok.returncode, ok.stderr) == (0, "")


def systemd_verify(unit_text: str, name: str, root) -> subprocess.CompletedProcess:
    """`systemd-analyze verify` of one unit in a scratch root: the host's
    packaged units (targets the unit orders against) and an empty executable
    at each absolute path an Exec line starts."""
    system = root / "etc/systemd/system"
    system.mkdir(parents=True, exist_ok=True)
    if not (root / "usr/lib/systemd/system").exists():
        shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    for line in unit_text.splitlines():
        key, _, value = line.partition("=")
        if key.startswith("Exec") and value:
            path = exec_argv(value.lstrip("-@:+!"))[0]
            stub = root / path.lstrip("/")
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text("#!/bin/sh\n")
            stub.chmod(0o755)
    (system / name).write_text(unit_text)
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", f"--root={root}", name], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("name", UNITS)
def test_systemd_analyze_verify_passes(units, name, tmp_path):
    text = units[name].text
    res = systemd_verify(text, name, tmp_path)
    assert (res.returncode, res.stdout + res.stderr) == (0, "")


def test_systemd_analyze_verify_can_fail(units, tmp_path):
    text = units["dllama-worker.service"].text.replace("[Service]\n", "[Service]\nNoSuchSetting=1\n")
    res = systemd_verify(text, "dllama-worker.service", tmp_path)
    assert "Unknown key 'NoSuchSetting'" in res.stderr
