# Copyright: llama-herd developers
# Apache License 2.0
"""Resumable, verified downloads for the ``herd_download`` module.

One file comes from one URL or from parts joined in order. Each part is
fetched into ``<parts_dir>/<name>.part<N>`` and resumed with an HTTP Range
request, so a run that failed keeps what it had. The joined file is checked
(size, magic, sha256) before it is moved onto the destination, so the
destination is never partial. A verified file is recorded in
``.<name>.sha256`` next to it with its size and mtime: later runs trust the
record while both still match and read the file again otherwise.

HTTP goes through ``ansible.module_utils.urls.open_url`` (proxies,
certificate checks); the module passes it in as ``opener`` so tests can
count requests.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CHUNK = 1 << 20


class DownloadError(Exception):
    """A download that cannot succeed by retrying (bad checksum, size, magic, HTTP 4xx)."""


class TransientError(Exception):
    """A failure worth another attempt (connection, 5xx, short read)."""


@dataclass
class Part:
    url: str
    sha256: str | None = None


@dataclass
class Outcome:
    sha256: str
    size: int
    replaced: bool = False
    resumed: bool = False
    requests: int = 0
    fetched_bytes: int = 0
    parts_verified: list[str] = field(default_factory=list)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def record_path(dest: str) -> str:
    """The checksum record of ``dest``: a hidden file beside it."""
    head, tail = os.path.split(dest)
    return os.path.join(head, f".{tail}.sha256")


def read_record(dest: str) -> str | None:
    """The recorded sha256 of ``dest`` if the record's size and mtime still match the file."""
    try:
        st = os.stat(dest)
        with open(record_path(dest)) as f:
            digest, size, mtime_ns = f.read().split()
    except (OSError, ValueError):
        return None
    if int(size) != st.st_size or int(mtime_ns) != st.st_mtime_ns:
        return None
    return digest


def write_record(dest: str, digest: str) -> None:
    st = os.stat(dest)
    tmp = record_path(dest) + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{digest} {st.st_size} {st.st_mtime_ns}\n")
    os.replace(tmp, record_path(dest))


def read_magic(path: str, n: int) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def dest_state(dest: str, want: str, size_bytes: int | None, magic: bytes | None) -> tuple[bool, bool]:
    """(ok, record_stale): whether ``dest`` already holds the wanted file, and
    whether its record needs writing (it was verified by reading it)."""
    if not os.path.isfile(dest):
        return False, False
    if size_bytes is not None and os.path.getsize(dest) != size_bytes:
        return False, False
    if read_record(dest) == want:
        return True, False
    if magic and read_magic(dest, len(magic)) != magic:
        return False, False
    return sha256_file(dest) == want, True


def part_paths(parts_dir: str, dest: str, n: int) -> list[str]:
    base = os.path.join(parts_dir, os.path.basename(dest))
    return [f"{base}.part"] if n == 1 else [f"{base}.part{i + 1}" for i in range(n)]


def _range_start(content_range: str | None) -> int | None:
    m = re.match(r"bytes (\d+)-\d+/(\d+|\*)", content_range or "")
    return int(m.group(1)) if m else None


def _total(content_range: str | None) -> int | None:
    m = re.match(r"bytes (?:\*|\d+-\d+)/(\d+)", content_range or "")
    return int(m.group(1)) if m else None


def fetch_part(opener: Callable[..., Any], url: str, path: str, out: Outcome) -> None:
    """Bring ``path`` up to the whole of ``url``: resume with Range when data is there.

    206 from the offset asked for: append. 200 (the server ignored Range) or a
    206 from elsewhere: start again. 416: the part is already complete (unless
    the server says the file is smaller than the part, which starts again).
    """
    have = os.path.getsize(path) if os.path.exists(path) else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    out.requests += 1
    try:
        resp = opener(url, headers=headers)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            total = _total(exc.headers.get("Content-Range") if exc.headers else None)
            if total is None or total == have:
                out.resumed = True
                return
            os.unlink(path)  # longer than the file: an older upload's part, start again
            return fetch_part(opener, url, path, out)
        if exc.code >= 500 or exc.code in (408, 429):
            raise TransientError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise TransientError(f"{url}: {exc}") from exc
    with resp:
        status = resp.getcode() or 200  # a file:// URL has no status
        append = bool(have) and status == 206 and _range_start(resp.headers.get("Content-Range")) == have
        if status not in (200, 206):
            raise DownloadError(f"{url}: HTTP {status}")
        if status == 206 and not append and _range_start(resp.headers.get("Content-Range")) not in (0, None):
            raise TransientError(f"{url}: the server answered a range that was not asked for")
        out.resumed = out.resumed or append
        try:
            with open(path, "ab" if append else "wb") as f:
                for chunk in iter(lambda: resp.read(CHUNK), b""):
                    f.write(chunk)
                    out.fetched_bytes += len(chunk)
        except (OSError, http.client.HTTPException) as exc:
            raise TransientError(f"{url}: {exc}") from exc


def fetch_with_retries(opener: Callable[..., Any], url: str, path: str, out: Outcome, retries: int, delay: float) -> None:
    for attempt in range(1, retries + 2):
        try:
            fetch_part(opener, url, path, out)
            return
        except TransientError as exc:
            if attempt > retries:
                raise DownloadError(
                    f"{exc} (after {attempt} attempts). Fix: check that the host reaches the url (proxy, "
                    "firewall); what was downloaded is kept and the next run resumes it."
                ) from exc
            time.sleep(delay * attempt)


def _mismatch(what: str, urls: list[str], expected: str, got: str) -> DownloadError:
    src = urls[0] if len(urls) == 1 else f"{', '.join(urls)} (joined in this order)"
    return DownloadError(
        f"{src}: the download has {what} {got}, expected {expected}; the downloaded data was removed and the "
        "destination left as it was. Fix: check that the url (or parts) and sha256 name the same file "
        "(a re-uploaded model has a new checksum), then run again."
    )


def _join(paths: list[str], target: str) -> str:
    h = hashlib.sha256()
    with open(target, "wb") as out:
        for p in paths:
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(CHUNK), b""):
                    h.update(chunk)
                    out.write(chunk)
    return h.hexdigest()


def _remove(*paths: str) -> None:
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p)


def _rmdir_if_empty(path: str) -> None:
    with contextlib.suppress(OSError):
        os.rmdir(path)


def download(
    opener: Callable[..., Any],
    parts: list[Part],
    dest: str,
    parts_dir: str,
    sha256: str,
    size_bytes: int | None = None,
    magic: bytes | None = None,
    retries: int = 3,
    retry_delay: float = 5,
    move: Callable[[str, str], None] = os.replace,
) -> Outcome:
    """Fetch ``parts`` into ``parts_dir``, verify, and move the file onto ``dest``.

    The caller has checked that ``dest`` is not already right (:func:`dest_state`).
    """
    want = sha256.lower()
    out = Outcome(sha256=want, size=0)
    os.makedirs(parts_dir, mode=0o700, exist_ok=True)
    paths = part_paths(parts_dir, dest, len(parts))
    urls = [p.url for p in parts]
    for part, path in zip(parts, paths, strict=True):
        if part.sha256 and os.path.isfile(path) and sha256_file(path) == part.sha256.lower():
            out.parts_verified.append(part.url)
            continue  # complete and verified: not fetched again
        fetch_with_retries(opener, part.url, path, out, retries, retry_delay)
        if part.sha256:
            got = sha256_file(path)
            if got != part.sha256.lower():
                _remove(path)
                raise _mismatch("sha256", [part.url], part.sha256.lower(), got)
    if len(paths) == 1:
        joined, got = paths[0], None
    else:
        joined = os.path.join(parts_dir, os.path.basename(dest) + ".joined")
        got = _join(paths, joined)
    try:
        size = os.path.getsize(joined)
        if size_bytes is not None and size != size_bytes:
            raise _mismatch("size (bytes)", urls, str(size_bytes), str(size))
        if magic and (head := read_magic(joined, len(magic))) != magic:
            raise _mismatch("magic", urls, repr(magic.decode("latin-1")), repr(head.decode("latin-1")))
        got = got or sha256_file(joined)
        if got != want:
            raise _mismatch("sha256", urls, want, got)
    except DownloadError:
        _remove(joined, *paths)
        _rmdir_if_empty(parts_dir)
        raise
    move(joined, dest)
    _remove(*paths)
    _rmdir_if_empty(parts_dir)
    out.size, out.replaced = size, True
    return out
