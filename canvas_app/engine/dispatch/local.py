"""The local dispatcher: nodes run in this process.

With one worker (the default) a node runs on the executor's own thread, as it
always has. With more, independent ready nodes run at the same time on a
thread pool; their events are handed to the executor's thread.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from canvas_app.engine.dispatch.base import Dispatcher, Job, run_node


class LocalDispatcher(Dispatcher):
    name = "local"

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, int(workers))
        self.sequential = self.workers == 1
        self._pool: ThreadPoolExecutor | None = None
        self._running: set[str] = set()

    def has_room(self, job: Job) -> bool:
        return len(self._running) < self.workers

    def submit(self, job: Job) -> None:
        if self.sequential:
            self.post(run_node(job.node_type, job.inputs, job.params, job.ctx, job.node_id))
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="canvas-node")
        self._running.add(job.node_id)
        self._pool.submit(self._work, job)

    def _work(self, job: Job) -> None:
        outcome = run_node(job.node_type, job.inputs, job.params, job.ctx, job.node_id)
        self._running.discard(job.node_id)
        self.post(outcome)

    def cancel(self) -> None:
        pass  # the nodes share the run's CancelToken and stop at their next cancel point

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
