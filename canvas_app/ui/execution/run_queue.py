"""The editor's run queue: jobs waiting their turn and the one running.

A job leaves the queue when it finishes (its graph snapshot goes with it), so
a long session keeps no snapshots of old runs. What a run did is the run
model's (`ui/run_state.py`, `RunRecord`)."""
from __future__ import annotations

from canvas_app.ui.execution.worker import RunJob


class RunQueue:
    def __init__(self) -> None:
        self.waiting: list[RunJob] = []
        self.current: RunJob | None = None
        self._jobs: dict[int, RunJob] = {}  # waiting and running jobs only

    def __len__(self) -> int:
        return len(self.waiting) + (1 if self.current is not None else 0)

    def add(self, job: RunJob) -> None:
        self._jobs[job.id] = job
        self.waiting.append(job)

    def job(self, job_id: int) -> RunJob | None:
        return self._jobs.get(job_id)

    def start_next(self) -> RunJob | None:
        """The next job, now current; None while one runs or none waits."""
        if self.current is not None or not self.waiting:
            return None
        self.current = self.waiting.pop(0)
        return self.current

    def is_current(self, job_id: int) -> bool:
        return self.current is not None and self.current.id == job_id

    def withdraw(self, job_id: int) -> RunJob | None:
        """Take a waiting job out before it starts; None if it is not waiting."""
        job = self._jobs.get(job_id)
        if job is None or job not in self.waiting:
            return None
        self.waiting.remove(job)
        self._jobs.pop(job_id, None)
        return job

    def finish(self, job_id: int) -> RunJob | None:
        """The job has ended: drop it (and its snapshot)."""
        job = self._jobs.get(job_id)
        if self.is_current(job_id):
            self.current = None
        self._jobs.pop(job_id, None)
        return job
