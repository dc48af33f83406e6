"""A Sequence's exports side by side: independent jobs in threads, one progress line.

Once a cut's frames exist its files do not depend on one another, and most
of the work in them runs outside Python's GIL: PyAV releases it around the
encoder and the colour conversion (x264 and prores_ks also use threads of
their own), and Pillow releases it while it compresses a PNG into a file.
So threads run them at once; a process per export would copy every frame
across for nothing.

Each job writes into the staging folder only; the Sequence publishes the
folder with its manifest once every job is done (canvas_app/media/publish.py),
so publishing stays atomic. The first job to fail (or a cancel) stops the
others at their next frame, and its exception is the one raised.
"""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable

OnFrame = Callable[[int], None]


class _Stopped(Exception):
    """Another export failed or the run was cancelled: this one stops too."""


@dataclass
class ExportJob:
    label: str  # what the progress line says is running ("ProRes 422 HQ", "shot 2 of 3")
    frames: int  # frames it writes: its share of the progress line
    work: Callable[[OnFrame], object]  # called with on_frame(count) after each frame
    waits: bool = False  # mostly waits for work already under way elsewhere: started last


def export_workers() -> int:
    """Threads for the jobs: every core (the encoders' own threads share them)."""
    return max(2, os.cpu_count() or 2)


class ExportJobs:
    """Jobs added in the order they should start (longest first); `run` waits for all."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.jobs: list[ExportJob] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._running: list[str] = []
        self.done = 0
        self.total = 1
        self.started = 0.0

    def add(self, label: str, frames: int, work: Callable[[OnFrame], object],
            waits: bool = False) -> None:
        """`waits`: the job mostly waits for frames coded elsewhere (when its shot
        was rendered): it starts after the others, so that a thread waiting
        never keeps a job that has work to do from starting."""
        self.jobs.append(ExportJob(label, frames, work, waits))

    def run(self, workers: int | None = None) -> None:
        if not self.jobs:
            return
        self.total = max(1, sum(job.frames for job in self.jobs))
        self.done, self.started = 0, time.monotonic()
        pool = ThreadPoolExecutor(min(len(self.jobs), workers or export_workers()),
                                  thread_name_prefix="canvas-export")
        try:
            ordered = sorted(self.jobs, key=lambda job: job.waits)  # stable: added order kept
            futures = [pool.submit(self._run_job, job) for job in ordered]
            finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            if any(future.exception() is not None for future in finished):
                self._stop.set()  # the others stop at their next frame
            wait(futures)
        finally:
            pool.shutdown(wait=True)
        errors = [future.exception() for future in futures if future.exception() is not None]
        first = next((error for error in errors if not isinstance(error, _Stopped)), None)
        if first is not None:
            raise first
        self.ctx.check_cancel()

    def _run_job(self, job: ExportJob) -> None:
        with self._lock:
            self._running.append(job.label)
        try:
            self._check()
            written = 0

            def on_frame(count: int) -> None:
                nonlocal written
                self._step(count - written)
                written = count
                self._check()

            job.work(on_frame)
            self._step(job.frames - written)  # jobs without frames count at the end
        finally:
            with self._lock:
                self._running.remove(job.label)

    def _check(self) -> None:
        if self._stop.is_set():
            raise _Stopped()
        try:
            self.ctx.check_cancel()
        except BaseException:
            self._stop.set()
            raise

    def _step(self, count: int) -> None:
        if count <= 0:
            return
        with self._lock:  # held while reporting too: the line never goes backwards
            self.done = done = min(self.total, self.done + count)
            running = self._running
            elapsed = time.monotonic() - self.started
            eta = elapsed / done * (self.total - done) if done else 0.0
            what = ", ".join(running[:3]) + (f" +{len(running) - 3}" if len(running) > 3 else "")
            try:
                self.ctx.progress(done / self.total, f"{what or 'exports'}: frame {done}/"
                                                     f"{self.total}, ETA {eta:.0f} s")
            except BaseException:  # cancelled: every job stops
                self._stop.set()
                raise
