"""Autosave to a recovery file while there is unsaved work, and recovery on
the next start after a crash.

A recovery file is JSON: {"project_path", "saved_at", "pid", "document"}; the
document is the project as it would be saved (asset paths relative to the
project's folder). It is removed when the document is saved or closed
cleanly, so any file left in the folder means a session ended abnormally."""
from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer

from canvas_app.fileio import atomic_write_text
from canvas_app.ui.settings import recovery_dir

AUTOSAVE_MS = 60_000
SUFFIX = ".recovery.json"


class Autosaver(QObject):
    def __init__(self, parent=None, interval_ms: int | None = None) -> None:
        super().__init__(parent)
        self.document = None
        self.path = recovery_dir() / f"session-{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        self._saved_index: int | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms or int(os.environ.get("CANVAS_APP_AUTOSAVE_MS", AUTOSAVE_MS)))
        self.timer.timeout.connect(self.save_now)
        self.timer.start()

    def attach(self, document) -> None:
        self.discard()
        self.document = document
        self._saved_index = None
        document.undo_stack.cleanChanged.connect(self._clean_changed)

    def _clean_changed(self, clean: bool) -> None:
        if clean:
            self.discard()

    def save_now(self) -> Path | None:
        """Write the recovery file if there is unsaved work not yet written."""
        document = self.document
        if document is None or document.undo_stack.isClean():
            return None
        index = document.undo_stack.index()
        if index == self._saved_index and self.path.exists():
            return self.path
        data = {"project_path": str(document.path) if document.path else None,
                "saved_at": time.time(), "pid": os.getpid(), "document": document.to_dict()}
        atomic_write_text(self.path, json.dumps(data, ensure_ascii=False))
        self._saved_index = index
        return self.path

    def discard(self) -> None:
        try:
            self.path.unlink()
        except OSError:
            pass
        self._saved_index = None


def find_recoveries() -> list[tuple[Path, dict[str, Any]]]:
    """Recovery files left by sessions that did not end cleanly, newest first."""
    found = []
    for path in recovery_dir().glob(f"*{SUFFIX}"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        pid = data.get("pid")
        if isinstance(pid, int) and pid != os.getpid() and _alive(pid):
            continue  # another editor that is still running owns it
        if isinstance(data, dict) and isinstance(data.get("document"), dict):
            found.append((path, data))
    found.sort(key=lambda entry: entry[1].get("saved_at", 0), reverse=True)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True
