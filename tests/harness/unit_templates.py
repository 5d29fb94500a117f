"""Every systemd unit and drop-in the roles install, rendered from its template
with representative values: the hardening tests (tests/unit/test_unit_hardening.py)
and systemd-analyze verify (tests/integration/test_systemd_verify.py) share them.

Only the systemd filters are real; the collection's other filters pass their
input through and unset variables render empty, so a case names just what
decides a unit's hardening (GPU vendors, backend, paths)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2
import yaml
from ansible_collections.llamaherd.cluster.plugins.filter.systemd import FilterModule as SystemdFilters

REPO = Path(__file__).resolve().parents[2]
ROLES = REPO / "roles"

# Templates that render a systemd unit or a drop-in of one.
UNIT_TEMPLATE = re.compile(r"(\.service|\.timer)\.j2$|^(nginx-hardening|nginx-exporter|node-exporter|prometheus)\.conf\.j2$")
# Drop-ins for a unit Debian's package ships: (role, template) -> the unit.
DROP_IN_FOR = {
    ("nginx_lb", "nginx-hardening.conf.j2"): "nginx.service",
    ("monitoring", "nginx-exporter.conf.j2"): "prometheus-nginx-exporter.service",
    ("monitoring", "node-exporter.conf.j2"): "prometheus-node-exporter.service",
    ("monitoring", "prometheus.conf.j2"): "prometheus.service",
}

_NO_GPU = {"vendors": [], "gpus": []}
_NVIDIA = {"vendors": ["nvidia"], "gpus": [{"vendor": "nvidia"}]}
# (role, template) -> {variant: values}; a template missing here fails the tests.
CASES: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("ollama", "ollama.service.j2"): {
        "cpu": {"__ollama_has_gpu": False, "__ollama_gpu": _NO_GPU},
        "nvidia": {"__ollama_has_gpu": True, "__ollama_gpu": _NVIDIA},
    },
    ("llama_cpp", "llama-server.service.j2"): {
        b: {"__llama_cpp_backend": b, "item": {"name": "chat", "port": 8081, "rpc": ""}} for b in ("cpu", "cuda", "hip")
    },
    ("llama_cpp", "llama-rpc.service.j2"): {b: {"__llama_cpp_backend": b} for b in ("cpu", "cuda", "hip")},
    ("dllama", "dllama-api.service.j2"): {"default": {}},
    ("dllama", "dllama-root.service.j2"): {"default": {}},
    ("dllama", "dllama-worker.service.j2"): {"default": {}},
    ("gpu_router", "llama-herd-router.service.j2"): {"default": {}},
    ("gateway", "llama-herd-gateway.service.j2"): {"default": {"__gateway_config": {"model_list": []}}},
    ("firewall", "llama-herd-firewall.service.j2"): {"default": {}},
    ("monitoring", "llama-herd-node-metrics.service.j2"): {
        "cpu": {"__monitoring_node_metrics_gpu_groups": []},
        "gpu": {"__monitoring_node_metrics_gpu_groups": ["render", "video"]},
    },
    ("monitoring", "llama-herd-node-metrics.timer.j2"): {"default": {}},
    ("monitoring", "nginx-exporter.conf.j2"): {"default": {}},
    ("monitoring", "node-exporter.conf.j2"): {"default": {}},
    ("monitoring", "prometheus.conf.j2"): {"default": {}},
    ("nginx_lb", "nginx-hardening.conf.j2"): {"default": {}},
}


def unit_templates() -> list[tuple[str, str]]:
    """(role, template) of every unit template in roles/*/templates."""
    return sorted((p.parts[-3], p.name) for p in ROLES.glob("*/templates/*.j2") if UNIT_TEMPLATE.search(p.name))


def _plain_values(path: Path) -> dict[str, Any]:
    """A role file's variables that are no Jinja expression."""
    data = yaml.safe_load(path.read_text()) if path.exists() else None
    return {k: v for k, v in (data or {}).items() if not (isinstance(v, str) and "{{" in v)}


def _environment(role: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(ROLES / role / "templates")),
        undefined=jinja2.ChainableUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
    )
    env.filters.update({f"llamaherd.cluster.{n}": fn for n, fn in SystemdFilters().filters().items()})
    env.filters.update(comment=lambda text: f"# {text}", bool=bool, dirname=lambda p: str(Path(str(p)).parent))
    # The other filters of the templates only shape commands and comments
    # here: text passes through, anything else becomes a stand-in program path.
    for path in (ROLES / role / "templates").glob("*.j2"):
        for name in re.findall(r"\|\s*([A-Za-z_][\w.]*)", path.read_text()):
            env.filters.setdefault(name, _stand_in(name))
    return env


def _stand_in(name: str):
    def shape(value: Any, *_args: Any, **_kwargs: Any) -> Any:
        return value if isinstance(value, (str, int, float)) else f"/usr/libexec/llama-herd-stand-in/{name.split('.')[-1]}"

    return shape


def render(role: str, template: str, values: dict[str, Any]) -> str:
    variables = {**_plain_values(ROLES / role / "defaults/main.yml"), **_plain_values(ROLES / role / "vars/main.yml")}
    variables.update(ansible_managed="managed by test", **values)
    return _environment(role).get_template(template).render(**variables)


def rendered() -> list[tuple[str, str, str, str]]:
    """(role, template, variant, text) of every case."""
    return [
        (role, template, variant, render(role, template, values))
        for (role, template), variants in sorted(CASES.items())
        for variant, values in variants.items()
    ]


def service_directives(text: str) -> list[str]:
    """The [Service] section's "Key=value" lines, comments and blanks dropped."""
    out: list[str] = []
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            out.append(line)
    return out
