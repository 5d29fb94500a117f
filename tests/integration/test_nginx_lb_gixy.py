"""gixy-ng, the nginx configuration analyser, on what the nginx_lb role renders
(plain and with TLS, both with API keys): no finding but the ones suppressed
below, each with its reason."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import REPO, VENV_BIN, run_playbook

# The one place a gixy finding is suppressed, and why.
SUPPRESSED = {
    # `if ($llama_herd_lb_key_ok = 0) { add_header ... always; return 401; }`:
    # the block ends in `return`, which nginx's "If is evil" page lists as safe;
    # the header only decorates that 401 (checked by molecule/nginx_lb).
    "if_is_evil": "the API key check returns at once",
    # An API front door on the cluster network, called by programs: no browser
    # remembers HSTS there, and certificates are often self-signed.
    "hsts_header": "API clients, not browsers",
}


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_gixy_finds_nothing_in_the_rendered_config(tls, tmp_path):
    r = run_playbook(str(REPO / "tests/integration/nginx_lb/render_conf.yml"), "-e", f"render_dir={tmp_path}", "-e", f"tls={tls}")
    assert r.returncode == 0, r.stdout + r.stderr
    conf = tmp_path / "llama-herd-lb.conf"
    assert conf.read_text().count("server_tokens off;") == 3  # two pools and the status server
    # The role's file is an http-level include (conf.d/); Debian's own nginx.conf is not ours.
    (tmp_path / "nginx.conf").write_text(f"events {{}}\nhttp {{\n    include {conf};\n}}\n")
    cmd = [str(VENV_BIN / "gixy"), "--format", "json", "--skips", ",".join(SUPPRESSED), str(tmp_path / "nginx.conf")]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    findings = json.loads(res.stdout or "[]")
    assert findings == [], json.dumps(findings, indent=1)
    assert res.returncode == 0, res.stderr


def test_gixy_reports_version_disclosure(tmp_path):
    """The check can fail: without server_tokens off gixy names it."""
    r = run_playbook(str(REPO / "tests/integration/nginx_lb/render_conf.yml"), "-e", f"render_dir={tmp_path}")
    assert r.returncode == 0, r.stdout + r.stderr
    conf = tmp_path / "llama-herd-lb.conf"
    conf.write_text(conf.read_text().replace("server_tokens off;", ""))
    (tmp_path / "nginx.conf").write_text(f"events {{}}\nhttp {{\n    include {conf};\n}}\n")
    cmd = [str(VENV_BIN / "gixy"), "--format", "json", "--skips", ",".join(SUPPRESSED), str(tmp_path / "nginx.conf")]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert res.returncode != 0
    assert "version_disclosure" in {f["plugin"] for f in json.loads(res.stdout)}
