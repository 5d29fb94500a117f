"""module_utils/ollama.py: pure helpers, and the client against a real stand-in process."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ansible_collections.llamaherd.cluster.plugins.module_utils.ollama import (
    OllamaClient,
    OllamaError,
    go_duration_ns,
    keep_alive_value,
    normalize_models,
    normalize_name,
    parse_version,
    plan_model,
    valid_hsa_override,
)
from ollama_standin import standin


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("llama3.1", "llama3.1:latest"),
        ("llama3.1:8b", "llama3.1:8b"),
        ("library/qwen2.5:72b", "qwen2.5:72b"),
        ("registry.ollama.ai/library/qwen2.5:72b", "qwen2.5:72b"),
        ("someone/model", "someone/model:latest"),
        ("XL-LOC-FRE-qwen2.5-coder-32b", "XL-LOC-FRE-qwen2.5-coder-32b:latest"),
    ],
)
def test_normalize_name(raw: str, want: str) -> None:
    assert normalize_name(raw) == want


@pytest.mark.parametrize("bad", ["", "a/b/c/d", "bad name", ":tag", "x:"])
def test_normalize_name_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        normalize_name(bad)


def test_parse_version() -> None:
    assert parse_version("ollama version is 0.32.15\n") == "0.32.15"
    out = "Warning: could not connect to a running Ollama instance\nWarning: client version is 0.32.15\n"
    assert parse_version(out) == "0.32.15"
    # An old server still running answers, the binary on disk is newer: the binary counts.
    assert parse_version("ollama version is 0.32.14\nWarning: client version is 0.32.15\n") == "0.32.15"
    assert parse_version("bash: ollama: command not found") is None


def test_valid_hsa_override() -> None:
    assert valid_hsa_override("11.5.1")
    assert valid_hsa_override("9.0.10")
    assert not valid_hsa_override("gfx1151")
    assert not valid_hsa_override("11.5")
    assert not valid_hsa_override("11.5.1; rm -rf /")


def test_normalize_models_merges_aliases() -> None:
    got = normalize_models(
        ["llama3.1", {"name": "qwen2.5-coder:32b", "alias": "XL-LOC-FRE-qwen2.5-coder-32b"}, {"name": "llama3.1:latest"}]
    )
    assert got == [
        {"name": "llama3.1:latest", "aliases": []},
        {"name": "qwen2.5-coder:32b", "aliases": ["XL-LOC-FRE-qwen2.5-coder-32b:latest"]},
    ]
    with pytest.raises(ValueError):
        normalize_models([{"alias": "x"}])


def test_plan_model() -> None:
    inst = {"a:latest": "sha1", "b:latest": "sha1", "c:latest": "sha2"}
    assert plan_model("present", "a:latest", ["b:latest"], inst) == {"pull": False, "copy": [], "delete": []}
    assert plan_model("present", "a:latest", ["c:latest", "d:latest"], inst)["copy"] == ["c:latest", "d:latest"]
    assert plan_model("present", "x:latest", [], inst)["pull"] is True
    assert plan_model("present", "a:latest", [], inst, digest="sha256:sha2")["pull"] is True
    assert plan_model("present", "a:latest", [], inst, digest="sha1")["pull"] is False
    assert plan_model("absent", "a:latest", ["b:latest", "z:latest"], inst)["delete"] == ["a:latest", "b:latest"]


def test_client_against_standin(tmp_path: Path) -> None:
    with standin(tmp_path, OLLAMA_STANDIN_VRAM_MIB="4096") as url:
        c = OllamaClient(url)
        assert c.version() == "0.0.0-standin"
        assert c.tags() == {}
        seen: list[dict] = []
        events = c.pull("mxbai-embed-large", seen.append)
        assert events[-1]["status"] == "success"
        assert any(e.get("total") == e.get("completed") and e.get("digest") for e in seen)
        tags = c.tags()
        assert list(tags) == ["mxbai-embed-large:latest"]
        c.copy("mxbai-embed-large", "M-LOC-FRE-mxbai-embed-large")
        assert c.tags()["M-LOC-FRE-mxbai-embed-large:latest"] == tags["mxbai-embed-large:latest"]
        assert "embedding" in c.show("mxbai-embed-large")["capabilities"]
        c.preload("mxbai-embed-large", -1, embedding=True)
        ps = c.running()["mxbai-embed-large:latest"]
        # /api/ps size is the loaded footprint (weights + KV + buffers), not the 705 MiB file.
        assert ps["size"] > 705 * 1024 * 1024
        assert ps["size"] == ps["size_vram"]
        with pytest.raises(OllamaError) as err:
            c.preload("mxbai-embed-large", -1, embedding=False)
        assert err.value.status == 400
        c.delete("M-LOC-FRE-mxbai-embed-large")
        with pytest.raises(OllamaError) as err:
            c.delete("M-LOC-FRE-mxbai-embed-large")
        assert err.value.status == 404


def test_failed_pull_keeps_what_was_there(tmp_path: Path) -> None:
    with standin(tmp_path, OLLAMA_STANDIN_FAIL_PULL="llama3.1") as url:
        c = OllamaClient(url)
        c.pull("all-minilm")
        before = c.tags()
        with pytest.raises(OllamaError, match="connection reset"):
            c.pull("llama3.1")
        with pytest.raises(OllamaError, match="file does not exist"):
            c.pull("no-such-model:1b")
        assert c.tags() == before
        assert list((tmp_path / "models" / "blobs").glob("*-partial"))


def test_interrupted_pull_keeps_what_was_there(tmp_path: Path) -> None:
    with standin(tmp_path, OLLAMA_STANDIN_PULL_MIBPS="2000") as url:
        OllamaClient(url).pull("all-minilm")
        before = OllamaClient(url).tags()
        # The client gives up half way (a 1 s read timeout, each step takes ~0.24 s of 2.35 s).
        with pytest.raises(OllamaError, match="interrupted"):
            OllamaClient(url, pull_timeout=0.1).pull("llama3.1")
        assert OllamaClient(url).tags() == before
        assert not (tmp_path / "models" / "manifests" / "registry.ollama.ai" / "library" / "llama3.1").exists()


def test_standin_vram_and_eviction(tmp_path: Path) -> None:
    """The GPU the stand-in pretends to have: fit, evict LRU, partial offload."""
    with standin(tmp_path, OLLAMA_STANDIN_VRAM_MIB="4096", OLLAMA_MAX_LOADED_MODELS="2") as url:
        c = OllamaClient(url)
        for m in ("all-minilm", "llama3.2:3b", "llama3.1", "qwen2.5-coder:1.5b"):
            c.pull(m)
        c.preload("llama3.2:3b", "10m", embedding=False)
        c.preload("qwen2.5-coder:1.5b", "10m", embedding=False)
        run = c.running()
        assert all(v["size"] == v["size_vram"] for v in run.values())
        # llama3.1 (4700 MiB) is larger than the 4096 MiB GPU: partial, after LRU eviction to 2 models.
        c.preload("llama3.1", "10m", embedding=False)
        run = c.running()
        assert set(run) == {"qwen2.5-coder:1.5b", "llama3.1:latest"}
        big = run["llama3.1:latest"]
        assert 0 < big["size_vram"] < big["size"]
        # keep_alive 0 unloads
        c.preload("llama3.1", 0, embedding=False)
        assert "llama3.1:latest" not in c.running()


def test_standin_generate_streams(tmp_path: Path) -> None:
    import urllib.request

    with standin(tmp_path) as url:
        OllamaClient(url).pull("llama3.2:1b")
        body = json.dumps({"model": "llama3.2:1b", "prompt": "hello", "options": {"num_predict": 5}}).encode()
        with urllib.request.urlopen(urllib.request.Request(url + "/api/generate", data=body), timeout=5) as r:
            lines = [json.loads(x) for x in r]
        assert [x["done"] for x in lines] == [False] * 5 + [True]
        assert lines[-1]["eval_count"] == 5
        assert "".join(x["response"] for x in lines).strip()


def test_standin_concurrent_requests(tmp_path: Path) -> None:
    with standin(tmp_path, OLLAMA_STANDIN_TOKEN_MS="50") as url:
        OllamaClient(url).pull("llama3.2:1b")
        body = json.dumps({"model": "llama3.2:1b", "prompt": "x", "stream": False}).encode()
        import time
        import urllib.request

        def one() -> None:
            urllib.request.urlopen(urllib.request.Request(url + "/api/generate", data=body), timeout=10).read()

        t0 = time.time()
        threads = [threading.Thread(target=one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # 8 tokens x 50 ms each; served in parallel, not 4 x 0.4 s.
        assert time.time() - t0 < 1.2


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("-0", 0),
        ("300s", 300 * 10**9),
        ("1h30m", 5400 * 10**9),
        ("1.5h", 5400 * 10**9),
        (".5s", 5 * 10**8),
        ("5.s", 5 * 10**9),
        ("+2m", 120 * 10**9),
        ("-1m", -60 * 10**9),
        ("1\u00b5s", 1000),
        ("1\u03bcs", 1000),
        ("2562047h", 2562047 * 3600 * 10**9),
    ],
)
def test_go_duration(text: str, ns: int) -> None:
    """Go's time.ParseDuration, as the server applies it to a string keep_alive."""
    assert go_duration_ns(text) == ns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("300", 'time: missing unit in duration "300"'),
        ("1.5", 'time: missing unit in duration "1.5"'),
        ("", 'time: invalid duration ""'),
        ("-", 'time: invalid duration "-"'),
        (".s", 'time: invalid duration ".s"'),
        ("10d", 'time: unknown unit "d" in duration "10d"'),
        ("5 m", 'time: unknown unit " m" in duration "5 m"'),
        ("3000000h", 'time: invalid duration "3000000h"'),
    ],
)
def test_go_duration_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        go_duration_ns(text)
    assert str(exc.value) == message


def test_keep_alive_value() -> None:
    """Whole seconds go as JSON numbers (api/types.go:1251-1257), the rest as
    Go duration strings; a string the server would refuse is refused here."""
    assert keep_alive_value("300") == 300
    assert keep_alive_value("-1") == -1
    assert keep_alive_value(0) == 0
    assert keep_alive_value("30m") == "30m"
    with pytest.raises(ValueError, match=r"keep_alive '1\.5' is not a duration Ollama accepts .*missing unit"):
        keep_alive_value("1.5")


def test_the_client_works_without_ansible(tmp_path):
    """tools/router's wheel ships this file and runs where Ansible is not
    installed: the import falls back to urllib (the gpu_router scenario
    caught a bare `from ansible...` import)."""
    import subprocess
    import sys
    from pathlib import Path

    src = Path(__file__).resolve().parents[4] / "plugins" / "module_utils" / "ollama.py"
    code = (
        "import sys, importlib.util\n"
        "sys.modules['ansible'] = None\n"  # any import of ansible now fails
        f"spec = importlib.util.spec_from_file_location('herd_ollama', {str(src)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "assert m.open_url is None\n"
        "try:\n"
        "    m.OllamaClient('http://127.0.0.1:9', timeout=2)._json('GET', '/api/version')\n"
        "except m.OllamaError as exc:\n"
        "    print('answered:', exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "answered: GET /api/version: no answer from http://127.0.0.1:9" in out.stdout, out
