"""The run log panel: one row per node event (start, end with duration, cache
hit, failure, skip, a verdict below threshold), grouped by run. It observes
the run model (`observe`): each event the model applies becomes a row."""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem

from canvas_app.engine.events import (NodeFailed, NodeFinished, NodeLog, NodeResult, NodeSkipped,
                                      NodeStarted, NodeWarning, RunError, RunFinished, RunStarted,
                                      RunStatus)
from canvas_app.ui import theme
from canvas_app.ui.execution.status import deleted_text, summary_text, verdict_text
from canvas_app.ui.formatting import format_seconds
from canvas_app.ui.run_state import NodeDeletedDuringRun, RunQueued, RunStates

MAX_RUNS = 50


class LogPanel(QTreeWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setHeaderLabels(["Time", "Node", "Event", "Duration", "Details"])
        self.setAlternatingRowColors(True)
        self.setUniformRowHeights(True)
        self.setIndentation(12)
        # The Event column fits its longest word ("below threshold"): the verdict is never cut.
        event_width = self.fontMetrics().horizontalAdvance("below threshold") + 24
        for column, width in enumerate((96, 220, max(90, event_width), 80)):
            self.setColumnWidth(column, width)
        self._runs: dict[int, QTreeWidgetItem] = {}
        self.model: RunStates | None = None

    def observe(self, model: RunStates) -> None:
        self.model = model
        model.applied.connect(self._applied)

    def _applied(self, job_id: int, event) -> None:
        """One row for the event the run model just applied."""
        run = self.model.run(job_id)
        title = run.title(event.node_id) if hasattr(event, "node_id") else ""
        if isinstance(event, RunQueued):
            self.add_run(job_id, f"Run #{job_id} ({event.label}) queued", event.output_dir)
        elif isinstance(event, RunStarted):
            self.add_event(job_id, "", "started", f"{len(event.plan)} nodes to evaluate")
        elif isinstance(event, NodeStarted):
            self.add_event(job_id, title, "start", "")
        elif isinstance(event, NodeLog):
            self.add_event(job_id, title, "log", event.message)
        elif isinstance(event, NodeWarning):
            self.add_event(job_id, title, "warning", event.message, warning=True)
        elif isinstance(event, NodeResult) and run.below and run.below[-1] == event.node_id:
            self.add_event(job_id, title, "below threshold",
                           verdict_text(self.model, run, event.node_id), error=True)
        elif isinstance(event, NodeFinished):
            self.add_event(job_id, title, "cached" if event.cached else "end",
                           "served from the result cache" if event.cached else "",
                           duration=None if event.cached else event.elapsed, cached=event.cached)
        elif isinstance(event, NodeFailed):
            self.add_event(job_id, title, "failed", event.message, error=True)
        elif isinstance(event, NodeSkipped):
            self.add_event(job_id, title, "skipped", event.reason)
        elif isinstance(event, RunError):
            self.add_event(job_id, "", "not started", event.message, error=True)
        elif isinstance(event, NodeDeletedDuringRun):
            self.add_event(job_id, title, "deleted", deleted_text(run, event.node_id))
        elif isinstance(event, RunFinished):
            if not run.started and not run.error and event.status == RunStatus.CANCELLED:
                self.add_event(job_id, "", "cancelled", "removed from the queue before it started")
            else:
                self.add_event(job_id, "", str(event.status), summary_text(self.model, run),
                               duration=event.elapsed,
                               error=event.status == RunStatus.FAILED or bool(run.below))

    def add_run(self, job_id: int, title: str, output_dir: Path) -> None:
        item = QTreeWidgetItem([time.strftime("%H:%M:%S"), "", "", "", f"{title} → {output_dir}"])
        item.setFirstColumnSpanned(False)
        font = item.font(4)
        font.setBold(True)
        item.setFont(4, font)
        self.addTopLevelItem(item)
        item.setExpanded(True)
        self._runs[job_id] = item
        while self.topLevelItemCount() > MAX_RUNS:
            old = self.takeTopLevelItem(0)
            self._runs = {k: v for k, v in self._runs.items() if v is not old}
        self.scrollToItem(item)

    def add_event(self, job_id: int, node: str, event: str, details: str, *,
                  duration: float | None = None, cached: bool = False, error: bool = False,
                  warning: bool = False) -> None:
        parent = self._runs.get(job_id)
        first_line = details.strip().splitlines()[-1] if details.strip() else ""
        item = QTreeWidgetItem([time.strftime("%H:%M:%S"), node, event,
                                format_seconds(duration) if duration is not None else "", first_line])
        item.setToolTip(4, details)
        if error or warning:
            for column in range(5):
                item.setForeground(column, theme.ERROR if error else theme.SELECTION)
        elif cached:
            item.setForeground(2, theme.CACHED)
        elif event == "end":
            item.setForeground(2, theme.OK)
        if parent is None:
            self.addTopLevelItem(item)
        else:
            parent.addChild(item)
            if event in ("done", "failed", "cancelled"):
                parent.setText(2, event)
                parent.setForeground(2, theme.ERROR if error else theme.OK if event == "done"
                                     else theme.SELECTION)
        self.scrollToItem(item)

    def events(self, job_id: int) -> list[tuple[str, str, str]]:
        """(node, event, details) rows of a run (for tests)."""
        parent = self._runs.get(job_id)
        if parent is None:
            return []
        return [(parent.child(i).text(1), parent.child(i).text(2), parent.child(i).toolTip(4))
                for i in range(parent.childCount())]


