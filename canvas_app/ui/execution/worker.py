"""The bridge from the engine to the editor: a QThread that runs one job at
a time and hands every engine event to the GUI thread as the event object
itself, through ONE signal, `event(job_id, event)`. The run model
(`ui/run_state.py`, `RunStates.apply`) is its only receiver; the worker never
touches the graph model or any widget and only sees the job's snapshot.

On the way a preview's numpy frame becomes a `LiveFrame` holding a QImage
(QImage, unlike QPixmap, may be made off the GUI thread), and progress and
previews are throttled (`engine/throttle.py`), so a fast node cannot flood
the GUI's event queue. The engine process sends results apart from its
events (once per cache key); the relay puts each node's `NodeResult` back
before its NodeFinished, as the executor in this process sends it. Every job
ends with exactly one RunFinished."""
from __future__ import annotations

import itertools
import queue
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QThread, Signal

from canvas_app.engine import CancelToken, Executor
from canvas_app.engine.events import (NodeFinished, NodePreview, NodeProgress,
                                      NodeResult, PreviewKind, RunError, RunFinished, RunStatus)
from canvas_app.engine.throttle import PreviewThrottle, ProgressThrottle
from canvas_app.errors import CanvasError
from canvas_app.ui.qimage import qimage_from_array
from canvas_app.ui.run_state import LiveFrame

_ids = itertools.count(1)


@dataclass
class RunJob:
    """One run: a snapshot and what to evaluate. Created on the GUI thread,
    read-only afterwards except for `token` (thread-safe)."""

    snapshot: Any  # Graph snapshot
    targets: list[str] | None
    output_dir: Path
    project_dir: Path | None
    label: str
    id: int = field(default_factory=lambda: next(_ids))
    token: CancelToken = field(default_factory=CancelToken)
    created: float = field(default_factory=time.time)


class EventRelay:
    """Engine events -> the worker's one signal, on the engine's side:
    throttles progress and previews and converts previews to QImage. From the
    engine process, whose results arrive apart from its events, it makes each
    node's NodeResult again before its NodeFinished (`outputs_for(key)`)."""

    def __init__(self, send: Callable[[object], None],
                 outputs_for: Callable[[str], Any] | None = None) -> None:
        self._send = send
        self._outputs_for = outputs_for
        self.progress = ProgressThrottle()
        self.previews = PreviewThrottle(self._send_preview)

    def _send_preview(self, event: NodePreview, produced: float) -> None:
        """`produced` is time.monotonic() when the engine made the frame."""
        self._send(LiveFrame(event.node_id, qimage_from_array(event.frame), PreviewKind(event.kind),
                             time.perf_counter() - (time.monotonic() - produced)))

    def __call__(self, event, produced: float | None = None, throttled: bool = False) -> None:
        """`throttled`: the engine process already rate-limited this event."""
        now = time.monotonic()
        if isinstance(event, NodePreview):
            if throttled:
                self._send_preview(event, now if produced is None else produced)
            else:
                self.previews.offer(event, now)
            return
        if isinstance(event, NodeProgress):
            if throttled or self.progress.allows(event, now):
                self._send(event)
            return
        if isinstance(event, RunFinished):
            return  # the worker sends the job's one RunFinished itself
        node_id = getattr(event, "node_id", None)
        if node_id is not None:
            self.previews.flush(node_id)  # a node's last frame before its end
        if isinstance(event, NodeFinished) and self._outputs_for is not None:
            outputs = self._outputs_for(event.key)
            if outputs is not None:
                self._send(NodeResult(event.node_id, event.key, outputs))
        self._send(event)

    def close(self) -> None:
        self.previews.close()


def run_in_this_process(executor: Executor, job: RunJob, send: Callable[[object], None]) -> None:
    """Run `job` with `executor` on the calling thread, sending its events."""
    if job.token.cancelled:  # cancelled while it waited in the queue
        send(RunFinished(RunStatus.CANCELLED, 0.0))
        return
    relay = EventRelay(send)
    started = time.perf_counter()
    try:
        job.output_dir.mkdir(parents=True, exist_ok=True)
        result = executor.run(job.snapshot, job.targets, listener=relay, cancel_token=job.token,
                              output_dir=job.output_dir, project_dir=job.project_dir)
    except CanvasError as error:
        send(RunError(str(error), getattr(error, "node_id", None) or ""))
        send(RunFinished(RunStatus.FAILED, time.perf_counter() - started))
        return
    except Exception as error:  # never let the thread die silently
        send(RunError(f"{type(error).__name__}: {error}"))
        send(RunFinished(RunStatus.FAILED, time.perf_counter() - started))
        return
    finally:
        relay.close()
    send(RunFinished(RunStatus(result.status), result.elapsed))


class _EngineThread(QThread):
    """The engine thread. Jobs arrive through a thread-safe queue (`submit`);
    `run` takes them one at a time. The thread runs no Qt event loop of its
    own; `event` reaches the GUI thread as a queued call."""

    event = Signal(int, object)  # job id, an event of engine/events.py (or a LiveFrame)

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
                self.run_job(job, lambda event, job_id=job.id: self.event.emit(job_id, event))
        finally:
            self.finish()

    def run_job(self, job: RunJob, send: Callable[[object], None]) -> None:
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

    def run_job(self, job: RunJob, send: Callable[[object], None]) -> None:
        run_in_this_process(self.executor, job, send)


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
        self._here: Executor | None = None  # for node types the child cannot import

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

    def _died(self, send, started: float) -> None:
        code = self._process.poll() if self._process is not None else None
        self._process, self._conn = None, None
        send(RunError(f"the engine process stopped unexpectedly (exit code {code}); "
                      "it restarts on the next run"))
        send(RunFinished(RunStatus.FAILED, time.perf_counter() - started))

    def run_job(self, job: RunJob, send: Callable[[object], None]) -> None:
        started = time.perf_counter()
        if job.token.cancelled:
            send(RunFinished(RunStatus.CANCELLED, 0.0))
            return
        registry = job.snapshot.registry
        if any(getattr(registry.get(name), "__module__", "") == "__main__" for name in registry.names()):
            # Node types defined in a script cannot be imported by the child: run here.
            if self._here is None:
                self._here = Executor()
            run_in_this_process(self._here, job, send)
            return
        try:
            self._ensure_child()
            if self._pending_clear:
                self._conn.send(("clear",))
                self._pending_clear = False
            job.output_dir.mkdir(parents=True, exist_ok=True)
            self._conn.send(("run", job.id, job.snapshot, job.targets, job.output_dir,
                             job.project_dir, set(self._store)))
        except (OSError, EOFError, ValueError) as error:
            send(RunError(f"could not start the engine: {error}"))
            send(RunFinished(RunStatus.FAILED, time.perf_counter() - started))
            return
        except Exception as error:  # e.g. something in the snapshot that cannot be pickled
            send(RunError(f"could not send the graph to the engine: {error}"))
            send(RunFinished(RunStatus.FAILED, time.perf_counter() - started))
            return
        relay = EventRelay(send, self._store.get)
        try:
            self._relay(job, relay, send, started)
        finally:
            relay.close()

    def _relay(self, job: RunJob, relay: EventRelay, send, started: float) -> None:
        """Pass the child's messages on until its job ends (protocol:
        engine/child_process.py)."""
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
                        self._died(send, started)
                        return
                    continue
                message = conn.recv()
            except (EOFError, OSError):
                self._died(send, started)
                return
            kind = message[0]
            if kind == "event":
                relay(message[2], message[3], throttled=True)  # the child throttled them
            elif kind == "outputs":
                _, _, node_id, key, outputs = message
                self._store[key] = outputs
            elif kind == "error" and message[1] in (job.id, -1):
                send(RunError(message[2], message[3] if len(message) > 3 else ""))
                send(RunFinished(RunStatus.FAILED, time.perf_counter() - started))
                return
            elif kind == "result":
                _, _, status, elapsed, _executed, _cached, _failures, keys = message
                for node_id, key in keys.items():
                    if key in self._store:
                        self._latest[node_id] = key
                keep = set(self._latest.values())  # results of older runs' nodes go
                self._store = {k: v for k, v in self._store.items() if k in keep}
                send(RunFinished(RunStatus(status), elapsed))
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
    """A fresh interpreter running canvas_app.engine_process, connected by
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
        process = subprocess.Popen([sys.executable, "-m", "canvas_app.engine_process", str(fd)],
                                   pass_fds=[fd], env=env, close_fds=True)
        child_conn.close()
        return process, parent_conn
    # Windows: a named pipe listener the child connects to, with a one-time key.
    import secrets

    key = secrets.token_bytes(16)
    listener = multiprocessing.connection.Listener(authkey=key)
    env["CANVAS_APP_ENGINE_KEY"] = key.hex()
    process = subprocess.Popen([sys.executable, "-m", "canvas_app.engine_process",
                                listener.address], env=env)
    conn = listener.accept()
    listener.close()
    return process, conn
