#!/usr/bin/env python3
"""The checks a maintainer meets when publishing the collection, offline.

    tools/galaxy_check.py --tools-venv .cache/galaxy-venv [--only importer,sanity,docs,site,units]

1. importer: `ansible-galaxy collection build`, then galaxy-importer (the
   importer Galaxy runs) on the tarball, its ansible-doc and ansible-lint
   checks on, its container-based ansible-test off. Any WARNING or ERROR in
   its output fails the check.
2. sanity: the tarball installed into a scratch ansible_collections/ tree
   (ansible-test wants that layout), then `ansible-test sanity --local` with
   the project venv's ansible-core. ansible-test runs each sanity test in a
   venv of its own under ~/.ansible/test/venv and bootstraps pip into it with
   a script it downloads from ci-files.testing.ansible.com, or takes from
   ~/.ansible/test/cache/get_pip_<version>.py; when that cache is empty this
   tool puts an offline bootstrap there (pip from the interpreter's ensurepip,
   then the configured package index).
3. docs: `antsibull-docs lint-collection-docs --plugin-docs` on the same tree.
4. site: the docs site (`make docs`): antsibull-docs sphinx-init and
   collection, sphinx-build; any warning but a link to Ansible's own docs
   (intersphinx is off: offline) fails it.
5. units: `ansible-test units --local` in a copy of the checkout's files
   (the artifact leaves tests/ out) laid out as
   ansible_collections/llamaherd/cluster; --units-targets says which tests
   (default: the managed-node groups, see MANAGED_NODE_TESTS). ansible-test
   runs the tests under module_utils/ and modules/ as managed-node code,
   where only ansible.module_utils imports: so the plan's tests over the
   example inventories (Ansible's inventory loader) live under action/. Its
   pytest plugins (pytest-xdist, mock, pytest-mock) are in requirements-dev.txt.

galaxy-importer and antsibull-docs live in --tools-venv (`make galaxy` makes
it from requirements-galaxy.txt), apart from the project venv.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the project venv: ansible-galaxy, ansible-test

# ansible-test's bootstrap protocol (ansible_test/_util/target/setup/requirements.py):
# the script gets pip's install arguments (pip==X --no-setuptools --no-wheel ...).
OFFLINE_GET_PIP = '''"""Offline stand-in for get-pip.py, written by llama-herd's tools/galaxy_check.py."""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
# ensurepip in a child: it points pip's configuration at /dev/null in its own
# process, and the install below needs the machine's index and certificates.
rc = subprocess.call([sys.executable, "-m", "ensurepip", "--upgrade"], stdout=subprocess.DEVNULL)
sys.exit(rc or subprocess.call([sys.executable, "-m", "pip", "install", "--upgrade", *args]))
'''


def run(cmd: list[str], log: Path, **kw) -> tuple[int, str]:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    out = proc.stdout + proc.stderr
    log.write_text(out)
    return proc.returncode, out


def build(work: Path) -> Path:
    dist = work / "dist"
    rc, out = run(
        [str(BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(dist), str(REPO)], work / "build.log"
    )
    if rc:
        sys.exit(f"ansible-galaxy collection build failed:\n{out}")
    return next(dist.glob("llamaherd-cluster-*.tar.gz"))


def install(tarball: Path, work: Path) -> tuple[Path, Path]:
    """(the scratch directory, the installed collection in it)."""
    # Outside any git checkout: inside one (.cache/ of the repository), ansible-test
    # lists the files through git, finds them ignored and skips every target.
    dest = Path(tempfile.mkdtemp(prefix="llamaherd-galaxy-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    cmd = [str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "--no-deps", "-p", str(dest), str(tarball)]
    rc, out = run(cmd, work / "install.log", env=env, cwd=work)
    if rc:
        sys.exit(f"ansible-galaxy collection install of {tarball.name} failed:\n{out}")
    return dest, dest / "ansible_collections" / "llamaherd" / "cluster"


def importer(tarball: Path, tools: Path, work: Path) -> bool:
    env = {
        "HOME": os.environ.get("HOME", "/root"),
        "PATH": f"{tools / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "GALAXY_IMPORTER_RUN_ANSIBLE_TEST": "false",  # container based; ansible-test runs below instead
        "GALAXY_IMPORTER_RUN_ANSIBLE_DOC": "true",
        "GALAXY_IMPORTER_RUN_ANSIBLE_LINT": "true",
        "GALAXY_IMPORTER_OFFLINE_ANSIBLE_LINT": "true",
        "GALAXY_IMPORTER_CONFIG": "/dev/null",
    }
    rc, out = run(
        [str(tools / "bin" / "python"), "-m", "galaxy_importer.main", str(tarball)], work / "importer.log", env=env, cwd=work
    )
    # Galaxy's notice that tests/sanity/ignore-2.19.txt exists is no finding:
    # each entry there carries its reason.
    findings = [
        line
        for line in out.splitlines()
        if line.startswith(("WARNING", "ERROR")) and not line.startswith("WARNING: Ignore files skip ansible-test sanity tests")
    ]
    ok = rc == 0 and "Importer processing completed successfully" in out and not findings
    print(out.splitlines()[0] if out else "galaxy-importer printed nothing")
    print("\n".join(findings) or "no warnings")
    print(f"importer: {'passed' if ok else 'FAILED'} (log: {work / 'importer.log'})")
    return ok


def pip_bootstrap() -> None:
    """An offline pip bootstrap where ansible-test looks for its cached copy."""
    import ansible_test

    source = (Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py").read_text()
    m = re.search(r"default_packages = dict\(\s*pip='([\d.]+)'", source)
    if not m:
        sys.exit("cannot tell which pip ansible-test bootstraps (python_requirements.py changed); update tools/galaxy_check.py")
    cache = Path.home() / ".ansible" / "test" / "cache" / f"get_pip_{m.group(1).replace('.', '_')}.py"
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(OFFLINE_GET_PIP)
        print(f"wrote the offline pip bootstrap {cache}")


def sanity(coll: Path, work: Path) -> bool:
    pip_bootstrap()
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    cmd = [str(BIN / "ansible-test"), "sanity", "--local", "--python", py, "--color", "no"]
    rc, out = run(cmd, work / "sanity.log", env=env, cwd=coll)
    ran = [line for line in out.splitlines() if line.startswith("Running sanity test")]
    print("\n".join(line for line in out.splitlines() if line.startswith("ERROR")))
    ok = rc == 0 and bool(ran) and "All targets skipped" not in out
    print(f"sanity: {len(ran)} tests, {'passed' if ok else 'FAILED'} (log: {work / 'sanity.log'})")
    return ok


def docs(coll: Path, tools: Path, work: Path) -> bool:
    import ansible_collections

    # The collection's dependencies (ansible.posix ...) from the project venv's
    # `ansible` package, which antsibull-docs' ansible-doc must find too.
    deps = [str(Path(d).parent) for d in ansible_collections.__path__ if (Path(d) / "ansible" / "posix").is_dir()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        PATH=f"{tools / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        ANSIBLE_COLLECTIONS_PATH=os.pathsep.join([str(coll.parents[2]), *deps]),
    )
    cmd = [str(tools / "bin" / "antsibull-docs"), "lint-collection-docs", "--plugin-docs", str(coll)]
    rc, out = run(cmd, work / "antsibull-docs.log", env=env, cwd=work)
    print(out.strip() or "no findings")
    print(f"docs: {'passed' if rc == 0 else 'FAILED'} (log: {work / 'antsibull-docs.log'})")
    return rc == 0


def site(coll: Path, tools: Path, work: Path) -> bool:
    """The docs site (antsibull-docs sphinx-init, antsibull-docs collection,
    sphinx-build) in work/docs-site/build/html, offline. Intersphinx is off
    (its inventories live on docs.ansible.com), so a link to Ansible's own
    docs is left unresolved; any other warning, a broken link inside the
    collection included, fails the check."""
    import ansible_collections

    dest = work / "docs-site"
    shutil.rmtree(dest, ignore_errors=True)
    (dest / "rst").mkdir(parents=True)
    (dest / "rst").chmod(0o755)  # antsibull-docs wants it writable by its owner only
    deps = [str(Path(d).parent) for d in ansible_collections.__path__ if (Path(d) / "ansible" / "posix").is_dir()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        PATH=f"{tools / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        ANSIBLE_COLLECTIONS_PATH=os.pathsep.join([str(coll.parents[2]), *deps]),
    )
    common = ["--use-current", "--squash-hierarchy", "--fail-on-error"]
    steps = [
        ["sphinx-init", *common, "--sphinx-theme", "sphinx_ansible_theme", "--dest-dir", str(dest), "llamaherd.cluster"],
        ["collection", *common, "--cleanup", "everything", "--dest-dir", str(dest / "rst"), "llamaherd.cluster"],
    ]
    for i, step in enumerate(steps):
        rc, out = run([str(tools / "bin" / "antsibull-docs"), *step], work / f"docs-site-{i}.log", env=env, cwd=dest)
        if rc:
            print(out[-2000:])
            print(f"site: FAILED (log: {work / f'docs-site-{i}.log'})")
            return False
        if i == 0:
            with (dest / "conf.py").open("a") as conf:
                conf.write("\n# llama-herd: offline, no inventory fetched from docs.ansible.com.\nintersphinx_mapping = {}\n")
    cmd = [
        str(tools / "bin" / "sphinx-build"),
        "-q",
        "--keep-going",
        "-b",
        "html",
        "-c",
        str(dest),
        str(dest / "rst"),
        str(dest / "build" / "html"),
    ]
    rc, out = run(cmd, work / "docs-site.log", env=env, cwd=dest)
    warnings = [line for line in out.splitlines() if "WARNING" in line or "ERROR" in line]
    outside = [w for w in warnings if re.search(r"undefined label: '(?!ansible_collections\.llamaherd\.cluster\.)[^']*'", w)]
    broken = [w for w in warnings if w not in outside]
    print(
        "\n".join(broken)
        or f"no broken link inside the collection ({len(outside)} links to Ansible's docs left unresolved offline)"
    )
    ok = rc == 0 and not broken and (dest / "build" / "html" / "index.html").exists()
    print(f"site: {'passed' if ok else 'FAILED'} (site: {dest / 'build' / 'html'}, log: {work / 'docs-site.log'})")
    return ok


# What ansible-test units runs in make galaxy: the groups it runs as
# managed-node code, the ones the collection layout changes. The controller
# group (action/, filter/) runs the same files as pytest does, each test in a
# fork of its own (ansible-test's ansible_forked plugin), so module-scoped
# fixtures (the example plans) are made again for every test: 60 s here
# against 7 s in `make unit`. `make units-collection` runs all of
# tests/unit/plugins/.
MANAGED_NODE_TESTS = "tests/unit/plugins/module_utils/,tests/unit/plugins/modules/"


def units(work: Path, targets: list[str]) -> bool:
    """ansible-test units on a copy of the checkout's files (tracked, and new
    ones not ignored) in the collection layout, outside any git checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    scratch = Path(tempfile.mkdtemp(prefix="llamaherd-galaxy-"))
    coll = scratch / "ansible_collections" / "llamaherd" / "cluster"
    for name in filter(None, listed.split("\0")):
        src, dst = REPO / name, coll / name
        if src.is_symlink() or src.is_file():  # a file deleted in the work tree is still listed
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst, follow_symlinks=False)
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    cmd = [str(BIN / "ansible-test"), "units", "--local", "--python", py, "--color", "no", *targets]
    rc, out = run(cmd, work / "units.log", env=env, cwd=coll)
    # One pytest summary per group (modules, module_utils, controller).
    summaries = [line.strip("= ") for line in out.splitlines() if re.match(r"=+ .*\b(passed|failed|error)", line)]
    groups = [line for line in out.splitlines() if line.startswith("Unit test ")]
    print("\n".join(f"{g}: {s}" for g, s in zip(groups, summaries, strict=False)) or out[-2000:])
    ok = rc == 0 and bool(groups) and len(summaries) == len(groups) and not any(re.search(r"failed|error", x) for x in summaries)
    print(f"units: {'passed' if ok else 'FAILED'} (log: {work / 'units.log'})")
    assert scratch.name.startswith("llamaherd-galaxy-") and coll.is_relative_to(scratch), scratch
    shutil.rmtree(scratch)
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tools-venv", type=Path, help="venv with galaxy-importer and antsibull-docs (not needed for sanity alone)")
    p.add_argument(
        "--only", default="importer,sanity,docs,site,units", help="comma-separated subset of importer,sanity,docs,site,units"
    )
    p.add_argument(
        "--units-targets",
        default=MANAGED_NODE_TESTS,
        help=f"comma-separated tests for ansible-test units (default: {MANAGED_NODE_TESTS})",
    )
    p.add_argument("--work", type=Path, help="scratch directory (default: a new temporary one)")
    args = p.parse_args(argv)
    only = set(args.only.split(","))
    tools = (args.tools_venv or Path("/nonexistent")).resolve()
    if only & {"importer", "docs", "site"} and not (tools / "bin" / "python").exists():
        sys.exit(f"{tools} is not a venv: make it with `make galaxy` (pip install -r requirements-galaxy.txt)")
    work = (args.work or Path(tempfile.mkdtemp(prefix="llamaherd-galaxy-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    results = {}
    if only - {"units"}:
        tarball = build(work)
    if "importer" in only:
        results["importer"] = importer(tarball, tools, work)
    if only & {"sanity", "docs", "site"}:
        scratch, coll = install(tarball, work)
        if "sanity" in only:
            results["sanity"] = sanity(coll, work)
        if "docs" in only:
            results["docs"] = docs(coll, tools, work)
        if "site" in only:
            results["site"] = site(coll, tools, work)
        # Only the directory install() made (a guard: never a parent of it).
        assert scratch.name.startswith("llamaherd-galaxy-") and coll.is_relative_to(scratch), scratch
        shutil.rmtree(scratch)
    if "units" in only:
        results["units"] = units(work, args.units_targets.split(","))
    repository = next(
        (
            line.split(":", 1)[1].strip()
            for line in (REPO / "galaxy.yml").read_text().splitlines()
            if line.startswith("repository:")
        ),
        "",
    )
    if "example.invalid" in repository:
        print(f"NOTE: galaxy.yml's repository is the placeholder {repository}: set the real address before publishing.")
    failed = [name for name, ok in results.items() if not ok]
    print("galaxy checks:", ", ".join(f"{n} {'ok' if ok else 'FAILED'}" for n, ok in results.items()))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
