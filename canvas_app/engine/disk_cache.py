"""Results kept on disk between sessions, under the same content-addressed keys.

Only node types that know how to write and read their own results take part
(`NodeType.save_result` / `load_result`): the expensive ones, renders and
identities. Each entry is a folder written under a temporary name and renamed
into place, so a crash never leaves a half entry; nothing is unpickled when
reading. The folder is trimmed to a byte budget, least recently used first.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

DEFAULT_MAX_BYTES = int(os.environ.get("CANVAS_APP_DISK_CACHE_MB", "4096")) * 1024 * 1024


def default_cache_dir() -> Path:
    env = os.environ.get("CANVAS_APP_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("canvas-app", appauthor=False)) / "results"


def _folder_bytes(folder: Path) -> int:
    return sum(item.stat().st_size for item in folder.iterdir() if item.is_file())


class DiskCache:
    def __init__(self, folder: Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        from canvas_app import __version__

        # Results from another program version may come from other code: keep them apart.
        self.folder = (Path(folder) if folder else default_cache_dir()) / f"v{__version__}"
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def _entry(self, key: str) -> Path:
        return self.folder / key[:2] / key

    def load(self, key: str, node_type) -> dict[str, Any] | None:
        entry = self._entry(key)
        if not entry.is_dir():
            return None
        try:
            outputs = node_type.load_result(entry)
        except Exception:  # a damaged entry is a miss, and goes away
            shutil.rmtree(entry, ignore_errors=True)
            return None
        if outputs is not None:
            os.utime(entry)  # recently used
        return outputs

    def save(self, key: str, node_type, outputs: dict[str, Any]) -> bool:
        entry = self._entry(key)
        if entry.is_dir():
            return True
        entry.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=entry.parent))
        try:
            if not node_type.save_result(outputs, staging):
                return False
            os.replace(staging, entry)
        except OSError:
            return False
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self.trim()
        return True

    def trim(self) -> None:
        """Delete least recently used entries until the folder fits its budget."""
        with self._lock:
            if not self.folder.is_dir():
                return
            entries = [(entry.stat().st_mtime, _folder_bytes(entry), entry)
                       for shard in self.folder.iterdir() if shard.is_dir()
                       for entry in shard.iterdir() if entry.is_dir()
                       and not entry.name.startswith(".tmp-")]
            total = sum(size for _, size, _ in entries)
            for _, size, entry in sorted(entries):
                if total <= self.max_bytes:
                    break
                shutil.rmtree(entry, ignore_errors=True)
                total -= size

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
