"""Run state as a model: what the executor last said about each node.

One `RunState` per node, owned by `RunStates`, which says `changed(node_id)`
whenever an entry changes (as Orange's SchemeNode owns its progress and
state). Scene items mirror its entries (replaced on `changed`) and the
inspector reads it; neither keeps run state the model does not have. It also decides, in one place, what an edit makes stale: the edited
node and everything downstream of it."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from canvas_app.ui.formatting import format_seconds

_FINISHED = ("done", "cached")


@dataclass(frozen=True)
class RunState:
    state: str = "idle"  # idle | queued | running | cached | done | failed | cancelled | skipped
    progress: float = 0.0
    message: str = ""
    elapsed: float | None = None  # seconds the node really ran; None when cached
    stale: bool = False  # edited after the result shown was computed
    likeness: float | None = None  # a render's identity score
    likeness_passed: bool = True
    likeness_threshold: float | None = None  # the threshold the score was judged against
    picture: QImage | None = None  # the latest result frame / portrait, or a live preview
    host: str = ""  # the farm worker rendering it; empty on this computer
    result_key: str | None = None  # the cache key of the result shown ("edited since" compares it)

    @property
    def below_threshold(self) -> bool:
        """A finished render whose identity score missed its threshold: shown
        as loudly as a failure."""
        return self.state in _FINISHED and self.likeness is not None and not self.likeness_passed

    def likeness_text(self) -> str:
        """'identity 0.62 < threshold 0.99': the score beside what it was judged against."""
        if self.likeness is None:
            return ""
        if self.likeness_threshold is None:
            return f"identity {self.likeness:.2f}" + ("" if self.likeness_passed else " (below threshold)")
        if self.likeness_passed:
            return f"identity {self.likeness:.2f} ≥ {self.likeness_threshold:.2f}"
        return f"identity {self.likeness:.2f} < threshold {self.likeness_threshold:.2f}"

    def describe(self) -> str:
        """The sentence the inspector shows under a node's title."""
        state, message = self.state, self.message
        if state == "idle":
            return ""
        if state == "done" and self.elapsed is not None:
            message = f"Done in {format_seconds(self.elapsed)}"
        elif state == "cached":
            message = "Result served from the cache"
        elif state == "running":
            message = f"Running… {int(self.progress * 100)}% {message}".strip()
        if self.below_threshold:
            message = f"Below the identity threshold: {self.likeness_text()} — " + message
        if self.stale and state in _FINISHED:
            message += " — edited since; run again to update"
        return message


IDLE = RunState()


def affected_by_edit(graph, event: str, payload: dict[str, Any]) -> set[str]:
    """The nodes whose results an edit makes out of date: the edited node and
    everything downstream. Empty for edits that change no result (moves)."""
    if event in ("param_changed", "title_changed"):
        touched = {payload["node"].id}
    elif event in ("link_added", "link_removed"):
        touched = {payload["link"].dst}
    else:
        return set()
    for node_id in list(touched):
        if node_id in graph.nodes:
            touched |= graph.downstream_ids(node_id)
    return touched


class RunStates(QObject):
    """Run state of every node of the open graph, with a change signal."""

    changed = Signal(str)  # node id
    edited = Signal(object)  # set of node ids an edit made stale (runs in flight note it)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._states: dict[str, RunState] = {}
        self._removed: dict[str, RunState] = {}  # deleted nodes' states, back on undo/redo
        self._graph = None
        # (graph, node ids) -> {node id: cache key now}; set by the run controller
        self.key_source = None

    # -- the graph it describes ------------------------------------------------------
    def observe(self, graph) -> None:
        """Follow `graph` (a newly opened document): every entry starts idle."""
        if self._graph is not None:
            self._graph.unsubscribe(self._on_graph_event)
        self._graph = graph
        self.clear()
        if graph is not None:
            graph.subscribe(self._on_graph_event)

    def _on_graph_event(self, event: str, payload: dict[str, Any]) -> None:
        if event == "node_removed":
            node_id = payload["node"].id
            state = self._states.pop(node_id, None)
            if state is not None:
                self._removed[node_id] = state
                self.changed.emit(node_id)
            self.edited.emit({node_id})  # its results are gone with it
            return
        if event == "node_added":  # undo of a delete, or redo of an add: its result line is back
            node_id = payload["node"].id
            state = self._removed.pop(node_id, None)
            if state is not None:
                self._states[node_id] = state
                self.recheck({node_id})
                self.changed.emit(node_id)
            return
        touched = affected_by_edit(self._graph, event, payload)
        if not touched:
            return
        self.recheck(touched)
        self.edited.emit(touched)

    def recheck(self, node_ids) -> None:
        """"Edited since" by cache key: a finished node is stale exactly when
        its key now differs from its result's (undo back to the rendered state
        clears the mark). Without a key source, any edit marks it."""
        finished = [n for n in node_ids if self.get(n).state in _FINISHED]
        if not finished:
            return
        keys = {}
        if self.key_source is not None and self._graph is not None:
            try:
                keys = self.key_source(self._graph, finished)
            except Exception:  # noqa: BLE001 - the graph cannot be keyed now (a cycle): stale
                keys = {}
        for node_id in finished:
            result_key = self.get(node_id).result_key
            stale = result_key is None or keys.get(node_id) != result_key
            if stale != self.get(node_id).stale:
                self.update(node_id, stale=stale)

    # -- reading ---------------------------------------------------------------------
    def get(self, node_id: str) -> RunState:
        return self._states.get(node_id, IDLE)

    def __contains__(self, node_id: str) -> bool:
        return node_id in self._states

    def items(self):
        return list(self._states.items())

    # -- writing ---------------------------------------------------------------------
    def update(self, node_id: str, state: str | None = None, *, progress: float | None = None,
               message: str | None = None, elapsed: float | None = None,
               stale: bool | None = None) -> None:
        """Change what is known of a node's run. A new run of the node (idle,
        queued, running, failed, skipped) drops the old result's verdict."""
        old = self.get(node_id)
        changes: dict[str, Any] = {}
        if state is not None:
            changes["state"] = state
        if progress is not None:
            changes["progress"] = progress
        if message is not None:
            changes["message"] = message
        if elapsed is not None or state in ("idle", "queued", "running"):
            changes["elapsed"] = elapsed
        if state in ("idle", "queued", "running", "failed", "skipped"):
            changes["likeness"] = None
        if state in ("idle", "queued"):
            changes["host"] = ""  # a new run: where it renders is not known yet
        if stale is not None:
            changes["stale"] = stale
        self._set(node_id, replace(old, **changes))

    def set_likeness(self, node_id: str, score: float | None, passed: bool,
                     threshold: float | None = None) -> None:
        self._set(node_id, replace(self.get(node_id), likeness=score, likeness_passed=passed,
                                   likeness_threshold=threshold))

    def set_result_key(self, node_id: str, key: str | None) -> None:
        self._set(node_id, replace(self.get(node_id), result_key=key))

    def set_host(self, node_id: str, host: str) -> None:
        self._set(node_id, replace(self.get(node_id), host=host))

    def set_picture(self, node_id: str, image: QImage | None) -> None:
        if image is not None and image.isNull():
            image = None
        self._set(node_id, replace(self.get(node_id), picture=image))

    def _set(self, node_id: str, new: RunState) -> None:
        self._states[node_id] = new
        self.changed.emit(node_id)

    def clear(self) -> None:
        ids = list(self._states)
        self._states.clear()
        self._removed.clear()
        for node_id in ids:
            self.changed.emit(node_id)
