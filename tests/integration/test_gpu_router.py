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


def _loaded(mib: int, embedding: bool) -> int:
    """/api/ps size of a loaded model on the stand-in: the footprint (file +
    10% + compute graph), as tests/doubles/ollama/README.md says; real Ollama
    reports weights + KV cache + buffers, also more than the file."""
    return mib * 2**20 + mib * 2**20 // 10 + (64 if embedding else 256) * 2**20


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
        assert _ps(urls["gpu8g"])["qwen2.5-coder:7b"] == (_loaded(4400, False), _loaded(4400, False))
        assert _ps(urls["cpu"])["mxbai-embed-large:latest"] == (_loaded(705, True), 0)
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
    env = {**os.environ, "PYTHONPATH": str(ROUTER_SRC), "XDG_STATE_HOME": cluster["tmp"] + "/state"}
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
    # 8192 x 0.8 = 6553 usable; qwen2.5-coder:7b (a 4400 MB file) takes 5096 loaded.
    assert f"{cluster['gpu8g']} (GPU): Fits in 6553MB VRAM (1457MB free)" in out
    assert f"Best choice: {cluster['gtx1050ti']} (GPU)" in out
    assert "Reason: Fits in 3276MB VRAM (3276MB free)" in out

    data = json.loads(router(cluster, "--json", "route", "mxbai-embed-large").stdout)
    assert data["best"] == {"url": cluster["gtx1050ti"], "kind": "GPU", "reason": "Fits in 3276MB VRAM (3276MB free)"}


def test_check_llama31_must_run_on_cpu(cluster: dict[str, str]) -> None:
    proc = router(cluster, "check", "llama3.1:latest", check=1)
    out = proc.stdout
    assert "Model size: 4700 MB" in out
    assert f"❌ {cluster['gtx1050ti']}: Model too large (4700MB > 3276MB usable VRAM)" in out
    assert f"❌ {cluster['gpu8g']}: Not enough free VRAM (4700MB > 1457MB free of 6553MB usable)" in out
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
    # (3276 free, then 2436 after mxbai's 840 MB footprint); nomic-embed-text
    # (274) then finds more room on the 8 GB node (1457 free vs 90); llama3.1
    # fits no GPU and stays on CPU.
    assert steps["mxbai-embed-large"]["action"] == "loaded"
    assert steps["mxbai-embed-large"]["node"] == cluster["gtx1050ti"]
    assert steps["mxbai-embed-large"]["unloaded_from"] == [cluster["cpu"]]
    assert steps["llama3.2:3b"]["node"] == cluster["gtx1050ti"]
    assert steps["nomic-embed-text"]["node"] == cluster["gpu8g"]
    assert steps["llama3.1:latest"]["action"] == "cpu"
    assert data["ok"] is True

    on_1050 = _ps(cluster["gtx1050ti"])
    for model, mib, emb in (("mxbai-embed-large:latest", 705, True), ("llama3.2:3b", 1900, False)):
        assert on_1050[model] == (_loaded(mib, emb), _loaded(mib, emb)), "fully on GPU: size_vram == size"
    assert _ps(cluster["gpu8g"])["nomic-embed-text:latest"] == (_loaded(274, True), _loaded(274, True))
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
    assert by_name["gpu8g"]["used_mib"] == 5096
    assert by_name["gone"]["free_mib"] == 0
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
        assert f'llama_herd_router_node_vram_free_bytes{{node="{cluster["gpu8g"]}"}} {1457 * 2**20}' in page
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


def _plain(cluster: dict[str, str]) -> None:
    """Seed 001's own configuration: plain node URLs, no vram_mib."""
    cfg = json.loads(Path(cluster["config"]).read_text())
    cfg["nodes"] = [n["url"] for n in cfg["nodes"]]
    Path(cluster["config"]).write_text(json.dumps(cfg))


def test_seed_001_plain_urls_give_an_honest_result(cluster: dict[str, str]) -> None:
    """Plain URLs: only what /api/ps has shown is known. The 1050 Ti has nothing
    loaded, so its VRAM is unknown and optimize must not claim success."""
    _plain(cluster)
    data = json.loads(router(cluster, "--json", "status").stdout)
    src = {n["url"]: (n["vram_mib"], n["vram_source"]) for n in data["nodes"]}
    assert src[cluster["gtx1050ti"]] == (None, "unknown")
    # The 8 GB node holds qwen2.5-coder:7b fully on GPU: at least that much VRAM.
    assert src[cluster["gpu8g"]] == (5096, "observed")
    # The CPU node holds mxbai-embed-large with no byte in VRAM: no GPU.
    assert src[cluster["cpu"]] == (0, "observed")
    text = router(cluster, "status").stdout
    assert "VRAM unknown on 1 node(s)" in text

    proc = router(cluster, "optimize", check=1)
    last = proc.stdout.rstrip().splitlines()[-1]
    assert last.startswith(f"Result: NOT VERIFIED: VRAM unknown on 1 node(s) ({cluster['gtx1050ti']})"), proc.stdout
    assert "all priority models" not in proc.stdout

    proc = router(cluster, "check", "llama3.2:3b", check=1)
    assert proc.stdout.rstrip().endswith(f"Result: NOT VERIFIED: VRAM unknown on 1 node(s) ({cluster['gtx1050ti']})")

    # Once a model has been on the 1050 Ti, the router knows (a lower bound) and remembers.
    _api(cluster["gtx1050ti"], "/api/generate", {"model": "llama3.2:3b", "keep_alive": "10m", "stream": False})
    router(cluster, "status")
    _api(cluster["gtx1050ti"], "/api/generate", {"model": "llama3.2:3b", "keep_alive": 0, "stream": False})
    data = json.loads(router(cluster, "--json", "status").stdout)
    node = next(n for n in data["nodes"] if n["url"] == cluster["gtx1050ti"])
    assert (node["vram_mib"], node["vram_source"]) == (_loaded(1900, False) // 2**20, "observed")


def test_partial_offload_is_never_reported_as_on_gpu(cluster: dict[str, str]) -> None:
    """The config claims 8 GB on the 1050 Ti node (really 4 GB on the stand-in):
    llama3.1 seems to fit, loads with size_vram < size (partial offload, as
    real Ollama does), and optimize reports the failure and exits 1."""
    cfg = json.loads(Path(cluster["config"]).read_text())
    for n in cfg["nodes"]:
        if n["name"] == "gtx1050ti":
            n["vram_mib"] = 8192
    cfg["priority_models"] = ["llama3.1:latest"]
    Path(cluster["config"]).write_text(json.dumps(cfg))
    proc = router(cluster, "optimize", check=1)
    assert "is not fully on GPU: only" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1] == "Result: 1 priority model(s) failed to load on GPU: llama3.1:latest"
    size, vram = _ps(cluster["gtx1050ti"])["llama3.1:latest"]
    assert 0 < vram < size
    # Plain URL: the partial offload tells the router the GPU was full.
    _plain(cluster)
    data = json.loads(router(cluster, "--json", "status").stdout)
    node = next(n for n in data["nodes"] if n["url"] == cluster["gtx1050ti"])
    assert node["vram_source"] == "observed" and "GPU full" in node["vram_note"]
    assert node["vram_mib"] == vram // 2**20


def test_metrics_page_passes_promtool(cluster: dict[str, str], tmp_path: Path) -> None:
    """`promtool check metrics` (Debian's prometheus package; make system-deps
    installs it) on the live page: the first page, and after checks with a
    node down, loads counted in llama_herd_router_loads_total."""
    import shutil

    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: run `make system-deps` (installs Debian's prometheus package)"
    port = _free_port()
    cfg = json.loads(Path(cluster["config"]).read_text())
    gone = f"http://127.0.0.1:{_free_port()}"
    cfg["nodes"].append({"url": gone, "name": "gone", "vram_mib": 8192})
    cfg.update(metrics_address="127.0.0.1", metrics_port=port, check_interval=1)
    Path(cluster["config"]).write_text(json.dumps(cfg))
    env = {**os.environ, "PYTHONPATH": str(ROUTER_SRC), "XDG_STATE_HOME": str(tmp_path / "state")}
    cmd = [sys.executable, "-m", "llama_herd_router", "--config", cluster["config"], "daemon"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The page served before the first check (MetricsServer starts with it).
    sys.path.insert(0, str(ROUTER_SRC))
    from llama_herd_router.metrics import render

    pages: list[str] = [render([], 0.8, cfg["priority_models"], 0, None, None)]
    try:
        for _ in range(200):  # 20 s
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                    page = resp.read().decode()
                if not pages or page != pages[-1]:
                    pages.append(page)
                if "llama_herd_router_checks_total 2" in page:
                    break
            except OSError:
                pass
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert pages and "llama_herd_router_checks_total 2" in pages[-1], pages[-1:]
    for page in pages:
        lint = subprocess.run([promtool, "check", "metrics"], input=page, capture_output=True, text=True, timeout=30)
        assert lint.returncode == 0, lint.stdout + lint.stderr + page
    last = pages[-1]
    assert "# TYPE llama_herd_router_loads_total counter" in last
    assert "llama_herd_router_loads_total 3" in last.splitlines()  # mxbai, llama3.2:3b, nomic-embed-text
    assert f'llama_herd_router_node_vram_free_bytes{{node="{gone}"}} 0' in last.splitlines()
    assert f'llama_herd_router_node_up{{node="{gone}"}} 0' in last.splitlines()
