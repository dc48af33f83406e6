"""A document: one graph, its undo stack and its file. Every edit the editor
makes goes through a method here, which pushes an undo command; nothing else
changes the graph."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from canvas_app.graph.model import Backdrop, Graph, GraphError, Link, Node
from canvas_app.graph.registry import NodeRegistry, default_registry
from canvas_app.project import LoadIssue, graph_from_dict, graph_to_dict, load_project, save_project
from canvas_app.ui import commands as cmd

CLIPBOARD_MIME = "application/x-canvas-app-nodes+json"


class Document(QObject):
    path_changed = Signal()
    issues_changed = Signal()

    def __init__(self, graph: Graph | None = None, path: Path | None = None,
                 issues: list[LoadIssue] | None = None, registry: NodeRegistry | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.registry = registry or (graph.registry if graph is not None else default_registry())
        self.graph = graph if graph is not None else Graph(self.registry)
        self.path: Path | None = Path(path).resolve() if path else None
        self.issues: list[LoadIssue] = list(issues or [])
        self.undo_stack = QUndoStack(self)

    # -- files -----------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, registry: NodeRegistry | None = None) -> "Document":
        from canvas_app.media.exports.provenance import is_media

        graph, issues = load_project(path, registry)
        # A graph opened from an exported PNG/video is untitled: saving never overwrites the media.
        return cls(graph, None if is_media(path) else Path(path), issues, registry)

    @property
    def base_dir(self) -> Path | None:
        return self.path.parent if self.path else None

    @property
    def display_name(self) -> str:
        if self.path is None:
            return "Untitled"
        name = self.path.name
        return name[:-len(".canvas.json")] if name.endswith(".canvas.json") else self.path.stem

    def save(self, path: str | Path | None = None) -> None:
        target = Path(path).resolve() if path else self.path
        if target is None:
            raise ValueError("no path to save to")
        save_project(self.graph, target)
        if target != self.path:
            self.path = target
            self.path_changed.emit()
        self.undo_stack.setClean()

    def to_dict(self) -> dict[str, Any]:
        return graph_to_dict(self.graph, self.base_dir)

    # -- edits -----------------------------------------------------------------------
    def push(self, command) -> None:
        self.undo_stack.push(command)

    def add_node(self, type_name: str, position: tuple[float, float],
                 params: dict[str, Any] | None = None) -> Node:
        scratch = Graph(self.registry)  # build and validate without touching the real graph
        node = scratch.add_node(type_name, position, params=params,
                                node_id=self.graph.new_node_id(type_name))
        scratch.nodes.clear()
        self.push(cmd.AddNodeCommand(self.graph, node))
        return node

    def remove(self, node_ids, backdrop_ids=()) -> None:
        node_ids = [n for n in node_ids if n in self.graph.nodes]
        backdrop_ids = [b for b in backdrop_ids if b in self.graph.backdrops]
        if node_ids or backdrop_ids:
            self.push(cmd.RemoveCommand(self.graph, node_ids, backdrop_ids))

    def connect_reason(self, link: Link) -> tuple[str | None, Link | None]:
        """Why `link` cannot be made (or None), and the link it would replace
        when it goes into an occupied single input."""
        replaces = None
        dst = self.graph.nodes.get(link.dst)
        if dst is not None and dst.spec is not None:
            port = dst.spec.input(link.dst_port)
            if port is not None and not port.multiple:
                existing = self.graph.links_into(link.dst, link.dst_port)
                if existing and link not in existing:
                    replaces = existing[0]
        if replaces is None:
            return self.graph.check_connect(link), None
        view = Graph(self.registry)  # the graph as it would be without the old link
        view.nodes = self.graph.nodes
        view.links = [other for other in self.graph.links if other != replaces]
        return view.check_connect(link), replaces

    def connect(self, link: Link) -> str | None:
        """Make a link; returns the reason when it is refused."""
        reason, replaces = self.connect_reason(link)
        if reason:
            return reason
        self.push(cmd.LinkCommand(self.graph, link, replaces))
        return None

    def disconnect(self, links: list[Link]) -> None:
        links = [link for link in links if link in self.graph.links]
        if links:
            self.push(cmd.DisconnectCommand(self.graph, links))

    def move(self, nodes: dict, backdrops: dict | None = None) -> None:
        nodes = {k: v for k, v in nodes.items() if v[0] != v[1]}
        backdrops = {k: v for k, v in (backdrops or {}).items() if tuple(v[0]) != tuple(v[1])}
        if nodes or backdrops:
            self.push(cmd.MoveCommand(self.graph, nodes, backdrops))

    def set_param(self, node_id: str, name: str, value: Any, merge: bool = False) -> str | None:
        """Edit a param; returns the reason when the value is refused. `merge`
        joins continuous edits of one field (typing) into one undo step."""
        node = self.graph.nodes.get(node_id)
        if node is None or node.spec is None:
            return "this node cannot be edited"
        param = node.spec.param(name)
        if param is None:
            return f"no param {name}"
        checked, reason = param.check(copy.deepcopy(value))
        if reason:
            return reason
        if checked == node.params.get(name):
            return None
        self.push(cmd.SetParamCommand(self.graph, node_id, name, checked, param.display_name, merge))
        return None

    def set_title(self, node_id: str, title: str) -> None:
        title = title.strip()
        if title and node_id in self.graph.nodes and self.graph.nodes[node_id].title != title:
            self.push(cmd.SetTitleCommand(self.graph, node_id, title))

    def add_backdrop(self, rect: tuple[float, float, float, float], title: str = "Group",
                     color: str = "#3a4a5a") -> Backdrop:
        backdrop = Backdrop(self.graph.new_backdrop_id(), title, tuple(float(v) for v in rect), color)
        self.push(cmd.AddBackdropCommand(self.graph, backdrop))
        return backdrop

    def change_backdrop(self, backdrop_id: str, **changes) -> None:
        self.push(cmd.ChangeBackdropCommand(self.graph, backdrop_id, **changes))

    def set_metadata(self, key: str, value: Any, text: str = "") -> None:
        if self.graph.metadata.get(key) != value:
            self.push(cmd.SetMetadataCommand(self.graph, key, value, text))

    # -- clipboard -------------------------------------------------------------------
    def fragment(self, node_ids: set[str]) -> dict[str, Any]:
        """The selected nodes and the links among them; absolute paths so the
        fragment pastes into any project."""
        return graph_to_dict(self.graph, None, set(node_ids))

    def paste(self, data: dict[str, Any], offset: tuple[float, float] = (40.0, 40.0),
              anchor: tuple[float, float] | None = None) -> list[str]:
        """Insert a fragment with fresh ids as one undo step. With `anchor`, the
        fragment's top-left goes there; else it is shifted by `offset`.
        Returns the new node ids."""
        fragment, _issues = graph_from_dict(data, self.registry, None, source="clipboard")
        if not fragment.nodes:
            return []
        if anchor is not None:
            left = min(node.position[0] for node in fragment.nodes.values())
            top = min(node.position[1] for node in fragment.nodes.values())
            offset = (anchor[0] - left, anchor[1] - top)
        taken = set(self.graph.nodes)
        mapping: dict[str, str] = {}
        new_nodes: list[Node] = []
        for node in fragment.nodes.values():
            new_id = self._fresh_id(node.type_name, taken)
            taken.add(new_id)
            mapping[node.id] = new_id
            node.id = new_id
            node.position = (node.position[0] + offset[0], node.position[1] + offset[1])
            if node.raw is not None:
                node.raw["id"] = new_id
            new_nodes.append(node)
        self.undo_stack.beginMacro(f"Paste {len(new_nodes)} node{'s' if len(new_nodes) != 1 else ''}")
        try:
            for node in new_nodes:
                self.push(cmd.AddNodeCommand(self.graph, node))
            for link in fragment.links:
                self.push(cmd.InsertLinkCommand(self.graph, Link(
                    mapping[link.src], link.src_port, mapping[link.dst], link.dst_port)))
        finally:
            self.undo_stack.endMacro()
        return [node.id for node in new_nodes]

    def _fresh_id(self, type_name: str, taken: set[str]) -> str:
        stem = self.graph.new_node_id(type_name).rstrip("0123456789")
        index = 1
        while f"{stem}{index}" in taken:
            index += 1
        return f"{stem}{index}"

    @staticmethod
    def fragment_to_text(data: dict[str, Any]) -> str:
        return json.dumps(data, indent=2, ensure_ascii=False)

    @staticmethod
    def fragment_from_text(text: str) -> dict[str, Any] | None:
        try:
            data = json.loads(text)
        except (ValueError, TypeError):
            return None
        if isinstance(data, dict) and isinstance(data.get("nodes"), list) and \
                isinstance(data.get("format_version"), int):
            return data
        return None


__all__ = ["CLIPBOARD_MIME", "Document", "GraphError"]
