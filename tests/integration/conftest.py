"""Shared helpers for tests that run real programs (ansible-playbook, podman)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def ansible_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_FORCE_COLOR"] = "false"
    env["ANSIBLE_NOCOLOR"] = "true"
    env["ANSIBLE_COLLECTIONS_PATH"] = str(REPO / "collections")
    return env


def run_playbook(
    *args: str, cwd: Path = REPO, timeout: int = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), *args],
        cwd=cwd,
        env=ansible_env() | (env or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def flat(text: str) -> str:
    """Output with line wrapping undone (the yaml callback wraps long messages)."""
    return " ".join(text.split())


@pytest.fixture
def repo() -> Path:
    return REPO
