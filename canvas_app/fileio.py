"""Atomic file writes: readers see the old file or the new one, never half of one."""
from __future__ import annotations

import os
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: setting the umask to read it is not thread-safe.
_UMASK = _read_umask()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp_name, 0o666 & ~_UMASK)  # mkstemp makes it private; keep the usual mode
        os.replace(temp_name, path)
    except BaseException:
        if os.path.exists(temp_name):
            os.unlink(temp_name)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@contextmanager
def replacing(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """For writers that need a file name (a muxer, a library's writer): yields
    a unique name beside `path` (same filesystem, so the rename is atomic),
    which replaces `path` when the block ends without error and is removed
    when it fails or is cancelled. The writer creates the file, so it gets
    the usual permissions."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f".{path.stem}.{uuid.uuid4().hex[:10]}.part{suffix or path.suffix}"
    try:
        yield temp
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def file_stamp(path: str | Path) -> list | None:
    """[path, size, mtime_ns]: a cheap "has this file changed" check for files
    too big to hash on every run, or that we wrote ourselves. None if missing."""
    try:
        stat = os.stat(path)
    except (OSError, ValueError):
        return None
    return [str(path), stat.st_size, stat.st_mtime_ns]
