"""The ollama_model module against a real stand-in process: idempotence by
digest, aliases, check mode, keep_alive preload, absent, failures."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ansible_collections.llamaherd.cluster.plugins.module_utils.ollama import OllamaClient
from ansible_collections.llamaherd.cluster.plugins.modules import ollama_model
from ollama_standin import standin


def run(args: dict[str, Any], capsys: pytest.CaptureFixture[str], check: bool = False) -> dict[str, Any]:
    if check:
        args = {**args, "_ansible_check_mode": True}
    with patch_module_args(args), pytest.raises(SystemExit):
        ollama_model.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def server(tmp_path: Path):
    with standin(tmp_path, OLLAMA_STANDIN_FAIL_PULL="llama3.1:70b") as url:
        yield url


def test_pull_alias_idempotent(server: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = {
        "name": "qwen2.5-coder:32b",
        "aliases": ["XL-LOC-FRE-qwen2.5-coder-32b"],
        "url": server,
        "progress_file": str(tmp_path / "progress.jsonl"),
    }
    checked = run(args, capsys, check=True)
    assert checked["changed"] and checked["pulled"]
    assert OllamaClient(server).tags() == {}  # check mode changed nothing
    first = run(args, capsys)
    assert first["changed"] and first["pulled"]
    assert first["copied"] == ["XL-LOC-FRE-qwen2.5-coder-32b:latest"]
    assert first["progress"][-1]["status"] == "success"
    tags = OllamaClient(server).tags()
    assert tags["qwen2.5-coder:32b"] == tags["XL-LOC-FRE-qwen2.5-coder-32b:latest"] == first["digest"]
    lines = [json.loads(x) for x in (tmp_path / "progress.jsonl").read_text().splitlines()]
    assert any(x.get("completed") == x.get("total") and x.get("total", 0) > 19000 * 2**20 * 0.9 for x in lines)
    second = run(args, capsys)
    assert not second["changed"] and not second["pulled"] and second["copied"] == []
    assert not run(args, capsys, check=True)["changed"]


def test_alias_repointed(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    run({"name": "llama3.2:3b", "url": server}, capsys)
    run({"name": "llama3.2:1b", "aliases": ["S-LOC-FRE-small"], "url": server}, capsys)
    moved = run({"name": "llama3.2:3b", "aliases": ["S-LOC-FRE-small"], "url": server}, capsys)
    assert moved["changed"] and not moved["pulled"] and moved["copied"] == ["S-LOC-FRE-small:latest"]
    tags = OllamaClient(server).tags()
    assert tags["S-LOC-FRE-small:latest"] == tags["llama3.2:3b"] != tags["llama3.2:1b"]


def test_num_ctx_is_the_models_own_and_aliases_carry_it(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    from ansible_collections.llamaherd.cluster.plugins.module_utils.ollama import shown_num_ctx

    client = OllamaClient(server)
    args = {"name": "qwen2.5:3b", "aliases": ["S-LOC-FRE-qwen"], "num_ctx": 8192, "url": server}
    checked = run(args, capsys, check=True)
    assert checked["changed"] and checked["num_ctx_set"] and client.tags() == {}
    first = run(args, capsys)
    assert first["changed"] and first["pulled"] and first["num_ctx_set"]
    for name in ("qwen2.5:3b", "S-LOC-FRE-qwen:latest"):
        assert shown_num_ctx(client.show(name)["parameters"]) == 8192
    tags = client.tags()
    assert tags["qwen2.5:3b"] == tags["S-LOC-FRE-qwen:latest"]
    again = run(args, capsys)
    assert not again["changed"] and not again["num_ctx_set"]
    assert not run(args, capsys, check=True)["changed"]
    # Another context: set in place, the alias re-pointed to the new digest.
    other = run({**args, "num_ctx": 2048}, capsys)
    assert other["changed"] and other["num_ctx_set"] and not other["pulled"]
    assert other["copied"] == ["S-LOC-FRE-qwen:latest"]
    assert shown_num_ctx(client.show("S-LOC-FRE-qwen:latest")["parameters"]) == 2048
    assert run({**args, "num_ctx": 0}, capsys)["msg"].startswith("num_ctx: 0 is not a context length")


def test_keep_alive_preload(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("mxbai-embed-large", "llama3.2:1b"):
        args = {"name": name, "keep_alive": "-1", "url": server}
        first = run(args, capsys)
        assert first["preloaded"] and first["changed"]
        assert not run(args, capsys)["changed"]
    running = OllamaClient(server).running()
    assert set(running) == {"mxbai-embed-large:latest", "llama3.2:1b"}
    assert all(m["expires_at"] > "2100" for m in running.values())


def test_absent(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    run({"name": "all-minilm", "aliases": ["tiny"], "url": server}, capsys)
    args = {"name": "all-minilm", "aliases": ["tiny"], "state": "absent", "url": server}
    assert run(args, capsys, check=True)["deleted"] == ["all-minilm:latest", "tiny:latest"]
    assert len(OllamaClient(server).tags()) == 2
    assert run(args, capsys)["changed"]
    assert OllamaClient(server).tags() == {}
    assert not run(args, capsys)["changed"]


def test_failures_leave_server_as_it_was(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    run({"name": "all-minilm", "url": server}, capsys)
    before = OllamaClient(server).tags()
    failed = run({"name": "llama3.1:70b", "url": server}, capsys)
    assert failed["failed"] and "connection reset" in failed["msg"]
    unknown = run({"name": "no-such-model:7b", "url": server}, capsys)
    assert unknown["failed"] and "file does not exist" in unknown["msg"]
    assert OllamaClient(server).tags() == before
    bad = run({"name": "bad name", "url": server}, capsys)
    assert bad["failed"] and "not a model name" in bad["msg"]


def test_server_down(capsys: pytest.CaptureFixture[str]) -> None:
    out = run({"name": "x", "url": "http://127.0.0.1:9", "timeout": 2}, capsys)
    assert out["failed"] and "no answer" in out["msg"]


@pytest.mark.parametrize("bad", ["1.5", "300 s", "10d", "forever"])
def test_keep_alive_checked_before_any_request(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A keep_alive Ollama would answer 400 (api/types.go:1258-1259 at
    v0.32.15: time.ParseDuration) fails here first; nothing listens on the URL,
    so any request would fail with 'no answer' instead."""
    failed = run({"name": "all-minilm", "keep_alive": bad, "url": "http://127.0.0.1:9"}, capsys)
    assert failed["failed"]
    assert f"keep_alive {bad!r} is not a duration Ollama accepts" in failed["msg"]
    assert "no answer" not in failed["msg"]
