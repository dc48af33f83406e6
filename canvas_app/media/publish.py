"""Publishing an export into the output folder so that a crash never loses it.

An export is written whole into a staging folder (`.export-<pid>-*`) first.
Publishing then:

1. records in the staging folder which files the previous export of the same
   cut had (its manifest) and which files the new one has;
2. renames the staging folder to `.publish-<pid>-<name>`: the commit point, atomic.
   Before it the old export is untouched; after it the new one is complete on
   disk and any later step can be finished by whoever comes next;
3. moves every file into place (the report last), deletes the previous
   export's files that the new one does not replace, writes the manifest
   `.<name>.export.json` listing every published file, and removes the folder.

`recover(out_dir)` finishes an interrupted step 3 and removes staging folders
left by killed processes; it runs before every export and every command-line
run. Whatever an exporter writes into staging is published and listed, so new
export formats are covered by the manifest and by `stamps`/`stamps_valid`
(size and modification time of every file), which is how a cached export is
known to be still whole.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from canvas_app.errors import BadInput
from canvas_app.fileio import NotRegularFile, atomic_write_text, check_replaceable, file_stamp

STAGING_PREFIX = ".export-"
PUBLISHING_PREFIX = ".publish-"
PLAN_FILE = ".publish-plan.json"
LEGACY_STAGING_SECONDS = 3600


def manifest_path(out_dir: Path, name: str) -> Path:
    return Path(out_dir) / f".{name}.export.json"


def check_output_folder(out_dir: Path) -> None:
    """Refuse an output folder (or its shots/ folder) that is a symbolic link:
    a project shipped with one would send the export somewhere else."""
    for folder in (Path(out_dir), Path(out_dir) / "shots"):
        if folder.is_symlink():
            raise BadInput("the output folder is a symbolic link; choose a real folder",
                           file=str(folder), field="--out")


def check_writable(folder: Path) -> None:
    """BadInput unless a file can be created in `folder` (a read-only or
    immutable folder, which root's permission bits do not show)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise BadInput(f"cannot write into this folder ({error.strerror or error}); choose "
                       "another output folder", file=str(folder), field="--out") from None


def new_staging(out_dir: Path) -> Path:
    """A fresh staging folder inside `out_dir`, named after this process so that
    `recover` can tell a live export from a killed one's leftovers."""
    out_dir = Path(out_dir)
    check_output_folder(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=out_dir))
    except OSError as error:
        raise BadInput(f"cannot write into the output folder ({error.strerror or error})",
                       file=str(out_dir), field="--out") from None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def _leftover(staging: Path, prefix: str = STAGING_PREFIX) -> bool:
    owner = staging.name[len(prefix):].split("-", 1)[0]
    if owner.isdigit():
        return not _process_alive(int(owner))
    try:  # from an older version, without a process id: only if clearly abandoned
        return time.time() - staging.stat().st_mtime > LEGACY_STAGING_SECONDS
    except OSError:
        return False


def _inside(out_dir: Path, relative: str) -> Path | None:
    """`out_dir / relative` if that stays inside out_dir, else None."""
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        return None
    path = Path(out_dir) / relative
    try:
        root = Path(out_dir).resolve()
        resolved = path.parent.resolve() / path.name
    except (OSError, RuntimeError):
        return None
    if root not in resolved.parents or path.is_symlink() and path.is_dir():
        return None
    return path


def _previous_files(out_dir: Path, name: str) -> list[str]:
    """The files of the previous export of this cut: its manifest, or for an
    export made before manifests, the shot files its report lists."""
    for source in (manifest_path(out_dir, name), Path(out_dir) / f"{name}.report.json"):
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            continue
        if isinstance(data, dict) and isinstance(data.get("files"), list):
            return [f for f in data["files"] if isinstance(f, str)]
        if isinstance(data, dict) and isinstance(data.get("shots"), list):
            files = []
            for shot in data["shots"]:
                relative = shot.get("file") if isinstance(shot, dict) else None
                if isinstance(relative, str) and relative.startswith("shots/"):
                    files += [relative, str(Path(relative).with_suffix(".png"))]
            return files
    return []


def publish(staging: Path, out_dir: Path, name: str) -> list[Path]:
    """Move the finished export in `staging` into `out_dir`; returns the
    published files. The previous export of `name`, and only it, is replaced."""
    out_dir = Path(out_dir)
    check_output_folder(out_dir)
    recover(out_dir)
    # What is replaced and what replaces it, recorded before the commit: after it,
    # files leave the folder one by one and it no longer lists them all.
    new_files = sorted(path.relative_to(staging).as_posix() for path in Path(staging).rglob("*")
                       if path.is_file())
    folders = set()
    for relative in new_files:  # what would fail half-way through step 3 is refused before it
        target = _inside(out_dir, relative)
        try:
            check_replaceable(target) if target is not None else None
        except NotRegularFile:
            raise BadInput("not a regular file; the export would replace it",
                           file=str(target), field="--out") from None
        folders.add(target.parent if target is not None and target.parent.is_dir() else out_dir)
    for folder in sorted(folders):  # e.g. an immutable shots/ would strand the export
        check_writable(folder)
    atomic_write_text(Path(staging) / PLAN_FILE, json.dumps(
        {"old": _previous_files(out_dir, name), "new": new_files}))
    publishing = out_dir / f"{PUBLISHING_PREFIX}{os.getpid()}-{name}"
    shutil.rmtree(publishing, ignore_errors=True)
    os.replace(staging, publishing)  # the commit point
    return _finish(publishing, out_dir, name)


def _finish(publishing: Path, out_dir: Path, name: str) -> list[Path]:
    try:
        plan = json.loads((publishing / PLAN_FILE).read_text(encoding="utf-8"))
        old_files, new_files = list(plan["old"]), sorted(map(str, plan["new"]))
    except (OSError, ValueError, KeyError, TypeError):  # damaged: publish what is there
        old_files = []
        new_files = sorted(path.relative_to(publishing).as_posix()
                           for path in publishing.rglob("*")
                           if path.is_file() and path.name != PLAN_FILE)
    report = f"{name}.report.json"
    # The report last: whoever reads it finds every file it names.
    for relative in sorted(new_files, key=lambda r: (r == report, r.count("/") == 0, r)):
        target = _inside(out_dir, relative)
        if target is None:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(publishing / relative, target)
        except FileNotFoundError:  # already moved by an earlier, interrupted try
            pass
    for relative in old_files:
        if relative not in new_files:
            old = _inside(out_dir, relative)
            if old is not None and (old.is_file() or old.is_symlink()):
                old.unlink(missing_ok=True)
    atomic_write_text(manifest_path(out_dir, name), json.dumps({"files": new_files}, indent=1))
    shutil.rmtree(publishing, ignore_errors=True)
    return [out_dir / relative for relative in new_files]


def recover(out_dir: Path) -> None:
    """Finish publishing an export that a killed process had committed, and
    remove staging folders whose process is gone."""
    out_dir = Path(out_dir)
    try:
        children = list(out_dir.iterdir()) if out_dir.is_dir() and not out_dir.is_symlink() else []
    except OSError:
        return
    for child in children:
        if child.name.startswith("..") and child.name.endswith(".tmp") and ".export.json." in \
                child.name:  # a manifest's atomic write, killed: `.` + `.<name>.export.json`
            _remove_stale(child)
        if child.is_symlink() or not child.is_dir():
            continue
        if child.name.startswith(PUBLISHING_PREFIX) and _leftover(child, PUBLISHING_PREFIX):
            owner_and_name = child.name[len(PUBLISHING_PREFIX):].split("-", 1)
            if len(owner_and_name) == 2:
                _finish(child, out_dir, owner_and_name[1])
        elif child.name.startswith(STAGING_PREFIX) and _leftover(child):
            shutil.rmtree(child, ignore_errors=True)


def _remove_stale(leftover: Path) -> None:
    from canvas_app.fileio import STALE_TEMP_SECONDS

    try:
        if leftover.is_file() and not leftover.is_symlink() and \
                time.time() - leftover.stat().st_mtime > STALE_TEMP_SECONDS:
            leftover.unlink()
    except OSError:
        pass


def stamps(paths) -> list | None:
    """[path, size, mtime_ns] of each file; None if one is missing."""
    result = [file_stamp(path) for path in paths]
    return None if None in result else result


def stamps_valid(recorded) -> bool:
    """Every recorded file is still there, unchanged."""
    if not isinstance(recorded, list) or not recorded:
        return False
    try:
        return all(isinstance(entry, list) and len(entry) == 3 and file_stamp(entry[0]) == entry
                   for entry in recorded)
    except (TypeError, ValueError):
        return False
