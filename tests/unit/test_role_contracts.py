"""Contracts every role keeps: argument specs that match the defaults, and
service ports that agree with the ones preflight checks for collisions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible_collections.llamaherd.cluster.plugins.module_utils.memory import DEFAULT_MARGIN
from ansible_collections.llamaherd.cluster.plugins.module_utils.ports import PORT_VARS

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (REPO / "roles").iterdir() if (p / "tasks").is_dir())


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {} if path.exists() else {}


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_argument_specs_document_every_default(role):
    defaults = _load(role / "defaults/main.yml")
    specs = _load(role / "meta/argument_specs.yml").get("argument_specs", {})
    assert "main" in specs, f"{role.name}: meta/argument_specs.yml has no 'main' entry point"
    options = specs["main"].get("options", {})
    assert set(defaults) <= set(options), f"{role.name}: undocumented defaults {sorted(set(defaults) - set(options))}"
    for name, default in defaults.items():
        spec = options[name]
        assert spec.get("description"), f"{role.name}: {name} has no description"
        if "default" in spec and not (isinstance(default, str) and "{{" in default):
            assert spec["default"] == default, f"{role.name}: {name} spec default {spec['default']!r} != {default!r}"


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_role_variables_are_prefixed_with_the_role_name(role):
    defaults = _load(role / "defaults/main.yml")
    bad = [k for k in defaults if not k.startswith(f"{role.name}_")]
    assert not bad, f"{role.name}: defaults without the role prefix: {bad}"


@pytest.mark.parametrize(("var", "spec"), sorted(PORT_VARS.items()))
def test_port_defaults_agree_with_preflight(var, spec):
    _, port = spec
    owners = [r for r in ROLES if var in _load(r / "defaults/main.yml")]
    if not owners:
        pytest.skip(f"no role defines {var} yet")
    for role in owners:
        assert _load(role / "defaults/main.yml")[var] == port, f"{role.name}: {var} default differs from PORT_VARS"


def test_role_margin_defaults_are_the_plans():
    """A role run without the plan's margin falls back to the plan's default."""
    assert _load(REPO / "roles/dllama/defaults/main.yml")["dllama_memory_margin"] == DEFAULT_MARGIN
    assert _load(REPO / "roles/gpu_router/defaults/main.yml")["gpu_router_plan"]["margin"] == DEFAULT_MARGIN
