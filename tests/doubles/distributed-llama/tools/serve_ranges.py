#!/usr/bin/env python3
# Copyright: llama-herd developers
# Apache License 2.0
"""serve_ranges.py DIR BIND PORT: a static file server that honours one HTTP
Range per request (206 Partial Content), as the model mirrors do, so the
role's resumable download can be tested without the internet. Logs each
request with its status and range to stderr."""

from __future__ import annotations

import functools
import http.server
import os
import re
import sys


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    def send_head(self):
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        path = self.translate_path(self.path)
        if not m or not os.path.isfile(path):
            return super().send_head()
        start, size = int(m.group(1)), os.path.getsize(path)
        if start >= size:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.end_headers()
            return None
        f = open(path, "rb")  # noqa: SIM115 - returned to the base class, which closes it
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.send_header("Content-Length", str(size - start))
        self.end_headers()
        return f

    def log_message(self, format, *args):
        sys.stderr.write(f"{self.command} {self.path} range={self.headers.get('Range', '-')} " + (format % args) + "\n")


def main() -> None:
    directory, bind, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    handler = functools.partial(RangeHandler, directory=directory)
    http.server.ThreadingHTTPServer((bind, port), handler).serve_forever()


if __name__ == "__main__":
    main()
