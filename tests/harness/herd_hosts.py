#!/usr/bin/env python3
"""Real systemd hosts for tests and the demo: podman containers of a Debian 12
image built here with debootstrap.

    herd_hosts.py tools                 install podman, runc, debootstrap if missing
    herd_hosts.py image [--arch arm64]  build the image (cached by recipe hash)
    herd_hosts.py up -i inventory/demo  start one container per podman-connected host
    herd_hosts.py down -i inventory/demo
    herd_hosts.py status -i inventory/demo

Sandbox quirks (see DESIGN.md): the runc runtime (crun fails on hybrid
cgroups), --privileged, and ulimits under the hard limits.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IMAGE = "localhost/llamaherd/debian12-systemd"
SUITE = "bookworm"
MIRROR = os.environ.get("HERD_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# Everything the image holds. Roles still install what they need; baking the
# common build tools in only saves each container the download.
PACKAGES = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "python3",
    "python3-apt",
    "python3-venv",
    "ca-certificates",
    "iproute2",
    "procps",
    "curl",
    "sudo",
    "gnupg",
    "xz-utils",
    "less",
    "build-essential",
    "cmake",
    "git",
    "ccache",
    "pkg-config",
    # The molecule scenarios reach their hosts over SSH, as users do (see
    # molecule/_shared/create.yml); sshd stays off until a scenario enables it.
    "openssh-server",
]
# Units that make no sense in a container and slow boot down.
MASKED_UNITS = [
    "getty.target",
    "console-getty.service",
    "systemd-udevd.service",
    "systemd-udev-trigger.service",
    "systemd-networkd-wait-online.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_reap.service",
]
# systemd-binfmt empties the host's binfmt_misc registry when a privileged
# container boots (the registry is shared), which unregisters qemu-aarch64 and
# stops every emulated container from executing anything: masked in every
# image, so no test host of any architecture can do that to another.
MASKED_UNITS_BINFMT = [
    "systemd-binfmt.service",
    "proc-sys-fs-binfmt_misc.automount",
    "proc-sys-fs-binfmt_misc.mount",
]
RECIPE_VERSION = 4
RUN_OPTS = [
    "--privileged",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1000:1000",
]
CONTAINERS_CONF = Path("/etc/containers/containers.conf")


def log(msg: str) -> None:
    print(f"[herd-hosts] {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, text=True, **kw)


def masked_units(arch: str) -> list[str]:
    return MASKED_UNITS + MASKED_UNITS_BINFMT


def recipe_hash(arch: str) -> str:
    data = json.dumps([RECIPE_VERSION, SUITE, arch, PACKAGES, masked_units(arch)])
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def host_arch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)


def image_ref(arch: str) -> str:
    return f"{IMAGE}:{arch}"


# --------------------------------------------------------------------- tools
def ensure_tools(arch: str = "amd64") -> None:
    need = [
        p
        for p, binary in (
            ("podman", "podman"),
            ("runc", "runc"),
            ("debootstrap", "debootstrap"),
            ("openssh-client", "ssh"),
            # promtool, for the router's metrics test (tests/integration/test_gpu_router.py)
            ("prometheus", "promtool"),
        )
        if shutil.which(binary) is None
    ]
    if arch != host_arch() and not Path("/usr/bin/qemu-aarch64-static").exists():
        need += ["qemu-user-static", "binfmt-support"]
    if need:
        log(f"installing {' '.join(need)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-qq"], env=env)
        run(["apt-get", "install", "-y", "-qq", *need], env=env, stdout=subprocess.DEVNULL)
    if arch != host_arch():
        # Registered again on every call: a booting amd64 container's
        # systemd-binfmt may have emptied the (host-wide) registry.
        if not Path("/proc/sys/fs/binfmt_misc/register").exists():
            run(["mount", "-t", "binfmt_misc", "binfmt_misc", "/proc/sys/fs/binfmt_misc"], check=False)
        run(["update-binfmts", "--enable", "qemu-aarch64"], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
            raise SystemExit("qemu-aarch64 is not registered in /proc/sys/fs/binfmt_misc: arm64 containers cannot run here")
    conf = CONTAINERS_CONF.read_text() if CONTAINERS_CONF.exists() else ""
    if 'runtime = "runc"' not in conf:
        # crun cannot create containers on this kernel's hybrid cgroup layout.
        CONTAINERS_CONF.parent.mkdir(parents=True, exist_ok=True)
        if "[engine]" in conf:
            conf = conf.replace("[engine]", '[engine]\nruntime = "runc"', 1)
        else:
            conf += '\n[engine]\nruntime = "runc"\n'
        CONTAINERS_CONF.write_text(conf)
        log(f"set runtime = runc in {CONTAINERS_CONF}")


# A CUDA toolkit that still builds Volta, for the cheap real CUDA check in
# make integration (tests/integration/test_cuda_volta_configure.py): Debian
# 12 non-free's nvidia-cuda-toolkit 11.8, /usr/bin/nvcc (a few GB).
NONFREE_SOURCE = Path("/etc/apt/sources.list.d/llama-herd-nonfree.sources")
NONFREE_DEB822 = """Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def ensure_volta_toolkit() -> None:
    if Path("/usr/bin/nvcc").exists():
        return
    log("installing Debian non-free's nvidia-cuda-toolkit (CUDA 11.8, builds compute capability 7.0)")
    if not NONFREE_SOURCE.exists():
        NONFREE_SOURCE.write_text(NONFREE_DEB822)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-qq"], env=env)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nvidia-cuda-toolkit"], env=env, stdout=subprocess.DEVNULL)


# --------------------------------------------------------------------- image
QEMU_BINFMT_CONF = Path("/usr/lib/binfmt.d/qemu-aarch64.conf")
CLONE_NEWUSER = 0x10000000


def second_stage_in_own_binfmt(root: str) -> subprocess.CompletedProcess:
    """debootstrap's second stage (the emulated part) as root of a new user
    namespace (host ids 0-65535 map to themselves; new mount, pid and net
    namespaces) with its own binfmt_misc instance (Linux >= 6.7) holding
    qemu-aarch64: containers booting meanwhile empty the host's registry,
    not this one."""
    script = (
        "mount -t binfmt_misc none /proc/sys/fs/binfmt_misc"
        f" && cat {QEMU_BINFMT_CONF} > /proc/sys/fs/binfmt_misc/register"
        f" && exec chroot {root} /debootstrap/debootstrap --second-stage"
    )
    with tempfile.TemporaryFile(mode="w+") as out:
        ready_r, ready_w = os.pipe()
        mapped_r, mapped_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: new user namespace, wait for its id maps, then run
            try:
                os.close(ready_r)
                os.close(mapped_w)
                os.dup2(out.fileno(), 1)
                os.dup2(out.fileno(), 2)
                if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWUSER) == 0:
                    os.write(ready_w, b"x")
                    os.read(mapped_r, 1)
                    os.setgid(0)
                    os.setuid(0)
                    # container=lxc: debootstrap skips its mknod probe (no mknod here).
                    env = dict(os.environ, container="lxc")
                    os.execvpe("unshare", ["unshare", "--mount", "--pid", "--net", "--fork", "sh", "-c", script], env)
            finally:
                os._exit(127)
        os.close(ready_w)
        os.close(mapped_r)
        if os.read(ready_r, 1):
            for name in ("uid_map", "gid_map"):
                Path(f"/proc/{pid}/{name}").write_text("0 0 65536\n")
            os.write(mapped_w, b"x")
        _, status = os.waitpid(pid, 0)
        out.seek(0)
        return subprocess.CompletedProcess(["debootstrap", "--second-stage"], os.waitstatus_to_exitcode(status), out.read(), "")


def image_is_current(arch: str) -> bool:
    res = run(
        ["podman", "image", "inspect", image_ref(arch), "--format", '{{ index .Labels "llamaherd.recipe" }}'],
        check=False,
        capture_output=True,
    )
    return res.returncode == 0 and res.stdout.strip() == recipe_hash(arch)


def build_image(arch: str, force: bool = False) -> str:
    ensure_tools(arch)
    ref = image_ref(arch)
    if not force and image_is_current(arch):
        log(f"image {ref} is current (recipe {recipe_hash(arch)})")
        return ref
    log(f"building {ref} (recipe {recipe_hash(arch)}); debootstrap takes a minute or two")
    with tempfile.TemporaryDirectory(prefix="herd-rootfs-", dir="/var/tmp") as root:
        cmd = ["debootstrap", "--variant=minbase", f"--arch={arch}", f"--include={','.join(PACKAGES)}", SUITE, root, MIRROR]
        foreign = arch != host_arch()
        res = run(cmd[:1] + ["--foreign"] * foreign + cmd[1:], check=False, capture_output=True)
        if foreign and res.returncode == 0:
            res = second_stage_in_own_binfmt(root)
        if res.returncode != 0:
            sys.stderr.write(res.stdout[-4000:] + res.stderr[-4000:])
            # A failed second stage leaves /proc and /sys mounted in the rootfs.
            run(["umount", "-lR", f"{root}/proc", f"{root}/sys"], check=False, stderr=subprocess.DEVNULL)
            raise SystemExit(f"debootstrap failed for {arch}")
        rootp = Path(root)
        # HTTPS from inside a container must trust what the controller trusts.
        bundle = Path("/etc/ssl/certs/ca-certificates.crt")
        if bundle.exists():
            shutil.copyfile(bundle, rootp / "etc/ssl/certs/ca-certificates.crt")
        (rootp / "etc/apt/apt.conf.d/90herd").write_text('APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n')
        (rootp / "etc/hostname").write_text("herd\n")
        (rootp / "etc/machine-id").write_text("")
        for unit in masked_units(arch):
            link = rootp / "etc/systemd/system" / unit
            if not link.exists():
                link.symlink_to("/dev/null")
        # sshd would listen on every address from boot: off until a scenario's
        # create step binds it to the host's own address and starts it.
        for wants in ("multi-user.target.wants/ssh.service", "sockets.target.wants/ssh.socket", "sshd.service"):
            (rootp / "etc/systemd/system" / wants).unlink(missing_ok=True)
        shutil.rmtree(rootp / "var/cache/apt/archives", ignore_errors=True)
        (rootp / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
        tar = subprocess.Popen(["tar", "-C", root, "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        run(
            [
                "podman",
                "import",
                "--arch",
                arch,
                "--change",
                'CMD ["/lib/systemd/systemd"]',
                "--change",
                "STOPSIGNAL SIGRTMIN+3",
                "--change",
                f"LABEL llamaherd.recipe={recipe_hash(arch)}",
                "-",
                ref,
            ],
            stdin=tar.stdout,
            stdout=subprocess.DEVNULL,
        )
        tar.wait()
    log(f"built {ref}")
    return ref


# ----------------------------------------------------------------- inventory
def podman_hosts(inventory: str) -> list[dict]:
    """Hosts of an inventory that Ansible reaches with the podman connection."""
    exe = shutil.which("ansible-inventory", path=str(REPO / ".venv/bin") + os.pathsep + os.environ["PATH"])
    res = run([exe, "-i", inventory, "--list"], capture_output=True, cwd=REPO)
    data = json.loads(res.stdout)
    hostvars = data.get("_meta", {}).get("hostvars", {})
    hosts = []
    for name, hv in sorted(hostvars.items()):
        if hv.get("ansible_connection") not in ("containers.podman.podman", "podman"):
            continue
        # ansible-inventory does not template; the demo names containers
        # "herd-demo-{{ inventory_hostname }}".
        container = str(hv.get("ansible_host", name)).replace("{{ inventory_hostname }}", name)
        hosts.append(
            {
                "name": container,
                "ip": hv.get("herd_cluster_address"),
                "network": hv.get("herd_podman_network", "llamaherd"),
                "subnet": hv.get("herd_cluster_cidr"),
                "arch": hv.get("herd_podman_arch", host_arch()),
                # "controller path:container path"; a relative controller
                # path is relative to the repository (e.g. a shared ccache).
                "volumes": hv.get("harness_podman_volumes", []),
            }
        )
    return hosts


def ensure_network(name: str, subnet: str | None) -> None:
    if run(["podman", "network", "exists", name], check=False).returncode == 0:
        return
    cmd = ["podman", "network", "create", name]
    if subnet:
        cmd[3:3] = ["--subnet", subnet]
    run(cmd, stdout=subprocess.DEVNULL)


def container_running(name: str) -> bool:
    res = run(["podman", "inspect", name, "--format", "{{.State.Running}}"], check=False, capture_output=True)
    return res.returncode == 0 and res.stdout.strip() == "true"


def wait_for_systemd(name: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        res = run(["podman", "exec", name, "systemctl", "is-system-running"], check=False, capture_output=True)
        state = res.stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(1)
    raise SystemExit(f"{name}: systemd did not finish booting (state {state!r})")


def up(inventory: str) -> None:
    hosts = podman_hosts(inventory)
    if not hosts:
        raise SystemExit(f"no podman-connected hosts in {inventory}")
    for arch in sorted({h["arch"] for h in hosts}):
        build_image(arch)
    for h in hosts:
        ensure_network(h["network"], h["subnet"])
        if container_running(h["name"]):
            log(f"{h['name']} already running")
            continue
        run(["podman", "rm", "-f", h["name"]], check=False, capture_output=True)
        cmd = [
            "podman",
            "run",
            "-d",
            "--name",
            h["name"],
            "--hostname",
            h["name"],
            "--network",
            h["network"],
            "--arch",
            h["arch"],
            "--label",
            "llamaherd.harness=1",
            *RUN_OPTS,
        ]
        if h["ip"]:
            cmd += ["--ip", h["ip"]]
        for volume in h["volumes"]:
            src, _, dest = volume.partition(":")
            src_path = REPO / src
            src_path.mkdir(parents=True, exist_ok=True)
            cmd += ["--volume", f"{src_path}:{dest}"]
        run([*cmd, image_ref(h["arch"])], stdout=subprocess.DEVNULL)
        log(f"started {h['name']} ({h['ip'] or 'dhcp'}, {h['arch']})")
    for h in hosts:
        wait_for_systemd(h["name"])
    log(f"{len(hosts)} host(s) up")


def down(inventory: str) -> None:
    hosts = podman_hosts(inventory)
    for h in hosts:
        run(["podman", "rm", "-f", "-t", "5", h["name"]], check=False, capture_output=True)
        log(f"removed {h['name']}")
    for net in sorted({h["network"] for h in hosts}):
        run(["podman", "network", "rm", net], check=False, capture_output=True)


def status(inventory: str) -> None:
    for h in podman_hosts(inventory):
        state = "running" if container_running(h["name"]) else "absent"
        print(f"{h['name']:<20} {h['ip'] or '-':<16} {h['arch']:<6} {state}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("tools")
    sub.add_parser("volta-toolkit")
    pi = sub.add_parser("image")
    pi.add_argument("--arch", default=host_arch())
    pi.add_argument("--force", action="store_true")
    for name in ("up", "down", "status"):
        sp = sub.add_parser(name)
        sp.add_argument("-i", "--inventory", default=str(REPO / "inventory/demo"))
    args = p.parse_args(argv)
    if args.cmd == "tools":
        ensure_tools()
    elif args.cmd == "volta-toolkit":
        ensure_volta_toolkit()
    elif args.cmd == "image":
        print(build_image(args.arch, args.force))
    else:
        ensure_tools()
        {"up": up, "down": down, "status": status}[args.cmd](args.inventory)


if __name__ == "__main__":
    main()
