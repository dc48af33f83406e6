"""The GUI side of execution: queues runs of graph snapshots, turns the
worker's events into the run-state model (which the canvas and the inspector
observe), drives the run panels the window gave it, and owns the worker
thread's lifetime."""
from __future__ import annotations

import atexit
import os
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog

from canvas_app.engine import Executor
from canvas_app.ui.execution.docks import RunPanels
from canvas_app.ui.execution.run_log import RunLogs
from canvas_app.ui.execution.run_queue import RunQueue
from canvas_app.ui.execution.worker import (EngineWorker, ProcessEngineWorker, RunJob,
                                            frame_to_qimage)
from canvas_app.ui.formatting import format_seconds
from canvas_app.ui.run_state import RunStates

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


def result_likeness(outputs: dict[str, Any]) -> tuple[float | None, bool, float | None] | None:
    """(identity score, passed, threshold) of a render, or of a whole cut (mean
    over its shots, passed only if every shot passed, no single threshold);
    None for other results."""
    for value in outputs.values():
        report = getattr(value, "report", None)
        if isinstance(report, dict) and isinstance(report.get("summary"), dict):
            summary = report["summary"]
            return summary.get("mean_identity"), bool(summary.get("all_passed", True)), None
        metadata = getattr(value, "metadata", None)
        score = metadata.get("identity_score") if isinstance(metadata, dict) else None
        if isinstance(score, dict):
            shown = score.get("effective_mean", score.get("mean"))
            return shown, bool(metadata.get("identity_passed", True)), metadata.get("identity_threshold")
    return None


class ExecutionController(QObject):
    job_finished = Signal(int, str)  # job id, status (tests and scripts wait on it)
    running_changed = Signal(bool)
    status_message = Signal(str, int)  # text, milliseconds (the window's status bar)

    def __init__(self, window, panels: RunPanels, run_states: RunStates,
                 executor: Executor | None = None) -> None:
        super().__init__(window)
        self._chosen_output_dirs: set[Path] = set()  # picked by the user in this session
        self.window = window  # parent of dialogs
        self.document = None
        self.run_states = run_states
        run_states.edited.connect(self._nodes_edited)
        self._key_dirs: tuple[Path | None, Path | None] = (None, None)  # the last run's folders
        self._key_executor = None
        run_states.key_source = self.current_keys
        self.preview, self.log_panel, self.queue_panel = panels.preview, panels.log_panel, panels.queue_panel
        self.queue_dock = panels.queue_dock
        self.queue_panel.cancel_requested.connect(self.cancel_job)
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
        self.runs = RunQueue()
        self.outputs: dict[str, dict[str, Any]] = {}  # node id -> outputs of its latest run
        self.live: dict[str, tuple[QImage, str]] = {}  # node id -> latest preview frame, kind
        self._logs = RunLogs()
        self._errors: dict[int, str] = {}  # job id -> why it could not start
        self.results: dict[int, RunSummary] = {}  # job id -> what ran and what came from cache
        self._generation = 0  # bumped for each document opened
        self._shut_down = False
        _live_controllers.add(self)

    # -- document --------------------------------------------------------------------
    def set_document(self, document) -> None:
        if self.document is not None:
            self.cancel_all()
        self._generation += 1  # the old document's jobs still finish, but touch nothing here
        self.document = document
        self.outputs.clear()
        self.live.clear()
        self.preview.show_node(None, None, None)

    def _nodes_edited(self, node_ids: set[str]) -> None:
        """Edits while running are allowed: each run keeps its snapshot, and
        remembers which of its nodes were edited since it was taken."""
        self.runs.note_edited(node_ids)
        for node_id in node_ids:
            if self.document is not None and node_id not in self.document.graph.nodes:
                self.outputs.pop(node_id, None)
                self._deleted_during_run(node_id)

    def _deleted_during_run(self, node_id: str) -> None:
        """A node deleted while a run that includes it is under way: the run
        keeps its snapshot and still computes it; say so, and how to stop it."""
        jobs = [job for job in [self.runs.current, *self.runs.waiting]
                if job is not None and node_id in job.snapshot.nodes]
        if not jobs:
            return
        job = jobs[0]
        title = job.snapshot.nodes[node_id].title
        text = (f"{title} deleted from the canvas; run #{job.id} keeps the snapshot it started "
                "from and still computes it (Stop, Ctrl+., cancels that run)")
        self.log_panel.add_event(job.id, title, "deleted", text)
        self.status_message.emit(text, 10000)

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
            self.status_message.emit(
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

    def current_keys(self, graph, node_ids) -> dict[str, str]:
        """The cache keys nodes would have in a run now (as the last run saw
        its folders): "edited since" is a key that differs from the result's."""
        if self._key_executor is None:
            from canvas_app.engine.executor import Executor

            self._key_executor = Executor()
        output_dir, project_dir = self._key_dirs
        return self._key_executor.keys_for(graph, node_ids, output_dir=output_dir,
                                           project_dir=project_dir)

    def clear_cache(self) -> int | None:
        """Empty the results held in memory and the renders kept on disk;
        returns the bytes freed on disk (None: refused during a run)."""
        if self.running:
            self.status_message.emit("Stop the run before clearing the result cache", 6000)
            return None
        self.worker.clear_cache()
        freed = 0
        if os.environ.get("CANVAS_APP_NO_DISK_CACHE") != "1":
            from canvas_app.engine.disk_cache import DiskCache

            freed = DiskCache().clear()
        self.status_message.emit(f"Result cache cleared: {freed / 1e6:.1f} MB freed on disk; "
                                 "the next run computes everything again", 8000)
        return freed

    # -- running ---------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.runs.current is not None

    @property
    def current(self) -> RunJob | None:
        return self.runs.current

    @property
    def queue(self) -> list[RunJob]:
        """Jobs waiting their turn, in order."""
        return list(self.runs.waiting)

    def run(self, targets: list[str] | None = None) -> RunJob | None:
        """Queue a run of a snapshot of the graph now. Starts at once when
        nothing runs; otherwise waits its turn in the queue."""
        if self._shut_down or self.document is None:
            return None
        graph = self.document.graph
        if not graph.nodes:
            self.status_message.emit("Nothing to run: the graph is empty", 4000)
            return None
        if targets:
            names = ", ".join(graph.nodes[t].title for t in targets if t in graph.nodes)
            label = f"to {names}"
        else:
            label = "whole graph"
        job = RunJob(snapshot=graph.snapshot(), targets=list(targets) if targets else None,
                     output_dir=self.output_dir(), project_dir=self.document.base_dir, label=label)
        self.runs.add(job, self._generation)
        self.log_panel.add_run(job.id, f"Run #{job.id} ({label}) queued", job.output_dir)
        self._pump()
        self._refresh_queue()
        return job

    def _pump(self) -> None:
        if self._shut_down:
            return
        job = self.runs.start_next()
        if job is None:
            return
        self.running_changed.emit(True)
        self.worker.submit(job)

    def stop(self) -> None:
        """Cancel the running job (queued ones keep waiting)."""
        current = self.runs.current
        if current is not None:
            current.token.cancel()
            self.status_message.emit(f"Stopping run #{current.id}…", 3000)

    def cancel_job(self, job_id: int) -> None:
        if self.runs.is_current(job_id):
            self.stop()
            return
        job = self.runs.withdraw(job_id)
        if job is not None:
            job.token.cancel()
            job.status = "cancelled"
            self._logs.forget(job_id)
            self.log_panel.add_event(job.id, "", "cancelled", "removed from the queue before it started")
            self._refresh_queue()
            self.job_finished.emit(job.id, "cancelled")

    def cancel_all(self) -> None:
        for job in list(self.runs.waiting):
            self.cancel_job(job.id)
        self.stop()

    def shutdown(self, timeout_ms: int = 15000) -> None:
        """Cancel everything and join the worker thread (window close)."""
        if self._shut_down:
            return
        self._shut_down = True
        for job in list(self.runs.waiting):
            job.token.cancel()
            self.runs.withdraw(job.id)
        if self.runs.current is not None:
            self.runs.current.token.cancel()
        self.worker.stop_thread()
        if not self.thread.wait(timeout_ms):
            self.thread.wait()  # a node that ignores cancel: still never leave it running
        try:
            self.run_states.edited.disconnect(self._nodes_edited)
        except (RuntimeError, TypeError):
            pass

    def _refresh_queue(self) -> None:
        self.queue_panel.show_jobs(self.runs.current, self.runs.waiting)
        count = len(self.runs)
        self.queue_dock.setWindowTitle(f"Run Queue ({count})" if count else "Run Queue")

    # -- engine events (GUI thread) --------------------------------------------------
    def _for_open_document(self, job_id: int) -> bool:
        """False for a job of a document that has since been closed: its late
        events must not reach the open document's nodes that share its ids."""
        return self.runs.generation(job_id) == self._generation

    def _title(self, job_id: int, node_id: str) -> str:
        job = self.runs.job(job_id)
        node = job.snapshot.nodes.get(node_id) if job else None
        return node.title if node else node_id

    @Slot(int, object)
    def _run_started(self, job_id: int, plan) -> None:
        if not self.runs.is_current(job_id) or not self._for_open_document(job_id):
            return
        self._logs.record(job_id, {"event": "run_started", "plan": list(plan)})
        self.log_panel.add_event(job_id, "", "started", f"{len(plan)} nodes to evaluate")
        for node_id in plan:
            self.run_states.update(node_id, "queued", progress=0.0, message="", stale=False)
        self.status_message.emit(f"Running #{job_id}: {len(plan)} nodes", 3000)

    @Slot(int, str)
    def _node_started(self, job_id: int, node_id: str) -> None:
        self._logs.record(job_id, {"node": node_id, "event": "start"})
        self.log_panel.add_event(job_id, self._title(job_id, node_id), "start", "")
        if self._for_open_document(job_id):
            self.run_states.update(node_id, "running", progress=0.0, message="")
            self.preview.node_started(node_id, self._title(job_id, node_id))

    @Slot(int, str, str)
    def _node_host(self, job_id: int, node_id: str, host: str) -> None:
        if self._for_open_document(job_id):
            self.run_states.set_host(node_id, host)  # the footer says "on HOST" on the farm

    @Slot(int, str, float, str)
    def _node_progress(self, job_id: int, node_id: str, fraction: float, message: str) -> None:
        if self._for_open_document(job_id):
            self.run_states.update(node_id, "running", progress=fraction, message=message)

    @Slot(int, str, QImage, str, float)
    def _node_preview(self, job_id: int, node_id: str, image: QImage, kind: str, produced: float) -> None:
        if not self._for_open_document(job_id):
            return
        self.live[node_id] = (image, kind)
        self.preview.live_frame(node_id, image, kind, produced, self._title(job_id, node_id))
        self.run_states.set_picture(node_id, image)

    @Slot(int, str, str)
    def _node_log(self, job_id: int, node_id: str, message: str) -> None:
        self._logs.record(job_id, {"node": node_id, "event": "log", "message": message})
        self.log_panel.add_event(job_id, self._title(job_id, node_id), "log", message)

    @Slot(int, str, bool, float)
    def _node_finished(self, job_id: int, node_id: str, cached: bool, elapsed: float) -> None:
        stale = node_id in self.runs.edited(job_id)
        self._logs.record(job_id, {"node": node_id, "event": "end", "cached": cached,
                                   "seconds": round(elapsed, 4)})
        self.log_panel.add_event(job_id, self._title(job_id, node_id), "cached" if cached else "end",
                                 "served from the result cache" if cached else "",
                                 duration=None if cached else elapsed, cached=cached)
        if self._for_open_document(job_id):
            self.run_states.update(node_id, "cached" if cached else "done", progress=1.0, message="",
                                   elapsed=None if cached else elapsed, stale=stale)
            self.live.pop(node_id, None)

    @Slot(int, str, str)
    def _node_failed(self, job_id: int, node_id: str, message: str) -> None:
        self._logs.record(job_id, {"node": node_id, "event": "failed", "message": message})
        self.log_panel.add_event(job_id, self._title(job_id, node_id), "failed", message, error=True)
        if not self._for_open_document(job_id):
            return
        self.run_states.update(node_id, "failed", message=message)
        self.status_message.emit(f"{self._title(job_id, node_id)} failed: {message}", 10000)

    @Slot(int, str, str)
    def _node_skipped(self, job_id: int, node_id: str, reason: str) -> None:
        self._logs.record(job_id, {"node": node_id, "event": "skipped", "reason": reason})
        self.log_panel.add_event(job_id, self._title(job_id, node_id), "skipped", reason)
        if self._for_open_document(job_id):
            self.run_states.update(node_id, "skipped", message=reason)

    @Slot(int, str, str)
    def _run_error(self, job_id: int, node_id: str, message: str) -> None:
        """The run could not start (or the engine failed); `node_id` names the
        node at fault when the engine knows one."""
        self._errors[job_id] = message
        self._logs.record(job_id, {"event": "error", "message": message, "node": node_id or None})
        self.log_panel.add_event(job_id, "", "not started", message, error=True)
        if not self._for_open_document(job_id):
            return
        self.status_message.emit(f"Cannot run: {message}", 12000)
        if node_id:
            self.run_states.update(node_id, "failed", message=message)

    @Slot(int, str, float, object)
    def _run_finished(self, job_id: int, status: str, elapsed: float, result) -> None:
        job = self.runs.job(job_id)
        if job is not None:
            job.status = status
        self._logs.record(job_id, {"event": "run_finished", "status": status,
                                   "seconds": round(elapsed, 3)})
        # A job of a document closed since (set_document) only finishes its bookkeeping.
        ours = self._for_open_document(job_id)
        if result is not None:
            self.results[job_id] = RunSummary(status, list(result.executed), set(result.cached),
                                              dict(result.failures), elapsed)
        below: list[str] = []  # renders that missed their identity threshold
        if result is not None and ours and job is not None:
            self._key_dirs = (job.output_dir, job.project_dir)
        if result is not None and ours:
            for node_id, outputs in result.outputs.items():
                self.outputs[node_id] = outputs
                self.run_states.set_result_key(node_id, result.keys.get(node_id))
                picture = result_picture(outputs)
                if picture is not None:
                    self.run_states.set_picture(node_id, frame_to_qimage(picture))
                likeness = result_likeness(outputs)
                if likeness is not None:
                    self.run_states.set_likeness(node_id, *likeness)
                    if not likeness[1]:
                        below.append(node_id)
                        self.log_panel.add_event(
                            job_id, self._title(job_id, node_id), "below threshold",
                            self.run_states.get(node_id).likeness_text(), error=True)
        if result is not None and ours:  # edited during the run? compare keys, not events
            self.run_states.recheck(list(result.outputs))
        if ours and job is not None and (status == "cancelled" or (status == "failed" and result is None)):
            # cancelled, or the engine itself failed mid-run: nothing runs or waits any more
            cause = ("cancelled", "stopped") if status == "cancelled" else \
                ("failed", self._errors.get(job_id, "failed"))
            for node_id, info in self.run_states.items():
                if info.state == "running":
                    self.run_states.update(node_id, cause[0], message=cause[1])
                elif info.state == "queued":
                    self.run_states.update(node_id, "idle", message="")
        summary = f"Run #{job_id} {status} in {format_seconds(elapsed)}"
        if job_id in self._errors:
            error = self._errors.pop(job_id)
            summary = f"Run #{job_id} failed: {error}" if self._logs.started(job_id) else \
                f"Cannot run #{job_id}: {error}"
        if result is not None:
            summary += f" ({len(result.executed)} ran, {len(result.cached)} from cache)"
            if result.failures:
                node_id, message = next(iter(result.failures.items()))
                summary += f" — {self._title(job_id, node_id)}: {message}"
            if below:
                summary += " — below the identity threshold: " + ", ".join(
                    f"{self._title(job_id, node_id)} ({self.run_states.get(node_id).likeness_text()})"
                    for node_id in below)
        self.log_panel.add_event(job_id, "", status, summary, duration=elapsed,
                                 error=status == "failed" or bool(below))
        self._write_log(job, status)
        if ours:
            self.status_message.emit(summary, 8000)
        self.runs.finish(job_id)  # the job and its snapshot go
        self._refresh_queue()
        self.selection_changed(self.window.scene.selected_node_ids())
        self.job_finished.emit(job_id, status)
        self._pump()
        if self.runs.current is None:
            self.running_changed.emit(False)

    def _write_log(self, job: RunJob | None, status: str) -> None:
        """run.json (the events) and run.log (readable) beside the outputs."""
        if job is None:
            return
        try:
            self._logs.write(job.id, job.targets, status, job.output_dir,
                             lambda node_id: self._title(job.id, node_id))
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
