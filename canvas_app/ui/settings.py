"""Where the editor keeps its settings, recent files and recovery files.
CANVAS_APP_CONFIG_DIR and CANVAS_APP_RECOVERY_DIR override the locations
(tests use them to stay out of the user's home)."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

MAX_RECENT = 10


def settings() -> QSettings:
    folder = os.environ.get("CANVAS_APP_CONFIG_DIR")
    if folder:
        return QSettings(str(Path(folder) / "canvas-app.ini"), QSettings.IniFormat)
    return QSettings("canvas-app", "canvas-app")


def recovery_dir() -> Path:
    folder = os.environ.get("CANVAS_APP_RECOVERY_DIR")
    if not folder:
        base = QStandardPaths.writableLocation(QStandardPaths.AppLocalDataLocation)
        folder = str(Path(base or Path.home() / ".canvas-app") / "recovery")
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


def recent_files() -> list[str]:
    value = settings().value("recent_files", [])
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in (value or [])]


def add_recent_file(path: str) -> list[str]:
    path = str(Path(path).resolve())
    files = [path] + [p for p in recent_files() if p != path]
    files = files[:MAX_RECENT]
    store = settings()
    store.setValue("recent_files", files)
    store.sync()
    return files


def clear_recent_files() -> None:
    store = settings()
    store.setValue("recent_files", [])
    store.sync()


def render_on() -> str:
    """Where runs render: "" for this computer, else a Ray address for the
    farm (ray = a cluster on this machine, auto, ray://HOST:PORT)."""
    return str(settings().value("render_on", "") or "").strip()


def set_render_on(address: str) -> None:
    store = settings()
    store.setValue("render_on", address.strip())
    store.sync()
