# Copyright: llama-herd developers
# Apache License 2.0
"""One host as the plan sees it: its address on the cluster network, its
GPUs (measured over declared, vendor by vendor) and its RAM. Pure
functions over one host's variables; preflight, the plan, the router and
the load balancer read hosts through them."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from .gpu_facts import GPU_SOURCES, VENDOR_TOOLS


def parse_ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        return None


def cluster_address(hostname: str, hv: Mapping[str, Any]) -> Any:
    """The address other nodes reach this host on: herd_cluster_address, else
    ansible_host when that is an IP address (a name there is often an SSH
    alias or a container name, not what the other nodes resolve)."""
    if "herd_cluster_address" in hv:
        return hv["herd_cluster_address"]
    host = hv.get("ansible_host")
    return host if host is not None and parse_ip(host) is not None else None


def _vendor(gpu: Mapping[str, Any]) -> str:
    return str(gpu.get("vendor", "")).lower()


def _gpu_sides(hv: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None, set[str] | None]:
    """(declared GPUs, measured GPUs or None when not measured, the vendors
    measured or None for all of them: facts cached before gpu_sources)."""
    declared = [dict(g) for g in hv.get("herd_gpus") or [] if isinstance(g, Mapping)]
    measured = hv.get("herd_measured")
    gpus = measured.get("gpus") if isinstance(measured, Mapping) else None
    if not isinstance(gpus, list):
        return declared, None, set()
    sources = measured.get("gpu_sources")
    vendors = {GPU_SOURCES[s] for s in sources if s in GPU_SOURCES} if isinstance(sources, list) else None
    return declared, [dict(g) for g in gpus if isinstance(g, Mapping)], vendors


def host_gpus(hv: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The GPUs the plan (and the router) sees, vendor by vendor: where
    gpu_facts measured a vendor (one of its sources answered), the measurement
    wins over ``herd_gpus``, even when it found none; declared GPUs of a
    vendor nothing measured (its tool absent or failed) stand."""
    declared, measured, vendors = _gpu_sides(hv)
    if measured is None:
        return declared
    if vendors is None:
        return measured
    return measured + [g for g in declared if _vendor(g) not in vendors]


def build_gpus(host: str, hv: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """The GPUs a host's llama.cpp is built for: the plan's view
    (:func:`host_gpus`), with a measured GPU's missing compute capability or
    gfx target (an nvidia-smi or rocm-smi too old to print it) taken from the
    declared GPU at the same place among its vendor's; (gpus, errors)."""
    declared = [dict(g) for g in hv.get("herd_gpus") or [] if isinstance(g, Mapping)]
    out, errors = [], []
    seen: dict[str, int] = {}
    for g in host_gpus(hv):
        g = dict(g)
        vendor = _vendor(g)
        nth = seen[vendor] = seen.get(vendor, -1) + 1
        key = {"nvidia": "compute_capability", "amd": "gfx_target"}.get(vendor)
        if key and not g.get(key):
            same = [d for d in declared if _vendor(d) == vendor]
            if nth < len(same) and same[nth].get(key):
                g[key] = same[nth][key]
            else:
                example = "'7.0'" if key == "compute_capability" else "gfx1100"
                errors.append(
                    f"host {host}: herd_gpus: {vendor} GPU {nth} ({g.get('name') or vendor}) has no {key} "
                    f"(the driver's tool did not report it), so llama.cpp cannot be built for it. "
                    f"Fix: declare it in herd_gpus, e.g. {key}: {example}."
                )
        out.append(g)
    return out, errors


def gpu_warnings(host: str, hv: Mapping[str, Any]) -> list[str]:
    """Where gpu_facts ran and disagrees with, or could not check, the
    declared ``herd_gpus``. No warning when it never ran (plan-only runs)."""
    if not isinstance(hv.get("herd_measured"), Mapping):
        return []
    declared, measured, vendors = _gpu_sides(hv)
    out = []
    for vendor in sorted({_vendor(g) for g in declared} & set(VENDOR_TOOLS)):
        n = sum(_vendor(g) == vendor for g in declared)
        if measured is not None and (vendors is None or vendor in vendors):
            if not any(_vendor(g) == vendor for g in measured):
                sources = hv["herd_measured"].get("gpu_sources") or []
                by = " and ".join(s for s in sources if GPU_SOURCES.get(s) == vendor) or "gpu_facts"
                out.append(
                    f"host {host}: herd_gpus: declares {n} {vendor} GPU(s) but {by} found none, so the plan "
                    f"places nothing on them. Fix: check the {vendor} driver on {host} (then run playbooks/measure.yml), "
                    f"or remove them from herd_gpus."
                )
        else:
            tool = VENDOR_TOOLS[vendor]
            out.append(
                f"host {host}: herd_gpus: the {n} {vendor} GPU(s) it declares are unverified ({tool} is not installed "
                f"there or failed), so the plan uses the declaration. Fix: install {tool} on {host} and run "
                f"playbooks/measure.yml, or make sure herd_gpus is right."
            )
    return out


def host_ram_mib(hv: Mapping[str, Any]) -> int | None:
    measured = hv.get("herd_measured") or {}
    if isinstance(measured, Mapping) and measured.get("ram_mib"):
        return int(measured["ram_mib"])
    ram = hv.get("herd_ram_mib")
    return int(ram) if isinstance(ram, (int, float)) and not isinstance(ram, bool) else None
