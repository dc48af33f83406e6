"""Events the executor sends to its listeners (console, the editor's run
model, tests), and the few the editor's engine bridge adds.

Listeners are called on the executor's thread; a GUI listener must hand the
event over to its own thread (the editor's bridge does so with one queued
signal that carries the event object itself, `ui/execution/worker.py`).

Each event's `event_kind`, a run's status and a preview's kind are enums
(`EventKind`, `RunStatus`, `PreviewKind`); they
are `str` enums, so run.json and the console print them as plain words.

Adding an event: a frozen dataclass here with its `event_kind`, emitted where the
engine knows the fact, applied in `ui/run_state.py` (`RunStates.apply`) and
shown by the one view that needs it (docs/architecture.md walks through one).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

import numpy as np


class EventKind(StrEnum):
    RUN_STARTED = "run_started"
    NODE_STARTED = "start"
    NODE_PROGRESS = "progress"
    NODE_PREVIEW = "preview"
    NODE_LOG = "log"
    NODE_WARNING = "warning"
    NODE_RESULT = "result"
    NODE_FINISHED = "end"
    NODE_FAILED = "failed"
    NODE_SKIPPED = "skipped"
    RUN_ERROR = "error"
    RUN_FINISHED = "run_finished"


class RunStatus(StrEnum):
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class PreviewKind(StrEnum):
    FRAME = "frame"  # a frame of the shot as it is produced
    STEP = "step"  # a diffusion step's decoded latents


@dataclass(frozen=True)
class RunStarted:
    event_kind: ClassVar[EventKind] = EventKind.RUN_STARTED
    plan: tuple[str, ...]  # node ids in the order they will be evaluated


@dataclass(frozen=True)
class NodeStarted:
    event_kind: ClassVar[EventKind] = EventKind.NODE_STARTED
    node_id: str
    host: str = ""  # the farm worker's host name; empty when it runs in this process


@dataclass(frozen=True)
class NodeProgress:
    event_kind: ClassVar[EventKind] = EventKind.NODE_PROGRESS
    node_id: str
    fraction: float
    message: str = ""


@dataclass(frozen=True)
class NodePreview:
    event_kind: ClassVar[EventKind] = EventKind.NODE_PREVIEW
    node_id: str
    frame: np.ndarray = field(repr=False)
    kind: PreviewKind = PreviewKind.FRAME


@dataclass(frozen=True)
class NodeLog:
    event_kind: ClassVar[EventKind] = EventKind.NODE_LOG
    node_id: str
    message: str


@dataclass(frozen=True)
class NodeWarning:
    """A node finished or goes on, but something needs the user's eye."""
    event_kind: ClassVar[EventKind] = EventKind.NODE_WARNING
    node_id: str
    message: str


@dataclass(frozen=True)
class NodeResult:
    """A node's outputs, just before its NodeFinished (run or from the cache),
    so a shot's picture and identity verdict show when the shot ends, not
    when the run does. The engine process does not pickle it along with the
    events: it sends the outputs once per cache key and the editor's bridge
    makes the event again from them (engine/child_process.py)."""
    event_kind: ClassVar[EventKind] = EventKind.NODE_RESULT
    node_id: str
    key: str
    outputs: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class NodeFinished:
    event_kind: ClassVar[EventKind] = EventKind.NODE_FINISHED
    node_id: str
    cached: bool
    elapsed: float  # seconds; 0 for a cache hit
    key: str = ""


@dataclass(frozen=True)
class NodeFailed:
    event_kind: ClassVar[EventKind] = EventKind.NODE_FAILED
    node_id: str
    message: str
    bad_input: bool = False  # the user's to fix (exit code 2 in the CLI)


@dataclass(frozen=True)
class NodeSkipped:
    event_kind: ClassVar[EventKind] = EventKind.NODE_SKIPPED
    node_id: str
    reason: str  # e.g. "an upstream node failed"


@dataclass(frozen=True)
class RunError:
    """The run could not start, or the engine stopped under it; `node_id`
    names the node at fault when one is known (else "")."""
    event_kind: ClassVar[EventKind] = EventKind.RUN_ERROR
    message: str
    node_id: str = ""


@dataclass(frozen=True)
class RunFinished:
    event_kind: ClassVar[EventKind] = EventKind.RUN_FINISHED
    status: RunStatus
    elapsed: float
