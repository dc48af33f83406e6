"""A run's events, kept while it runs and written beside its outputs at the
end: run.json (the events) and run.log (one readable line each)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from canvas_app.fileio import atomic_write_text


class RunLogs:
    def __init__(self) -> None:
        self._entries: dict[int, list[dict]] = {}

    def record(self, job_id: int, entry: dict) -> None:
        entry.setdefault("time", time.time())
        self._entries.setdefault(job_id, []).append(entry)

    def started(self, job_id: int) -> bool:
        """Whether the engine began the run (planned it) before it ended."""
        return any(e.get("event") == "run_started" for e in self._entries.get(job_id, []))

    def write(self, job_id: int, targets, status: str, output_dir: Path,
              title: Callable[[str], str]) -> None:
        """Write the run's files (and forget its events). Raises OSError."""
        entries = self._entries.pop(job_id, [])
        if not output_dir.is_dir() or output_dir.is_symlink() or output_dir.parent.is_symlink():
            return  # a folder the export refuses (a link may lead anywhere): the log too
        lines = []
        for entry in entries:
            stamp = time.strftime("%H:%M:%S", time.localtime(entry["time"]))
            node = entry.get("node")
            name = f"{title(node)} ({node})" if node else "run"
            event = entry["event"]
            detail = {"end": f"{entry.get('seconds', 0):.2f} s" + (" (cached)" if entry.get("cached") else ""),
                      "failed": entry.get("message", ""), "skipped": entry.get("reason", ""),
                      "log": entry.get("message", ""), "error": entry.get("message", ""),
                      "run_finished": f"{entry.get('status')} in {entry.get('seconds')} s",
                      "run_started": f"{len(entry.get('plan', []))} nodes"}.get(event, "")
            lines.append(f"{stamp}  {name:<40} {event:<13} {detail}".rstrip())
        atomic_write_text(output_dir / "run.json", json.dumps(
            {"run": job_id, "targets": targets, "status": status, "events": entries},
            indent=1, default=str) + "\n")
        atomic_write_text(output_dir / "run.log", "\n".join(lines) + "\n")

    def forget(self, job_id: int) -> None:
        self._entries.pop(job_id, None)
