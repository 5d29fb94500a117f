#!/usr/bin/env python3
"""The collection on every ansible-core it declares besides the pinned one.

    tools/version_matrix.py [--core 2.20,2.21] [--steps venv,lint,unit,plan,molecule,sanity]

For each ansible-core release in CORES (requirements.txt pins the default,
which `make test` covers): a venv of its own
(.cache/matrix/core-<release>/venv) with
requirements.txt and requirements-dev.txt, the ansible-core and
`ansible` pins swapped for that release's; then in it
  lint      yamllint, ruff, ansible-lint (production profile), as `make lint`
  unit      pytest tests/unit
  plan      playbooks/plan.yml on every inventory under inventory/examples/
  molecule  `molecule test -s default` (real systemd hosts)
  sanity    ansible-test sanity on the built artifact (tools/galaxy_check.py)
Before the releases: every plugin file compiles under each managed-node Python
(MANAGED_PYTHONS). Any step that fails, or prints a deprecation warning, fails the matrix. Logs
in .cache/matrix/core-<release>/logs/; a Markdown summary on stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYENV = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions"

# release: (ansible-core pin, `ansible` pin bundling the collections, controller Python).
# ansible-core 2.20 and 2.21 need Python >= 3.12 on the controller.
CORES = {
    "2.20": ("2.20.10", "13.8.0", "3.12"),
    "2.21": ("2.21.5", "14.5.0", "3.13"),
}
# Managed nodes run the modules (and the module_utils they import) with their own
# Python: Ubuntu 22.04's 3.10 up to 3.12.
MANAGED_PYTHONS = ("3.10", "3.11", "3.12")
STEPS = ("venv", "lint", "unit", "plan", "molecule", "sanity")
# What ansible-core, ansible-lint, molecule and pytest print for deprecated use.
DEPRECATION = re.compile(r"DEPRECATION WARNING|\[DEPRECATION|DeprecationWarning|deprecated|will be removed|coerced invalid value")


def python_for(version: str) -> Path:
    found = sorted(PYENV.glob(f"{version}.*/bin/python{version}"))
    if not found:
        sys.exit(f"no Python {version} under {PYENV}: install one with pyenv (ansible-core needs it)")
    return found[-1]


def managed_node_syntax() -> list[str]:
    """Every plugin file compiled by each managed-node Python; the failures."""
    files = [str(p) for p in sorted((REPO / "plugins").rglob("*.py"))]
    code = "import sys\nfor f in sys.argv[1:]:\n    compile(open(f).read(), f, 'exec')\n"
    failures = []
    for version in MANAGED_PYTHONS:
        proc = subprocess.run([str(python_for(version)), "-c", code, *files], capture_output=True, text=True, check=False)
        status = "ok" if proc.returncode == 0 else "FAILED"
        print(f"managed-node Python {version}: {len(files)} plugin files compile {status}", flush=True)
        if proc.returncode:
            failures.append(f"{version}: {proc.stderr.strip().splitlines()[-1]}")
    return failures


def requirements(core: str, ansible: str) -> str:
    lines = []
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (REPO / name).read_text().splitlines():
            if line.startswith("ansible-core=="):
                line = f"ansible-core=={core}"
            elif line.startswith("ansible=="):
                line = f"ansible=={ansible}"
            lines.append(line)
    return "\n".join(lines) + "\n"


def sh(cmd: list[str], log: Path, env: dict, label: str) -> tuple[bool, float, list[str]]:
    t0 = time.monotonic()
    with log.open("a") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        fh.write(proc.stdout)
    took = time.monotonic() - t0
    deprecations = [line.strip() for line in proc.stdout.splitlines() if DEPRECATION.search(line)]
    print(f"  {label}: {'ok' if proc.returncode == 0 else f'FAILED (rc {proc.returncode})'} in {took:.0f} s", flush=True)
    return proc.returncode == 0, took, deprecations


def make_venv(release: str, venv: Path, log: Path) -> None:
    core, ansible, py = CORES[release]
    reqs = requirements(core, ansible)
    stamp = venv / ".installed"
    digest = hashlib.sha256(reqs.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    if not (venv / "bin" / "python").exists():
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(python_for(py)), "-m", "venv", str(venv)], check=True)
    (venv / "requirements.txt").write_text(reqs)
    with log.open("a") as fh:
        subprocess.run(
            [str(venv / "bin/python"), "-m", "pip", "install", "-q", "-r", str(venv / "requirements.txt")],
            check=True,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    stamp.write_text(digest)


def run_core(release: str, steps: list[str], root: Path) -> dict:
    venv = root / f"core-{release}" / "venv"
    logs = root / f"core-{release}" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for step in steps:  # a step's log from an earlier run
        (logs / f"{step}.log").unlink(missing_ok=True)
    print(f"ansible-core {release}:", flush=True)
    t0 = time.monotonic()
    make_venv(release, venv, logs / "venv.log")
    print(f"  venv: ok in {time.monotonic() - t0:.0f} s", flush=True)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"),
    )
    bin_ = venv / "bin"
    version = subprocess.run([str(bin_ / "ansible"), "--version"], capture_output=True, text=True, env=env, check=True)
    result = {"version": version.stdout.splitlines()[0], "python": sys.version, "steps": {}}
    pyver = subprocess.run([str(bin_ / "python"), "-V"], capture_output=True, text=True, check=True).stdout.strip()
    result["python"] = pyver
    plan_steps: dict[str, list[list[str]]] = {
        "lint": [
            [str(bin_ / "yamllint"), "--strict", "."],
            [str(bin_ / "ruff"), "check", "."],
            [str(bin_ / "ruff"), "format", "--check", "."],
            [str(bin_ / "ansible-lint"), "--profile", "production"],
        ],
        "unit": [[str(bin_ / "pytest"), "-q", "-p", "no:cacheprovider", "tests/unit"]],
        "plan": [
            [str(bin_ / "ansible-playbook"), "-i", str(inv), "playbooks/plan.yml"]
            for inv in sorted((REPO / "inventory" / "examples").iterdir())
            if inv.is_dir()
        ],
        "molecule": [[str(bin_ / "molecule"), "test", "-s", "default"]],
        "sanity": [
            [str(bin_ / "python"), str(REPO / "tools" / "galaxy_check.py"), "--only", "sanity", "--work", str(logs / "galaxy")]
        ],
    }
    for step in steps:
        if step == "venv":
            continue
        ok, took, dep = True, 0.0, []
        for cmd in plan_steps[step]:
            label = f"{step} ({Path(cmd[2]).name})" if step == "plan" else step
            c_ok, c_took, c_dep = sh(cmd, logs / f"{step}.log", env, label)
            ok, took, dep = ok and c_ok, took + c_took, dep + c_dep
        for line in dep:
            print(f"    deprecation: {line}")
        result["steps"][step] = {"ok": ok and not dep, "seconds": took, "deprecations": dep}
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--core", default=",".join(CORES), help=f"comma-separated subset of {', '.join(CORES)}")
    p.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated subset of {', '.join(STEPS)}")
    p.add_argument("--root", type=Path, default=REPO / ".cache" / "matrix")
    args = p.parse_args(argv)
    steps = [s for s in args.steps.split(",") if s in STEPS]  # in the order given
    syntax = managed_node_syntax()
    results = {release: run_core(release, steps, args.root) for release in args.core.split(",")}
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()
    print(f"\n## Version matrix at {commit}{' (uncommitted changes)' if dirty else ''}\n")
    shown = [s for s in steps if s != "venv"]
    print("| ansible-core | Python | " + " | ".join(shown) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in shown) + " |")
    failed = bool(syntax)
    for r in results.values():
        cells = []
        for s in shown:
            st = r["steps"][s]
            failed |= not st["ok"]
            note = f", {len(st['deprecations'])} deprecations" if st["deprecations"] else ""
            cells.append(f"{'pass' if st['ok'] else 'FAIL'} ({st['seconds']:.0f} s{note})")
        print(f"| {r['version']} | {r['python']} | " + " | ".join(cells) + " |")
    print(
        f"\nPlugins compile under managed-node Python {', '.join(MANAGED_PYTHONS)}: " + ("; ".join(syntax) if syntax else "yes")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
