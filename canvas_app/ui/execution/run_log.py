"""A run's events, kept while it runs and written beside its outputs at the
end: run.json (the events) and run.log (one readable line each). It observes
the run model (`observe`) like the other run views."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from canvas_app.engine.events import (NodeFailed, NodeFinished, NodeLog, NodeSkipped, NodeStarted,
                                      RunError, RunFinished, RunStarted)
from canvas_app.fileio import atomic_write_text


def log_entry(event) -> dict | None:
    """The run.json entry for an event (None: not logged, e.g. progress)."""
    kind = str(getattr(event, "event_kind", ""))
    if isinstance(event, RunStarted):
        return {"event": kind, "plan": list(event.plan)}
    if isinstance(event, NodeStarted):
        return {"node": event.node_id, "event": kind} | ({"host": event.host} if event.host else {})
    if isinstance(event, NodeFinished):
        return {"node": event.node_id, "event": kind, "cached": event.cached,
                "seconds": round(event.elapsed, 4)}
    if isinstance(event, (NodeFailed, NodeLog)):
        return {"node": event.node_id, "event": kind, "message": event.message}
    if isinstance(event, NodeSkipped):
        return {"node": event.node_id, "event": kind, "reason": event.reason}
    if isinstance(event, RunError):
        return {"event": kind, "message": event.message, "node": event.node_id or None}
    if isinstance(event, RunFinished):
        return {"event": kind, "status": str(event.status), "seconds": round(event.elapsed, 3)}
    return None


class RunLogs:
    def __init__(self) -> None:
        self._entries: dict[int, list[dict]] = {}
        self.model = None
        self.on_error: Callable[[int, str], None] = lambda job_id, why: None

    def observe(self, model, on_error: Callable[[int, str], None] | None = None) -> None:
        """Follow the run model; `on_error(job_id, why)` when a log cannot be saved."""
        self.model = model
        if on_error is not None:
            self.on_error = on_error
        model.applied.connect(self._applied)

    def _applied(self, job_id: int, event) -> None:
        entry = log_entry(event)
        if entry is not None:
            self.record(job_id, entry)
        if isinstance(event, RunFinished):
            run = self.model.run(job_id)
            if not (run.started or run.error):  # withdrawn before it began: nothing to keep
                self.forget(job_id)
                return
            try:
                self.write(job_id, run.targets, str(event.status), run.output_dir, run.title)
            except OSError as error:
                self.on_error(job_id, str(error))

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
