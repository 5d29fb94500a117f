"""Every systemd unit and drop-in the roles install takes its hardening from
the systemd_hardening filter (plugins/module_utils/systemd.py), so the units
cannot drift apart again: each rendered unit carries the baseline, and no
template writes a hardening directive itself. The templates are rendered by
tests/harness/unit_templates.py; systemd-analyze verifies the same renders in
tests/integration/test_systemd_verify.py."""

from __future__ import annotations

import re
from collections import Counter

import pytest
import unit_templates as units
from ansible_collections.llamaherd.cluster.plugins.module_utils.systemd import BASELINE, hardening

# Every key the filter can write: all options switched away from their defaults.
HARDENING_KEYS = {
    line.split("=", 1)[0]
    for options in (
        {},
        {
            "gpu_vendors": ["nvidia"],
            "read_write_paths": ["/x"],
            "deny_syscalls": ["@resources"],
            "private_ipc": True,
            "ip_address_deny": "any",
        },
    )
    for line in hardening(**options)
}
RENDERED = units.rendered()


def test_every_unit_template_has_a_case():
    assert units.unit_templates() == sorted(units.CASES), "add the new unit template to tests/harness/unit_templates.py CASES"


def test_the_filter_knows_every_sandboxing_key_the_templates_could_write():
    assert {"PrivateDevices", "DeviceAllow", "MemoryDenyWriteExecute", "ProcSubset", "IPAddressDeny", "UMask"} <= HARDENING_KEYS


@pytest.mark.parametrize("template", sorted((units.ROLES).glob("*/templates/*.j2")), ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_no_template_writes_a_hardening_directive_itself(template):
    written = re.compile(rf"^\s*({'|'.join(sorted(HARDENING_KEYS))})\s*=", re.MULTILINE)
    found = written.findall(template.read_text())
    assert not found, f"{template}: {found} belong in the systemd_hardening filter's options"


@pytest.mark.parametrize(("role", "template", "variant", "text"), RENDERED, ids=lambda v: v if len(v) < 60 else "")
def test_each_service_carries_the_baseline_once(role, template, variant, text):
    directives = units.service_directives(text)
    if template.endswith(".timer.j2"):
        assert not directives
        return
    keys = Counter(line.split("=", 1)[0] for line in directives)
    baseline_keys = {line.split("=", 1)[0] for line in BASELINE}
    assert set(BASELINE) - {"ProtectHome=true"} <= set(directives), f"{role}/{template} ({variant})"
    assert baseline_keys | {"ProtectSystem", "CapabilityBoundingSet", "UMask"} <= set(keys)
    # No device but /dev/null and friends, or a closed policy with the GPUs' devices.
    assert ("PrivateDevices=true" in directives) != ("DevicePolicy=closed" in directives)
    twice = sorted(k for k, n in keys.items() if n > 1 and k in HARDENING_KEYS - {"DeviceAllow", "SystemCallFilter"})
    assert not twice, f"{role}/{template} ({variant}) sets {twice} twice"


@pytest.mark.parametrize(
    ("case", "present", "absent"),
    [
        (("ollama", "ollama.service.j2", "cpu"), ["PrivateDevices=true"], ["MemoryDenyWriteExecute=true", "ProcSubset=pid"]),
        (("ollama", "ollama.service.j2", "nvidia"), ["DeviceAllow=char-nvidia-uvm rw"], ["PrivateDevices=true"]),
        (("llama_cpp", "llama-rpc.service.j2", "cpu"), ["MemoryDenyWriteExecute=true"], ["DeviceAllow=char-drm rw"]),
        (("llama_cpp", "llama-server.service.j2", "hip"), ["DeviceAllow=/dev/kfd rw"], ["MemoryDenyWriteExecute=true"]),
        (
            ("firewall", "llama-herd-firewall.service.j2", "default"),
            ["CapabilityBoundingSet=CAP_NET_ADMIN", "IPAddressDeny=any"],
            [],
        ),
        (("nginx_lb", "nginx-hardening.conf.j2", "default"), ["ProtectSystem=full"], ["ProtectSystem=strict"]),
        (("monitoring", "node-exporter.conf.j2", "default"), ["ProtectHome=read-only"], ["ProtectProc=invisible"]),
    ],
)
def test_units_differ_only_where_they_must(case, present, absent):
    text = next(t for role, template, variant, t in RENDERED if (role, template, variant) == case)
    directives = units.service_directives(text)
    assert set(present) <= set(directives) and not set(absent) & set(directives)
