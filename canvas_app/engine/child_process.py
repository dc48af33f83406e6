"""The engine process (no Qt here): runs jobs that the editor sends through a
pipe and sends the engine's events back. Keeps one Executor (and so one result cache) for its
lifetime.

Started by the editor's engine worker (`ui/execution/worker.py`, `start_child`)
as `python -m canvas_app.engine_process FD`; that entry point (a layer above
the engine) chooses the dispatcher (a Ray farm or this process) and calls
`child_main`, so this module never imports the farm.

Why a process: native code in node work (dlib's face detector, video
encoding) holds Python's GIL for tens of milliseconds at a time; in a thread
of the editor's own process that freezes the GUI for as long. In a child
process it cannot.

Messages, parent -> child:
    ("run", job_id, snapshot, targets, output_dir, project_dir, known_keys)
    ("cancel", job_id)
    ("clear",)                          empty the in-memory result cache
    ("quit",)
child -> parent:
    ("event", job_id, event, produced)  engine events (engine/events.py); `produced` is
                                        time.monotonic() when it was made; previews and
                                        progress throttled here
    ("outputs", job_id, node_id, key, outputs)   a result the parent lacks (the engine's
                                        NodeResult), sent just before that node's NodeFinished
    ("result", job_id, status, elapsed, executed, cached, failures, keys)
    ("error", job_id, message, node_id) the run could not start (node_id: the node at
                                        fault or ""); job_id -1: a message it could not read
"""
from __future__ import annotations

import queue
import threading
import time
import traceback
from typing import Callable

from canvas_app.engine.throttle import PreviewThrottle, ProgressThrottle


def child_main(conn, disk_cache_dir: str | None = None,
               make_dispatcher: Callable[[], object] | None = None) -> None:
    """Serve jobs from `conn` until told to quit. `make_dispatcher` returns
    the dispatcher nodes run on (None: this process); a CanvasError from it
    is what every run answers, until the editor starts a new engine."""
    from canvas_app.engine import CancelToken, Executor
    from canvas_app.engine.events import NodePreview, NodeProgress, NodeResult
    from canvas_app.errors import CanvasError

    disk_cache = None
    if disk_cache_dir != "":
        try:
            from canvas_app.engine.disk_cache import DiskCache

            disk_cache = DiskCache(disk_cache_dir or None)
        except Exception:  # no disk cache: memory only
            disk_cache = None
    executor = Executor(disk_cache=disk_cache)
    farm_error = None
    if make_dispatcher is not None:
        try:
            executor.dispatcher = make_dispatcher()
        except CanvasError as error:  # every run says why, until the setting changes
            farm_error = str(error.args[0] if error.args else error)
    send_lock = threading.Lock()
    jobs: queue.Queue = queue.Queue()
    tokens: dict[int, CancelToken] = {}

    def send(message) -> None:
        with send_lock:
            conn.send(message)

    def reader() -> None:  # receives while the main thread runs a job
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                message = ("quit",)
            except Exception as error:  # e.g. a node type defined in a script's __main__
                send(("error", -1, f"the engine process could not read the job ({error}); node "
                                   "types must be importable (or set CANVAS_APP_ENGINE=thread)"))
                continue
            kind = message[0]
            if kind == "run":
                tokens[message[1]] = CancelToken()
                jobs.put(message)
            elif kind == "cancel":
                token = tokens.get(message[1])
                if token is not None:
                    token.cancel()
            elif kind == "clear":
                executor.cache.clear()
            elif kind == "quit":
                for token in tokens.values():
                    token.cancel()
                jobs.put(None)
                return

    threading.Thread(target=reader, name="engine-pipe", daemon=True).start()
    while True:
        message = jobs.get()
        if message is None:
            break
        _, job_id, snapshot, targets, output_dir, project_dir, known_keys = message
        token = tokens[job_id]
        if farm_error:
            send(("error", job_id, farm_error, ""))
            continue
        progress = ProgressThrottle()
        throttle = PreviewThrottle(lambda event, produced, job_id=job_id:
                                   send(("event", job_id, event, produced)))

        def listener(event, job_id=job_id) -> None:
            now = time.monotonic()
            if isinstance(event, NodePreview):
                throttle.offer(event, now)
                return
            if isinstance(event, NodeProgress):
                if progress.allows(event, now):
                    send(("event", job_id, event, now))
                return
            node_id = getattr(event, "node_id", None)
            if node_id is not None:
                throttle.flush(node_id)
            if isinstance(event, NodeResult):  # outputs travel once per key, not as an event
                if event.key not in known_keys:
                    known_keys.add(event.key)
                    try:
                        send(("outputs", job_id, node_id, event.key, event.outputs))
                    except Exception:  # not picklable: the editor will lack this result
                        pass
                return
            send(("event", job_id, event, now))

        try:
            result = executor.run(snapshot, targets, listener=listener, cancel_token=token,
                                  output_dir=output_dir, project_dir=project_dir)
        except CanvasError as error:
            send(("error", job_id, str(error), getattr(error, "node_id", None) or ""))
            continue
        except Exception as error:
            send(("error", job_id, f"{type(error).__name__}: {error}\n{traceback.format_exc()}", ""))
            continue
        finally:
            tokens.pop(job_id, None)
            throttle.close()
        send(("result", job_id, result.status, result.elapsed, list(result.executed),
              set(result.cached), dict(result.failures), dict(result.keys)))
    executor.dispatcher.shutdown()
    conn.close()
