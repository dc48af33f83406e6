"""Content-addressed cache keys, in the manner of ComfyUI's caching:
hash(node type, type version, params, input file contents, upstream keys)."""
from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from canvas_app.file_checks import file_sha256


class FileHashes:
    """sha256 of files, remembered by (path, size, mtime) so unchanged files
    are not read again on every run."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[int, int, str]] = {}
        self._lock = threading.Lock()

    def digest(self, path: Path) -> str:
        try:
            stat = os.stat(path)
        except OSError:
            return "missing:" + str(path)
        name = str(path)
        with self._lock:
            known = self._known.get(name)
        if known and known[0] == stat.st_size and known[1] == stat.st_mtime_ns:
            return known[2]
        try:
            digest = file_sha256(path)
        except OSError:  # a folder, no permission, gone: the node itself says what is wrong
            return "unreadable:" + str(path)
        with self._lock:
            self._known[name] = (stat.st_size, stat.st_mtime_ns, digest)
        return digest


def node_key(type_name: str, version: int, params: dict[str, Any],
             upstream: list[tuple[str, list[str]]], file_digests: list[str], extra: str) -> str:
    payload = json.dumps([type_name, version, params, upstream, file_digests, extra],
                         sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()
