"""QUndoStack commands. Each one only touches the graph model; the scene follows
the model's events. Commands are small and exact so that undo restores ids,
link order and positions bit for bit.

Gestures that make several changes are one `CompositeCommand`, as in
orange-canvas-core's document/commands.py (where a parent command redoes its
children in order and undoes them in reverse): one undo step undoes the whole
gesture. The composite holds its children in Python, so PySide never frees a
child command whose Python side is still needed."""
from __future__ import annotations

import copy
import time
from typing import Any

from PySide6.QtGui import QUndoCommand

from canvas_app.graph.model import Backdrop, Graph, Link, Node

# Ids for mergeable commands.
MERGE_PARAM = 1001


def _title(graph: Graph, node_id: str) -> str:
    node = graph.nodes.get(node_id)
    return node.title if node is not None else node_id


def _titles(graph: Graph, node_ids, backdrop_ids=()) -> str:
    """'Render Shot 2', 'Prompt 1 and Render Shot 1', 'Prompt 1, Prompt 2 and 3 more':
    what History shows, as a person would write it (not 'Delete item')."""
    names = [_title(graph, node_id) for node_id in node_ids]
    names += [graph.backdrops[b].title if b in graph.backdrops else b for b in backdrop_ids]
    if len(names) <= 2:
        return " and ".join(names) or "nothing"
    if len(names) == 3:
        return f"{names[0]}, {names[1]} and {names[2]}"
    return f"{names[0]}, {names[1]} and {len(names) - 2} more"


class CompositeCommand(QUndoCommand):
    """Several commands as one undo step."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.commands: list[QUndoCommand] = []

    def add(self, command: QUndoCommand) -> QUndoCommand:
        self.commands.append(command)
        return command

    def redo(self) -> None:
        for command in self.commands:
            command.redo()

    def undo(self) -> None:
        for command in reversed(self.commands):
            command.undo()


class AddNodeCommand(QUndoCommand):
    def __init__(self, graph: Graph, node: Node, text: str | None = None) -> None:
        super().__init__(text or f"Add {node.title}")
        self.graph, self.node = graph, node

    def redo(self) -> None:
        self.graph.insert_node(self.node)

    def undo(self) -> None:
        self.graph.remove_node(self.node.id)


class RemoveCommand(QUndoCommand):
    """Delete nodes (with their links) and backdrops."""

    def __init__(self, graph: Graph, node_ids: list[str], backdrop_ids: list[str] = (),
                 text: str | None = None) -> None:
        super().__init__(text or f"Delete {_titles(graph, node_ids, backdrop_ids)}")
        self.graph = graph
        self.node_ids = list(node_ids)
        self.backdrop_ids = list(backdrop_ids)
        self._removed: list[tuple[Node, list[tuple[int, Link]]]] = []
        self._backdrops: list[Backdrop] = []

    def redo(self) -> None:
        self._removed = [self.graph.remove_node(node_id) for node_id in self.node_ids]
        self._backdrops = [self.graph.remove_backdrop(b) for b in self.backdrop_ids]

    def undo(self) -> None:
        for backdrop in reversed(self._backdrops):
            self.graph.add_backdrop(backdrop)
        for node, links in reversed(self._removed):
            self.graph.insert_node(node)
            for index, link in links:
                self.graph.insert_link(link, index)


class LinkCommand(QUndoCommand):
    """Connect one link; optionally replacing the link that occupied a
    single-input port (the old one comes back on undo at its old index)."""

    def __init__(self, graph: Graph, link: Link, replaces: Link | None = None) -> None:
        super().__init__(f"Connect {_title(graph, link.src)} to {_title(graph, link.dst)}")
        self.graph, self.link, self.replaces = graph, link, replaces
        self._old_index = -1

    def redo(self) -> None:
        if self.replaces is not None:
            self._old_index = self.graph.disconnect(self.replaces)
        self.graph.connect(self.link)

    def undo(self) -> None:
        self.graph.disconnect(self.link)
        if self.replaces is not None:
            self.graph.insert_link(self.replaces, self._old_index)


class InsertLinkCommand(QUndoCommand):
    """Add a link without checks (paste of placeholder links)."""

    def __init__(self, graph: Graph, link: Link) -> None:
        super().__init__(f"Connect {_title(graph, link.src)} to {_title(graph, link.dst)}")
        self.graph, self.link = graph, link

    def redo(self) -> None:
        self.graph.insert_link(self.link)

    def undo(self) -> None:
        self.graph.disconnect(self.link)


class DisconnectCommand(QUndoCommand):
    def __init__(self, graph: Graph, links: list[Link]) -> None:
        super().__init__(f"Disconnect {_title(graph, links[0].src)} from {_title(graph, links[0].dst)}"
                         if len(links) == 1 else f"Disconnect {len(links)} links")
        self.graph, self.links = graph, list(links)
        self._indices: list[int] = []

    def redo(self) -> None:
        self._indices = [self.graph.disconnect(link) for link in self.links]

    def undo(self) -> None:
        for link, index in reversed(list(zip(self.links, self._indices))):
            self.graph.insert_link(link, index)


class MoveCommand(QUndoCommand):
    """Move any number of nodes and backdrops as one step."""

    def __init__(self, graph: Graph, nodes: dict[str, tuple[tuple[float, float], tuple[float, float]]],
                 backdrops: dict[str, tuple[tuple, tuple]] | None = None) -> None:
        count = len(nodes) + len(backdrops or {})
        super().__init__("Move" if count == 1 else f"Move {count} items")
        self.graph, self.nodes, self.backdrops = graph, nodes, backdrops or {}

    def _apply(self, which: int) -> None:
        for node_id, positions in self.nodes.items():
            self.graph.move_node(node_id, positions[which])
        for backdrop_id, rects in self.backdrops.items():
            self.graph.set_backdrop(backdrop_id, rect=rects[which])

    def redo(self) -> None:
        self._apply(1)

    def undo(self) -> None:
        self._apply(0)


class SetParamCommand(QUndoCommand):
    """A param edit. With `merge`, consecutive edits of the same field within
    a couple of seconds (spinning) merge into one undo step; `merge` may also be
    a token of one typing session in a field (the editor's focus): all of that
    session's edits merge whatever the pauses, so typing "x" then Backspace is
    one step."""

    MERGE_WINDOW = 2.0

    def __init__(self, graph: Graph, node_id: str, name: str, value: Any, label: str = "",
                 merge: Any = False) -> None:
        node = graph.nodes[node_id]
        self.merge = merge
        super().__init__(f"Set {node.title} {label or name}")
        self.graph, self.node_id, self.name = graph, node_id, name
        self.old = copy.deepcopy(node.params.get(name))
        self.new = copy.deepcopy(value)
        self.stamp = time.monotonic()

    def id(self) -> int:  # noqa: A003 - Qt API
        return MERGE_PARAM if self.merge else -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt API
        if not isinstance(other, SetParamCommand) or other.node_id != self.node_id \
                or other.name != self.name:
            return False
        same_session = self.merge is not True and self.merge == other.merge
        if not same_session and other.stamp - self.stamp > self.MERGE_WINDOW:
            return False
        self.new, self.stamp = other.new, other.stamp
        return True

    def redo(self) -> None:
        self.graph.set_param(self.node_id, self.name, self.new)

    def undo(self) -> None:
        self.graph.set_param(self.node_id, self.name, self.old)


class SetTitleCommand(QUndoCommand):
    def __init__(self, graph: Graph, node_id: str, title: str) -> None:
        super().__init__(f"Rename to {title}")
        self.graph, self.node_id = graph, node_id
        self.old, self.new = graph.nodes[node_id].title, title

    def redo(self) -> None:
        self.graph.set_title(self.node_id, self.new)

    def undo(self) -> None:
        self.graph.set_title(self.node_id, self.old)


class AddBackdropCommand(QUndoCommand):
    def __init__(self, graph: Graph, backdrop: Backdrop) -> None:
        super().__init__(f"Add backdrop {backdrop.title}")
        self.graph, self.backdrop = graph, backdrop

    def redo(self) -> None:
        self.graph.add_backdrop(self.backdrop)

    def undo(self) -> None:
        self.graph.remove_backdrop(self.backdrop.id)


class ChangeBackdropCommand(QUndoCommand):
    def __init__(self, graph: Graph, backdrop_id: str, *, title: str | None = None,
                 rect: tuple | None = None, color: str | None = None,
                 old_rect: tuple | None = None) -> None:
        super().__init__("Change backdrop")
        backdrop = graph.backdrops[backdrop_id]
        self.graph, self.backdrop_id = graph, backdrop_id
        self.new = {"title": title, "rect": rect, "color": color}
        self.old = {"title": backdrop.title if title is not None else None,
                    "rect": (old_rect or backdrop.rect) if rect is not None else None,
                    "color": backdrop.color if color is not None else None}

    def redo(self) -> None:
        self.graph.set_backdrop(self.backdrop_id, **self.new)

    def undo(self) -> None:
        self.graph.set_backdrop(self.backdrop_id, **self.old)


class SetMetadataCommand(QUndoCommand):
    """Project metadata (for instance the output folder for runs)."""

    def __init__(self, graph: Graph, key: str, value: Any, text: str = "") -> None:
        super().__init__(text or f"Set {key}")
        self.graph, self.key, self.new = graph, key, copy.deepcopy(value)
        self.old = copy.deepcopy(graph.metadata.get(key))  # None: the key was missing

    def redo(self) -> None:
        self.graph.set_metadata(self.key, self.new)

    def undo(self) -> None:
        self.graph.set_metadata(self.key, self.old)
