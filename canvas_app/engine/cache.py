"""The result cache: node outputs under content-addressed keys, bounded in memory.

Keys are computed from what a result depends on (see keys.py), so the cache
needs no invalidation: an edit changes the key of the edited node and of
everything downstream, and the old entries age out of the LRU.
"""
from __future__ import annotations

import dataclasses
import os
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

def _default_max_bytes() -> int:
    try:
        return max(0, int(os.environ.get("CANVAS_APP_CACHE_MB", "2048"))) * 1024 * 1024
    except ValueError:  # a mistyped setting must not stop the program
        return 2048 * 1024 * 1024


DEFAULT_MAX_BYTES = _default_max_bytes()


def estimate_bytes(value: Any, _depth: int = 0) -> int:
    """Rough memory held by a node result: arrays dominate, so count them."""
    if _depth > 6:
        return 64
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, (list, tuple, set)):
        return 64 + sum(estimate_bytes(item, _depth + 1) for item in value)
    if isinstance(value, dict):
        return 64 + sum(estimate_bytes(item, _depth + 1) for item in value.values())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return 64 + sum(estimate_bytes(getattr(value, f.name), _depth + 1)
                        for f in dataclasses.fields(value))
    if isinstance(value, (str, bytes)):
        return 64 + len(value)
    return 64


class ResultCache:
    """A thread-safe LRU of node outputs, bounded by estimated bytes."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[dict[str, Any], int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[0]

    def peek(self, key: str) -> dict[str, Any] | None:
        """Look without counting or reordering (previews in the editor)."""
        with self._lock:
            entry = self._entries.get(key)
            return entry[0] if entry else None

    def put(self, key: str, outputs: dict[str, Any]) -> None:
        size = estimate_bytes(outputs)
        with self._lock:
            if key in self._entries:
                self._bytes -= self._entries.pop(key)[1]
            if size > self.max_bytes:
                return  # would evict everything else; keep it only for this run
            self._entries[key] = (outputs, size)
            self._bytes += size
            while self._bytes > self.max_bytes and self._entries:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted

    def discard(self, key: str) -> None:
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry:
                self._bytes -= entry[1]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries
