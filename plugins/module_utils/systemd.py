# Copyright: llama-herd developers
# Apache License 2.0
"""systemd settings every llama-herd unit shares: its hardening (BASELINE plus
the per-unit HARDENING_OPTIONS) and which devices a unit that uses GPUs may
open (DevicePolicy=closed plus these DeviceAllow lines)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# DeviceAllow values per GPU vendor. Device groups from /proc/devices cover
# every card of the vendor: nvidia-frontend is major 195 (/dev/nvidiactl and
# every /dev/nvidiaN), so a two- or three-GPU host needs no per-card line.
GPU_DEVICE_ALLOW: dict[str, tuple[str, ...]] = {
    "nvidia": ("char-nvidia-frontend rw", "char-nvidia-uvm rw", "char-nvidia-caps rw", "char-drm rw"),
    "amd": ("/dev/kfd rw", "char-drm rw"),
    "intel": ("char-drm rw",),
    # Apple GPUs run only under macOS, where Ollama has no systemd unit.
    "apple": (),
}


def device_allow(vendors: Iterable[str]) -> list[str]:
    """The DeviceAllow values for a unit using GPUs of ``vendors``, in a
    stable order without repeats; empty for none (the unit then sets
    PrivateDevices). ValueError names a vendor this table lacks."""
    out: list[str] = []
    for vendor in vendors:
        key = str(vendor).lower()
        if key not in GPU_DEVICE_ALLOW:
            raise ValueError(f"no device access is known for GPU vendor {vendor!r}; known: {', '.join(GPU_DEVICE_ALLOW)}")
        out += [line for line in GPU_DEVICE_ALLOW[key] if line not in out]
    return out


# The hardening every llama-herd service gets, in the order units list it.
# A directive whose value depends on the unit (devices, address families,
# W^X, /proc, capabilities, ...) is decided by HARDENING_OPTIONS below.
BASELINE: tuple[str, ...] = (
    "NoNewPrivileges=true",
    "ProtectHome=true",
    "PrivateTmp=true",
    "ProtectKernelTunables=true",
    "ProtectKernelModules=true",
    "ProtectKernelLogs=true",
    "ProtectControlGroups=true",
    "ProtectClock=true",
    "ProtectHostname=true",
    "RestrictNamespaces=true",
    "RestrictRealtime=true",
    "RestrictSUIDSGID=true",
    "LockPersonality=true",
    "RemoveIPC=true",
    "SystemCallArchitectures=native",
    "SystemCallFilter=@system-service",
    "SystemCallErrorNumber=EPERM",
    "AmbientCapabilities=",
)

# What legitimately differs per unit: option -> (default, why it varies).
HARDENING_OPTIONS: dict[str, tuple[Any, str]] = {
    "gpu_vendors": ((), "GPU vendors whose devices the unit opens (DeviceAllow from GPU_DEVICE_ALLOW); none: PrivateDevices"),
    "address_families": (("AF_INET", "AF_INET6", "AF_UNIX"), "socket families (nft: AF_NETLINK only)"),
    "read_write_paths": ((), "paths the unit writes under ProtectSystem=strict"),
    "write_execute": (False, "true lifts MemoryDenyWriteExecute: JIT and GPU runtimes map W+X pages"),
    "proc": ("pid", "pid: only its own processes' /proc; invisible: other users' processes hidden; all: /proc as is"),
    "deny_syscalls": ((), "syscall groups denied on top of @system-service, e.g. @privileged, @resources"),
    "capabilities": ((), "CapabilityBoundingSet (empty: none), for units that run as root"),
    "protect_system": ("strict", "strict: all read-only; full: /etc and /usr read-only (a packaged unit writing /var)"),
    "protect_home": ("true", "true: /home invisible; read-only: readable (an exporter stat-ing mounts)"),
    "private_ipc": (False, "true: own SysV IPC namespace"),
    "umask": ("0077", "0022 where other users read what the unit writes"),
    "ip_address_deny": ("", "IPAddressDeny value, e.g. any for a unit that needs no IP traffic"),
}

_CHOICES = {"proc": ("pid", "invisible", "all"), "protect_system": ("strict", "full"), "protect_home": ("true", "read-only")}


def _as_list(name: str, value: Any) -> list[str]:
    """The option's items as strings, first occurrence kept."""
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, Iterable):
        raise ValueError(f"hardening option {name} must be a list, got {value!r}")
    return list(dict.fromkeys(str(v) for v in value))


def hardening(**options: Any) -> list[str]:
    """The unit's hardening as ordered "Key=value" lines: BASELINE plus what
    ``options`` (names and defaults in HARDENING_OPTIONS) decide. ValueError
    names an unknown option, a bad choice or an unknown GPU vendor."""
    unknown = sorted(set(options) - set(HARDENING_OPTIONS))
    if unknown:
        raise ValueError(f"unknown hardening option(s) {', '.join(unknown)}; known: {', '.join(HARDENING_OPTIONS)}")
    opt = {name: options.get(name, default) for name, (default, _why) in HARDENING_OPTIONS.items()}
    for name, choices in _CHOICES.items():
        opt[name] = str(opt[name]).lower()
        if opt[name] not in choices:
            raise ValueError(f"hardening option {name} is {options[name]!r}; choose one of {', '.join(choices)}")
    for name in ("write_execute", "private_ipc"):
        if not isinstance(opt[name], bool):
            raise ValueError(f"hardening option {name} must be true or false, got {opt[name]!r}")
    families = _as_list("address_families", opt["address_families"])
    if not families:
        raise ValueError("hardening option address_families is empty; a unit without sockets lists AF_UNIX")
    rw_paths = _as_list("read_write_paths", opt["read_write_paths"])
    denies = _as_list("deny_syscalls", opt["deny_syscalls"])
    caps = _as_list("capabilities", opt["capabilities"])
    devices = device_allow(_as_list("gpu_vendors", opt["gpu_vendors"]))

    lines = list(BASELINE)
    lines.insert(1, f"ProtectSystem={opt['protect_system']}")
    lines[lines.index("ProtectHome=true")] = f"ProtectHome={opt['protect_home']}"
    after_tmp = lines.index("PrivateTmp=true") + 1
    extra = [f"ReadWritePaths={' '.join(rw_paths)}"] if rw_paths else []
    # PrivateDevices implies DevicePolicy=closed and keeps a stricter policy a
    # packaged unit sets (Debian's prometheus: strict); GPU units say it.
    extra += ["DevicePolicy=closed", *(f"DeviceAllow={line}" for line in devices)] if devices else ["PrivateDevices=true"]
    extra += ["PrivateIPC=true"] if opt["private_ipc"] else []
    lines[after_tmp:after_tmp] = extra
    after_host = lines.index("ProtectHostname=true") + 1
    proc = {"pid": ["ProtectProc=invisible", "ProcSubset=pid"], "invisible": ["ProtectProc=invisible"], "all": []}[opt["proc"]]
    lines[after_host:after_host] = [*proc, f"RestrictAddressFamilies={' '.join(families)}"]
    if not opt["write_execute"]:
        lines.insert(lines.index("LockPersonality=true") + 1, "MemoryDenyWriteExecute=true")
    if denies:
        lines.insert(lines.index("SystemCallFilter=@system-service") + 1, f"SystemCallFilter=~{' '.join(denies)}")
    lines.insert(lines.index("AmbientCapabilities="), f"CapabilityBoundingSet={' '.join(caps)}")
    if opt["ip_address_deny"]:
        lines.append(f"IPAddressDeny={opt['ip_address_deny']}")
    lines.append(f"UMask={opt['umask']}")
    return lines
