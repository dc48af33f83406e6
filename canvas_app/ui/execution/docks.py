"""The window's run panels (preview, run log, run queue) and Run menu entries.

The window builds these; the panels observe the run model (`connect_run_panels`),
and the queue panel shows the controller's queue."""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import QDockWidget, QScrollArea

from canvas_app.ui import theme
from canvas_app.ui.execution.log_panel import LogPanel
from canvas_app.ui.execution.run_log import RunLogs
from canvas_app.ui.execution.status import status_line
from canvas_app.ui.execution.preview import PreviewPanel
from canvas_app.ui.execution.queue_panel import QueuePanel
from canvas_app.ui.timeline_panel import TimelinePanel, observe_runs


@dataclass
class RunPanels:
    preview: PreviewPanel
    log_panel: LogPanel
    queue_panel: QueuePanel
    preview_dock: QDockWidget
    log_dock: QDockWidget
    queue_dock: QDockWidget


def _dock(window, title: str, name: str, widget) -> QDockWidget:
    dock = QDockWidget(title, window)
    dock.setObjectName(name)
    dock.setWidget(widget)
    return dock


def build_run_docks(window) -> RunPanels:
    """Right column: the inspector above, preview and history as tabs below.
    Bottom: run log and run queue as tabs (beside problems when shown)."""
    preview, log_panel, queue_panel = PreviewPanel(), LogPanel(), QueuePanel()
    panels = RunPanels(preview, log_panel, queue_panel,
                       _dock(window, "Preview", "preview", preview),
                       _dock(window, "Run Log", "run_log", log_panel),
                       _dock(window, "Run Queue", "run_queue", queue_panel))
    window.addDockWidget(Qt.RightDockWidgetArea, panels.preview_dock)
    window.tabifyDockWidget(window.history_dock, panels.preview_dock)
    panels.preview_dock.raise_()
    window.addDockWidget(Qt.BottomDockWidgetArea, panels.log_dock)
    window.addDockWidget(Qt.BottomDockWidgetArea, panels.queue_dock)
    window.tabifyDockWidget(panels.log_dock, panels.queue_dock)
    if window.problems_dock.isVisible():
        window.tabifyDockWidget(window.problems_dock, panels.log_dock)
    panels.log_dock.raise_()
    window.resizeDocks([panels.log_dock], [170], Qt.Vertical)
    window.resizeDocks([window.inspector_dock, panels.preview_dock], [520, 360], Qt.Vertical)
    for dock in (panels.preview_dock, panels.log_dock, panels.queue_dock):
        window.panels_menu.addAction(dock.toggleViewAction())
    return panels


def build_timeline_dock(window, model) -> TimelinePanel:
    """The Timeline under the canvas, a tab beside the Run Log (the window needs
    no more height): the selected Sequence with the clips of the model's results."""
    panel = TimelinePanel(window.document,
                          lambda node_id: (model.outputs(node_id) or {}).get("clip"))
    scroll = QScrollArea()  # so the dock never makes the window need more height
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QScrollArea.NoFrame)
    scroll.setWidget(panel)
    panel.dock = _dock(window, "Timeline", "timeline", scroll)
    window.addDockWidget(Qt.BottomDockWidgetArea, panel.dock)
    window.tabifyDockWidget(window.log_dock, panel.dock)
    window.log_dock.raise_()
    window.panels_menu.addAction(panel.dock.toggleViewAction())
    observe_runs(panel, model)
    panel.progress_message.connect(lambda text: window.statusBar().showMessage(text, 4000))
    return panel


def connect_run_panels(window, panels: RunPanels, model, controller) -> RunLogs:
    """The run views follow the model; the queue panel follows the controller's
    queue and asks it to cancel. Returns the writer of run.json / run.log."""
    panels.preview.observe(model)
    panels.log_panel.observe(model)
    logs = RunLogs()
    logs.observe(model, lambda job_id, why: panels.log_panel.add_event(
        job_id, "", "log not saved", why, error=True))

    def show_status(job_id: int, event) -> None:
        line = status_line(model, job_id, event)
        if line is not None:
            window.statusBar().showMessage(*line)

    model.applied.connect(show_status)

    def show_queue() -> None:
        panels.queue_panel.show_jobs(controller.runs.current, controller.runs.waiting)
        count = len(controller.runs)
        panels.queue_dock.setWindowTitle(f"Run Queue ({count})" if count else "Run Queue")

    controller.queue_changed.connect(show_queue)
    panels.queue_panel.cancel_requested.connect(controller.cancel_job)
    return logs


def run_actions(parent, controller) -> tuple[QAction, QAction, QAction]:
    """The Run menu's output folder, open it, and clear the result cache; the
    window adds them to its menu."""
    output = QAction("Output &Folder…", parent)
    output.setToolTip("Where runs from the editor write their files")
    output.triggered.connect(controller.choose_output_dir)
    open_output = QAction(theme.icon("open"), "&Open Output Folder", parent)
    open_output.triggered.connect(
        lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(controller.output_dir()))))
    clear_cache = QAction("&Clear Result Cache", parent)
    clear_cache.triggered.connect(controller.clear_cache)
    return output, open_output, clear_cache
