"""Results kept on disk between sessions, under the same content-addressed keys.

The disk cache is only an optimisation: any failure to read or write it (a
full disk, a damaged entry, another process trimming it) is a cache miss,
never a failed run.

Only node types that know how to write and read their own results take part
(`NodeType.save_result` / `load_result`): the expensive ones, renders and
identities. Each entry is a folder written under a temporary name and renamed
into place, so a crash never leaves a half entry; nothing is unpickled when
reading. Each entry carries a digest of every file in it (`digest.json`),
checked before the entry is used: a damaged, truncated or edited entry is a
miss and is removed, so it can neither give a wrong result nor break later
runs. A read-only cache is still read. The folder is trimmed to a byte budget,
least recently used first.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

def _megabytes(variable: str, default: int) -> int:
    try:
        return max(0, int(os.environ.get(variable, default))) * 1024 * 1024
    except ValueError:
        return default * 1024 * 1024


DEFAULT_MAX_BYTES = _megabytes("CANVAS_APP_DISK_CACHE_MB", 4096)
STALE_STAGING_SECONDS = 3600
DIGEST_FILE = "digest.json"


def _file_digests(folder: Path) -> dict[str, str]:
    """sha256 of every regular file under `folder` (the digest file aside), by relative path."""
    digests = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if relative == DIGEST_FILE or path.is_dir():
            continue
        if path.is_symlink() or not path.is_file():
            raise ValueError(f"{relative} is not a regular file")
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digests[relative] = digest.hexdigest()
    return digests


def _entry_stamp(entry: Path) -> tuple:
    """Names, sizes and modification times of an entry's files."""
    return tuple(sorted((path.name, stat.st_size, stat.st_mtime_ns)
                        for path in entry.iterdir() for stat in (path.stat(),)))


def _verified(entry: Path) -> bool:
    """The entry holds exactly the files it was saved with, byte for byte."""
    try:
        stored = json.loads((entry / DIGEST_FILE).read_text(encoding="utf-8"))
        return isinstance(stored, dict) and stored == _file_digests(entry)
    except (OSError, ValueError, RecursionError):
        return False


def default_cache_dir() -> Path:
    """$CANVAS_APP_CACHE_DIR, else ``<user cache dir>/canvas-app/results``."""
    from canvas_app.paths import env_or_user_dir

    return env_or_user_dir("CANVAS_APP_CACHE_DIR", "cache", "results")


def _folder_bytes(folder: Path) -> int:
    return sum(item.stat().st_size for item in folder.iterdir() if item.is_file())


class DiskCache:
    def __init__(self, folder: Path | None = None, max_bytes: int | None = None) -> None:
        from canvas_app import __version__

        # Results from another program version may come from other code: keep them apart.
        self.folder = (Path(folder) if folder else default_cache_dir()) / f"v{__version__}"
        # Read when made: the editor's Settings may have changed it since import.
        self.max_bytes = _megabytes("CANVAS_APP_DISK_CACHE_MB", 4096) if max_bytes is None \
            else max_bytes
        self._lock = threading.Lock()
        self._checked: dict[str, tuple] = {}  # key -> stamp of the entry when last verified

    def _entry(self, key: str) -> Path:
        return self.folder / key[:2] / key

    def load(self, key: str, node_type) -> dict[str, Any] | None:
        entry = self._entry(key)
        try:
            if not entry.is_dir():
                return None
            stamp = _entry_stamp(entry)
            if self._checked.get(key) != stamp:  # hashed once per session while unchanged
                if not _verified(entry):
                    raise ValueError("damaged cache entry")
                self._checked[key] = stamp
            outputs = node_type.load_result(entry)
        except Exception:  # a damaged or vanished entry is a miss, and goes away
            shutil.rmtree(entry, ignore_errors=True)
            return None
        if outputs is not None:
            try:
                os.utime(entry)  # recently used
            except OSError:  # a read-only cache is still worth reading
                pass
        return outputs

    def save(self, key: str, node_type, outputs: dict[str, Any]) -> bool:
        """Keep a result; an older entry under the same key is replaced."""
        entry = self._entry(key)
        staging = None
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=entry.parent))
            if not node_type.save_result(outputs, staging):
                return False
            (staging / DIGEST_FILE).write_text(json.dumps(_file_digests(staging)),
                                               encoding="utf-8")
            self.discard(key)
            os.replace(staging, entry)
            self.trim()
            return True
        except Exception:
            return False
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)

    def discard(self, key: str) -> None:
        shutil.rmtree(self._entry(key), ignore_errors=True)

    def trim(self) -> None:
        """Delete least recently used entries until the folder fits its budget;
        also what older program versions and interrupted saves left behind."""
        with self._lock:
            try:
                self._trim()
            except OSError:  # another process is trimming too
                pass

    def _trim(self) -> None:
        root = self.folder.parent
        for other in root.iterdir() if root.is_dir() else ():
            if other.is_dir() and other.name.startswith("v") and other != self.folder:
                shutil.rmtree(other, ignore_errors=True)
        if not self.folder.is_dir():
            return
        now = time.time()
        entries = []
        for shard in self.folder.iterdir():
            if not shard.is_dir():
                continue
            for entry in shard.iterdir():
                if entry.name.startswith(".tmp-"):
                    if now - entry.stat().st_mtime > STALE_STAGING_SECONDS:
                        shutil.rmtree(entry, ignore_errors=True)
                elif entry.is_dir():
                    entries.append((entry.stat().st_mtime, _folder_bytes(entry), entry))
        total = sum(size for _, size, _ in entries)
        for _, size, entry in sorted(entries):
            if total <= self.max_bytes:
                break
            shutil.rmtree(entry, ignore_errors=True)
            total -= size

    def clear(self) -> int:
        """Delete every entry (of every program version); returns the bytes freed."""
        root = self.folder.parent
        freed = 0
        with self._lock:
            for folder in root.iterdir() if root.is_dir() else ():
                if folder.is_dir() and folder.name.startswith("v"):
                    freed += sum(item.stat().st_size for item in folder.rglob("*") if item.is_file())
                    shutil.rmtree(folder, ignore_errors=True)
        return freed
