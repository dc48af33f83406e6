"""The run queue: the running job and the ones waiting, each with its own
cancel button."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QToolButton,
                               QVBoxLayout, QWidget)

from canvas_app.ui import theme


class QueuePanel(QWidget):
    cancel_requested = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.hint = QLabel("Nothing running. Ctrl+Enter runs the graph; running again while a run "
                           "is in progress queues a snapshot of the graph as it is then.")
        self.hint.setWordWrap(True)
        self.hint.setProperty("role", "dim")
        self.list = QListWidget()
        layout.addWidget(self.hint)
        layout.addWidget(self.list)
        self.job_ids: list[int] = []

    def show_jobs(self, current, queued) -> None:
        self.list.clear()
        self.job_ids = []
        jobs = ([current] if current is not None else []) + list(queued)
        self.hint.setVisible(not jobs)
        for job in jobs:
            item = QListWidgetItem()
            row = QWidget()
            row_layout = QHBoxLayout(row)
            row_layout.setContentsMargins(6, 2, 6, 2)
            state = "running" if job is current else "queued"
            label = QLabel(f"<b>#{job.id}</b> {job.label} — {state}")
            label.setStyleSheet("background: transparent")
            cancel = QToolButton()
            cancel.setIcon(theme.icon("stop"))
            cancel.setObjectName(f"cancel_job_{job.id}")
            cancel.setToolTip("Stop this run" if job is current else "Remove this run from the queue")
            cancel.clicked.connect(lambda _=False, job_id=job.id: self.cancel_requested.emit(job_id))
            row_layout.addWidget(label, 1)
            row_layout.addWidget(cancel)
            item.setSizeHint(row.sizeHint())
            self.list.addItem(item)
            self.list.setItemWidget(item, row)
            self.job_ids.append(job.id)
