"""The engine process (no Qt here): runs jobs that the editor sends through a
pipe and sends the engine's events back. Keeps one Executor (and so one result cache) for its
lifetime.

Started by `worker.start_child` as `python -m canvas_app.ui.execution.child FD`.

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
    ("event", job_id, event)            engine events; previews throttled here
    ("outputs", job_id, node_id, key, outputs)   results the parent lacks
    ("result", job_id, status, elapsed, executed, cached, failures, keys)
    ("error", job_id, message)          the run could not start
"""
from __future__ import annotations

import queue
import threading
import time
import traceback

PREVIEW_MIN_INTERVAL = 0.03
PROGRESS_MIN_INTERVAL = 0.03


def child_main(conn, disk_cache_dir: str | None = None) -> None:
    from canvas_app.engine import CancelToken, Executor
    from canvas_app.engine.events import NodeFinished, NodePreview, NodeProgress
    from canvas_app.errors import CanvasError

    disk_cache = None
    if disk_cache_dir != "":
        try:
            from canvas_app.engine.disk_cache import DiskCache

            disk_cache = DiskCache(disk_cache_dir or None)
        except Exception:  # no disk cache: memory only
            disk_cache = None
    executor = Executor(disk_cache=disk_cache)
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
        last_preview: dict[str, float] = {}
        pending: dict[str, tuple] = {}
        last_progress: dict[str, float] = {}
        outputs_sent: dict[str, str] = {}

        def flush(node_id: str) -> None:
            held = pending.pop(node_id, None)
            if held is not None:
                last_preview[node_id] = time.monotonic()
                send(("event", job_id, held[0], held[1]))

        def listener(event, job_id=job_id) -> None:
            now = time.monotonic()
            if isinstance(event, NodePreview):
                node_id = event.node_id
                if now - last_preview.get(node_id, -1.0) >= PREVIEW_MIN_INTERVAL:
                    pending.pop(node_id, None)
                    last_preview[node_id] = now
                    send(("event", job_id, event, now))
                else:
                    pending[node_id] = (event, now)
                return
            if isinstance(event, NodeProgress):
                if event.fraction >= 1.0 or \
                        now - last_progress.get(event.node_id, -1.0) >= PROGRESS_MIN_INTERVAL:
                    last_progress[event.node_id] = now
                    send(("event", job_id, event, now))
                if event.node_id in pending and (event.fraction >= 1.0 or now - last_preview.get(
                        event.node_id, -1.0) >= PREVIEW_MIN_INTERVAL):
                    flush(event.node_id)
                return
            node_id = getattr(event, "node_id", None)
            if node_id is not None:
                flush(node_id)
            if isinstance(event, NodeFinished) and event.key not in known_keys:
                outputs = executor.cache.peek(event.key)
                if outputs is not None:
                    try:
                        send(("outputs", job_id, node_id, event.key, outputs))
                        outputs_sent[node_id] = event.key
                    except Exception:  # not picklable: the preview will lack it
                        pass
            send(("event", job_id, event, now))

        try:
            result = executor.run(snapshot, targets, listener=listener, cancel_token=token,
                                  output_dir=output_dir, project_dir=project_dir)
        except CanvasError as error:
            send(("error", job_id, str(error)))
            continue
        except Exception as error:
            send(("error", job_id, f"{type(error).__name__}: {error}\n{traceback.format_exc()}"))
            continue
        finally:
            tokens.pop(job_id, None)
        send(("result", job_id, result.status, result.elapsed, list(result.executed),
              set(result.cached), dict(result.failures), dict(result.keys)))
    conn.close()


def _main() -> None:
    import multiprocessing.connection
    import os
    import sys

    target = sys.argv[1]
    if target.isdigit():  # POSIX: an inherited socket
        conn = multiprocessing.connection.Connection(int(target))
    else:  # Windows: a named pipe and a one-time key
        conn = multiprocessing.connection.Client(
            target, authkey=bytes.fromhex(os.environ["CANVAS_APP_ENGINE_KEY"]))
    cache = os.environ.get("CANVAS_APP_ENGINE_DISK_CACHE")
    child_main(conn, None if cache is None else ("" if cache == "-" else cache))


if __name__ == "__main__":
    _main()
