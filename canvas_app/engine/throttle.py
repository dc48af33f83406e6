"""Rate limits for the events a run sends to a screen: previews and progress.
Used where engine events leave for the editor (the engine child process and
the editor's engine thread)."""
from __future__ import annotations

import threading
import time

PREVIEW_MIN_INTERVAL = 0.03
PROGRESS_MIN_INTERVAL = 0.03


class ProgressThrottle:
    """Lets a node's progress through at most every PROGRESS_MIN_INTERVAL
    seconds; the last step (fraction 1.0) always passes."""

    def __init__(self, interval: float = PROGRESS_MIN_INTERVAL) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}

    def allows(self, event, now: float) -> bool:
        if event.fraction < 1.0 and now - self._last.get(event.node_id, -1.0) < self.interval:
            return False
        self._last[event.node_id] = now
        return True


class PreviewThrottle:
    """Rate-limits previews per node to about one per `interval` on average
    (a token bucket that allows a burst of two, so the last frame of a shot
    that comes right after the previous one is not held back). The newest
    frame wins; a held frame is sent by a small timer thread as soon as its
    turn comes. `send(event, produced)` must be thread-safe."""

    BURST = 2.0

    def __init__(self, send, interval: float = PREVIEW_MIN_INTERVAL) -> None:
        self._send = send
        self.interval = interval
        self._lock = threading.Lock()
        self._pending: dict[str, tuple] = {}
        self._bucket: dict[str, tuple[float, float]] = {}  # node -> (tokens, at)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="preview-throttle", daemon=True)
        self._thread.start()

    def _take(self, node_id: str, now: float) -> bool:
        tokens, at = self._bucket.get(node_id, (self.BURST, now))
        tokens = min(self.BURST, tokens + (now - at) / self.interval)
        if tokens >= 1.0:
            self._bucket[node_id] = (tokens - 1.0, now)
            return True
        self._bucket[node_id] = (tokens, now)
        return False

    def offer(self, event, produced: float) -> None:
        with self._lock:
            if self._take(event.node_id, time.monotonic()):
                self._pending.pop(event.node_id, None)
                ready = (event, produced)
            else:
                self._pending[event.node_id] = (event, produced)
                ready = None
        if ready is not None:
            self._send(*ready)

    def flush(self, node_id: str | None = None) -> None:
        with self._lock:
            keys = [node_id] if node_id is not None else list(self._pending)
            held = [self._pending.pop(key) for key in keys if key in self._pending]
        for event, produced in held:
            self._send(event, produced)

    def _loop(self) -> None:
        while not self._closed.wait(self.interval / 3):
            now = time.monotonic()
            with self._lock:
                due = [self._pending.pop(node) for node in list(self._pending)
                       if self._take(node, now)]
            for event, produced in due:
                self._send(event, produced)

    def close(self) -> None:
        self.flush()
        self._closed.set()
