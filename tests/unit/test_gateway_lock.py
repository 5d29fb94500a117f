"""tools/gateway_lock.py: the committed lock is a lock of litellm.in (no
network), and a lock that drifts from it is named."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("gateway_lock", REPO / "tools" / "gateway_lock.py")
lock = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lock)

COMPROMISED = {"1.82.7", "1.82.8"}  # BerriAI/litellm issues 24512, 24518


def test_the_committed_lock_matches_litellm_in():
    assert lock.main(["--check"]) == 0


def test_litellm_is_pinned_to_a_checked_release_for_both_architectures():
    pins = lock.lock_pins(lock.LOCK.read_text())
    version, hashes = pins["litellm"]
    assert version not in COMPROMISED
    assert re.search(rf"^litellm\[proxy\]=={re.escape(version)}$", lock.SOURCE.read_text(), re.M)
    assert len(hashes) == 2, "one abi3 wheel per architecture (x86_64, aarch64)"
    # The proxy extra's own pins came along, not a hand-made import list.
    assert {"litellm-proxy-extras", "litellm-enterprise", "uvicorn", "fastapi"} <= set(pins)


def test_a_lock_that_drifts_is_named():
    source = "litellm[proxy]==1.108.7\n"
    drifted = "litellm==1.110.2 \\\n    --hash=sha256:" + "a" * 64 + "\n"
    assert lock.problems(source, drifted) == ["litellm: litellm.in pins 1.108.7, the lock has 1.110.2"]
    assert lock.problems(source, "") == ["litellm (litellm[proxy]==1.108.7) is in litellm.in but not in the lock"]
    assert lock.problems(source, "litellm==1.108.7\n") == ["litellm==1.108.7 has no hash"]
