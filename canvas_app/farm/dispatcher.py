"""The Ray dispatcher: the executor's ready nodes run on a cluster.

A pump thread waits on the remote results and drains the event relay, and
hands both to the executor's thread, which keeps the caches, events and rules.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import ray
from ray.exceptions import RayError, TaskCancelledError

from canvas_app.engine.context import Cancelled
from canvas_app.engine.dispatch.base import Dispatcher, Job, Outcome, run_node
from canvas_app.engine.events import NodeLog, NodePreview, NodeProgress, NodeStarted
from canvas_app.errors import NodeFailure
from canvas_app.farm import cluster
from canvas_app.farm.placement import GPU, LOCAL, placement
from canvas_app.farm.remote import MAX_RETRIES, EventRelay, ShotWorker, run_cpu_node, warm_worker
from canvas_app.media.exports.shot_frames import wanted_by_sequences

POLL_S = 0.1  # the longest the pump waits for a result before relaying events


class RayDispatcher(Dispatcher):
    name = "ray"
    sequential = False
    announces_start = True  # NodeStarted comes from the worker, with its host

    def __init__(self, address: str = "ray", max_inflight: int | None = None) -> None:
        self.address = address
        self.max_inflight = max_inflight  # remote nodes at once; None: as many as Ray takes
        self._owns_cluster = cluster.connect(address)
        self._relay = EventRelay.remote()
        self._gpu_workers: list | None = None  # created on the first GPU shot
        self._idle_gpu: list = []
        self._inflight: dict[Any, tuple[Job, Any]] = {}  # ref -> (job, actor or None)
        self._stopping: dict[Any, Any] = {}  # ref of a cancelled GPU shot -> its actor
        self._lock = threading.Lock()
        self._local = ThreadPoolExecutor(1, thread_name_prefix="canvas-local-node")
        self._put: dict[int, Any] = {}  # id(value) -> ObjectRef, for this run
        self._pump: threading.Thread | None = None
        self._open = False
        self._submitted: dict[Any, float] = {}
        # (seconds from submit to result here, seconds the node ran on its worker) per
        # remote node: the difference is what the farm adds (the benchmark reports it).
        self.round_trips: list[tuple[float, float]] = []

    # -- the run ---------------------------------------------------------
    def open(self, post) -> None:
        super().open(post)
        self._put.clear()
        self._open = True
        self._pump = threading.Thread(target=self._pump_loop, name="canvas-farm-pump",
                                      daemon=True)
        self._pump.start()

    def has_room(self, job: Job) -> bool:
        where = self._where(job)
        if where != LOCAL and self.max_inflight is not None and \
                len(self._inflight) >= self.max_inflight:
            return False
        if where != GPU:
            return True  # Ray queues CPU tasks until a CPU is free
        self._ensure_gpu_workers()
        return bool(self._idle_gpu) or not self._gpu_workers

    def submit(self, job: Job) -> None:
        where = self._where(job)
        if where == LOCAL:
            self._local.submit(self._run_here, job)
            return
        if where == GPU and not self._gpu_workers:
            self.post(Outcome(job.node_id, error=NodeFailure(
                f"the Ray cluster at {self.address} has no GPU; diffusers shots need a GPU "
                "worker (or render on this computer)")))
            return
        ports = list(job.inputs)
        values = [self._by_content(job.inputs[port]) for port in ports]
        info = {"node_id": job.node_id, "node_title": job.node_title,  # + what to code ahead:
                "frame_exports": wanted_by_sequences(job.ctx.graph, job.node_id)}
        args = (type(job.node_type), ports, job.params, info, self._relay, *values)
        with self._lock:
            if where == GPU:
                actor = self._idle_gpu.pop(0)
                ref = actor.run.remote(*args)
            else:
                actor = None
                ref = run_cpu_node.options(name=f"{job.type_name} {job.node_title}").remote(*args)
            self._inflight[ref] = (job, actor)
            self._submitted[ref] = time.perf_counter()

    def cancel(self) -> None:
        with self._lock:
            inflight, self._inflight = self._inflight, {}
        for ref, (job, actor) in inflight.items():
            self._submitted.pop(ref, None)
            if actor is not None:
                actor.cancel.remote(job.node_id)  # the shot stops at its next step
                with self._lock:  # the GPU takes a new shot once this one has stopped
                    self._stopping[ref] = actor
            else:
                ray.cancel(ref)  # interrupts the task on its worker
            self.post(Outcome(job.node_id, error=Cancelled()))

    def close(self) -> None:
        self._open = False
        if self._pump is not None:
            self._pump.join()
            self._pump = None
        self._put.clear()

    def shutdown(self) -> None:
        self._local.shutdown(wait=True)
        if self._gpu_workers:
            for actor in self._gpu_workers:
                ray.kill(actor)
        if self._owns_cluster and ray.is_initialized():
            ray.shutdown()

    def warm_up(self) -> None:
        """Start a worker process per CPU and import the node code there, so
        the first shots do not pay for it (the CLI and the benchmark call it)."""
        cpus = int(ray.cluster_resources().get("CPU", 1))
        ray.get([warm_worker.remote() for _ in range(max(1, cpus))] +
                [self._relay.drain.remote()])  # the relay actor is up too

    # -- helpers ---------------------------------------------------------
    @staticmethod
    def _where(job: Job) -> str:
        return placement(job.node_type, job.params)

    def _ensure_gpu_workers(self) -> None:
        if self._gpu_workers is None:
            count = int(ray.cluster_resources().get("GPU", 0))
            self._gpu_workers = [ShotWorker.remote() for _ in range(count)]
            self._idle_gpu = list(self._gpu_workers)

    def _by_content(self, value):
        """Each node output goes into the object store once per run, however
        many shots read it (the identity, the look references)."""
        if isinstance(value, list):  # gathered for a `multiple` port: a new list each time
            return ray.put(value)
        ref = self._put.get(id(value))
        if ref is None:
            ref = self._put[id(value)] = ray.put(value)
        return ref

    def _run_here(self, job: Job) -> None:
        self.post(NodeStarted(job.node_id))
        self.post(run_node(job.node_type, job.inputs, job.params, job.ctx, job.node_id))

    def _pump_loop(self) -> None:
        while self._open:
            with self._lock:
                refs = list(self._inflight) + list(self._stopping)
            ready = []
            if refs:  # back as soon as one result is in, then take all that are
                ready, _ = ray.wait(refs, num_returns=1, timeout=POLL_S)
                if ready and len(refs) > 1:
                    ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            else:
                threading.Event().wait(POLL_S)
            self._relay_events()  # before the results: a node's events precede its end
            for ref in ready:
                with self._lock:
                    entry = self._inflight.pop(ref, None)
                    stopped = self._stopping.pop(ref, None)
                    if stopped is not None:
                        self._idle_gpu.append(stopped)
                if entry is None:
                    continue  # cancelled meanwhile; its Outcome was posted then
                job, actor = entry
                if actor is not None:
                    with self._lock:
                        self._idle_gpu.append(actor)
                outcome = self._outcome(job, ref)
                self.round_trips.append((time.perf_counter() - self._submitted.pop(ref),
                                         outcome.elapsed))
                self.post(outcome)

    def _outcome(self, job: Job, ref) -> Outcome:
        try:
            return ray.get(ref)
        except TaskCancelledError:
            return Outcome(job.node_id, error=Cancelled())
        except RayError as error:  # the worker died more often than the retries allow
            return Outcome(job.node_id, error=NodeFailure(
                f"the farm lost its worker {MAX_RETRIES + 1} times while running it "
                f"({type(error).__name__})"))

    def _relay_events(self) -> None:
        try:
            items = ray.get(self._relay.drain.remote())
        except RayError:
            return
        for item in items:
            kind, node_id = item[0], item[1]
            if kind == "started":
                self.post(NodeStarted(node_id, host=item[2]))
                self.post(NodeLog(node_id, f"running on {item[2]} (pid {item[3]})"))
            elif kind == "progress":
                self.post(NodeProgress(node_id, item[2], item[3]))
            elif kind == "preview":
                self.post(NodePreview(node_id, item[2], item[3]))
            elif kind == "log":
                self.post(NodeLog(node_id, item[2]))
