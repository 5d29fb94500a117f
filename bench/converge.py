#!/usr/bin/env python3
"""How long site.yml takes on the bench cluster, and what a no-op run costs.

    bench/converge.py [--connection ssh|podman] [--keep] [--budget 45]
                      [--out bench/results/converge-<date>.md]

Run it on an otherwise idle machine (not during `make test`): it takes the
--budget minutes and both cores. With --connection ssh (the default) Ansible
reaches the hosts as it reaches users' machines: sshd on each host's bench
address, root with a key in .cache/bench/ssh, multiplexed, pipelined (what
molecule/_shared/create.yml does in Ansible); an extra inventory source,
.cache/bench/ssh-<inventory>.yml, overrides bench/inventory's podman
connection per host. --connection podman keeps `podman exec`, where
pipelining does nothing.

Runs on real systemd hosts: bench/inventory, a copy of inventory/demo on
containers herd-bench-* and the 10.89.65.0/24 podman network (nothing else is
contacted). Steps, each timed from the controller, each bounded:

  a. first converge of site.yml on freshly started hosts (the cluster is
     removed and started again first); the llama.cpp build goes through the
     shared ccache (.cache/ccache-containers), as `make demo` does
  b. a second, no-op converge: must change nothing (target: at most 1/4 of
     the first run's non-build time)
  c. the no-op converge with ANSIBLE_PIPELINING=False, and with fact caching
     off (ANSIBLE_CACHE_PLUGIN=memory); with Mitogen's mitogen_linear
     strategy when .venv has it (`.venv/bin/pip install mitogen`, optional,
     SSH only). Every run also records the controller's CPU time
     (ansible-playbook and its workers) and the whole machine's busy CPU
     time: the hosts share this machine's cores, so their Python counts too.
  d. the llama.cpp build: its tasks' share of (a) from profile_tasks; the
     per-host cost (llama_cpp_build_once: false) is estimated, not run
  e. adding one Ollama node (ollama3): a copy of the inventory with the node
     and one more replica of the pooled model,
     `site.yml --limit ollama3,loadbalancers,gpu_router`; what changed per
     host, whether lb1's upstreams and the router config name the new node,
     and whether the other nodes' services kept running (not restarted);
     then a full no-op run over the grown cluster

Artifacts are made as `make demo` makes them (tests/harness/demo_artifacts.py,
under .cache/bench), with the model mirror moved to the bench lb1. Facts are
cached in .cache/bench/facts, apart from the demo's. Writes a Markdown report
and the raw figures as JSON beside it; logs go to .cache/bench/logs/. The
bench hosts are removed at the end unless --keep.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
INVENTORY = REPO / "bench" / "inventory"
WORK = REPO / ".cache" / "bench"
HOSTS_PY = REPO / "tests" / "harness" / "herd_hosts.py"
ARTIFACTS_PY = REPO / "tests" / "harness" / "demo_artifacts.py"
NEW_NODE = "ollama3"
NEW_NODE_ADDRESS = "10.89.65.13"
NEW_NODE_CONTAINER = "herd-bench-ollama3"
POOLED_MODEL = "qwen2.5-coder:0.5b"
# Tasks that exist only to build llama.cpp or hand the build to other hosts
# (roles/llama_cpp/tasks/compile.yml and build.yml), matched in profile_tasks
# output by name.
BUILD_TASKS = (
    "Install the build tools",
    "Create the source, artifact and cache directories",
    "Start from a clean source tree",
    "Copy the source tarball from the controller",
    "Verify the source tarball's sha256",
    "Unpack the source",
    "Configure, build and install into a versioned prefix",
    "Pack the build as an artifact for identical hosts",
    "Remove the source tree",
    "Create the artifact directory on the controller",
    "Fetch the build artifact to the controller",
    "Create the artifact directory",
    "Copy the artifact from the controller",
    "Unpack it beside the builds",
)
COMPILE_TASK = "Configure, build and install into a versioned prefix"
RECAP_RE = re.compile(
    r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)"
)
# profile_tasks: "<role> : <task> ------ 12.34s" after its TASKS RECAP banner.
PROFILE_RE = re.compile(r"^(.*?) -*\s*(\d+\.\d+)s$")
# Units whose start time shows whether adding a node restarted them.
WATCHED_UNITS = {
    "herd-bench-ollama1": "ollama.service",
    "herd-bench-ollama2": "ollama.service",
    "herd-bench-head1": "llama-server-herd-tiny-llama.service",
    "herd-bench-rpc1": "llama-rpc.service",
    "herd-bench-lb1": "nginx.service",
}


def log(msg: str) -> None:
    print(f"[bench-converge] {dt.datetime.now(dt.UTC):%H:%M:%S} {msg}", file=sys.stderr, flush=True)


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ)
    e["PATH"] = f"{REPO / '.venv' / 'bin'}{os.pathsep}{e.get('PATH', '')}"
    e.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"),
        ANSIBLE_CACHE_PLUGIN_CONNECTION=str(WORK / "facts"),
        ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks",
        PROFILE_TASKS_TASK_OUTPUT_LIMIT="all",
        PROFILE_TASKS_SORT_ORDER="none",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
    )
    e.update(extra)
    return e


def load() -> dict[str, Any]:
    one, five, fifteen = os.getloadavg()
    res = subprocess.run(["podman", "ps", "-q"], capture_output=True, text=True, check=False)
    return {"load1": one, "load5": five, "load15": fifteen, "containers": len(res.stdout.split())}


def inotify_room(hosts: int) -> str:
    """Why the hosts could not boot, if inotify instances run out: systemd as
    PID 1 needs a few ("Failed to allocate manager object: Too many open
    files"), and fs.inotify.max_user_instances is shared by every container."""
    limit = int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
    used = 0
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            used += sum(1 for fd in fd_dir.iterdir() if os.readlink(fd) == "anon_inode:inotify")
        except OSError:
            continue
    need = 6 * hosts
    if used + need <= limit:
        return ""
    return (
        f"{used} of fs.inotify.max_user_instances={limit} are in use and {hosts} systemd hosts need about {need}: "
        "they would fail to boot. Fix: wait for other containers to go, or raise the limit "
        "(sysctl -w fs.inotify.max_user_instances=1024)"
    )


def harness(cmd: str, inventory: Path) -> None:
    subprocess.run([sys.executable, str(HOSTS_PY), cmd, "-i", str(inventory)], check=True, cwd=REPO)


def playbook(name: str, args: list[str], timeout: int, **extra_env: str) -> dict[str, Any]:
    """Run ansible-playbook, bounded; return its wall time, recap and task times."""
    logfile = WORK / "logs" / f"{name}.log"
    logfile.parent.mkdir(parents=True, exist_ok=True)
    before = load()
    log(f"{name}: ansible-playbook {' '.join(args)} {' '.join(f'{k}={v}' for k, v in extra_env.items())}")
    cpu_before, children_before = machine_cpu(), resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    with logfile.open("w") as out:
        proc = subprocess.Popen(
            ["ansible-playbook", *args],
            cwd=REPO,
            env=env(**extra_env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
            rc = "timeout"
    wall = time.monotonic() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    # ansible-playbook and its forked workers (all waited for): the controller's share.
    controller_cpu = (children.ru_utime - children_before.ru_utime) + (children.ru_stime - children_before.ru_stime)
    busy = machine_cpu() - cpu_before
    text = logfile.read_text()
    recap: dict[str, dict[str, int]] = {}
    tasks: list[tuple[str, float]] = []
    section = ""
    for line in text.splitlines():
        if line.startswith(("PLAY RECAP", "TASKS RECAP")):
            section = line.split()[0]
            continue
        m = RECAP_RE.match(line)
        if section == "PLAY" and m:
            keys = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
            recap[m.group(1)] = dict(zip(keys, map(int, m.groups()[1:]), strict=True))
            continue
        m = PROFILE_RE.match(line)
        if section == "TASKS" and m:
            tasks.append((m.group(1).strip(), float(m.group(2))))
    result = {
        "name": name,
        "args": args,
        "env": extra_env,
        "rc": rc,
        "wall_s": round(wall, 1),
        "changed": sum(h["changed"] for h in recap.values()),
        "failed": sum(h["failed"] + h["unreachable"] for h in recap.values()),
        "recap": recap,
        "build_s": round(sum(s for t, s in tasks if "llama_cpp : " in t and any(b in t for b in BUILD_TASKS)), 1),
        "compile_s": round(sum(s for t, s in tasks if "llama_cpp : " in t and COMPILE_TASK in t), 1),
        "top_tasks": sorted(tasks, key=lambda t: -t[1])[:8],
        "load_before": before,
        "load_after": load(),
        "controller_cpu_s": round(controller_cpu, 1),
        "machine_busy_s": round(busy, 1),
        "log": str(logfile.relative_to(REPO)),
    }
    log(f"{name}: rc={rc} {result['wall_s']}s changed={result['changed']} failed={result['failed']} build={result['build_s']}s")
    return result


def task_results(run: dict, key: str) -> int:
    """A recap column summed over the hosts: ``ok`` counts every task that ran
    on a host (each a module or action call), ``skipped`` those a condition
    skipped (no call)."""
    return sum(h[key] for h in run["recap"].values())


def machine_cpu() -> float:
    """Busy CPU-seconds of the whole machine so far (all cores; the hosts' own
    Python, sshd and services included), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def mitogen_env() -> dict[str, str] | None:
    """Mitogen for Ansible's strategy, if the venv has it (`pip install mitogen`):
    it keeps one Python per host alive instead of starting one per task."""
    res = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "python"),
            "-c",
            "import ansible_mitogen, os; print(os.path.dirname(ansible_mitogen.__file__))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        return None
    return {"ANSIBLE_STRATEGY_PLUGINS": f"{res.stdout.strip()}/plugins/strategy", "ANSIBLE_STRATEGY": "mitogen_linear"}


def bench_vars(inventory: Path) -> Path:
    """The demo's artifacts, with the model mirror on the bench lb1."""
    subprocess.run([sys.executable, str(ARTIFACTS_PY), "--out", str(WORK)], check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    spec = importlib.util.spec_from_file_location("demo_artifacts", ARTIFACTS_PY)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())
    lb = hosts["all"]["children"]["loadbalancers"]["hosts"]["lb1"]["herd_cluster_address"]
    text = (WORK / "vars.yml").read_text().replace(mod.MIRROR_ADDRESS, lb)
    dest = WORK / "bench-vars.yml"
    dest.write_text(text)
    return dest


def grown_inventory() -> Path:
    """bench/inventory plus one Ollama node, as a user's edit would add it."""
    dest = WORK / "inventory-plus"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(INVENTORY, dest)
    hosts = yaml.safe_load((dest / "hosts.yml").read_text())
    hosts["all"]["children"]["ollama_nodes"]["hosts"][NEW_NODE] = {
        "ansible_host": NEW_NODE_CONTAINER,
        "herd_cluster_address": NEW_NODE_ADDRESS,
        "herd_ram_mib": 4096,
        "herd_tier": "cpu",
    }
    (dest / "hosts.yml").write_text("---\n" + yaml.safe_dump(hosts, sort_keys=False))
    # Scale out: one more replica of the pooled model, for the new node. (With
    # the replicas unchanged the plan moves all-minilm from ollama1 to the new
    # node instead, which a --limit run cannot finish.)
    group_vars = dest / "group_vars" / "all.yml"
    data = yaml.safe_load(group_vars.read_text())
    for model in data["herd_models"]:
        if model["name"] == POOLED_MODEL:
            model["replicas"] += 1
    group_vars.write_text("---\n" + yaml.safe_dump(data, sort_keys=False))
    return dest


def inventory_hosts(hosts_yml: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """inventory_hostname -> (container, bench address), from a hosts.yml."""
    found: dict[str, tuple[str, str]] = {}

    def walk(group: dict[str, Any]) -> None:
        for name, hv in (group.get("hosts") or {}).items():
            if hv and "ansible_host" in hv:  # a host listed again in another group has no vars there
                found[name] = (hv["ansible_host"], hv["herd_cluster_address"])
        for child in (group.get("children") or {}).values():
            walk(child or {})

    walk(hosts_yml["all"])
    return found


def ssh_overlay(hosts: dict[str, tuple[str, str]], key: Path) -> dict[str, Any]:
    """An inventory source that reaches every host over SSH. Literal values:
    a templated ansible_host breaks delegation. Host vars, so they beat
    bench/inventory's group_vars ansible_connection; as a later source they
    replace its per-host ansible_host."""
    common = (
        "-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=/dev/null "
        "-o StrictHostKeyChecking=no -o IdentitiesOnly=yes"
    )
    return {
        "all": {
            "hosts": {
                name: {
                    "ansible_connection": "ssh",
                    "ansible_host": ip,
                    "ansible_user": "root",
                    "ansible_ssh_private_key_file": str(key),
                    "ansible_ssh_common_args": common,
                }
                for name, (_container, ip) in sorted(hosts.items())
            }
        }
    }


def start_sshd(inventory: Path, timeout: float = 60) -> Path:
    """sshd on each host's bench address, root with the bench key; returns
    the extra inventory source that makes Ansible use it."""
    key = WORK / "ssh" / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "herd-bench", "-f", str(key)], check=True)
    pub = key.with_suffix(".pub").read_text()
    hosts = inventory_hosts(yaml.safe_load((inventory / "hosts.yml").read_text()))
    conf = "ListenAddress {}\nPasswordAuthentication no\nPermitRootLogin prohibit-password\nUseDNS no\n"
    for container, ip in hosts.values():
        script = (
            "install -d -m 700 /root/.ssh && cat > /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys"
            f" && printf '{conf.format(ip)}' > /etc/ssh/sshd_config.d/herd-test.conf"
            " && systemctl enable --now --quiet ssh.service && systemctl reload-or-restart ssh.service"
        )
        subprocess.run(["podman", "exec", "-i", container, "sh", "-c", script], input=pub, text=True, check=True)
    for container, ip in hosts.values():
        end = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((ip, 22), timeout=2).close()
                break
            except OSError:
                if time.monotonic() > end:
                    raise SystemExit(f"sshd on {container} ({ip}:22) did not answer in {timeout:.0f}s") from None
                time.sleep(1)
    dest = WORK / f"ssh-{inventory.name}.yml"
    dest.write_text("---\n" + yaml.safe_dump(ssh_overlay(hosts, key), sort_keys=False))
    return dest


def exec_out(container: str, *cmd: str) -> str:
    res = subprocess.run(["podman", "exec", container, *cmd], capture_output=True, text=True, check=False)
    return res.stdout.strip()


def unit_starts() -> dict[str, str]:
    return {
        c: exec_out(c, "systemctl", "show", "-p", "ActiveEnterTimestampMonotonic", "--value", unit)
        for c, unit in WATCHED_UNITS.items()
    }


def report(results: dict[str, Any]) -> str:
    runs = {r["name"]: r for r in results["runs"]}
    first, noop = runs.get("first"), runs.get("noop")
    lines = [
        f"# site.yml converge on the bench cluster, {results['date']}",
        "",
        "`bench/converge.py` on bench/inventory (inventory/demo's six hosts as podman",
        f"containers with systemd, on 10.89.65.0/24), over {results.get('connection', 'podman')}. "
        "Wall-clock seconds from the controller.",
        "",
        f"Machine: {results['machine']['cpus']} CPUs; load average {results['machine']['start']['load1']:.1f} "
        f"at the start, {results['machine']['start']['containers']} containers running (other engineers' test hosts "
        "included). The machine was shared: the figures carry that noise.",
        "",
        "| run | wall s | task results (ok) | skipped | changed | failed | llama.cpp build tasks s | controller CPU s "
        "| machine busy CPU s | load (1 min) before -> after |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results["runs"]:
        lines.append(
            f"| {r['name']} ({r['what']}) | {r['wall_s']:.1f} | {task_results(r, 'ok')} | {task_results(r, 'skipped')} "
            f"| {r['changed']} | {r['failed']}{' (rc ' + str(r['rc']) + ')' if r['rc'] != 0 else ''} "
            f"| {r['build_s']:.1f} | {r['controller_cpu_s']:.1f} | {r['machine_busy_s']:.1f} "
            f"| {r['load_before']['load1']:.1f} -> {r['load_after']['load1']:.1f} |"
        )
    lines.append("")
    if first and noop:
        non_build = first["wall_s"] - first["build_s"]
        ratio = noop["wall_s"] / non_build if non_build else float("nan")
        ok = noop["changed"] == 0 and ratio <= 0.25
        lines += [
            "## Targets",
            "",
            f"- No-op run changes nothing: **{'yes' if noop['changed'] == 0 else 'NO'}** ({noop['changed']} changed).",
            f"- No-op time vs the first run's non-build time: {noop['wall_s']:.1f} s / "
            f"({first['wall_s']:.1f} - {first['build_s']:.1f}) s = **{ratio:.2f}** (target <= 0.25: "
            f"**{'met' if ok else 'NOT met'}**).",
            "",
        ]
    if results.get("build"):
        b = results["build"]
        lines += [
            "## The llama.cpp build: once vs per host",
            "",
            f"In the first run the build tasks took {b['build_s']:.1f} s, of which {b['compile_s']:.1f} s configure + compile "
            f"(cmake through ccache {b['ccache']}), the rest the toolchain, source and handing the artifact to "
            f"{b['receivers']} other host(s) through the controller.",
            "",
            b["estimate"],
            "",
        ]
    if results.get("add_node"):
        a = results["add_node"]
        lines += [
            "## Adding a node",
            "",
            f"`{a['command']}` after adding `{NEW_NODE}` to the inventory: {a['wall_s']:.1f} s. Changed per host: "
            + ", ".join(f"{h} {n}" for h, n in sorted(a["changed_per_host"].items()))
            + ".",
            "",
            f"- lb1's nginx upstreams name the new node: **{'yes' if a['in_upstreams'] else 'NO'}**; the router config: "
            f"**{'yes' if a['in_router'] else 'NO'}**.",
            f"- Services on the other hosts restarted: **{', '.join(a['restarted']) or 'none'}** (systemd "
            "ActiveEnterTimestampMonotonic before and after; nginx on lb1 reloads, it does not restart).",
            f"- A full run over the grown cluster afterwards: {a['after_full']}.",
            "",
        ]
    lines += [
        "## Notes",
        "",
        f"- Starting the six hosts took {results.get('hosts_up_s', 0):.0f} s (not counted above); steps skipped for the "
        f"time budget: {', '.join(results['skipped']) or 'none'}"
        + (f"; not run: {results['not_run']}." if results.get("not_run") else "."),
        *(
            [
                "- Pipelining: the podman connection plugin has no pipelining (`has_pipelining = False` in",
                "  containers.podman), so ANSIBLE_PIPELINING changes nothing here; over SSH it saves a round trip",
                "  per task. Any difference between those two no-op runs here is noise.",
            ]
            if results.get("connection") == "podman"
            else [
                "- Connection: SSH (sshd on each host's bench address, root with a key in .cache/bench/ssh,",
                "  ControlMaster/ControlPersist=60s); the no-op runs with ANSIBLE_PIPELINING=True and =False",
                "  differ only in pipelining.",
            ]
        ),
        "- Fact caching off (ANSIBLE_CACHE_PLUGIN=memory): every run gathers facts on every host once",
        "  (`gathering = smart` skips hosts whose facts are cached in .cache/facts); a `--limit` run then also",
        "  lacks the measured hardware of hosts outside the limit (docs/inventory.md).",
        "- Logs of each run: " + ", ".join(f"`{r['log']}`" for r in results["runs"]) + " (not committed).",
        "",
        "Run it: `bench/converge.py` (needs the test image, `make image`; about",
        f"{results['total_min']:.0f} min here). It removes its hosts at the end (`--keep` leaves them).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / f"converge-{dt.date.today():%Y-%m-%d}.md")
    p.add_argument("--keep", action="store_true", help="leave the bench hosts running")
    p.add_argument("--first-timeout", type=int, default=2400, help="seconds for the first converge")
    p.add_argument("--timeout", type=int, default=900, help="seconds for every other run")
    p.add_argument("--budget", type=int, default=45, help="minutes for the whole benchmark; later steps are skipped")
    p.add_argument(
        "--connection",
        choices=("ssh", "podman"),
        default="ssh",
        help="how Ansible reaches the bench hosts (default ssh: sshd started on each, pipelining measurable)",
    )
    args = p.parse_args(argv)

    started = time.monotonic()
    results: dict[str, Any] = {
        "date": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "machine": {"cpus": os.cpu_count(), "start": load()},
        "runs": [],
        "skipped": [],
    }
    grown = grown_inventory()
    try:
        log("removing any earlier bench hosts, starting fresh ones")
        harness("down", grown)
        # An estimate (an instance shared by two processes counts twice): warn, then try.
        problem = inotify_room(7)
        if problem:
            log(f"warning: {problem}")
        shutil.rmtree(WORK / "facts", ignore_errors=True)
        t = time.monotonic()
        try:
            harness("up", INVENTORY)
        except subprocess.CalledProcessError:
            raise SystemExit(f"the bench hosts did not start. {problem}") from None
        results["connection"] = args.connection

        def sources(inventory: Path) -> list[str]:
            if args.connection == "podman":
                return ["-i", str(inventory)]
            return ["-i", str(inventory), "-i", str(start_sshd(inventory))]

        inv = sources(INVENTORY)
        results["hosts_up_s"] = round(time.monotonic() - t, 1)
        extra = bench_vars(INVENTORY)
        site = [*inv, "site.yml", "-e", f"@{extra}"]
        scaffold = playbook("scaffold", [*inv, "playbooks/demo_scaffold.yml", "-e", f"@{extra}"], args.timeout)
        if scaffold["rc"] != 0:
            raise SystemExit(f"the model mirror did not come up, see {scaffold['log']}")

        deadline = started + args.budget * 60

        def run(name: str, what: str, argv: list[str], timeout: int, **e: str) -> dict[str, Any] | None:
            left = deadline - time.monotonic()
            if left < 120:
                log(f"{name}: skipped, {left:.0f}s left of the {args.budget} min budget")
                results["skipped"].append(name)
                return None
            r = playbook(name, argv, int(min(timeout, left)), **e)
            r["what"] = what
            results["runs"].append(r)
            return r

        first = run("first", "fresh hosts", site, args.first_timeout)
        if first is None or first["rc"] != 0:
            raise SystemExit(f"first converge failed, see {first['log']}")
        run("noop", "second run", site, args.timeout, ANSIBLE_PIPELINING="True")
        run("noop-no-fact-cache", "ANSIBLE_CACHE_PLUGIN=memory", site, args.timeout, ANSIBLE_CACHE_PLUGIN="memory")
        run("noop-no-pipelining", "ANSIBLE_PIPELINING=False", site, args.timeout, ANSIBLE_PIPELINING="False")
        mitogen = mitogen_env()
        if args.connection != "ssh":
            results["not_run"] = "noop-mitogen (Mitogen measured over SSH only)"
        elif mitogen is None:
            results["not_run"] = "noop-mitogen (Mitogen is not in .venv: `.venv/bin/pip install mitogen`)"
        else:
            run("noop-mitogen", "strategy mitogen_linear", site, args.timeout, **mitogen)

        ccache = exec_out("herd-bench-head1", "ccache", "-s", "-d", "/mnt/herd-ccache").replace("\n", "; ")
        hits = re.search(r"Hits:\s+(\d+)\s*/\s*(\d+)", ccache)
        receivers = 2  # rpc1, rpc2: same build key as head1 (all amd64, CPU)
        results["build"] = {
            "build_s": first["build_s"],
            "compile_s": first["compile_s"],
            "ccache": f"{hits.group(1)}/{hits.group(2)} hits overall" if hits else "(statistics unavailable)",
            "receivers": receivers,
            "estimate": (
                f"Per host (`llama_cpp_build_once: false`) every one of the 3 hosts would compile: not run here, "
                f"estimated. Warm ccache: about 3 x {first['compile_s']:.0f} s of compile = {3 * first['compile_s']:.0f} s of CPU "
                "on 2 cores that all three builds share, instead of one compile plus two artifact copies. Cold "
                "(a new llama_cpp_version, or hosts without the shared ccache, which rpc1/rpc2 are): one build is "
                "6-9 min on an idle 2-core host (docs/roles/llama_cpp.md), so 18-27 min per-host against 6-9 min once."
            ),
        }

        # e. one more Ollama node, entering with --limit
        harness("up", grown)
        grown_inv = sources(grown)
        starts = unit_starts()
        limit = f"{NEW_NODE},loadbalancers,gpu_router"
        add = run("add-node", f"--limit {limit}", [*grown_inv, "site.yml", "-e", f"@{extra}", "--limit", limit], args.timeout)
        if add is None:
            return 0
        after = unit_starts()
        upstreams = exec_out("herd-bench-lb1", "cat", "/etc/nginx/conf.d/llama-herd-lb.conf")
        router = exec_out("herd-bench-lb1", "cat", "/etc/llama-herd/gpu-router.yml")
        full = run("after-add", "full run, grown cluster", [*grown_inv, "site.yml", "-e", f"@{extra}"], args.timeout)
        results["add_node"] = {
            "command": f"site.yml --limit {limit}",
            "wall_s": add["wall_s"],
            "changed_per_host": {h: v["changed"] for h, v in add["recap"].items()},
            "in_upstreams": NEW_NODE_ADDRESS in upstreams,
            "in_router": NEW_NODE_ADDRESS in router or NEW_NODE in router,
            "restarted": sorted(f"{WATCHED_UNITS[c]} on {c}" for c in starts if starts[c] != after[c]),
            "after_full": "skipped (time budget)"
            if full is None
            else (
                f"{full['wall_s']:.1f} s, "
                + (
                    "nothing changed"
                    if full["changed"] == 0
                    else "changed " + ", ".join(f"{h} {v['changed']}" for h, v in full["recap"].items() if v["changed"])
                )
            ),
        }
    finally:
        results["total_min"] = (time.monotonic() - started) / 60
        results["machine"]["end"] = load()
        if results["runs"]:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(report(results))
            args.out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str) + "\n")
            log(f"wrote {args.out} and its .json")
        if not args.keep:
            log("removing the bench hosts")
            harness("down", grown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
