"""The dllama units, rendered from the role's templates: a start that cannot
succeed stops after a few tries (StartLimit* in [Unit]), and the root's
units refuse to start, saying which file and the fix, when the model or the
tokenizer cannot be read (the ExecStartPre line, run here as systemd would)."""

from __future__ import annotations

import configparser
import shlex
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
        cp.read_string((out / name).read_text())
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
