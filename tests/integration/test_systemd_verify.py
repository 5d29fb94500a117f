"""systemd-analyze verify on every unit and drop-in the roles install,
rendered as tests/harness/unit_templates.py does (every variant: CPU and GPU
hosts). systemd only warns about an unknown key or a value it cannot parse
and then ignores the line, exiting 0: so any message but a missing program
fails here, and a typo in the hardening table cannot silently weaken a unit.

The programs themselves (ollama, llama-server, litellm, ...) are not on this
machine: "Command ... is not executable" is the one message allowed, for the
ExecStart lines only. Debian's units that llama-herd only drops into
(nginx, prometheus, the exporters) get a minimal stand-in base unit here;
the drop-in is what is checked."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "collections"), str(REPO / "tests" / "harness")]

import unit_templates as units  # noqa: E402

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
pytestmark = pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed (Debian: systemd)")

# The unit name each template is installed as (llama-server gets one per instance).
UNIT_NAME = {
    "llama-server.service.j2": "llama-server-chat.service",
}
MISSING_PROGRAM = re.compile(r"^\S+: Command \S+ is not executable: No such file or directory$")


def _write(tmp_path: Path, role: str, template: str, variant: str, text: str) -> Path:
    """The unit file to verify: the rendered unit, or a stand-in base unit with the drop-in."""
    base = units.DROP_IN_FOR.get((role, template))
    if base is None:
        unit = tmp_path / UNIT_NAME.get(template, template.removesuffix(".j2"))
        unit.write_text(text)
        return unit
    (tmp_path / f"{base}.d").mkdir()
    (tmp_path / f"{base}.d" / "llama-herd.conf").write_text(text)
    unit = tmp_path / base
    unit.write_text("[Unit]\nDescription=stand-in for Debian's unit\n\n[Service]\nExecStart=/bin/true\n")
    return unit


def _verify(directory, name):
    """systemd-analyze verify on one unit file in ``directory``, offline."""
    return subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", "--generators=no", name],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("role", "template", "variant", "text"),
    units.rendered(),
    ids=lambda v: v if len(v) < 60 else "",
)
def test_systemd_analyze_verify_accepts_the_unit(tmp_path, role, template, variant, text):
    unit = _write(tmp_path, role, template, variant, text)
    if unit.suffix == ".timer":
        # A timer needs its service next to it.
        service = template.replace(".timer", ".service")
        values = next(iter(units.CASES[(role, service)].values()))
        (tmp_path / unit.name.replace(".timer", ".service")).write_text(units.render(role, service, values))
    proc = _verify(tmp_path, unit.name)
    messages = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    unexpected = [line for line in messages if not MISSING_PROGRAM.match(line)]
    assert not unexpected, f"{role}/{template} ({variant}):\n" + "\n".join(messages)


def test_verify_fails_on_a_typo(tmp_path):
    """The check above can fail: a misspelt directive is reported."""
    unit = tmp_path / "typo.service"
    unit.write_text("[Service]\nExecStart=/bin/true\nProtectSytem=strict\nPrivateTmp=maybe\n")
    proc = _verify(tmp_path, unit.name)
    assert "Unknown key 'ProtectSytem'" in proc.stderr
    assert "Failed to parse boolean value, ignoring: maybe" in proc.stderr
