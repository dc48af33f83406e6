"""What runs on the farm's workers: CPU tasks, GPU actors, and the event relay.

Workers get node inputs by content (Ray's object store) and return outputs the
same way; they never read the user's project folder nor write outputs.
"""
from __future__ import annotations

import copy
import os
import pickle
import socket
import threading
import time
from typing import Any

import ray

from canvas_app.engine.context import CancelToken, RunContext
from canvas_app.engine.dispatch.base import Outcome, RemoteError, run_node
from canvas_app.media.exports.shot_files import settle_outputs

PROGRESS_INTERVAL = 0.1  # seconds between progress messages sent back per node
PREVIEW_INTERVAL = 0.25  # frames are big: at most four previews a second per node
MAX_RETRIES = 2  # a shot whose worker dies is run again, at most this many times


@ray.remote(num_cpus=0)
class EventRelay:
    """Progress, previews and log lines from the workers, collected for the
    process that started the run (which drains them several times a second)."""

    def __init__(self) -> None:
        self._items: list = []

    def post(self, item) -> None:
        self._items.append(item)

    def drain(self) -> list:
        items, self._items = self._items, []
        return items


def worker_host() -> str:
    return f"{socket.gethostname()}"


def _portable(error: BaseException | None) -> BaseException | None:
    """The node's exception, or a RemoteError naming it when it cannot travel."""
    if error is None:
        return None
    try:
        # Ray carries it back by pickle: it must serialize, and rebuild from its
        # reduce tuple as unpickling would (copy.copy takes the same path).
        pickle.dumps(error)
        copy.copy(error)
        return error
    except Exception:
        return RemoteError(type(error).__name__, str(error))


def execute(node_cls, ports: list[str], values: list[Any], params: dict[str, Any],
            info: dict[str, str], relay, token: CancelToken) -> Outcome:
    node_id, host = info["node_id"], worker_host()
    relay.post.remote(("started", node_id, host, os.getpid()))
    last = {"progress": 0.0, "preview": 0.0}

    def progress(fraction: float, message: str) -> None:
        now = time.monotonic()
        if fraction >= 1.0 or now - last["progress"] >= PROGRESS_INTERVAL:
            last["progress"] = now
            relay.post.remote(("progress", node_id, fraction, message))

    def preview(frame, kind: str) -> None:
        now = time.monotonic()
        if now - last["preview"] >= PREVIEW_INTERVAL:
            last["preview"] = now
            relay.post.remote(("preview", node_id, frame, kind))

    ctx = RunContext(node_id=node_id, node_title=info["node_title"], cancel_token=token,
                     on_progress=progress, on_preview=preview,
                     on_log=lambda message: relay.post.remote(("log", node_id, message)))
    outcome = run_node(node_cls(), dict(zip(ports, values)), params, ctx, node_id, host)
    # A shot's file is encoded here, on the worker that rendered it: its bytes travel back
    # with the clip, and the machine that writes the output folder only copies them.
    encoding = time.perf_counter()
    settle_outputs(outcome.outputs, info.get("frame_exports"))  # and its ProRes / PNG frames
    outcome.elapsed += time.perf_counter() - encoding  # work on the worker, not farm overhead
    outcome.error = _portable(outcome.error)
    ray.get(relay.post.remote(("end", node_id)))  # calls run in order: all sent before this
    return outcome


@ray.remote(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False)
def run_cpu_node(node_cls, ports, params, info, relay, *values) -> Outcome:
    """A CPU node as a plain task: Ray places it on any worker with a free CPU."""
    _use_assigned_cpus()
    return execute(node_cls, ports, list(values), params, info, relay, CancelToken())


def _use_assigned_cpus() -> None:
    """A task holds one CPU of the cluster: OpenCV's thread pool must not take
    every core of the machine from the tasks beside it (Ray does the same for
    OpenMP through OMP_NUM_THREADS)."""
    import cv2

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    cv2.setNumThreads(max(1, int(cpus)))


@ray.remote(num_gpus=1, max_restarts=MAX_RETRIES, max_task_retries=MAX_RETRIES,
            max_concurrency=2)
class ShotWorker:
    """One per GPU, long-lived: the generation backends keep their model
    manager in this process, so one shot's models stay loaded for the next.
    Two threads: one renders, the other takes cancel requests."""

    def __init__(self) -> None:
        self._tokens: dict[str, CancelToken] = {}
        self._lock = threading.Lock()

    def host(self) -> str:
        return worker_host()

    def run(self, node_cls, ports, params, info, relay, *values) -> Outcome:
        token = CancelToken()
        with self._lock:
            self._tokens[info["node_id"]] = token
        try:
            return execute(node_cls, ports, list(values), params, info, relay, token)
        finally:
            with self._lock:
                self._tokens.pop(info["node_id"], None)

    def cancel(self, node_id: str) -> None:
        with self._lock:
            token = self._tokens.get(node_id)
        if token is not None:
            token.cancel()  # the shot stops at its next diffusion step


@ray.remote(num_cpus=1)
def warm_worker() -> str:
    """Import what shots need, once per worker process."""
    import canvas_app.generation.animatic  # noqa: F401
    import nodes.generate  # noqa: F401

    time.sleep(0.2)  # hold the CPU so that each warm-up lands on its own worker
    return worker_host()
