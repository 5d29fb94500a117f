"""The GPU router's CLI against three real Ollama stand-in processes on loopback.

Seed 001's cluster, plus an 8 GB node: a 4 GB GTX 1050 Ti node (empty), an
8 GB node already busy with a 4400 MB chat model, and a CPU node where
mxbai-embed-large sits in RAM. The stand-ins (tests/doubles/ollama) pretend
their VRAM with OLLAMA_STANDIN_VRAM_MIB and report /api/ps like Ollama.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "tests" / "doubles" / "ollama" / "ollama.py"
ROUTER_SRC = ROOT / "tools" / "router" / "src"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(url: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method="GET" if body is None else "POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"{}")


def _wait_up(url: str, proc: subprocess.Popen) -> None:
    for _ in range(100):  # 10 s
        if proc.poll() is not None:
            raise RuntimeError(f"stand-in at {url} exited with {proc.returncode}")
        try:
            _api(url, "/api/version")
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"stand-in at {url} did not start")


def _pull(url: str, model: str) -> None:
    assert _api(url, "/api/pull", {"model": model, "stream": False}).get("status") == "success"


def _ps(url: str) -> dict[str, tuple[int, int]]:
    return {m["name"]: (m["size"], m["size_vram"]) for m in _api(url, "/api/ps")["models"]}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[dict[str, str]]:
    nodes = {"gtx1050ti": 4096, "gpu8g": 8192, "cpu": 0}
    procs: list[subprocess.Popen] = []
    urls: dict[str, str] = {}
    try:
        for name, vram in nodes.items():
            port = _free_port()
            env = {
                **os.environ,
                "OLLAMA_HOST": f"127.0.0.1:{port}",
                "OLLAMA_MODELS": str(tmp_path / name),
                "OLLAMA_STANDIN_VRAM_MIB": str(vram),
                "OLLAMA_STANDIN_NODE": name,
            }
            log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - lives as long as the process
            procs.append(subprocess.Popen([sys.executable, str(STANDIN), "serve"], env=env, stdout=log, stderr=log))
            urls[name] = f"http://127.0.0.1:{port}"
            _wait_up(urls[name], procs[-1])
        for url in urls.values():
            for model in ("mxbai-embed-large", "llama3.1:latest", "llama3.2:3b", "nomic-embed-text"):
                _pull(url, model)
        _pull(urls["gpu8g"], "qwen2.5-coder:7b")
        # The 8 GB node is busy with a 4400 MB chat model, fully on GPU.
        _api(urls["gpu8g"], "/api/generate", {"model": "qwen2.5-coder:7b", "keep_alive": -1, "stream": False})
        # mxbai-embed-large sits in RAM on the CPU node.
        _api(urls["cpu"], "/api/embed", {"model": "mxbai-embed-large", "input": [], "keep_alive": -1})
        assert _ps(urls["gpu8g"])["qwen2.5-coder:7b"] == (4400 * 2**20, 4400 * 2**20)
        assert _ps(urls["cpu"])["mxbai-embed-large:latest"] == (705 * 2**20, 0)
        cfg = {
            "nodes": [
                {"url": urls["cpu"], "name": "cpu", "vram_mib": 0},
                {"url": urls["gtx1050ti"], "name": "gtx1050ti", "vram_mib": 4096},
                {"url": urls["gpu8g"], "name": "gpu8g", "vram_mib": 8192},
            ],
            "priority_models": ["mxbai-embed-large", "llama3.2:3b", "nomic-embed-text", "llama3.1:latest"],
            "check_interval": 1,
            "vram_safety_margin": 0.8,
            "auto_optimize": True,
            "keep_alive": -1,
            "request_timeout": 5,
        }
        (tmp_path / "router.yml").write_text(json.dumps(cfg))  # JSON is YAML
        yield {**urls, "config": str(tmp_path / "router.yml"), "tmp": str(tmp_path)}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)


def router(cluster: dict[str, str], *args: str, check: int | None = 0) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROUTER_SRC)}
    cmd = [sys.executable, "-m", "llama_herd_router", "--config", cluster["config"], *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    if check is not None:
        assert proc.returncode == check, proc.stdout + proc.stderr
    return proc


def test_route_embedding_model_picks_the_1050ti_with_the_reason(cluster: dict[str, str]) -> None:
    out = router(cluster, "route", "mxbai-embed-large").stdout
    assert "Model size: 705 MB" in out
    assert f"{cluster['cpu']} (CPU): Node has no GPU" in out
    assert f"{cluster['gtx1050ti']} (GPU): Fits in 3276MB VRAM (3276MB free)" in out
    # 8192 x 0.8 = 6553 usable, 4400 used by qwen2.5-coder:7b.
    assert f"{cluster['gpu8g']} (GPU): Fits in 6553MB VRAM (2153MB free)" in out
    assert f"Best choice: {cluster['gtx1050ti']} (GPU)" in out
    assert "Reason: Fits in 3276MB VRAM (3276MB free)" in out

    data = json.loads(router(cluster, "--json", "route", "mxbai-embed-large").stdout)
    assert data["best"] == {"url": cluster["gtx1050ti"], "kind": "GPU", "reason": "Fits in 3276MB VRAM (3276MB free)"}


def test_check_llama31_must_run_on_cpu(cluster: dict[str, str]) -> None:
    proc = router(cluster, "check", "llama3.1:latest", check=1)
    out = proc.stdout
    assert "Model size: 4700 MB" in out
    assert f"❌ {cluster['gtx1050ti']}: Model too large (4700MB > 3276MB usable VRAM)" in out
    assert f"❌ {cluster['gpu8g']}: Not enough free VRAM (4700MB > 2153MB free of 6553MB usable)" in out
    assert f"❌ {cluster['cpu']}: Node has no GPU" in out
    assert out.rstrip().endswith("Result: Model must run on CPU")


def test_report_only_optimize_changes_nothing(cluster: dict[str, str]) -> None:
    before = {n: _ps(cluster[n]) for n in ("cpu", "gtx1050ti", "gpu8g")}
    data = json.loads(router(cluster, "--json", "--report-only", "optimize").stdout)
    assert [s["action"] for s in data["steps"]] == ["load", "load", "load", "cpu"]
    assert {n: _ps(cluster[n]) for n in ("cpu", "gtx1050ti", "gpu8g")} == before


def test_optimize_moves_priority_models_onto_gpu_nodes(cluster: dict[str, str]) -> None:
    data = json.loads(router(cluster, "--json", "optimize").stdout)
    steps = {s["model"]: s for s in data["steps"]}
    # Priority order: mxbai (705) and llama3.2:3b (1900) take the 1050 Ti
    # (3276 free, then 2571); nomic-embed-text (274) then finds more room on
    # the 8 GB node (2153 free vs 671); llama3.1 fits no GPU and stays on CPU.
    assert steps["mxbai-embed-large"]["action"] == "loaded"
    assert steps["mxbai-embed-large"]["node"] == cluster["gtx1050ti"]
    assert steps["mxbai-embed-large"]["unloaded_from"] == [cluster["cpu"]]
    assert steps["llama3.2:3b"]["node"] == cluster["gtx1050ti"]
    assert steps["nomic-embed-text"]["node"] == cluster["gpu8g"]
    assert steps["llama3.1:latest"]["action"] == "cpu"
    assert data["ok"] is True

    on_1050 = _ps(cluster["gtx1050ti"])
    for model, mib in (("mxbai-embed-large:latest", 705), ("llama3.2:3b", 1900)):
        assert on_1050[model] == (mib * 2**20, mib * 2**20), "fully on GPU: size_vram == size"
    assert _ps(cluster["gpu8g"])["nomic-embed-text:latest"] == (274 * 2**20, 274 * 2**20)
    assert "mxbai-embed-large:latest" not in _ps(cluster["cpu"])

    # A second run finds everything in place and loads nothing.
    again = json.loads(router(cluster, "--json", "optimize").stdout)
    assert [s["action"] for s in again["steps"]] == ["on_gpu", "on_gpu", "on_gpu", "cpu"]


def test_status_reports_a_node_that_is_down_and_carries_on(cluster: dict[str, str]) -> None:
    cfg = json.loads(Path(cluster["config"]).read_text())
    cfg["nodes"].append({"url": f"http://127.0.0.1:{_free_port()}", "name": "gone", "vram_mib": 8192})
    Path(cluster["config"]).write_text(json.dumps(cfg))
    data = json.loads(router(cluster, "--json", "status").stdout)
    by_name = {n["name"]: n for n in data["nodes"]}
    assert by_name["gone"]["reachable"] is False
    assert "Connection refused" in by_name["gone"]["error"]
    assert by_name["gtx1050ti"]["usable_mib"] == 3276
    assert by_name["gpu8g"]["used_mib"] == 4400
    out = router(cluster, "route", "mxbai-embed-large").stdout
    assert "(down): Node unreachable" in out


def test_daemon_serves_metrics_on_its_address(cluster: dict[str, str]) -> None:
    port = _free_port()
    cfg = json.loads(Path(cluster["config"]).read_text())
    cfg.update(metrics_address="127.0.0.1", metrics_port=port, auto_optimize=False)
    Path(cluster["config"]).write_text(json.dumps(cfg))
    env = {**os.environ, "PYTHONPATH": str(ROUTER_SRC)}
    cmd = [sys.executable, "-m", "llama_herd_router", "--config", cluster["config"], "daemon"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        page = ""
        for _ in range(100):  # 10 s
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                    page = resp.read().decode()
                if "llama_herd_router_checks_total 2" in page:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        assert "llama_herd_router_checks_total 2" in page, page
        assert f'llama_herd_router_node_vram_free_bytes{{node="{cluster["gpu8g"]}"}} {2153 * 2**20}' in page
        assert f'llama_herd_router_model_on_gpu{{model="mxbai-embed-large:latest",node="{cluster["cpu"]}"}} 0' in page
        assert 'llama_herd_router_priority_model_on_gpu{model="mxbai-embed-large"} 0' in page
        # Monitor only: nothing was loaded.
        assert "mxbai-embed-large:latest" not in _ps(cluster["gtx1050ti"])
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "monitor only: would load mxbai-embed-large on GPU at" in err


def test_wheel_ships_the_collections_memory_model_and_catalog(tmp_path: Path) -> None:
    """``pip wheel tools/router`` includes plugins/module_utils/{memory,catalog}.py
    (no copy in git), and the installed package runs from them."""
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT / "tools" / "router")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("llama_herd_router-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        for name in ("memory.py", "catalog.py"):
            shipped = zf.read(f"llama_herd_router/_herd/{name}")
            assert shipped == (ROOT / "plugins" / "module_utils" / name).read_bytes()
        assert "llama_herd_router/cli.py" in zf.namelist()
    site = tmp_path / "site"
    inst = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert inst.returncode == 0, inst.stderr
    code = "import llama_herd_router._herd.memory as m, sys; print(m.__file__); sys.exit(__import__('llama_herd_router.cli').cli.main(['models']))"
    run = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0].startswith(str(site))
    assert "mxbai-embed-large               705 MB" in run.stdout
