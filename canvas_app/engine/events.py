"""Events the executor sends to its listeners (console, Qt bridge, tests).

Listeners are called on the executor's thread; a GUI listener must hand the
event over to its own thread (the Qt bridge does so with queued signals).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class RunStarted:
    plan: tuple[str, ...]  # node ids in the order they will be evaluated


@dataclass(frozen=True)
class NodeStarted:
    node_id: str
    host: str = ""  # the farm worker's host name; empty when it runs in this process


@dataclass(frozen=True)
class NodeProgress:
    node_id: str
    fraction: float
    message: str = ""


@dataclass(frozen=True)
class NodePreview:
    node_id: str
    frame: np.ndarray = field(repr=False)
    kind: str = "frame"  # "frame" or "step"


@dataclass(frozen=True)
class NodeLog:
    node_id: str
    message: str


@dataclass(frozen=True)
class NodeFinished:
    node_id: str
    cached: bool
    elapsed: float  # seconds; 0 for a cache hit
    key: str = ""


@dataclass(frozen=True)
class NodeFailed:
    node_id: str
    message: str
    bad_input: bool = False  # the user's to fix (exit code 2 in the CLI)


@dataclass(frozen=True)
class NodeSkipped:
    node_id: str
    reason: str  # e.g. "an upstream node failed"


@dataclass(frozen=True)
class RunFinished:
    status: str  # "done", "failed" or "cancelled"
    elapsed: float
