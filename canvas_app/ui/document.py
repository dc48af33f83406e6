"""A document: one graph, its undo stack and its file. Every edit the editor
makes goes through a method here, which pushes an undo command; nothing else
changes the graph."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from canvas_app.graph.model import Backdrop, Graph, GraphError, Link, Node
from canvas_app.graph.naming import copy_title
from canvas_app.graph.registry import NodeRegistry, default_registry
from canvas_app.project import LoadIssue, graph_from_dict, graph_to_dict, load_project, save_project
from canvas_app.ui import commands as cmd

CLIPBOARD_MIME = "application/x-canvas-app-nodes+json"


class Document(QObject):
    path_changed = Signal()

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
    def open(cls, path: str | Path, registry: NodeRegistry | None = None, *,
             trust_paths: bool = False) -> "Document":
        from canvas_app.media.exports.provenance import is_media

        graph, issues = load_project(path, registry, trust_paths=trust_paths)
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
                 params: dict[str, Any] | None = None, *, title: str | None = None,
                 text: str | None = None) -> Node:
        node = self.graph.build_node(type_name, position, params=params, title=title)
        self.push(cmd.AddNodeCommand(self.graph, node, text))
        return node

    def add_connected_node(self, type_name: str, position: tuple[float, float],
                           link_to: Callable[[str], Link]) -> tuple[Node, str | None]:
        """Add a node and the link `link_to(new node id)` as one undo step.
        The node is added even when the link is refused; returns the reason."""
        node = self.graph.build_node(type_name, position)
        link = link_to(node.id)
        reason, replaces = self.connect_reason(link, adding=(node,))
        parent = cmd.CompositeCommand(f"Add {node.title}" + ("" if reason else " and connect"))
        parent.add(cmd.AddNodeCommand(self.graph, node))
        if not reason:
            parent.add(cmd.LinkCommand(self.graph, link, replaces))
        self.push(parent)
        return node, reason

    def remove(self, node_ids, backdrop_ids=(), links=(), text: str | None = None) -> None:
        """Delete nodes (with their links), backdrops and other links as one step."""
        node_ids = [n for n in node_ids if n in self.graph.nodes]
        backdrop_ids = [b for b in backdrop_ids if b in self.graph.backdrops]
        gone = set(node_ids)
        links = [link for link in links if link in self.graph.links
                 and link.src not in gone and link.dst not in gone]
        if not (node_ids or backdrop_ids or links):
            return
        if not (node_ids or backdrop_ids):
            self.push(cmd.DisconnectCommand(self.graph, links))
            return
        if not links:
            self.push(cmd.RemoveCommand(self.graph, node_ids, backdrop_ids, text))
            return
        parent = cmd.CompositeCommand(text or "Delete")
        parent.add(cmd.DisconnectCommand(self.graph, links))
        parent.add(cmd.RemoveCommand(self.graph, node_ids, backdrop_ids))
        self.push(parent)

    def connect_reason(self, link: Link, *, ignoring=(), adding=()) -> tuple[str | None, Link | None]:
        """Why `link` cannot be made (or None), and the link it would replace
        when it goes into an occupied single input. `ignoring`: links to treat
        as gone (one being dragged away); `adding`: nodes about to be added."""
        replaces = self.graph.replaced_by(link, ignoring=ignoring)
        ignored = set(ignoring) | ({replaces} if replaces is not None else set())
        return self.graph.check_connect(link, ignoring=ignored, adding=adding), replaces

    def connect(self, link: Link) -> str | None:
        """Make a link; returns the reason when it is refused."""
        reason, replaces = self.connect_reason(link)
        if reason:
            return reason
        self.push(cmd.LinkCommand(self.graph, link, replaces))
        return None

    def reconnect(self, old: Link, new: Link) -> str | None:
        """Move a link's end (a wire picked up and dropped elsewhere) as one
        undo step; returns the reason when the new link is refused."""
        reason, replaces = self.connect_reason(new, ignoring=(old,))
        if reason:
            return reason
        parent = cmd.CompositeCommand("Reconnect")
        parent.add(cmd.DisconnectCommand(self.graph, [old]))
        parent.add(cmd.LinkCommand(self.graph, new, replaces))
        self.push(parent)
        return None

    def reorder_inputs(self, node_id: str, port: str, order: list[int],
                       params: dict[str, Any] | None = None, text: str = "") -> None:
        """Put the links into `port` of a node in `order` (indices of the links
        as they are now) and set `params` of that node with them: one undo step
        (a Timeline reorder moves the shot's trim with it)."""
        links = self.graph.links_into(node_id, port)
        if sorted(order) != list(range(len(links))) or order == list(range(len(links))):
            return
        node = self.graph.nodes[node_id]
        parent = cmd.CompositeCommand(text or f"Reorder {node.title} {port}")
        parent.add(cmd.DisconnectCommand(self.graph, links))
        for index in order:
            parent.add(cmd.InsertLinkCommand(self.graph, links[index]))
        for name, value in (params or {}).items():
            label = node.spec.param(name).display_name if node.spec is not None else name
            parent.add(cmd.SetParamCommand(self.graph, node_id, name, value, label))
        self.push(parent)

    def disconnect(self, links: list[Link]) -> None:
        links = [link for link in links if link in self.graph.links]
        if links:
            self.push(cmd.DisconnectCommand(self.graph, links))

    def move(self, nodes: dict, backdrops: dict | None = None) -> None:
        nodes = {k: v for k, v in nodes.items() if v[0] != v[1]}
        backdrops = {k: v for k, v in (backdrops or {}).items() if tuple(v[0]) != tuple(v[1])}
        if nodes or backdrops:
            self.push(cmd.MoveCommand(self.graph, nodes, backdrops))

    def set_param(self, node_id: str, name: str, value: Any, merge: Any = False) -> str | None:
        """Edit a param; returns the reason when the value is refused. `merge`
        joins continuous edits of one field (typing) into one undo step (True:
        edits close in time; a token: one typing session, see SetParamCommand)."""
        checked, reason = self.graph.check_param(node_id, name, copy.deepcopy(value))
        if reason:
            return reason
        node = self.graph.nodes[node_id]
        if checked == node.params.get(name):
            return None
        self.push(cmd.SetParamCommand(self.graph, node_id, name, checked,
                                      node.spec.param(name).display_name, merge))
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
        taken: set[str] = set()
        titles = {node.title for node in self.graph.nodes.values()}
        mapping: dict[str, str] = {}
        new_nodes: list[Node] = []
        for node in fragment.nodes.values():
            new_id = self.graph.new_node_id(node.type_name, taken)
            taken.add(new_id)
            mapping[node.id] = new_id
            node.id = new_id
            node.title = copy_title(node.title, titles)  # a copy never shares a title
            titles.add(node.title)
            node.position = (node.position[0] + offset[0], node.position[1] + offset[1])
            if node.raw is not None:
                node.raw["id"] = new_id
                if "title" in node.raw:
                    node.raw["title"] = node.title
            new_nodes.append(node)
        parent = cmd.CompositeCommand(f"Paste {len(new_nodes)} node{'s' if len(new_nodes) != 1 else ''}")
        for node in new_nodes:
            parent.add(cmd.AddNodeCommand(self.graph, node))
        for link in fragment.links:
            parent.add(cmd.InsertLinkCommand(self.graph, Link(
                mapping[link.src], link.src_port, mapping[link.dst], link.dst_port)))
        self.push(parent)
        return [node.id for node in new_nodes]

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
