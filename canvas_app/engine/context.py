"""What a running node can see of the engine: progress, previews, cancel.

Node code and generator backends receive a `RunContext`; they never talk to
the executor or to Qt directly. A bare `RunContext()` works for tests and
scripts: it ignores progress and previews and never cancels.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np


class Cancelled(Exception):
    """Raised inside node work when the user stopped the run."""


class CancelToken:
    """Set from any thread; checked by the executor between nodes and by
    long loops inside nodes (per frame, per diffusion step)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


@dataclass
class RunContext:
    node_id: str = ""
    node_title: str = ""
    cancel_token: CancelToken = field(default_factory=CancelToken)
    output_dir: Path | None = None  # where sink nodes may write; chosen by the user
    project_dir: Path | None = None
    on_progress: Callable[[float, str], None] | None = None
    on_preview: Callable[[np.ndarray, str], None] | None = None
    on_log: Callable[[str], None] | None = None
    on_warning: Callable[[str], None] | None = None
    graph: object | None = None  # the graph being run, for exports that record how they were made

    def progress(self, fraction: float, message: str = "") -> None:
        """Report progress 0..1; also a cancel point."""
        self.cancel_token.raise_if_cancelled()
        if self.on_progress is not None:
            self.on_progress(min(1.0, max(0.0, float(fraction))), message)

    def preview(self, frame: np.ndarray, kind: str = "frame") -> None:
        """Send an RGB uint8 frame to whoever shows previews. `kind` is
        "frame" for finished frames and "step" for diffusion step previews."""
        if self.on_preview is not None:
            self.on_preview(frame, kind)

    def log(self, message: str) -> None:
        if self.on_log is not None:
            self.on_log(message)

    def warn(self, message: str) -> None:
        """Something the user should act on (shown in the Run Log, kept on the node)."""
        if self.on_warning is not None:
            self.on_warning(message)

    def check_cancel(self) -> None:
        self.cancel_token.raise_if_cancelled()
