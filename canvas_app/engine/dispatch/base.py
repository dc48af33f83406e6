"""What a dispatcher gets from the executor (a Job) and gives back (an Outcome)."""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from canvas_app.engine.context import RunContext
from canvas_app.errors import CanvasError

Post = Callable[[Any], None]  # hands an engine event or an Outcome to the executor's thread


@dataclass
class Job:
    node_id: str
    node_title: str
    type_name: str
    node_type: Any  # the NodeType instance (its class travels to farm workers)
    inputs: dict[str, Any]
    params: dict[str, Any]
    ctx: RunContext  # this process's context: progress, previews, cancel token


@dataclass
class Outcome:
    node_id: str
    outputs: dict[str, Any] | None = None
    error: BaseException | None = None  # the node's exception (Cancelled when stopped)
    traceback: str = ""
    elapsed: float = 0.0
    host: str = ""  # where it ran; empty for this process


class RemoteError(CanvasError):
    """An exception from a farm worker that cannot travel as itself: keeps
    its type name, so the failure message reads as it would locally."""

    def __init__(self, type_name: str, message: str) -> None:
        self.type_name = type_name
        super().__init__(message)


def run_node(node_type, inputs: dict[str, Any], params: dict[str, Any], ctx: RunContext,
             node_id: str, host: str = "") -> Outcome:
    """Run one node and catch what it raises: the same on every dispatcher."""
    began = time.perf_counter()
    try:
        outputs = node_type.run(inputs, params, ctx)
    except (Exception, KeyboardInterrupt) as error:  # Cancelled and Ctrl-C included
        text = "" if isinstance(error, (CanvasError, KeyboardInterrupt)) else \
            traceback.format_exc()
        return Outcome(node_id, error=error, traceback=text,
                       elapsed=time.perf_counter() - began, host=host)
    return Outcome(node_id, outputs=outputs, elapsed=time.perf_counter() - began, host=host)


class Dispatcher:
    """Runs jobs and posts their events and Outcomes back to the executor.

    `sequential` dispatchers take one job at a time in plan order (the
    executor then behaves exactly as a plain loop would)."""

    name = "base"
    sequential = False

    def open(self, post: Post) -> None:
        """A run begins; `post` is how events and outcomes reach the executor."""
        self.post = post

    def has_room(self, job: Job) -> bool:
        return True

    def submit(self, job: Job) -> None:
        raise NotImplementedError

    def cancel(self) -> None:
        """Stop the work in flight; each stopped job still posts an Outcome."""

    def close(self) -> None:
        """The run is over."""

    def shutdown(self) -> None:
        """The dispatcher will not be used again (release threads, clusters)."""
