#!/usr/bin/python
# Copyright: llama-herd developers
# Apache License 2.0
"""Download a large file (a model, a tokenizer) resumably and put it in place only once verified."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: herd_download
short_description: Download a model file resumably, verify it, and put it in place atomically
description:
  - Downloads one file from O(url), or from O(parts) joined in order, into a directory of parts
    (O(parts_dir)) that survives a failed run. A part with data in it is resumed with an HTTP
    Range request; a part that is already complete (its sha256 matches, or the server answers
    416) is not fetched again; a server that ignores Range (200) restarts the part.
  - The whole file is checked (O(size_bytes), O(magic), O(sha256)) and only then moved onto O(dest)
    with a rename, so O(dest) is never a partial file. A file that fails a check is removed with its
    parts and the module fails with a message naming the url, what was expected, what came and the fix;
    O(dest) is left as it was.
  - When O(dest) already holds a file with the right sha256 nothing is downloaded. The verified checksum
    is recorded with the file's size and mtime in C(.<name>.sha256) next to O(dest), so later runs do
    not read a multi-GB file again; a file replaced by other means (another size or mtime) is read and
    checked again. Delete the record to force a re-check.
  - HTTP goes through Ansible's own URL code, so proxy variables (C(https_proxy), C(no_proxy)) and
    certificate checks apply as for M(ansible.builtin.get_url).
version_added: "0.1.0"
author: llama-herd developers (!UNKNOWN)
options:
  url:
    description:
      - The file's URL (http, https, file).
      - Exactly one of O(url) and O(parts).
    type: str
  parts:
    description:
      - URLs of the file's parts, joined in this order (a model split because of an upload size limit).
      - Each item is a URL or a dict C({url, sha256}); a part with its own sha256 is checked on its own
        and, once complete, never fetched again.
    type: list
    elements: raw
  sha256:
    description: SHA-256 of the whole file (64 hex digits).
    type: str
    required: true
  size_bytes:
    description: Size of the whole file in bytes, checked before the checksum (cheap and catches a truncated file early).
    type: int
  magic:
    description:
      - The bytes the file must start with, as text, for example C(GGUF) for a llama.cpp model. An HTML error page
        served with status 200 fails here with a clear message.
    type: str
  dest:
    description: Where the verified file goes. Its directory must exist.
    type: path
    required: true
  parts_dir:
    description:
      - Directory for the parts while they download (created with mode 0700, removed when empty).
      - It must be on the same file system as O(dest) for the final rename to be atomic.
      - Default C(.parts) in the directory of O(dest).
    type: path
  retries:
    description: Further attempts per part after a connection failure, a short read, HTTP 5xx, 408 or 429; each resumes.
    type: int
    default: 3
  retry_delay:
    description: Seconds before the first retry; the wait grows linearly with each attempt.
    type: float
    default: 5
  timeout:
    description: Seconds a connection or a read may stall before the attempt fails.
    type: int
    default: 60
  validate_certs:
    description: Check the server's TLS certificate.
    type: bool
    default: true
  use_proxy:
    description: Use the proxy the environment names (C(http_proxy), C(https_proxy), C(no_proxy)).
    type: bool
    default: true
extends_documentation_fragment:
  - ansible.builtin.files
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
    details: Reports that the file would be downloaded when O(dest) is missing or wrong; touches nothing.
  diff_mode:
    description: Returns details on what changed (or would change) in diff mode.
    support: none
notes:
  - The result is C(changed) when the file was replaced, or when its owner, group or mode changed.
  - Parts are named after O(dest), so two tasks must not download to the same O(dest) at once.
seealso:
  - module: ansible.builtin.get_url
"""

EXAMPLES = r"""
- name: A GGUF model in two parts, readable by the service's group
  llamaherd.cluster.herd_download:
    parts:
      - https://mirror.example/qwen2.5-coder-32b-q8_0-00001-of-00002.gguf
      - url: https://mirror.example/qwen2.5-coder-32b-q8_0-00002-of-00002.gguf
        sha256: 9c7c5d1d06c2e7b3e1f7f6e7ae4c1a0f0a5e2b5f4e3d2c1b0a9f8e7d6c5b4a39
    sha256: 1f0e3c8f1b5f1f2e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e
    size_bytes: 34820884864
    magic: GGUF
    dest: /var/lib/llama-cpp/models/qwen2.5-coder-32b-q8_0.gguf
    owner: root
    group: llama-cpp
    mode: "0640"
  notify: Restart llama-server

- name: A distributed-llama model
  llamaherd.cluster.herd_download:
    url: https://huggingface.co/b4rtaz/Llama-3_1-8B-Q40-Instruct-Distributed-Llama/resolve/main/dllama_model_llama3.1_instruct_q40.m
    sha256: 2f7f2a2c4bd0c5e2e0a9b17f1c2c1cb0f1ee3e9f0a1a1d6e5b7e3c6c3d9e7f10
    dest: /var/lib/dllama/models/dllama_model_llama3.1_instruct_q40.m
    retries: 5
"""

RETURN = r"""
dest:
  description: The destination path.
  returned: always
  type: str
  sample: /var/lib/llama-cpp/models/tiny.gguf
sha256:
  description: SHA-256 of the file at O(dest) (the expected one in check mode when it would be downloaded).
  returned: always
  type: str
  sample: 1f0e3c8f1b5f1f2e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e
size:
  description: Size of the file at O(dest) in bytes (0 in check mode when nothing is there yet).
  returned: always
  type: int
  sample: 34820884864
replaced:
  description: Whether the file at O(dest) was (or in check mode would be) replaced by a download.
  returned: always
  type: bool
resumed:
  description: Whether a part continued from data an earlier run had left (a Range request answered 206 or 416).
  returned: always
  type: bool
requests:
  description: HTTP requests made in this run (0 when the file was already in place).
  returned: always
  type: int
fetched_bytes:
  description: Bytes received in this run.
  returned: always
  type: int
"""

import os
from functools import partial

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible_collections.llamaherd.cluster.plugins.module_utils.download import (
    DownloadError,
    Part,
    dest_state,
    download,
    write_record,
)


def _parts(module: AnsibleModule) -> list[Part]:
    p = module.params
    if p["url"]:
        return [Part(p["url"])]
    out = []
    for i, item in enumerate(p["parts"]):
        if isinstance(item, str) and item:
            out.append(Part(item))
        elif isinstance(item, dict) and isinstance(item.get("url"), str) and set(item) <= {"url", "sha256"}:
            out.append(Part(item["url"], item.get("sha256")))
        else:
            module.fail_json(msg=f"parts[{i}] must be a URL or a dict with url and an optional sha256, not {item!r}")
    if not out:
        module.fail_json(msg="parts is empty: give at least one URL")
    return out


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str"},
            "parts": {"type": "list", "elements": "raw"},
            "sha256": {"type": "str", "required": True},
            "size_bytes": {"type": "int"},
            "magic": {"type": "str"},
            "dest": {"type": "path", "required": True},
            "parts_dir": {"type": "path"},
            "retries": {"type": "int", "default": 3},
            "retry_delay": {"type": "float", "default": 5},
            "timeout": {"type": "int", "default": 60},
            "validate_certs": {"type": "bool", "default": True},
            "use_proxy": {"type": "bool", "default": True},
        },
        mutually_exclusive=[("url", "parts")],
        required_one_of=[("url", "parts")],
        add_file_common_args=True,
        supports_check_mode=True,
    )
    p = module.params
    dest, want = p["dest"], p["sha256"].strip().lower()
    if len(want) != 64 or any(c not in "0123456789abcdef" for c in want):
        module.fail_json(msg=f"sha256 must be 64 hex digits, not {p['sha256']!r}")
    if not os.path.isdir(os.path.dirname(dest) or "."):
        module.fail_json(msg=f"the directory of {dest} does not exist; create it before downloading into it")
    parts = _parts(module)
    magic = p["magic"].encode("latin-1") if p["magic"] else None
    result = {"dest": dest, "sha256": want, "size": 0, "replaced": False, "resumed": False, "requests": 0, "fetched_bytes": 0}

    ok, stale_record = dest_state(dest, want, p["size_bytes"], magic)
    if not ok:
        result["replaced"] = True
        if module.check_mode:
            if os.path.isfile(dest):
                result["size"] = os.path.getsize(dest)
            module.exit_json(changed=True, **result)
        opener = partial(
            open_url,
            timeout=p["timeout"],
            validate_certs=p["validate_certs"],
            use_proxy=p["use_proxy"],
            http_agent="llamaherd-herd_download",
            decompress=False,  # the checksum is of the bytes served; a Range of a gzip stream would not decode
        )
        try:
            out = download(
                opener,
                parts,
                dest,
                p["parts_dir"] or os.path.join(os.path.dirname(dest), ".parts"),
                want,
                size_bytes=p["size_bytes"],
                magic=magic,
                retries=p["retries"],
                retry_delay=p["retry_delay"],
                move=module.atomic_move,
            )
        except DownloadError as exc:
            module.fail_json(msg=str(exc), **result)
        result.update(resumed=out.resumed, requests=out.requests, fetched_bytes=out.fetched_bytes)

    result["size"] = os.path.getsize(dest)
    file_args = module.load_file_common_arguments(p, path=dest)
    changed = module.set_fs_attributes_if_different(file_args, result["replaced"])
    if (stale_record or result["replaced"]) and not module.check_mode:
        write_record(dest, want)  # after chown/chmod, which keep the mtime the record is keyed on
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
