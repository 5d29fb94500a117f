# Copyright: llama-herd developers
# Apache License 2.0
"""Which of a host's ports the firewall role filters, and who may reach them.

A pure function of the inventory (and the plan's pools and llama-server
instances): the ports come from the same variables the services use
(``inventory.host_ports``), the peers from group membership.

How much is filtered is ``herd_firewall`` (``inventory.firewall_level``):
``workers``, the default, fences only the unauthenticated worker ports
(llama.cpp RPC and distributed-llama workers); ``cluster`` adds every
service port (open to the cluster network only); ``off`` filters nothing.

- service ports, at ``cluster`` only (Ollama, llama-server, the dllama API, the load balancer's
  pools and status page, the router's metrics): the cluster CIDR
  (``firewall_service_sources``);
- llama.cpp RPC workers: the llama-server heads only (upstream calls the RPC
  protocol insecure);
- distributed-llama workers: the root, and the other workers: upstream's
  ``NnNetwork::serve`` has every worker connect to the workers after it
  (src/nn/nn-network.cpp), so a root-only rule would hang the cluster.

The same (port, source) pairs become ufw allow rules (comment ``llama-herd``,
so the role finds and removes exactly its own) and firewalld rich rules when
those run: their default-deny chains would drop the herd's ports otherwise.
"""

from __future__ import annotations

import ipaddress
import re
from collections import ChainMap
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.llamaherd.cluster.plugins.module_utils.inventory import (
    DEFAULT_FIREWALL_LEVEL,
    cluster_address,
    firewall_level,
)
from ansible_collections.llamaherd.cluster.plugins.module_utils.ports import LLAMA_SERVER_PORT_START, PORT_VARS, host_ports

# Ports only some peers may reach: variable -> (groups whose hosts may connect, why).
RESTRICTED: dict[str, tuple[tuple[str, ...], str]] = {
    "llama_cpp_rpc_port": (("llama_cpp_head",), "llama.cpp RPC: the heads only"),
    "dllama_worker_port": (("dllama_root", "dllama_workers"), "distributed-llama worker: the root and the other workers"),
    # Unauthenticated metrics: Prometheus (the monitoring hosts) only.
    "monitoring_node_exporter_port": (("monitoring",), "node exporter: the monitoring hosts only"),
    "monitoring_nginx_exporter_port": (("monitoring",), "nginx exporter: the monitoring hosts only"),
    "gpu_router_metrics_port": (("monitoring",), "GPU router metrics: the monitoring hosts only"),
}
# Ports that exist only with a monitoring group (the monitoring play installs
# their exporters then); without one they get no rule.
MONITORING_ONLY = ("monitoring_node_exporter_port", "monitoring_nginx_exporter_port")

# The comment on every ufw rule the role adds: how it tells its rules from the user's.
UFW_COMMENT = "llama-herd"
# One line of `ufw show added` for a rule the role adds (ufw's own format,
# UFWCommandRule.get_command in ufw/parser.py).
_UFW_ADDED = re.compile(r"^ufw allow from (?P<src>\S+) to any port (?P<port>\d+) proto tcp comment '(?P<comment>.*)'$")


def _groups_of(host: str, groups: Mapping[str, Iterable[str]]) -> list[str]:
    return [g for g, members in groups.items() if g != "all" and host in members]


def _networks(values: Iterable[Any], host: str, var: str) -> list[str]:
    out = []
    for value in values:
        try:
            out.append(str(ipaddress.ip_network(str(value), strict=False)))
        except ValueError:
            raise ValueError(
                f"host {host}: {var}: {value!r} is not an IP address or network. "
                f"Fix: list addresses or CIDRs like 10.0.0.0/24 in {var}"
            ) from None
    return out


def _peer_values(peer: str, hv: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(variable, value) of the addresses a peer connects from: its cluster
    address and, when it has one, its RPC-network address."""
    pairs = (("herd_cluster_address", cluster_address(peer, hv)), ("herd_rpc_address", hv.get("herd_rpc_address")))
    return [(var, str(value)) for var, value in pairs if value not in (None, "")]


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def peer_addresses(peer: str, hv: Mapping[str, Any], resolved: Mapping[str, Iterable[str]] | None = None) -> list[str]:
    """The IP addresses a peer connects from. nftables needs IPs: a name is
    looked up in ``resolved`` (what the filtering host's resolver said,
    :func:`peer_names` lists the names to ask for)."""
    found = []
    for var, value in _peer_values(peer, hv):
        if _is_ip(value):
            found.append(str(ipaddress.ip_address(value)))
            continue
        addresses = [str(ipaddress.ip_address(a)) for a in (resolved or {}).get(value, []) if _is_ip(str(a))]
        if not addresses:
            raise ValueError(
                f"host {peer}: {var}: {value!r} is a name that does not resolve to an IP address on the host "
                f"being fenced, so the firewall cannot let this peer in. Fix: set {var} to the host's IP address, "
                "or make the name resolve on every node"
            )
        found.extend(addresses)
    if not found:
        raise ValueError(
            f"host {peer}: herd_cluster_address: not set and ansible_host is not an IP, so the firewall cannot "
            "let this peer in. Fix: set herd_cluster_address to the host's IP address"
        )
    return found


def host_rules(
    host: str,
    hostvars: Mapping[str, Mapping[str, Any]],
    groups: Mapping[str, Iterable[str]],
    service_sources: Iterable[Any],
    pools: Iterable[Mapping[str, Any]] | None = None,
    servers: Iterable[Mapping[str, Any]] | None = None,
    management_ports: Iterable[int] = (22,),
    level: str = DEFAULT_FIREWALL_LEVEL,
    resolved: Mapping[str, Iterable[str]] | None = None,
) -> list[dict[str, Any]]:
    """[{port, var, sources: [networks], why}] for ``host``, sorted by port:
    the worker ports at level ``workers``, every port at ``cluster``, none
    when ``off``.

    ``pools`` are the load balancer's resolved pools and ``servers`` the
    llama-server instances (from the plan), when the host has them; both
    fall back to what the inventory sets. ``resolved`` maps peer names to
    the addresses the host resolved them to."""
    level = firewall_level(level)
    if level == "off":
        return []
    member = _groups_of(host, groups)
    overlay: dict[str, Any] = {}
    hv = ChainMap(overlay, hostvars[host])
    if servers and "llama_cpp_head" in member:
        overlay["llama_cpp_servers"] = list(servers)
    if pools is not None and "loadbalancers" in member:
        overlay["nginx_lb_pools"] = list(pools)
    if "llama_cpp_head" in member and not isinstance(hv.get("llama_cpp_servers"), list):
        overlay["llama_cpp_servers"] = [{"port": LLAMA_SERVER_PORT_START}]  # the llama_cpp role's default instance
    service = _networks(service_sources, host, "firewall_service_sources") if level == "cluster" else []
    rules: dict[int, dict[str, Any]] = {}
    for port, var in host_ports(host, hv, member):
        base = _restricted_var(var, groups)
        if base is None:
            continue
        if base in RESTRICTED:
            peer_groups, why = RESTRICTED[base]
            sources = sorted(
                {a for p in _peers(host, groups, peer_groups) for a in peer_addresses(p, hostvars.get(p, {}), resolved)}
            )
        elif level == "cluster":
            sources, why = service, "service port: firewall_service_sources"
        else:
            continue
        port = int(port)
        if port in set(management_ports):
            raise ValueError(
                f"host {host}: {var}: port {port} is the management (SSH) port; filtering it could lock "
                f"Ansible out. Fix: move {var} to another port"
            )
        if port in rules:  # one port, two uses (preflight warns): only peers allowed by both
            rules[port]["var"] += ", " + var
            rules[port]["sources"] = sorted(set(rules[port]["sources"]) & set(sources))
            continue
        rules[port] = {"port": port, "var": var, "sources": sources, "why": why}
    return [rules[p] for p in sorted(rules)]


def _restricted_var(var: str, groups: Mapping[str, Iterable[str]]) -> str | None:
    """The variable a port's rule is looked up by (the list item's base
    name), or None for an exporter port without a monitoring group (nothing
    listens there). Without Prometheus the router's metrics stay a plain
    service port."""
    base = var.split("[")[0]
    if not list(groups.get("monitoring") or []):
        if base in MONITORING_ONLY:
            return None
        if RESTRICTED.get(base, ((),))[0] == ("monitoring",):
            return "service port"
    return base


def _peers(host: str, groups: Mapping[str, Iterable[str]], peer_groups: Iterable[str]) -> list[str]:
    return sorted({p for g in peer_groups for p in groups.get(g, []) if p != host})


def peer_names(
    host: str, hostvars: Mapping[str, Mapping[str, Any]], groups: Mapping[str, Iterable[str]], level: str = DEFAULT_FIREWALL_LEVEL
) -> list[str]:
    """The peer addresses given as names that ``host``'s rules need as IPs:
    the role resolves them on ``host`` itself (whose resolver decides where
    connections come from) and passes them back to :func:`host_rules`."""
    if firewall_level(level) == "off":
        return []
    member = set(_groups_of(host, groups))
    wanted = [pg for var, (pg, _why) in RESTRICTED.items() if PORT_VARS[var][0] in member]
    names = {
        value
        for peer_groups in wanted
        for peer in _peers(host, groups, peer_groups)
        for _var, value in _peer_values(peer, hostvars.get(peer, {}))
        if not _is_ip(value)
    }
    return sorted(names)


def exposure(host: str, hostvars: Mapping[str, Mapping[str, Any]], groups: Mapping[str, Iterable[str]]) -> list[dict[str, Any]]:
    """[{port, var, open_to}] for the plan report: who can reach each of
    ``host``'s ports once the firewall role ran with the host's
    ``herd_firewall``. Names stay names (the role resolves them on the host)."""
    hv = hostvars[host]
    level = firewall_level(hv.get("herd_firewall"))
    member = _groups_of(host, groups)
    out = []
    for port, var in host_ports(host, hv, member):
        base = _restricted_var(var, groups)
        if base is None:
            continue
        if level != "off" and base in RESTRICTED:
            peers = _peers(host, groups, RESTRICTED[base][0])
            open_to = ", ".join(peers) if peers else "nobody (no peer in the inventory)"
        elif level == "cluster":
            open_to = (
                "the cluster network ("
                + ", ".join(
                    str(s) for s in hv.get("firewall_service_sources") or [hv.get("herd_cluster_cidr") or "herd_cluster_cidr"]
                )
                + ")"
            )
        else:
            open_to = "any host that reaches its address"
        out.append({"port": int(port), "var": var, "open_to": open_to})
    return sorted(out, key=lambda r: r["port"])


def split_families(sources: Iterable[str]) -> dict[str, list[str]]:
    """{'ip': IPv4 networks, 'ip6': IPv6 networks} for nftables' saddr matches."""
    out: dict[str, list[str]] = {"ip": [], "ip6": []}
    for s in sources:
        out["ip" if ipaddress.ip_network(s, strict=False).version == 4 else "ip6"].append(_short(s))
    return out


def _short(source: str) -> str:
    """A network as ufw and firewalld print it: a single address without /32 or /128."""
    net = ipaddress.ip_network(source, strict=False)
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def ufw_allows(rules: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """[{port, from_ip}]: one ufw allow rule per (port, source) of ``rules``
    (host_rules' output), sorted and without duplicates."""
    pairs = {(int(r["port"]), _short(s)) for r in rules for s in r["sources"]}
    return [{"port": port, "from_ip": src} for port, src in sorted(pairs)]


def ufw_stale(added: str, wanted: Iterable[Mapping[str, Any]], comment: str = UFW_COMMENT) -> list[dict[str, Any]]:
    """The rules in ``added`` (`ufw show added` output) that carry ``comment``
    and are not in ``wanted`` (ufw_allows' output; empty removes them all).
    Rules without the comment are the user's and never listed."""
    keep = {(int(w["port"]), ipaddress.ip_network(str(w["from_ip"]), strict=False)) for w in wanted}
    out = []
    for line in added.splitlines():
        m = _UFW_ADDED.match(line.strip())
        if not m or m["comment"] != comment:
            continue
        try:
            net = ipaddress.ip_network(m["src"], strict=False)
        except ValueError:
            continue
        if (int(m["port"]), net) not in keep:
            out.append({"port": int(m["port"]), "from_ip": m["src"]})
    return out


def firewalld_rich_rules(rules: Iterable[Mapping[str, Any]]) -> list[str]:
    """One firewalld rich rule per (port, source) of ``rules``, in firewalld's
    own canonical spelling (so `--list-rich-rules` shows the same text)."""
    out = []
    for a in ufw_allows(rules):
        family = "ipv4" if ipaddress.ip_network(a["from_ip"]).version == 4 else "ipv6"
        out.append(f'rule family="{family}" source address="{a["from_ip"]}" port port="{a["port"]}" protocol="tcp" accept')
    return out
