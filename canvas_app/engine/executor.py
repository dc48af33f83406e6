"""The executor: plans, keys, caches nodes, hands them to a dispatcher, reports events.

No Qt here. The CLI drives it with a console listener, the editor from a
worker QThread with a listener that turns events into queued Qt signals.
"""
from __future__ import annotations

import os

import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from canvas_app.engine.cache import ResultCache
from canvas_app.engine.context import CancelToken, Cancelled, RunContext
from canvas_app.engine.dispatch import Dispatcher, Job, LocalDispatcher, Outcome, RemoteError
from canvas_app.engine.events import (NodeFailed, NodeFinished, NodeLog, NodePreview,
                                      NodeProgress, NodeResult, NodeSkipped, NodeStarted,
                                      NodeWarning, PreviewKind, RunFinished, RunStarted, RunStatus)
from canvas_app.engine.keys import FileHashes, node_key
from canvas_app.engine.plan import check_runnable, plan
from canvas_app.errors import BadInput, CanvasError
from canvas_app.graph.model import Graph, Node
from canvas_app.graph.spec import NodeType

Listener = Callable[[Any], None]


@dataclass
class RunResult:
    status: RunStatus
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # node id -> outputs
    keys: dict[str, str] = field(default_factory=dict)
    cached: set[str] = field(default_factory=set)  # node ids served from the cache
    executed: list[str] = field(default_factory=list)  # node ids that really ran
    failures: dict[str, str] = field(default_factory=dict)  # node id -> message
    bad_input: bool = False  # every failure was the user's to fix
    elapsed: float = 0.0


class Executor:
    def __init__(self, cache: ResultCache | None = None, disk_cache=None,
                 dispatcher: Dispatcher | None = None) -> None:
        self.cache = cache if cache is not None else ResultCache()
        self.disk_cache = disk_cache  # a DiskCache, or None to keep results in memory only
        self.dispatcher = dispatcher if dispatcher is not None else LocalDispatcher()
        self.file_hashes = FileHashes()
        self._node_types: dict[type, NodeType] = {}

    def run(self, graph: Graph, targets: list[str] | None = None, *,
            listener: Listener | None = None, cancel_token: CancelToken | None = None,
            output_dir: Path | None = None, project_dir: Path | None = None) -> RunResult:
        """Evaluate `targets` (default: every sink) of a graph snapshot. Raises
        BadInput before doing any work if the graph cannot run as it is.

        Nodes whose inputs are ready go to the dispatcher; keys, caches, events
        and the failure and skip rules are all handled here, on the calling
        thread, whichever dispatcher runs the nodes."""
        emit = listener or (lambda event: None)
        token = cancel_token or CancelToken()
        started = time.perf_counter()
        order = plan(graph, targets)
        incoming: dict[str, list] = {}
        for link in graph.links:
            incoming.setdefault(link.dst, []).append(link)
        problems = check_runnable(graph, order, incoming)
        if problems:
            first = problems[0]
            raise BadInput(first.message, node=graph.nodes[first.node_id].label, field=first.field,
                           node_id=first.node_id)

        result = RunResult(status=RunStatus.DONE)
        emit(RunStarted(tuple(order)))
        inbox: queue.SimpleQueue = queue.SimpleQueue()
        own_thread = threading.get_ident()

        def relay(event) -> None:  # node events: emitted on this thread, whoever sends them
            if threading.get_ident() == own_thread:
                emit(event)
            else:
                inbox.put(event)

        dispatcher = self.dispatcher
        dispatcher.open(inbox.put)
        failed_or_skipped: set[str] = set()
        settled: set[str] = set()
        pending = list(order)  # not yet settled nor running, in plan order
        running: dict[str, tuple[NodeType, str]] = {}  # node id -> (type, key)
        try:
            while pending or running:
                if token.cancelled and result.status != "cancelled":
                    result.status = RunStatus.CANCELLED
                    dispatcher.cancel()
                if result.status != "cancelled":
                    self._start_ready(graph, pending, running, settled, failed_or_skipped,
                                      incoming, result, token, output_dir, project_dir, emit,
                                      relay, dispatcher)
                if not running and (result.status == "cancelled" or not pending):
                    break
                try:
                    item = inbox.get(timeout=0.05)
                except queue.Empty:
                    continue
                if not isinstance(item, Outcome):
                    if result.status != "cancelled":
                        emit(item)
                    continue
                entry = running.pop(item.node_id, None)
                if entry is None:
                    continue  # already settled (a cancel answered for it)
                node_type, key = entry
                settled.add(item.node_id)
                self._settle(graph.nodes[item.node_id], node_type, key, item, result,
                             failed_or_skipped, emit)
                if result.status == "cancelled" and isinstance(item.error, Cancelled):
                    dispatcher.cancel()  # a node saw the cancel first: stop the others too
        finally:
            dispatcher.close()

        if result.status == "done" and result.failures:
            result.status = RunStatus.FAILED
        result.bad_input = bool(result.failures) and result.bad_input
        result.elapsed = time.perf_counter() - started
        emit(RunFinished(result.status, result.elapsed))
        return result

    def _start_ready(self, graph, pending, running, settled, failed_or_skipped, incoming, result,
                     token, output_dir, project_dir, emit, relay, dispatcher) -> None:
        """Settle skipped and cached nodes at once and hand the nodes whose
        inputs are all settled to the dispatcher, in plan order."""
        for node_id in list(pending):
            if dispatcher.sequential and running:
                return  # one node at a time, in plan order: as a plain loop would
            inputs_from = incoming.get(node_id, [])
            if any(link.src not in settled for link in inputs_from):
                if dispatcher.sequential:
                    return
                continue
            node = graph.nodes[node_id]
            blocked = [link.src for link in inputs_from if link.src in failed_or_skipped]
            if blocked:
                pending.remove(node_id)
                settled.add(node_id)
                failed_or_skipped.add(node_id)
                emit(NodeSkipped(node_id, f"upstream node {blocked[0]} did not finish"))
                continue
            node_type = self._type_instance(graph, node)
            ctx = self._context(node, token, output_dir, project_dir, relay)
            ctx.graph = graph
            key = self._key(graph, node, node_type, inputs_from, result.keys, ctx)
            result.keys[node_id] = key

            cached = self.cache.get(key)
            if cached is None and self.disk_cache is not None:
                cached = self.disk_cache.load(key, node_type)
                if cached is not None:
                    self.cache.put(key, cached)
            if cached is not None:
                if node_type.is_result_valid(cached):
                    pending.remove(node_id)
                    settled.add(node_id)
                    result.outputs[node_id] = cached
                    result.cached.add(node_id)
                    emit(NodeResult(node_id, key, cached))
                    emit(NodeFinished(node_id, cached=True, elapsed=0.0, key=key))
                    continue
                self.cache.discard(key)  # e.g. an export changed on disk since: redo it
                if self.disk_cache is not None:
                    self.disk_cache.discard(key)

            job = Job(node_id, node.title, node.type_name, node_type,
                      self._inputs(node, inputs_from, result.outputs), dict(node.params), ctx)
            if not dispatcher.has_room(job):
                if dispatcher.sequential:
                    return
                continue
            pending.remove(node_id)
            running[node_id] = (node_type, key)
            if getattr(dispatcher, "announces_start", False) is False:
                emit(NodeStarted(node_id))
            dispatcher.submit(job)

    def _settle(self, node: Node, node_type: NodeType, key: str, outcome: Outcome,
                result: RunResult, failed_or_skipped: set[str], emit: Listener) -> None:
        """A node came back from the dispatcher: record it as the rules say."""
        node_id, error = node.id, outcome.error
        if error is None:
            outputs = outcome.outputs
            result.outputs[node_id] = outputs
            result.executed.append(node_id)
            self.cache.put(key, outputs)
            if self.disk_cache is not None:
                self.disk_cache.save(key, node_type, outputs)
            if result.status != "cancelled":
                emit(NodeResult(node_id, key, outputs))
                emit(NodeFinished(node_id, cached=False, elapsed=outcome.elapsed, key=key))
            return
        if isinstance(error, (Cancelled, KeyboardInterrupt)):
            result.status = RunStatus.CANCELLED
            return
        if result.status == "cancelled":
            return  # failures after a cancel are the cancel's doing
        if isinstance(error, BadInput):
            error.node = error.node or node.label
            self._fail(result, failed_or_skipped, node_id, str(error), True, emit)
        elif isinstance(error, MemoryError):
            self._fail(result, failed_or_skipped, node_id,
                       f"node {node.label}: out of memory", False, emit)
        elif isinstance(error, CanvasError) and not isinstance(error, RemoteError):
            self._fail(result, failed_or_skipped, node_id, f"node {node.label}: "
                       f"{error.args[0] if error.args else error}", False, emit)
        else:  # a bug or a library failure: name the node
            if outcome.traceback:
                emit(NodeLog(node_id, outcome.traceback))
            type_name = error.type_name if isinstance(error, RemoteError) else type(error).__name__
            self._fail(result, failed_or_skipped, node_id,
                       f"node {node.label}: {type_name}: {error}", False, emit)

    def keys_for(self, graph: Graph, node_ids: list[str], *, output_dir: Path | None = None,
                 project_dir: Path | None = None) -> dict[str, str]:
        """The cache key each of `node_ids` (and what feeds it) would have in a
        run now, without running anything: the editor compares it with the key
        of the result it shows to say "edited since". Nodes that cannot be
        keyed (unknown type, a file that cannot be read) are left out."""
        incoming: dict[str, list] = {}
        for link in graph.links:
            incoming.setdefault(link.dst, []).append(link)
        keys: dict[str, str] = {}
        for node_id in plan(graph, [n for n in node_ids if n in graph.nodes]):
            node = graph.nodes[node_id]
            inputs_from = incoming.get(node_id, [])
            if node.spec is None or any(link.src not in keys for link in inputs_from):
                continue
            try:
                node_type = self._type_instance(graph, node)
                ctx = self._context(node, CancelToken(), output_dir, project_dir, lambda event: None)
                ctx.graph = graph  # as in a run: a key may read the graph (a Sequence's shot names)
                keys[node_id] = self._key(graph, node, node_type, inputs_from, keys, ctx)
            except Exception:  # noqa: BLE001 - no key is "cannot tell": shown as edited
                continue
        return keys

    @staticmethod
    def _fail(result: RunResult, failed: set[str], node_id: str, message: str, bad_input: bool,
              emit: Listener) -> None:
        result.bad_input = bad_input if not result.failures else (result.bad_input and bad_input)
        result.failures[node_id] = message
        failed.add(node_id)
        emit(NodeFailed(node_id, message, bad_input))

    def _type_instance(self, graph: Graph, node: Node) -> NodeType:
        cls = graph.registry.get(node.type_name)
        instance = self._node_types.get(cls)
        if instance is None:
            instance = self._node_types[cls] = cls()
        return instance

    @staticmethod
    def _context(node: Node, token: CancelToken, output_dir, project_dir,
                 emit: Listener) -> RunContext:
        node_id = node.id
        return RunContext(
            node_id=node_id, node_title=node.title, cancel_token=token,
            output_dir=Path(output_dir) if output_dir else None,
            project_dir=Path(project_dir) if project_dir else None,
            on_progress=lambda fraction, message: emit(NodeProgress(node_id, fraction, message)),
            on_preview=lambda frame, kind: emit(NodePreview(node_id, frame, PreviewKind(kind))),
            on_log=lambda message: emit(NodeLog(node_id, message)),
            on_warning=lambda message: emit(NodeWarning(node_id, message)),
        )

    def _key(self, graph: Graph, node: Node, node_type: NodeType, inputs_from, keys,
             ctx: RunContext) -> str:
        upstream: dict[str, list[str]] = {}
        for link in inputs_from:
            upstream.setdefault(link.dst_port, []).append(f"{keys[link.src]}:{link.src_port}")
        files = [self.file_hashes.digest(path) for path in node_type.input_files(node.params)]
        params = _portable_paths(node, node_type.key_params(node.params), ctx.project_dir)
        return node_key(node.type_name, node.type_version, params,
                        sorted(upstream.items()), files, node_type.cache_key_extra(node.params, ctx))

    @staticmethod
    def _inputs(node: Node, inputs_from, outputs) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for port in node.spec.inputs:
            links = [link for link in inputs_from if link.dst_port == port.name]
            gathered = [outputs[link.src][link.src_port] for link in links]
            values[port.name] = gathered if port.multiple else (gathered[0] if gathered else None)
        return values


def _portable_paths(node: Node, params: dict[str, Any], project_dir: Path | None) -> dict[str, Any]:
    """Asset paths enter keys by file name alone when the file's contents are
    hashed into the key anyway (a regular file), else relative to the project
    folder: a moved project, and a graph reopened from an exported PNG (no
    project folder, absolute paths), keep their cached results."""
    if node.spec is None:
        return params

    def relative(path: str) -> str:
        if os.path.isfile(path):
            return Path(path).name
        if project_dir is None:
            return path
        try:
            return Path(path).relative_to(project_dir).as_posix()
        except ValueError:
            return path

    portable = dict(params)
    for param in node.spec.params:
        value = portable.get(param.name)
        if param.kind == "file" and isinstance(value, str) and value:
            portable[param.name] = relative(value)
        elif param.kind == "images" and isinstance(value, list):
            portable[param.name] = [{**entry, "path": relative(entry["path"])} for entry in value]
    return portable
