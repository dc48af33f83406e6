"""The run model: everything the editor knows about runs, in one place.

The engine bridge (`ui/execution/worker.py`) hands each engine event to
`RunStates.apply(job_id, event)` through one queued signal; `apply` is the
only code that turns events into state. Per node it keeps a `RunState`
(state, progress, message, elapsed, stale, result outputs, picture, identity
verdict, host, live frame) and per run a `RunRecord` (plan, status, what ran,
what came from the cache, failures, verdicts below threshold). The views
observe it and keep no run state of their own, as Orange's SchemeNode owns a
node's progress and krita-ai-diffusion's Model owns its jobs:

- `changed(node_id)`: canvas items (through the scene) and the inspector;
- `result_changed(node_id)`: the Preview and the Timeline (a node's outputs);
- `live_frame(node_id)`: the Preview (frames while a node renders);
- `applied(job_id, event)`: after every event: the Run Log, run.json, the
  status bar, the Timeline's export progress.

It also decides, in one place, what an edit makes stale: the edited node and
everything downstream of it (by cache key: undo back to the rendered state
clears the mark). What a result shows (its picture, its identity verdict) is
the node type's answer (`NodeType.result_picture`, `identity_verdict`)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor, QImage

from canvas_app.engine.events import (EventKind, NodeFailed, NodeFinished, NodeProgress,
                                      NodeResult, NodeSkipped, NodeStarted, NodeWarning, PreviewKind,
                                      RunError, RunFinished, RunStarted, RunStatus)
from canvas_app.ui import theme
from canvas_app.ui.formatting import format_seconds
from canvas_app.ui.qimage import qimage_from_array


class NodeState(StrEnum):
    IDLE = "idle"
    QUEUED = "queued"
    RUNNING = "running"
    CACHED = "cached"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


FINISHED = (NodeState.DONE, NodeState.CACHED)
# The one map of how a state looks: the word on a node's badge and its colour.
STATE_LOOK: dict[NodeState, tuple[str, QColor]] = {
    NodeState.IDLE: ("", theme.NODE_DIM_TEXT),
    NodeState.QUEUED: ("queued", QColor("#8a93a3")),
    NodeState.RUNNING: ("running", theme.ACCENT),
    NodeState.CACHED: ("cached", theme.CACHED),
    NodeState.DONE: ("done", theme.OK),
    NodeState.FAILED: ("failed", theme.ERROR),
    NodeState.CANCELLED: ("stopped", QColor("#b08d57")),
    NodeState.SKIPPED: ("skipped", QColor("#8a93a3")),
}


# -- the events only the editor has (they travel the same path) ----------------------------
@dataclass(frozen=True)
class LiveFrame:
    """A NodePreview as it crosses into Qt (made by the engine bridge): the
    frame as a QImage, and when the engine produced it (perf_counter)."""
    event_kind: ClassVar[EventKind] = EventKind.NODE_PREVIEW
    node_id: str
    image: QImage
    kind: PreviewKind
    produced: float


@dataclass(frozen=True)
class RunQueued:
    """The controller queued a run (`RunStates.add_run`)."""
    label: str
    output_dir: Path


@dataclass(frozen=True)
class NodeDeletedDuringRun:
    """A node was deleted from the canvas while a run that computes it goes on."""
    node_id: str


@dataclass(frozen=True)
class RunState:
    state: NodeState = NodeState.IDLE
    progress: float = 0.0
    message: str = ""
    elapsed: float | None = None  # seconds the node really ran; None when cached
    stale: bool = False  # edited after the result shown was computed
    likeness: float | None = None  # the result's identity score (NodeType.identity_verdict)
    likeness_passed: bool = True
    likeness_threshold: float | None = None  # the threshold the score was judged against
    picture: QImage | None = None  # the latest result frame / portrait, or a live preview
    host: str = ""  # the farm worker rendering it; empty on this computer
    result_key: str | None = None  # the cache key of the result shown ("edited since" compares it)
    outputs: dict[str, Any] | None = None  # the result shown (Preview, Timeline)
    warning: str = ""  # the node's latest NodeWarning in this run

    @property
    def below_threshold(self) -> bool:
        """A render whose identity score missed its threshold: shown as loudly
        as a failure from the moment the shot ends, and kept while a later
        run waits or works on it, until that run gives it a new verdict."""
        return self.likeness is not None and not self.likeness_passed and \
            self.state not in (NodeState.IDLE, NodeState.FAILED, NodeState.SKIPPED)

    @property
    def colour(self) -> QColor:
        return theme.ERROR if self.below_threshold else STATE_LOOK[self.state][1]

    def likeness_text(self) -> str:
        """'identity 0.62 < threshold 0.99': the score beside what it was judged against."""
        if self.likeness is None:
            return ""
        if self.likeness_threshold is None:
            return f"identity {self.likeness:.2f}" + ("" if self.likeness_passed else " (below threshold)")
        if self.likeness_passed:
            return f"identity {self.likeness:.2f} ≥ {self.likeness_threshold:.2f}"
        return f"identity {self.likeness:.2f} < threshold {self.likeness_threshold:.2f}"

    def badge_text(self) -> str:
        """The word (or number) in the node's header badge."""
        if self.below_threshold:
            return f"✗ {self.likeness:.2f}"
        if self.state == NodeState.RUNNING:
            return f"{int(self.progress * 100)}%"
        if self.state == NodeState.DONE and self.elapsed is not None:
            return format_seconds(self.elapsed)
        return STATE_LOOK[self.state][0]

    def describe(self) -> str:
        """The sentence the inspector shows under a node's title."""
        state, message = self.state, self.message
        if state == NodeState.IDLE:
            return ""
        if state == NodeState.DONE and self.elapsed is not None:
            message = f"Done in {format_seconds(self.elapsed)}"
        elif state == NodeState.CACHED:
            message = "Result served from the cache"
        elif state == NodeState.RUNNING:
            message = f"Running… {int(self.progress * 100)}% {message}".strip()
        if self.below_threshold:
            verdict = f"Below the identity threshold: {self.likeness_text()}"
            message = f"{verdict} — {message}" if message else verdict
        if self.stale and state in FINISHED:
            message += " — edited since; run again to update"
        return message


IDLE = RunState()
_NO_VERDICT = {"likeness": None, "likeness_passed": True, "likeness_threshold": None}


@dataclass
class RunRecord:
    """What one run did, kept after it ends (the last MAX_RUNS of them)."""
    job_id: int
    label: str
    targets: list[str] | None
    output_dir: Path
    project_dir: Path | None
    titles: dict[str, str]  # node id -> title in the run's snapshot
    node_types: dict[str, Any]  # node id -> NodeType class, to ask about results
    attached: bool = True  # for the open document (False once another one is opened)
    plan: tuple[str, ...] = ()
    started: bool = False
    status: RunStatus | None = None  # None while it waits or runs
    elapsed: float = 0.0
    executed: list[str] = field(default_factory=list)  # node ids that really ran, in order
    cached: set[str] = field(default_factory=set)  # node ids served from the cache
    failures: dict[str, str] = field(default_factory=dict)
    below: list[str] = field(default_factory=list)  # results below their identity threshold
    error: str = ""  # why it could not start, or why the engine stopped
    edited: set[str] = field(default_factory=set)  # nodes edited since its snapshot

    def title(self, node_id: str) -> str:
        return self.titles.get(node_id, node_id)


MAX_RUNS = 100


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
    """The run model of the open graph (see the module's docstring)."""

    changed = Signal(str)  # node id
    result_changed = Signal(str)  # node id: its outputs changed
    live_frame = Signal(str)  # node id: a new live frame (`live(node_id)`)
    applied = Signal(int, object)  # job id, the event just applied

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._states: dict[str, RunState] = {}
        self._removed: dict[str, RunState] = {}  # deleted nodes' states, back on undo/redo
        self._live: dict[str, LiveFrame] = {}
        self._graph = None
        self.runs: dict[int, RunRecord] = {}
        self._key_dirs: tuple[Path | None, Path | None] = (None, None)  # the last run's folders
        self._keyer = None  # an Executor, only asked for cache keys

    # -- the graph it describes ------------------------------------------------------
    def observe(self, graph) -> None:
        """Follow `graph` (a newly opened document): every entry starts idle,
        and runs of the previous document touch nothing here any more."""
        if self._graph is not None:
            self._graph.unsubscribe(self._on_graph_event)
        self._graph = graph
        for run in self.runs.values():
            run.attached = False
        self.clear()
        if graph is not None:
            graph.subscribe(self._on_graph_event)

    def _on_graph_event(self, event: str, payload: dict[str, Any]) -> None:
        if event == "node_removed":
            node_id = payload["node"].id
            self._live.pop(node_id, None)
            state = self._states.pop(node_id, None)
            if state is not None:
                self._removed[node_id] = state
                self.changed.emit(node_id)
                self.result_changed.emit(node_id)
            self._note_edited({node_id})  # its results are gone with it
            active = [run for run in self.runs.values()
                      if run.attached and run.status is None and node_id in run.titles]
            if active:
                self.apply(active[0].job_id, NodeDeletedDuringRun(node_id))
            return
        if event == "node_added":  # undo of a delete, or redo of an add: its result is back
            node_id = payload["node"].id
            state = self._removed.pop(node_id, None)
            if state is not None:
                self._states[node_id] = state
                self.recheck({node_id})
                self.changed.emit(node_id)
                self.result_changed.emit(node_id)
            return
        touched = affected_by_edit(self._graph, event, payload)
        if touched:
            self.recheck(touched)
            self._note_edited(touched)

    def _note_edited(self, node_ids: set[str]) -> None:
        for run in self.runs.values():
            if run.status is None:
                run.edited |= node_ids

    def current_keys(self, node_ids) -> dict[str, str]:
        """The cache keys nodes would have in a run now, as the last run saw
        its folders (the engine's answer, without running anything)."""
        if self._keyer is None:
            from canvas_app.engine import Executor

            self._keyer = Executor()
        output_dir, project_dir = self._key_dirs
        return self._keyer.keys_for(self._graph, list(node_ids), output_dir=output_dir,
                                    project_dir=project_dir)

    def recheck(self, node_ids) -> None:
        """"Edited since" by cache key: a finished node is stale exactly when
        its key now differs from its result's."""
        finished = [n for n in node_ids if self.get(n).state in FINISHED]
        if not finished or self._graph is None:
            return
        try:
            keys = self.current_keys(finished)
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

    def outputs(self, node_id: str) -> dict[str, Any] | None:
        """The outputs of the node's latest result (None: none yet)."""
        return self.get(node_id).outputs

    def live(self, node_id: str) -> LiveFrame | None:
        """The node's latest live frame while it renders."""
        return self._live.get(node_id)

    def run(self, job_id: int) -> RunRecord | None:
        return self.runs.get(job_id)

    def title(self, job_id: int, node_id: str) -> str:
        run = self.runs.get(job_id)
        return run.title(node_id) if run is not None else node_id

    # -- runs ------------------------------------------------------------------------
    def add_run(self, job) -> RunRecord:
        """A job the controller queued (its snapshot is read here, not kept)."""
        snapshot = job.snapshot
        record = RunRecord(job.id, job.label, job.targets, job.output_dir, job.project_dir,
                           {node_id: node.title for node_id, node in snapshot.nodes.items()},
                           {node_id: snapshot.registry.get(node.type_name)
                            for node_id, node in snapshot.nodes.items()})
        self.runs[job.id] = record
        finished = [job_id for job_id, run in self.runs.items() if run.status is not None]
        for job_id in finished[:max(0, len(self.runs) - MAX_RUNS)]:
            del self.runs[job_id]
        self.applied.emit(job.id, RunQueued(job.label, job.output_dir))
        return record

    def apply(self, job_id: int, event) -> None:
        """Apply one event of run `job_id`: the only place run events change state."""
        run = self.runs.get(job_id)
        if run is None:  # a job nobody queued here (a script driving the worker)
            run = self.runs[job_id] = RunRecord(job_id, "", None, Path(), None, {}, {})
        ours = run.attached  # a run of a closed document only keeps its record
        if isinstance(event, RunStarted):
            run.started, run.plan = True, tuple(event.plan)
            if ours:
                self._key_dirs = (run.output_dir or None, run.project_dir)
                for node_id in event.plan:  # the old verdict stays until a new one comes
                    self.update(node_id, NodeState.QUEUED, progress=0.0, message="", stale=False)
        elif isinstance(event, NodeStarted):
            if ours:
                self.update(node_id := event.node_id, NodeState.RUNNING, progress=0.0, message="")
                self._set(node_id, replace(self.get(node_id), host=event.host))
        elif isinstance(event, NodeProgress):
            if ours:
                self.update(event.node_id, NodeState.RUNNING, progress=event.fraction,
                            message=event.message)
        elif isinstance(event, LiveFrame):
            if ours:
                self._live[event.node_id] = event
                self._set(event.node_id, replace(self.get(event.node_id), picture=event.image))
                self.live_frame.emit(event.node_id)
        elif isinstance(event, NodeWarning):
            if ours:
                self._set(event.node_id, replace(self.get(event.node_id), warning=event.message))
        elif isinstance(event, NodeResult):
            self._apply_result(run, event, ours)
        elif isinstance(event, NodeFinished):
            (run.cached.add(event.node_id) if event.cached else run.executed.append(event.node_id))
            if ours:
                self._live.pop(event.node_id, None)
                self.update(event.node_id, NodeState.CACHED if event.cached else NodeState.DONE,
                            progress=1.0, message="", elapsed=None if event.cached else event.elapsed,
                            stale=False)
                if event.node_id in run.edited:  # edited while it ran: compare keys
                    self.recheck({event.node_id})
        elif isinstance(event, NodeFailed):
            run.failures[event.node_id] = event.message
            if ours:
                self.update(event.node_id, NodeState.FAILED, message=event.message)
        elif isinstance(event, NodeSkipped):
            if ours:
                self.update(event.node_id, NodeState.SKIPPED, message=event.reason)
        elif isinstance(event, RunError):
            run.error = event.message
            if ours and event.node_id:
                self.update(event.node_id, NodeState.FAILED, message=event.message)
        elif isinstance(event, RunFinished):
            run.status, run.elapsed = RunStatus(event.status), event.elapsed
            # (a job withdrawn from the queue never ran: another job's nodes are not its own)
            if ours and (run.started or run.error) and (
                    run.status == RunStatus.CANCELLED or (run.status == RunStatus.FAILED and run.error)):
                self._interrupted(run)
        self.applied.emit(job_id, event)

    def _apply_result(self, run: RunRecord, event: NodeResult, ours: bool) -> None:
        """A node's outputs: its picture and identity verdict, as its type says."""
        node_class = run.node_types.get(event.node_id)
        node_type = node_class() if node_class is not None else None
        verdict = node_type.identity_verdict(event.outputs) if node_type is not None else None
        if verdict is not None and not verdict.passed:
            run.below.append(event.node_id)
        if not ours:
            return
        self._live.pop(event.node_id, None)  # the result supersedes its live frames
        picture = node_type.result_picture(event.outputs) if node_type is not None else None
        image = qimage_from_array(picture) if picture is not None else None
        likeness = _NO_VERDICT if verdict is None else {
            "likeness": verdict.score, "likeness_passed": verdict.passed,
            "likeness_threshold": verdict.threshold}
        self._set(event.node_id, replace(self.get(event.node_id), outputs=event.outputs,
                                         result_key=event.key, picture=image, **likeness))
        self.result_changed.emit(event.node_id)

    def _interrupted(self, run: RunRecord) -> None:
        """Cancelled, or the engine itself failed mid-run: nothing of it runs
        or waits any more."""
        state, message = (NodeState.CANCELLED, "stopped") if run.status == RunStatus.CANCELLED \
            else (NodeState.FAILED, run.error)
        for node_id, info in self.items():
            if node_id not in run.plan and run.plan:
                continue
            self._live.pop(node_id, None)
            if info.state == NodeState.RUNNING:
                self.update(node_id, state, message=message)
            elif info.state == NodeState.QUEUED:
                self.update(node_id, NodeState.IDLE, message="")

    # -- writing ---------------------------------------------------------------------
    def update(self, node_id: str, state: NodeState | str | None = None, *,
               progress: float | None = None, message: str | None = None,
               elapsed: float | None = None, stale: bool | None = None) -> None:
        """Change what is known of a node's run. A failure or a skip drops the
        old result's verdict; waiting and running keep it (a new result
        replaces it)."""
        old = self.get(node_id)
        changes: dict[str, Any] = {}
        if state is not None:
            changes["state"] = state = NodeState(state)
        if progress is not None:
            changes["progress"] = progress
        if message is not None:
            changes["message"] = message
        if elapsed is not None or state in (NodeState.IDLE, NodeState.QUEUED, NodeState.RUNNING):
            changes["elapsed"] = elapsed
        if state in (NodeState.IDLE, NodeState.FAILED, NodeState.SKIPPED):
            changes.update(_NO_VERDICT)
        if state in (NodeState.IDLE, NodeState.QUEUED):
            changes["host"] = ""  # a new run: where it renders is not known yet
            changes["warning"] = ""
        if stale is not None:
            changes["stale"] = stale
        self._set(node_id, replace(old, **changes))

    def set_host(self, node_id: str, host: str) -> None:
        self._set(node_id, replace(self.get(node_id), host=host))

    def _set(self, node_id: str, new: RunState) -> None:
        self._states[node_id] = new
        self.changed.emit(node_id)

    def clear(self) -> None:
        ids = list(self._states)
        self._states.clear()
        self._removed.clear()
        self._live.clear()
        for node_id in ids:
            self.changed.emit(node_id)
            self.result_changed.emit(node_id)
