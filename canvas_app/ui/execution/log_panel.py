"""The run log panel: one row per node event (start, end with duration, cache
hit, failure, skip), grouped by run."""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem

from canvas_app.ui import theme
from canvas_app.ui.formatting import format_seconds

MAX_RUNS = 50


class LogPanel(QTreeWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setHeaderLabels(["Time", "Node", "Event", "Duration", "Details"])
        self.setAlternatingRowColors(True)
        self.setUniformRowHeights(True)
        self.setIndentation(12)
        for column, width in enumerate((96, 220, 90, 80)):
            self.setColumnWidth(column, width)
        self._runs: dict[int, QTreeWidgetItem] = {}

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
                  duration: float | None = None, cached: bool = False, error: bool = False) -> None:
        parent = self._runs.get(job_id)
        first_line = details.strip().splitlines()[-1] if details.strip() else ""
        item = QTreeWidgetItem([time.strftime("%H:%M:%S"), node, event,
                                format_seconds(duration) if duration is not None else "", first_line])
        item.setToolTip(4, details)
        if error:
            for column in range(5):
                item.setForeground(column, theme.ERROR)
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


