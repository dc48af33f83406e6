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


class NotRegularFile(OSError):
    """A FIFO, a device, a folder: reading it could block forever or never end."""


def local_path_problem(path: str | Path) -> str | None:
    """Why a local path given as a file or folder (a model, a LoRA, an adapter)
    cannot be read, found without opening it; None when it is a regular file, a
    folder or does not exist (the caller decides what a missing one means)."""
    import errno
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        return "the path is too long" if error.errno == errno.ENAMETOOLONG else None
    except ValueError:  # a NUL character
        return "the path holds a NUL character"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return "not a regular file or folder (a FIFO, device or socket would never finish reading)"


def open_regular(path: str | Path):
    """Open a file for reading in binary mode, refusing anything but a regular
    file without blocking (a FIFO with no writer would otherwise hang here)."""
    import stat

    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                         | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise NotRegularFile(f"not a regular file: {path}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def check_replaceable(path: str | Path) -> None:
    """Refuse to write over anything but a regular file: renaming a new file
    over /dev/null, a FIFO or a socket would replace the device itself (as
    root), and a folder cannot hold the file. A path that does not exist yet is
    fine; one that cannot be looked at is left to the write to report."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except (OSError, ValueError):
        return
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a device, FIFO or socket"
        raise NotRegularFile(f"not a regular file ({kind}); refusing to write over it: {path}")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename it over `path`."""
    path = Path(path)
    check_replaceable(path)
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


STALE_TEMP_SECONDS = 10.0


def remove_stale_temp_files(path: str | Path) -> None:
    """Remove what killed writes of `path` left beside it (`.<name>.*.tmp`).
    Only files older than a few seconds: a write in progress takes milliseconds."""
    import time

    path = Path(path)
    try:
        leftovers = list(path.parent.glob(f".{glob_escape(path.name)}.*.tmp"))
    except OSError:
        return
    for leftover in leftovers:
        try:
            if leftover.is_file() and not leftover.is_symlink() \
                    and time.time() - leftover.stat().st_mtime > STALE_TEMP_SECONDS:
                leftover.unlink()
        except OSError:
            pass


def glob_escape(text: str) -> str:
    import glob

    return glob.escape(text)


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
    check_replaceable(path)
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
