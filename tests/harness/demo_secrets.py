#!/usr/bin/env python3
"""The demo gateway's secrets, in Ansible Vault, made once per checkout.

    demo_secrets.py [--out .cache/demo]   -> OUT/vault.yml, OUT/vault-password

The demo's orchestrator (inventory/demo/orchestrator.yml) runs the gateway,
which has no default master key or Redis password (preflight refuses one
without them). This writes random ones to OUT/vault.yml, encrypted with
ansible-vault under a random password in OUT/vault-password (mode 0600), as a
user keeps theirs; site.yml takes them with
`-e @.cache/demo/vault.yml --vault-password-file .cache/demo/vault-password`.
Existing files are kept, so the gateway's configuration does not change
between runs.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=REPO / ".cache" / "demo")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    password, vault = args.out / "vault-password", args.out / "vault.yml"
    if not password.exists():
        vault.unlink(missing_ok=True)  # encrypted under a password that is gone
        _private(password, secrets.token_urlsafe(32) + "\n")
    if not vault.exists():
        plain = f"---\ngateway_master_key: sk-demo-{secrets.token_hex(24)}\ngateway_redis_password: {secrets.token_hex(24)}\n"
        exe = shutil.which("ansible-vault", path=str(REPO / ".venv" / "bin") + os.pathsep + os.environ["PATH"])
        res = subprocess.run(
            [exe, "encrypt", "--vault-password-file", str(password), "--output", "-", "-"],
            input=plain,
            capture_output=True,
            text=True,
            check=False,
        )
        if res.returncode != 0:
            sys.stderr.write(res.stderr)
            return 1
        _private(vault, res.stdout)
    print(vault)
    return 0


if __name__ == "__main__":
    sys.exit(main())
