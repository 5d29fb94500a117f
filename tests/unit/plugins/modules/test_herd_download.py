"""herd_download against a real HTTP server on 127.0.0.1 that honours Range
(or, for chosen files, ignores it as some mirrors do): fresh, resumed, 200
restart, 416, checksum/size/magic mismatch, parts, idempotence, check mode."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.llamaherd.cluster.plugins.module_utils.download import read_record, record_path
from ansible_collections.llamaherd.cluster.plugins.modules import herd_download


class Mirror:
    def __init__(self, root: Path, url: str) -> None:
        self.root, self.url = root, url
        self.log: list[tuple[str, str, int]] = []  # (path, Range header, status)
        self.ignore_range: set[str] = set()

    def put(self, name: str, data: bytes) -> tuple[str, str]:
        (self.root / name).write_bytes(data)
        return f"{self.url}/{name}", hashlib.sha256(data).hexdigest()


def _handler(mirror: Mirror) -> type[http.server.SimpleHTTPRequestHandler]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def send_head(self):  # one "bytes=N-" range, as the model mirrors serve it
            rng = self.headers.get("Range", "")
            m = re.fullmatch(r"bytes=(\d+)-", rng)
            path = self.translate_path(self.path)
            if not m or self.path.lstrip("/") in mirror.ignore_range or not os.path.isfile(path):
                return super().send_head()
            start, size = int(m.group(1)), os.path.getsize(path)
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            f = open(path, "rb")  # noqa: SIM115 - the base class closes it
            f.seek(start)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            self.send_header("Content-Length", str(size - start))
            self.end_headers()
            return f

        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            mirror.log.append((self.path.lstrip("/"), self.headers.get("Range", ""), int(code)))

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    root = tmp_path / "mirror"
    root.mkdir()
    m = Mirror(root, "")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_handler(m), directory=str(root)))
    m.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield m
    server.shutdown()
    server.server_close()


@pytest.fixture
def models(tmp_path: Path) -> Path:
    d = tmp_path / "models"
    d.mkdir()
    return d


MODEL = b"GGUF" + bytes(range(256)) * 4000  # ~1 MB, several read chunks


def run(args: dict[str, Any], capsys: pytest.CaptureFixture[str], check: bool = False) -> dict[str, Any]:
    args = {"retry_delay": 0, **args}
    if check:
        args["_ansible_check_mode"] = True
    with patch_module_args(args), pytest.raises(SystemExit):
        herd_download.main()
    return json.loads(capsys.readouterr().out)


def test_fresh_download_then_idempotent(mirror: Mirror, models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, sha = mirror.put("m.gguf", MODEL)
    dest = models / "m.gguf"
    args = {"url": url, "sha256": sha, "dest": str(dest), "magic": "GGUF", "size_bytes": len(MODEL), "mode": "0640"}
    first = run(args, capsys)
    assert first["changed"] and first["replaced"] and not first["resumed"]
    assert first["sha256"] == sha and first["size"] == len(MODEL) and first["requests"] == 1
    assert dest.read_bytes() == MODEL and oct(dest.stat().st_mode & 0o777) == "0o640"
    assert mirror.log == [("m.gguf", "", 200)]
    assert not (models / ".parts").exists()  # parts and their directory are gone
    assert read_record(str(dest)) == sha
    second = run(args, capsys)
    assert not second["changed"] and not second["replaced"] and second["requests"] == 0
    assert len(mirror.log) == 1  # no request made
    assert not run(args, capsys, check=True)["changed"]


def test_check_mode_touches_nothing(mirror: Mirror, models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, sha = mirror.put("m.gguf", MODEL)
    dest = models / "m.gguf"
    res = run({"url": url, "sha256": sha, "dest": str(dest)}, capsys, check=True)
    assert res["changed"] and res["replaced"]
    assert list(models.iterdir()) == [] and mirror.log == []
    dest.write_bytes(b"old")
    res = run({"url": url, "sha256": sha, "dest": str(dest)}, capsys, check=True)
    assert res["changed"] and dest.read_bytes() == b"old" and sorted(p.name for p in models.iterdir()) == ["m.gguf"]


def test_resume_after_truncated_part(mirror: Mirror, models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, sha = mirror.put("m.gguf", MODEL)
    (models / ".parts").mkdir()
    (models / ".parts" / "m.gguf.part").write_bytes(MODEL[:100000])
    res = run({"url": url, "sha256": sha, "dest": str(models / "m.gguf")}, capsys)
    assert res["changed"] and res["resumed"] and res["fetched_bytes"] == len(MODEL) - 100000
    assert mirror.log == [("m.gguf", "bytes=100000-", 206)]
    assert (models / "m.gguf").read_bytes() == MODEL


def test_server_ignoring_range_restarts_the_part(mirror: Mirror, models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, sha = mirror.put("m.gguf", MODEL)
    mirror.ignore_range.add("m.gguf")
    (models / ".parts").mkdir()
    (models / ".parts" / "m.gguf.part").write_bytes(b"GGUF stale bytes that are not the model's")
    res = run({"url": url, "sha256": sha, "dest": str(models / "m.gguf")}, capsys)
    assert res["changed"] and not res["resumed"] and res["fetched_bytes"] == len(MODEL)
    assert mirror.log == [("m.gguf", "bytes=41-", 200)]
    assert (models / "m.gguf").read_bytes() == MODEL


def test_416_means_the_part_is_complete(mirror: Mirror, models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, sha = mirror.put("m.gguf", MODEL)
    (models / ".parts").mkdir()
    (models / ".parts" / "m.gguf.part").write_bytes(MODEL)
    res = run({"url": url, "sha256": sha, "dest": str(models / "m.gguf")}, capsys)
    assert res["changed"] and res["resumed"] and res["fetched_bytes"] == 0
    assert mirror.log == [("m.gguf", f"bytes={len(MODEL)}-", 416)]
    assert (models / "m.gguf").read_bytes() == MODEL


def test_part_longer_than_the_file_starts_again(mirror: Mirror, models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, sha = mirror.put("m.gguf", MODEL)
    (models / ".parts").mkdir()
    (models / ".parts" / "m.gguf.part").write_bytes(MODEL + b"tail of an older, longer upload")
    res = run({"url": url, "sha256": sha, "dest": str(models / "m.gguf"), "retries": 0}, capsys)
    assert res["changed"] and not res["resumed"] and (models / "m.gguf").read_bytes() == MODEL
    assert [(e[1] != "", e[2]) for e in mirror.log] == [(True, 416), (False, 200)]


def test_file_url(models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src.gguf"
    src.write_bytes(MODEL)
    res = run({"url": src.as_uri(), "sha256": hashlib.sha256(MODEL).hexdigest(), "dest": str(models / "m.gguf")}, capsys)
    assert res["changed"] and (models / "m.gguf").read_bytes() == MODEL


def test_checksum_mismatch_leaves_dest_and_removes_the_part(
    mirror: Mirror, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = mirror.put("m.gguf", MODEL)
    dest = models / "m.gguf"
    dest.write_bytes(b"the model that serves now")
    res = run({"url": url, "sha256": "0" * 64, "dest": str(dest)}, capsys)
    assert res["failed"] and not res.get("changed")
    assert url in res["msg"] and "0" * 64 in res["msg"] and hashlib.sha256(MODEL).hexdigest() in res["msg"]
    assert "Fix:" in res["msg"]
    assert dest.read_bytes() == b"the model that serves now"
    assert sorted(p.name for p in models.iterdir()) == ["m.gguf"]  # no part, no parts dir


def test_parts_joined_and_verified_part_not_fetched_again(
    mirror: Mirror, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    half = len(MODEL) // 2
    u1, s1 = mirror.put("m.gguf.part1of2", MODEL[:half])
    u2, _ = mirror.put("m.gguf.part2of2", MODEL[half:])
    sha = hashlib.sha256(MODEL).hexdigest()
    # An earlier run got part 1 whole and part 2 halfway.
    (models / ".parts").mkdir()
    (models / ".parts" / "m.gguf.part1").write_bytes(MODEL[:half])
    (models / ".parts" / "m.gguf.part2").write_bytes(MODEL[half : half + 1000])
    args = {"parts": [{"url": u1, "sha256": s1}, u2], "sha256": sha, "dest": str(models / "m.gguf"), "magic": "GGUF"}
    res = run(args, capsys)
    assert res["changed"] and res["resumed"] and res["size"] == len(MODEL)
    assert mirror.log == [("m.gguf.part2of2", "bytes=1000-", 206)]  # part 1 verified on disk: no request
    assert (models / "m.gguf").read_bytes() == MODEL
    assert sorted(p.name for p in models.iterdir()) == [".m.gguf.sha256", "m.gguf"]


def test_one_part_of_two_fails_the_whole_checksum(mirror: Mirror, models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    u1, _ = mirror.put("m.gguf.part1of2", MODEL[:1000])
    res = run({"parts": [u1], "sha256": hashlib.sha256(MODEL).hexdigest(), "dest": str(models / "m.gguf")}, capsys)
    assert res["failed"] and u1 in res["msg"] and "sha256" in res["msg"]
    assert list(models.iterdir()) == []


def test_magic_and_size_mismatch(mirror: Mirror, models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = b"<html>rate limited</html>"
    url, sha = mirror.put("m.gguf", page)
    dest = models / "m.gguf"
    res = run({"url": url, "sha256": sha, "dest": str(dest), "magic": "GGUF"}, capsys)
    assert res["failed"] and "magic '<htm', expected 'GGUF'" in res["msg"] and url in res["msg"]
    assert list(models.iterdir()) == []
    res = run({"url": url, "sha256": sha, "dest": str(dest), "size_bytes": 10}, capsys)
    assert res["failed"] and f"size (bytes) {len(page)}, expected 10" in res["msg"]
    assert list(models.iterdir()) == []


def test_replaced_file_is_verified_again(mirror: Mirror, models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, sha = mirror.put("m.gguf", MODEL)
    dest = models / "m.gguf"
    args = {"url": url, "sha256": sha, "dest": str(dest)}
    run(args, capsys)
    # Something else writes the file: same size, another mtime. The record no longer vouches for it.
    dest.write_bytes(b"X" * len(MODEL))
    assert read_record(str(dest)) is None
    res = run(args, capsys)
    assert res["changed"] and res["replaced"] and dest.read_bytes() == MODEL
    assert [e[2] for e in mirror.log] == [200, 200]


def test_file_in_place_without_record_is_read_once(mirror: Mirror, models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, sha = mirror.put("m.gguf", MODEL)
    dest = models / "m.gguf"
    dest.write_bytes(MODEL)
    res = run({"url": url, "sha256": sha, "dest": str(dest)}, capsys)
    assert not res["changed"] and mirror.log == [] and Path(record_path(str(dest))).is_file()


def test_unreachable_fails_after_retries_and_keeps_nothing_partial(models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = run({"url": "http://127.0.0.1:9/m.gguf", "sha256": "a" * 64, "dest": str(models / "m.gguf"), "retries": 1}, capsys)
    assert res["failed"] and "after 2 attempts" in res["msg"]
    assert not (models / "m.gguf").exists()


def test_http_404_is_not_retried(mirror: Mirror, models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = run({"url": f"{mirror.url}/nope", "sha256": "a" * 64, "dest": str(models / "m.gguf")}, capsys)
    assert res["failed"] and "HTTP 404" in res["msg"] and len(mirror.log) == 1
