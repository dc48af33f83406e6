"""The engine thread. `EngineWorker` is a QThread that runs one job at a time
with the shared `Executor` (so its result cache is shared between runs).
Engine events become Qt signals; because the receivers live on the GUI
thread, Qt delivers them as queued calls there. The worker never touches the
graph model or any widget; it only sees the immutable snapshot in its job.

Preview frames are converted to QImage here (QImage, unlike QPixmap, is safe
off the GUI thread) and progress and previews are throttled, so a fast node
cannot flood the GUI's event queue."""
from __future__ import annotations

import itertools
import queue
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QThread, Signal
from PySide6.QtGui import QImage

from canvas_app.engine import CancelToken, Executor
from canvas_app.engine.events import (NodeFailed, NodeFinished, NodeLog, NodePreview, NodeProgress,
                                      NodeSkipped, NodeStarted, RunFinished, RunStarted)
from canvas_app.errors import CanvasError
from canvas_app.engine.throttle import PROGRESS_MIN_INTERVAL, PreviewThrottle

_ids = itertools.count(1)


@dataclass
class RunJob:
    """One run: a snapshot and what to evaluate. Created on the GUI thread,
    read-only afterwards except for `token` (thread-safe) and `status`."""

    snapshot: Any  # Graph snapshot
    targets: list[str] | None
    output_dir: Path
    project_dir: Path | None
    label: str
    id: int = field(default_factory=lambda: next(_ids))
    token: CancelToken = field(default_factory=CancelToken)
    status: str = "queued"  # queued | running | done | failed | cancelled
    created: float = field(default_factory=time.time)


def frame_to_qimage(frame: np.ndarray) -> QImage:
    """An RGB uint8 (H, W, 3) array -> an independent QImage."""
    frame = np.ascontiguousarray(frame[..., :3] if frame.ndim == 3 else
                                 np.repeat(frame[..., None], 3, axis=2), dtype=np.uint8)
    height, width = frame.shape[:2]
    image = QImage(frame.data, width, height, frame.strides[0], QImage.Format_RGB888)
    return image.copy()


class _EngineThread(QThread):
    """The engine thread. Jobs arrive through a thread-safe queue (`submit`);
    `run` takes them one at a time. The thread runs no Qt event loop of its
    own; the signals it emits reach the GUI thread as queued calls."""

    run_started = Signal(int, object)  # job id, plan (tuple of node ids)
    node_started = Signal(int, str)
    node_host = Signal(int, str, str)  # job, node, farm worker host ("" for this computer)
    node_progress = Signal(int, str, float, str)
    node_preview = Signal(int, str, QImage, str, float)  # job, node, frame, kind, produced at
    node_log = Signal(int, str, str)
    node_finished = Signal(int, str, bool, float)  # job, node, cached, elapsed
    node_failed = Signal(int, str, str)
    node_skipped = Signal(int, str, str)
    run_finished = Signal(int, str, float, object)  # job, status, elapsed, RunResult or None
    run_error = Signal(int, str, str)  # job, node at fault (or ""), why the run could not start

    mode = ""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("canvas-app engine")
        self._jobs: queue.Queue[RunJob | None] = queue.Queue()

    def submit(self, job: RunJob) -> None:
        self._jobs.put(job)

    def stop_thread(self) -> None:
        """Ask the loop to end after the current job (cancel that first)."""
        self._jobs.put(None)

    def run(self) -> None:  # the thread's body
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                self.run_job(job)
        finally:
            self.finish()

    def run_job(self, job: RunJob) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Called on the engine thread when it ends."""

    def clear_cache(self) -> None:
        raise NotImplementedError


class EngineWorker(_EngineThread):
    """Runs the executor in this thread, in the editor's process. Node work
    (PyAV, dlib, torch) runs on a plain thread stack: no event loop here."""

    mode = "thread"

    def __init__(self, executor: Executor | None = None, parent=None) -> None:
        super().__init__(parent)
        self.executor = executor or Executor()

    def clear_cache(self) -> None:
        self.executor.cache.clear()

    def run_job(self, job: RunJob) -> None:
        if job.token.cancelled:  # cancelled while it waited in the queue
            job.status = "cancelled"
            self.run_finished.emit(job.id, "cancelled", 0.0, None)
            return
        job.status = "running"
        listener = _Listener(self, job.id)
        started = time.perf_counter()
        try:
            job.output_dir.mkdir(parents=True, exist_ok=True)
            result = self.executor.run(job.snapshot, job.targets, listener=listener,
                                       cancel_token=job.token, output_dir=job.output_dir,
                                       project_dir=job.project_dir)
        except CanvasError as error:
            job.status = "failed"
            self.run_error.emit(job.id, getattr(error, "node_id", None) or "", str(error))
            self.run_finished.emit(job.id, "failed", time.perf_counter() - started, None)
            return
        except Exception as error:  # never let the thread die silently
            job.status = "failed"
            self.run_error.emit(job.id, "", f"{type(error).__name__}: {error}")
            self.run_finished.emit(job.id, "failed", time.perf_counter() - started, None)
            return
        finally:
            listener.close()
        job.status = result.status
        self.run_finished.emit(job.id, result.status, result.elapsed, result)


class _Listener:
    """Engine events -> worker signals, on the engine thread. Previews go
    through a PreviewThrottle; progress is throttled here."""

    def __init__(self, worker: _EngineThread, job_id: int) -> None:
        self.worker = worker
        self.job_id = job_id
        self._last_progress: dict[str, float] = {}
        self.throttle = PreviewThrottle(self._send_preview)

    def _send_preview(self, event: NodePreview, produced: float) -> None:
        """`produced` is time.monotonic() when the engine made the frame."""
        self.worker.node_preview.emit(self.job_id, event.node_id, frame_to_qimage(event.frame),
                                      event.kind, time.perf_counter() - (time.monotonic() - produced))

    def close(self) -> None:
        self.throttle.close()

    def __call__(self, event) -> None:
        worker, job = self.worker, self.job_id
        now = time.monotonic()
        if isinstance(event, NodePreview):
            self.throttle.offer(event, now)
            return
        if isinstance(event, NodeProgress):
            if event.fraction >= 1.0 or \
                    now - self._last_progress.get(event.node_id, -1.0) >= PROGRESS_MIN_INTERVAL:
                self._last_progress[event.node_id] = now
                worker.node_progress.emit(job, event.node_id, event.fraction, event.message)
            return
        node_id = getattr(event, "node_id", None)
        if node_id is not None:
            self.throttle.flush(node_id)
        if isinstance(event, RunStarted):
            worker.run_started.emit(job, tuple(event.plan))
        elif isinstance(event, NodeStarted):
            worker.node_started.emit(job, event.node_id)
            worker.node_host.emit(job, event.node_id, event.host)  # "" when not on a farm
        elif isinstance(event, NodeFinished):
            worker.node_finished.emit(job, event.node_id, event.cached, event.elapsed)
        elif isinstance(event, NodeFailed):
            worker.node_failed.emit(job, event.node_id, event.message)
        elif isinstance(event, NodeSkipped):
            worker.node_skipped.emit(job, event.node_id, event.reason)
        elif isinstance(event, NodeLog):
            worker.node_log.emit(job, event.node_id, event.message)


class ProcessEngineWorker(_EngineThread):
    """Runs the executor in a child process (see engine/child_process.py) and relays its
    events. This thread only moves messages, so native code that holds the
    GIL in node work cannot stall the editor. The child is started on the
    first job (spawn), kept for later runs (its result cache is shared
    between them) and restarted if it dies."""

    mode = "process"

    def __init__(self, disk_cache_dir: str | None = None, parent=None) -> None:
        super().__init__(parent)
        self.disk_cache_dir = disk_cache_dir
        self._process = None
        self._conn = None
        self._store: dict[str, dict] = {}  # cache key -> outputs received from the child
        self._latest: dict[str, str] = {}  # node id -> key of its latest result
        self._pending_clear = False

    def clear_cache(self) -> None:
        self._pending_clear = True  # sent by the engine thread before the next job
        self._store.clear()
        self._latest.clear()

    def _alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _ensure_child(self) -> None:
        from canvas_app.ui.settings import render_on

        farm = render_on()  # "Render on" changed: the next run starts an engine for it
        if self._alive() and farm == getattr(self, "_farm", ""):
            return
        self.finish()
        self._farm = farm
        self._process, self._conn = start_child(self.disk_cache_dir, farm)

    def _died(self, job: RunJob, started: float) -> None:
        code = self._process.poll() if self._process is not None else None
        self._process, self._conn = None, None
        job.status = "failed"
        self.run_error.emit(job.id, "", f"the engine process stopped unexpectedly (exit code {code}); "
                                    "it restarts on the next run")
        self.run_finished.emit(job.id, "failed", time.perf_counter() - started, None)

    def run_job(self, job: RunJob) -> None:
        from canvas_app.engine import RunResult
        from canvas_app.engine.events import NodePreview, NodeProgress

        started = time.perf_counter()
        if job.token.cancelled:
            job.status = "cancelled"
            self.run_finished.emit(job.id, "cancelled", 0.0, None)
            return
        registry = job.snapshot.registry
        if any(getattr(registry.get(name), "__module__", "") == "__main__" for name in registry.names()):
            # Node types defined in a script cannot be imported by the child: run here.
            if getattr(self, "executor", None) is None:
                self.executor = Executor()
            EngineWorker.run_job(self, job)
            return
        job.status = "running"
        try:
            self._ensure_child()
            if self._pending_clear:
                self._conn.send(("clear",))
                self._pending_clear = False
            job.output_dir.mkdir(parents=True, exist_ok=True)
            self._conn.send(("run", job.id, job.snapshot, job.targets, job.output_dir,
                             job.project_dir, set(self._store)))
        except (OSError, EOFError, ValueError) as error:
            job.status = "failed"
            self.run_error.emit(job.id, "", f"could not start the engine: {error}")
            self.run_finished.emit(job.id, "failed", time.perf_counter() - started, None)
            return
        except Exception as error:  # e.g. something in the snapshot that cannot be pickled
            job.status = "failed"
            self.run_error.emit(job.id, "", f"could not send the graph to the engine: {error}")
            self.run_finished.emit(job.id, "failed", time.perf_counter() - started, None)
            return
        listener = _Listener(self, job.id)  # previews arrive throttled by the child
        try:
            self._relay(job, listener, started)
        finally:
            listener.close()

    def _relay(self, job: RunJob, listener: "_Listener", started: float) -> None:
        from canvas_app.engine import RunResult
        from canvas_app.engine.events import NodePreview, NodeProgress

        cancel_sent = False
        conn = self._conn
        while True:
            if job.token.cancelled and not cancel_sent:
                try:
                    conn.send(("cancel", job.id))
                except (OSError, EOFError):
                    pass
                cancel_sent = True
            try:
                if not conn.poll(0.05):
                    if not self._alive():
                        self._died(job, started)
                        return
                    continue
                message = conn.recv()
            except (EOFError, OSError):
                self._died(job, started)
                return
            kind = message[0]
            if kind == "event":
                event, produced = message[2], message[3]
                if isinstance(event, NodePreview):  # the child already throttled these
                    listener._send_preview(event, produced)
                elif isinstance(event, NodeProgress):
                    self.node_progress.emit(job.id, event.node_id, event.fraction, event.message)
                else:
                    listener(event)
            elif kind == "outputs":
                _, _, node_id, key, outputs = message
                self._store[key] = outputs
            elif kind == "error" and message[1] in (job.id, -1):
                job.status = "failed"
                self.run_error.emit(job.id, message[3] if len(message) > 3 else "", message[2])
                self.run_finished.emit(job.id, "failed", time.perf_counter() - started, None)
                return
            elif kind == "result":
                _, _, status, elapsed, executed, cached, failures, keys = message
                for node_id, key in keys.items():
                    if key in self._store:
                        self._latest[node_id] = key
                keep = set(self._latest.values())
                self._store = {k: v for k, v in self._store.items() if k in keep}
                result = RunResult(status=status, keys=keys, cached=cached, executed=executed,
                                   failures=failures, elapsed=elapsed,
                                   outputs={node_id: self._store[key] for node_id, key in keys.items()
                                            if key in self._store})
                job.status = status
                self.run_finished.emit(job.id, status, elapsed, result)
                return

    def finish(self) -> None:
        if self._conn is not None:
            try:
                self._conn.send(("quit",))
            except (OSError, EOFError):
                pass
        if self._process is not None:
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(2)
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn = None, None


def start_child(disk_cache_dir: str | None, farm: str = ""):
    """A fresh interpreter running canvas_app.engine.child_process, connected by
    a socket pair (not multiprocessing's spawn, which would re-run the
    caller's __main__ script in the child)."""
    import multiprocessing.connection
    import os
    import sys

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if isinstance(p, str) and p)
    if disk_cache_dir is not None:
        env["CANVAS_APP_ENGINE_DISK_CACHE"] = disk_cache_dir or "-"
    env["CANVAS_APP_FARM"] = farm  # a Ray address: the child renders on the farm
    if os.name == "posix":
        parent_conn, child_conn = multiprocessing.Pipe(duplex=True)
        fd = child_conn.fileno()
        process = subprocess.Popen([sys.executable, "-m", "canvas_app.engine.child_process", str(fd)],
                                   pass_fds=[fd], env=env, close_fds=True)
        child_conn.close()
        return process, parent_conn
    # Windows: a named pipe listener the child connects to, with a one-time key.
    import secrets

    key = secrets.token_bytes(16)
    listener = multiprocessing.connection.Listener(authkey=key)
    env["CANVAS_APP_ENGINE_KEY"] = key.hex()
    process = subprocess.Popen([sys.executable, "-m", "canvas_app.engine.child_process",
                                listener.address], env=env)
    conn = listener.accept()
    listener.close()
    return process, conn
