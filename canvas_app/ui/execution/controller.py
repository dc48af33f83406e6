"""The run controller: starts, stops and queues runs of graph snapshots, and
owns the engine thread's lifetime. It applies no event itself: the engine
bridge's one signal goes straight to the run model (`ui/run_state.py`), which
the canvas, inspector, Preview, Run Log, Timeline and status bar observe; the
controller only hears from the model when a run ends, to start the next."""
from __future__ import annotations

import atexit
import os
import weakref
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog

from canvas_app.engine import Executor
from canvas_app.engine.events import RunFinished, RunStatus
from canvas_app.ui.execution.run_queue import RunQueue
from canvas_app.ui.execution.worker import EngineWorker, ProcessEngineWorker, RunJob
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


class ExecutionController(QObject):
    job_finished = Signal(int, str)  # job id, status (tests and scripts wait on it)
    running_changed = Signal(bool)
    queue_changed = Signal()  # a job was queued, started, withdrawn or finished
    status_message = Signal(str, int)  # text, milliseconds (the window's status bar)

    def __init__(self, window, run_states: RunStates, executor: Executor | None = None) -> None:
        super().__init__(window)
        self._chosen_output_dirs: set[Path] = set()  # picked by the user in this session
        self.window = window  # parent of dialogs
        self.document = None
        self.run_states = run_states
        self.worker = make_worker(executor)
        self.thread = self.worker
        # The one hop from the engine thread into Qt: events as objects, to the model.
        self.worker.event.connect(run_states.apply, Qt.QueuedConnection)
        run_states.applied.connect(self._applied)
        self.worker.start()
        self.runs = RunQueue()
        self._shut_down = False
        _live_controllers.add(self)

    # -- document --------------------------------------------------------------------
    def set_document(self, document) -> None:
        """A newly opened document: the old one's jobs are cancelled (they
        still finish, but the model no longer applies them to nodes)."""
        if self.document is not None:
            self.cancel_all()
        self.document = document

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
        self.runs.add(job)
        self.run_states.add_run(job)
        self._pump()
        self.queue_changed.emit()
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
        if job is not None:  # never started: the model hears it ended here
            job.token.cancel()
            self.run_states.apply(job.id, RunFinished(RunStatus.CANCELLED, 0.0))

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
            self.run_states.applied.disconnect(self._applied)
        except (RuntimeError, TypeError):
            pass

    def _applied(self, job_id: int, event) -> None:
        """The model applied an event; a run's end frees the engine for the next."""
        if not isinstance(event, RunFinished):
            return
        self.runs.finish(job_id)  # the job and its snapshot go
        self.job_finished.emit(job_id, str(event.status))
        self._pump()
        self.queue_changed.emit()
        if self.runs.current is None:
            self.running_changed.emit(False)
