"""The GUI side of execution: the run queue, node states on the canvas, the
preview, log and queue panels, and the worker thread's lifetime."""
from __future__ import annotations

import atexit
import json
import os
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QAction, QDesktopServices, QImage
from PySide6.QtWidgets import QDockWidget, QFileDialog

from canvas_app.engine import Executor
from canvas_app.fileio import atomic_write_text
from canvas_app.ui import theme
from canvas_app.ui.execution.log_panel import LogPanel
from canvas_app.ui.execution.preview import PreviewPanel
from canvas_app.ui.execution.queue_panel import QueuePanel
from canvas_app.ui.execution.worker import (EngineWorker, ProcessEngineWorker, RunJob,
                                            frame_to_qimage)
from canvas_app.ui.items import format_seconds

OUTPUT_KEY = "output_dir"
_live_controllers: "weakref.WeakSet[ExecutionController]" = weakref.WeakSet()


@atexit.register
def _join_workers() -> None:
    """A script that never closes its window still must not exit with the
    engine thread running ("QThread: Destroyed while thread is still running")."""
    for controller in list(_live_controllers):
        try:
            controller.shutdown(5000)
        except RuntimeError:  # its Qt objects are already gone
            pass


@dataclass(frozen=True)
class RunSummary:
    status: str
    executed: list[str]  # node ids that really ran, in order
    cached: set[str]  # node ids served from the cache
    failures: dict[str, str]
    elapsed: float


def make_worker(executor: Executor | None = None):
    """The engine thread. CANVAS_APP_ENGINE=process (the default) runs node work
    in a child process that this thread drives; =thread runs it in this thread
    of the editor's process (simpler, but native code that holds the GIL,
    such as dlib's face detector, then stalls the GUI while it runs)."""
    mode = os.environ.get("CANVAS_APP_ENGINE", "process").lower()
    if mode == "thread" or executor is not None:
        if executor is None:
            disk_cache = None
            if os.environ.get("CANVAS_APP_NO_DISK_CACHE") != "1":
                from canvas_app.engine.disk_cache import DiskCache

                disk_cache = DiskCache()
            executor = Executor(disk_cache=disk_cache)
        return EngineWorker(executor)
    return ProcessEngineWorker("" if os.environ.get("CANVAS_APP_NO_DISK_CACHE") == "1" else None)


def result_picture(outputs: dict[str, Any]):
    """The picture a node shows for its result: a render's middle frame or an
    identity's portrait; None for results that have no picture."""
    for value in outputs.values():
        frames = getattr(value, "frames", None)
        if frames:
            return frames[len(frames) // 2]
        portrait = getattr(value, "portrait", None)
        if portrait is not None:
            return portrait
    return None


def result_likeness(outputs: dict[str, Any]) -> tuple[float | None, bool] | None:
    """(identity score, passed) of a render, or of a whole cut (mean over its
    shots, passed only if every shot passed); None for other results."""
    for value in outputs.values():
        report = getattr(value, "report", None)
        if isinstance(report, dict) and isinstance(report.get("summary"), dict):
            summary = report["summary"]
            return summary.get("mean_identity"), bool(summary.get("all_passed", True))
        metadata = getattr(value, "metadata", None)
        score = metadata.get("identity_score") if isinstance(metadata, dict) else None
        if isinstance(score, dict):
            shown = score.get("effective_mean", score.get("mean"))
            return shown, bool(metadata.get("identity_passed", True))
    return None


class ExecutionController(QObject):
    job_finished = Signal(int, str)  # job id, status (tests and scripts wait on it)
    running_changed = Signal(bool)

    def __init__(self, window, executor: Executor | None = None) -> None:
        super().__init__(window)
        self._chosen_output_dirs: set[Path] = set()  # picked by the user in this session
        self.window = window
        self.document = None
        self.worker = make_worker(executor)
        self.thread = self.worker
        queued = Qt.QueuedConnection
        w = self.worker
        w.run_started.connect(self._run_started, queued)
        w.node_started.connect(self._node_started, queued)
        w.node_host.connect(self._node_host, queued)
        w.node_progress.connect(self._node_progress, queued)
        w.node_preview.connect(self._node_preview, queued)
        w.node_log.connect(self._node_log, queued)
        w.node_finished.connect(self._node_finished, queued)
        w.node_failed.connect(self._node_failed, queued)
        w.node_skipped.connect(self._node_skipped, queued)
        w.run_finished.connect(self._run_finished, queued)
        w.run_error.connect(self._run_error, queued)
        w.start()
        self.jobs: dict[int, RunJob] = {}
        self.queue: list[RunJob] = []
        self.current: RunJob | None = None
        self.outputs: dict[str, dict[str, Any]] = {}  # node id -> outputs of its latest run
        self.node_info: dict[str, dict[str, Any]] = {}  # node id -> state, message, elapsed
        self.live: dict[str, tuple[QImage, str]] = {}  # node id -> latest preview frame, kind
        self._edited: dict[int, set[str]] = {}  # job id -> nodes edited since its snapshot
        self._logs: dict[int, list[dict]] = {}
        self._errors: dict[int, str] = {}  # job id -> why it could not start
        self.results: dict[int, RunSummary] = {}  # job id -> what ran and what came from cache
        self._generation = 0  # bumped for each document opened
        self._job_generation: dict[int, int] = {}  # job id -> the generation it was queued in
        self._shut_down = False
        self._build_panels()
        _live_controllers.add(self)

    # -- panels ----------------------------------------------------------------------
    def _build_panels(self) -> None:
        window = self.window
        self.preview = PreviewPanel()
        self.preview_dock = QDockWidget("Preview", window)
        self.preview_dock.setObjectName("preview")
        self.preview_dock.setWidget(self.preview)
        # Right column: the inspector above, preview and history as tabs below.
        window.addDockWidget(Qt.RightDockWidgetArea, self.preview_dock)
        window.tabifyDockWidget(window.history_dock, self.preview_dock)
        self.preview_dock.raise_()
        self.log_panel = LogPanel()
        self.log_dock = QDockWidget("Run Log", window)
        self.log_dock.setObjectName("run_log")
        self.log_dock.setWidget(self.log_panel)
        window.addDockWidget(Qt.BottomDockWidgetArea, self.log_dock)
        self.queue_panel = QueuePanel()
        self.queue_panel.cancel_requested.connect(self.cancel_job)
        self.queue_dock = QDockWidget("Run Queue", window)
        self.queue_dock.setObjectName("run_queue")
        self.queue_dock.setWidget(self.queue_panel)
        window.addDockWidget(Qt.BottomDockWidgetArea, self.queue_dock)
        window.tabifyDockWidget(self.log_dock, self.queue_dock)
        if window.problems_dock.isVisible():
            window.tabifyDockWidget(window.problems_dock, self.log_dock)
        self.log_dock.raise_()
        window.resizeDocks([self.log_dock], [170], Qt.Vertical)
        window.resizeDocks([window.inspector_dock, self.preview_dock], [520, 360], Qt.Vertical)
        for dock in (self.preview_dock, self.log_dock, self.queue_dock):
            window.panels_menu.addAction(dock.toggleViewAction())
        self.act_output = QAction("Output &Folder…", window)
        self.act_output.setToolTip("Where runs from the editor write their files")
        self.act_output.triggered.connect(self.choose_output_dir)
        self.act_open_output = QAction(theme.icon("open"), "&Open Output Folder", window)
        self.act_open_output.triggered.connect(
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.output_dir()))))
        self.act_clear_cache = QAction("&Clear Result Cache", window)
        self.act_clear_cache.triggered.connect(self.clear_cache)
        window.run_menu.addSeparator()
        window.run_menu.addActions([self.act_output, self.act_open_output, self.act_clear_cache])

    # -- document --------------------------------------------------------------------
    def set_document(self, document) -> None:
        if self.document is not None:
            self.document.graph.unsubscribe(self._on_graph_event)
            self.cancel_all()
        self._generation += 1  # the old document's jobs still finish, but touch nothing here
        self.document = document
        document.graph.subscribe(self._on_graph_event)
        self.outputs.clear()
        self.node_info.clear()
        self.live.clear()
        self.preview.show_node(None, None, None)

    def _on_graph_event(self, event: str, payload: dict) -> None:
        """Edits while running are allowed: the run keeps its snapshot; what
        the edit affects is marked stale on the canvas."""
        graph = self.document.graph
        if event in ("param_changed", "title_changed"):
            touched = {payload["node"].id}
        elif event in ("link_added", "link_removed"):
            touched = {payload["link"].dst}
        elif event == "node_removed":
            node_id = payload["node"].id
            self.outputs.pop(node_id, None)
            self.node_info.pop(node_id, None)
            return
        else:
            return
        for node_id in list(touched):
            if node_id in graph.nodes:
                touched |= graph.downstream_ids(node_id)
        for job_id in self._edited:
            self._edited[job_id] |= touched
        scene = self.window.scene
        for node_id in touched:
            info = self.node_info.get(node_id)
            if info and info["state"] in ("done", "cached"):
                info["stale"] = True
                scene.set_run_state(node_id, stale=True)

    # -- output folder ---------------------------------------------------------------
    def output_dir(self) -> Path:
        document = self.document
        stored = document.graph.metadata.get(OUTPUT_KEY)
        base = document.base_dir
        if stored:
            path = Path(stored)
            if not path.is_absolute():
                path = (base or Path.cwd()) / path
            # A project is data from anyone: it may only name a folder inside its own
            # folder, unless this user picked the folder in this session.
            if self._output_allowed(path):
                return path
            self.window.statusBar().showMessage(
                f"The project's output folder {stored} is outside the project folder; using the "
                "default. Choose it with Run > Output Folder to use it.", 8000)
        if base is not None:
            return base / "output"
        from canvas_app.ui.settings import recovery_dir

        return recovery_dir().parent / "untitled-output"

    def _output_allowed(self, path: Path) -> bool:
        base = self.document.base_dir
        resolved = path.resolve()
        if resolved in self._chosen_output_dirs:
            return True
        return base is not None and resolved.is_relative_to(base.resolve())

    def choose_output_dir(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Output folder for runs",
                                                  str(self.output_dir()))
        if folder:
            self._chosen_output_dirs.add(Path(folder).resolve())
            base = self.document.base_dir
            try:
                value = Path(folder).resolve().relative_to(base.resolve()).as_posix() if base else folder
            except ValueError:
                value = folder
            self.document.set_metadata(OUTPUT_KEY, value, "Set output folder")

    def clear_cache(self) -> None:
        self.worker.clear_cache()
        self.window.statusBar().showMessage("Result cache cleared", 3000)

    # -- running ---------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.current is not None

    def run(self, targets: list[str] | None = None) -> RunJob | None:
        """Queue a run of a snapshot of the graph now. Starts at once when
        nothing runs; otherwise waits its turn in the queue."""
        if self._shut_down or self.document is None:
            return None
        graph = self.document.graph
        if not graph.nodes:
            self.window.statusBar().showMessage("Nothing to run: the graph is empty", 4000)
            return None
        if targets:
            names = ", ".join(graph.nodes[t].title for t in targets if t in graph.nodes)
            label = f"to {names}"
        else:
            label = "whole graph"
        job = RunJob(snapshot=graph.snapshot(), targets=list(targets) if targets else None,
                     output_dir=self.output_dir(), project_dir=self.document.base_dir, label=label)
        self.jobs[job.id] = job
        self._edited[job.id] = set()
        self._logs[job.id] = []
        self._job_generation[job.id] = self._generation
        self.queue.append(job)
        self.log_panel.add_run(job.id, f"Run #{job.id} ({label}) queued", job.output_dir)
        self._pump()
        self._refresh_queue()
        return job

    def _pump(self) -> None:
        if self.current is not None or not self.queue or self._shut_down:
            return
        job = self.queue.pop(0)
        self.current = job
        job.status = "running"
        self.running_changed.emit(True)
        self._set_actions()
        self.worker.submit(job)

    def stop(self) -> None:
        """Cancel the running job (queued ones keep waiting)."""
        if self.current is not None:
            self.current.token.cancel()
            self.window.statusBar().showMessage(f"Stopping run #{self.current.id}…", 3000)

    def cancel_job(self, job_id: int) -> None:
        job = self.jobs.get(job_id)
        if job is None:
            return
        if job is self.current:
            self.stop()
            return
        if job in self.queue:
            self.queue.remove(job)
            self._job_generation.pop(job.id, None)
            job.token.cancel()
            job.status = "cancelled"
            self.log_panel.add_event(job.id, "", "cancelled", "removed from the queue before it started")
            self._refresh_queue()
            self.job_finished.emit(job.id, "cancelled")

    def cancel_all(self) -> None:
        for job in list(self.queue):
            self.cancel_job(job.id)
        self.stop()

    def shutdown(self, timeout_ms: int = 15000) -> None:
        """Cancel everything and join the worker thread (window close)."""
        if self._shut_down:
            return
        self._shut_down = True
        for job in self.queue:
            job.token.cancel()
        self.queue.clear()
        if self.current is not None:
            self.current.token.cancel()
        self.worker.stop_thread()
        if not self.thread.wait(timeout_ms):
            self.thread.wait()  # a node that ignores cancel: still never leave it running
        if self.document is not None:
            self.document.graph.unsubscribe(self._on_graph_event)

    def _set_actions(self) -> None:
        window = self.window
        window.act_stop.setEnabled(self.current is not None)

    def _refresh_queue(self) -> None:
        self.queue_panel.show_jobs(self.current, self.queue)
        count = len(self.queue) + (1 if self.current else 0)
        self.queue_dock.setWindowTitle(f"Run Queue ({count})" if count else "Run Queue")

    # -- engine events (GUI thread) --------------------------------------------------
    def _is_current(self, job_id: int) -> bool:
        return self.current is not None and self.current.id == job_id

    def _for_open_document(self, job_id: int) -> bool:
        """False for a job of a document that has since been closed: its late
        events must not reach the open document's nodes that share its ids."""
        return self._job_generation.get(job_id) == self._generation

    def _log(self, job_id: int, entry: dict) -> None:
        entry.setdefault("time", time.time())
        self._logs.setdefault(job_id, []).append(entry)

    def _title(self, job_id: int, node_id: str) -> str:
        job = self.jobs.get(job_id)
        node = job.snapshot.nodes.get(node_id) if job else None
        return node.title if node else node_id

    def _set_state(self, node_id: str, state: str, **kwargs) -> None:
        info = self.node_info.setdefault(node_id, {})
        info.update(state=state, **kwargs)
        self.window.scene.set_run_state(node_id, state, **kwargs)
        if self.window.scene.selected_node_ids() == [node_id]:
            self._show_selected_info(node_id)

    @Slot(int, object)
    def _run_started(self, job_id: int, plan) -> None:
        if not self._is_current(job_id) or not self._for_open_document(job_id):
            return
        self._log(job_id, {"event": "run_started", "plan": list(plan)})
        self.log_panel.add_event(job_id, "", "started", f"{len(plan)} nodes to evaluate")
        for node_id in plan:
            self._set_state(node_id, "queued", progress=0.0, message="", stale=False)
        self.window.statusBar().showMessage(f"Running #{job_id}: {len(plan)} nodes", 3000)

    @Slot(int, str)
    def _node_started(self, job_id: int, node_id: str) -> None:
        self._log(job_id, {"node": node_id, "event": "start"})
        self.log_panel.add_event(job_id, self._title(job_id, node_id), "start", "")
        if self._for_open_document(job_id):
            self._set_state(node_id, "running", progress=0.0, message="")

    @Slot(int, str, str)
    def _node_host(self, job_id: int, node_id: str, host: str) -> None:
        item = self.window.scene.node_items.get(node_id)
        if item is not None and self._for_open_document(job_id):
            item.run.host = host  # the footer says "on HOST" while it renders on the farm
            item.update()

    @Slot(int, str, float, str)
    def _node_progress(self, job_id: int, node_id: str, fraction: float, message: str) -> None:
        if self._for_open_document(job_id):
            self._set_state(node_id, "running", progress=fraction, message=message)

    @Slot(int, str, QImage, str, float)
    def _node_preview(self, job_id: int, node_id: str, image: QImage, kind: str, produced: float) -> None:
        if not self._for_open_document(job_id):
            return
        self.live[node_id] = (image, kind)
        self.preview.live_frame(node_id, image, kind, produced)
        item = self.window.scene.node_items.get(node_id)
        if item is not None:
            item.set_result_image(image)

    @Slot(int, str, str)
    def _node_log(self, job_id: int, node_id: str, message: str) -> None:
        self._log(job_id, {"node": node_id, "event": "log", "message": message})
        self.log_panel.add_event(job_id, self._title(job_id, node_id), "log", message)

    @Slot(int, str, bool, float)
    def _node_finished(self, job_id: int, node_id: str, cached: bool, elapsed: float) -> None:
        stale = node_id in self._edited.get(job_id, ())
        self._log(job_id, {"node": node_id, "event": "end", "cached": cached,
                           "seconds": round(elapsed, 4)})
        self.log_panel.add_event(job_id, self._title(job_id, node_id), "cached" if cached else "end",
                                 "served from the result cache" if cached else "",
                                 duration=None if cached else elapsed, cached=cached)
        if self._for_open_document(job_id):
            self._set_state(node_id, "cached" if cached else "done", progress=1.0, message="",
                            elapsed=None if cached else elapsed, stale=stale)
            self.live.pop(node_id, None)

    @Slot(int, str, str)
    def _node_failed(self, job_id: int, node_id: str, message: str) -> None:
        self._log(job_id, {"node": node_id, "event": "failed", "message": message})
        self.log_panel.add_event(job_id, self._title(job_id, node_id), "failed", message, error=True)
        if not self._for_open_document(job_id):
            return
        self._set_state(node_id, "failed", message=message)
        self.window.statusBar().showMessage(f"{self._title(job_id, node_id)} failed: {message}", 10000)

    @Slot(int, str, str)
    def _node_skipped(self, job_id: int, node_id: str, reason: str) -> None:
        self._log(job_id, {"node": node_id, "event": "skipped", "reason": reason})
        self.log_panel.add_event(job_id, self._title(job_id, node_id), "skipped", reason)
        if self._for_open_document(job_id):
            self._set_state(node_id, "skipped", message=reason)

    @Slot(int, str)
    def _run_error(self, job_id: int, message: str) -> None:
        self._errors[job_id] = message
        self._log(job_id, {"event": "error", "message": message})
        self.log_panel.add_event(job_id, "", "not started", message, error=True)
        if not self._for_open_document(job_id):
            return
        self.window.statusBar().showMessage(f"Cannot run: {message}", 12000)
        job = self.jobs.get(job_id)
        if job is not None:  # point at the node the message names, when it does
            for node_id, node in job.snapshot.nodes.items():
                if node.label in message or f"node {node_id}" in message:
                    self._set_state(node_id, "failed", message=message)
                    break

    @Slot(int, str, float, object)
    def _run_finished(self, job_id: int, status: str, elapsed: float, result) -> None:
        job = self.jobs.get(job_id)
        if job is not None:
            job.status = status
        self._log(job_id, {"event": "run_finished", "status": status, "seconds": round(elapsed, 3)})
        # A job of a document closed since (set_document) only finishes its bookkeeping.
        ours = self._for_open_document(job_id)
        if result is not None:
            self.results[job_id] = RunSummary(status, list(result.executed), set(result.cached),
                                              dict(result.failures), elapsed)
        if result is not None and ours:
            for node_id, outputs in result.outputs.items():
                self.outputs[node_id] = outputs
                item = self.window.scene.node_items.get(node_id)
                picture = result_picture(outputs)
                if item is not None and picture is not None:
                    item.set_result_image(frame_to_qimage(picture))
                likeness = result_likeness(outputs)
                if item is not None and likeness is not None:
                    item.set_likeness(*likeness)
        if status == "cancelled" and job is not None and ours:
            for node_id, info in self.node_info.items():
                if info.get("state") == "running":
                    self._set_state(node_id, "cancelled", message="stopped")
                elif info.get("state") == "queued":
                    self._set_state(node_id, "idle", message="")
        if status == "failed" and result is None and ours:  # the engine itself failed mid-run
            for node_id, info in self.node_info.items():
                if info.get("state") == "running":
                    self._set_state(node_id, "failed", message=self._errors.get(job_id, "failed"))
                elif info.get("state") == "queued":
                    self._set_state(node_id, "idle", message="")
        summary = f"Run #{job_id} {status} in {format_seconds(elapsed)}"
        if job_id in self._errors:
            started = any(e.get("event") == "run_started" for e in self._logs.get(job_id, []))
            summary = f"Run #{job_id} failed: {self._errors.pop(job_id)}" if started else \
                f"Cannot run #{job_id}: {self._errors.pop(job_id)}"
        if result is not None:
            summary += f" ({len(result.executed)} ran, {len(result.cached)} from cache)"
            if result.failures:
                node_id, message = next(iter(result.failures.items()))
                summary += f" — {self._title(job_id, node_id)}: {message}"
        self.log_panel.add_event(job_id, "", status, summary, duration=elapsed,
                                 error=status == "failed")
        self._write_log(job, status)
        if ours:
            self.window.statusBar().showMessage(summary, 8000)
        if self._is_current(job_id):
            self.current = None
        self._edited.pop(job_id, None)
        self._job_generation.pop(job_id, None)
        self._set_actions()
        self._refresh_queue()
        self.selection_changed(self.window.scene.selected_node_ids())
        self.job_finished.emit(job_id, status)
        self._pump()
        if self.current is None:
            self.running_changed.emit(False)

    def _write_log(self, job: RunJob | None, status: str) -> None:
        """run.json (the events) and run.log (readable) beside the outputs."""
        if job is None or not job.output_dir.is_dir():
            return
        entries = self._logs.pop(job.id, [])
        lines = []
        for entry in entries:
            stamp = time.strftime("%H:%M:%S", time.localtime(entry["time"]))
            node = entry.get("node")
            title = f"{self._title(job.id, node)} ({node})" if node else "run"
            event = entry["event"]
            detail = {"end": f"{entry.get('seconds', 0):.2f} s" + (" (cached)" if entry.get("cached") else ""),
                      "failed": entry.get("message", ""), "skipped": entry.get("reason", ""),
                      "log": entry.get("message", ""), "error": entry.get("message", ""),
                      "run_finished": f"{entry.get('status')} in {entry.get('seconds')} s",
                      "run_started": f"{len(entry.get('plan', []))} nodes"}.get(event, "")
            lines.append(f"{stamp}  {title:<40} {event:<13} {detail}".rstrip())
        try:
            atomic_write_text(job.output_dir / "run.json", json.dumps(
                {"run": job.id, "targets": job.targets, "status": status, "events": entries},
                indent=1, default=str) + "\n")
            atomic_write_text(job.output_dir / "run.log", "\n".join(lines) + "\n")
        except OSError as error:
            self.log_panel.add_event(job.id, "", "log not saved", str(error), error=True)

    # -- selection -------------------------------------------------------------------
    def selection_changed(self, node_ids: list[str]) -> None:
        node_id = node_ids[0] if len(node_ids) == 1 else None
        if node_id is None:
            self.preview.show_node(None, None, None)
            return
        node = self.document.graph.nodes.get(node_id)
        self.preview.show_node(node_id, node.title if node else node_id, self.outputs.get(node_id),
                               live=self.live.get(node_id))
        self._show_selected_info(node_id)

    def _show_selected_info(self, node_id: str) -> None:
        info = self.node_info.get(node_id, {})
        state = info.get("state", "idle")
        message = info.get("message", "")
        if state == "done" and info.get("elapsed") is not None:
            message = f"Done in {format_seconds(info['elapsed'])}"
        elif state == "cached":
            message = "Result served from the cache"
        elif state == "running":
            message = f"Running… {int(info.get('progress', 0) * 100)}% {message}".strip()
        if info.get("stale") and state in ("done", "cached"):
            message += " — edited since; run again to update"
        self.window.inspector.set_run_info(state, message if state != "idle" else "")
