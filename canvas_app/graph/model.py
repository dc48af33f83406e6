"""The graph as data: nodes, typed ports, links, backdrops. No Qt here.

The model is the single source of truth. Editors change it only through its
methods (wrapped in undo commands) and mirror it by listening to its events;
the engine runs on a `snapshot()`.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from canvas_app.graph.registry import NodeRegistry, default_registry
from canvas_app.graph.spec import NodeSpec


class GraphError(ValueError):
    """An edit the graph refuses; the message says why."""


@dataclass
class Node:
    id: str
    type_name: str
    type_version: int
    title: str
    position: tuple[float, float] = (0.0, 0.0)
    params: dict[str, Any] = field(default_factory=dict)
    spec: NodeSpec | None = None  # None: a placeholder for a type this program does not know
    raw: dict[str, Any] | None = None  # a placeholder's JSON, written back unchanged

    @property
    def is_placeholder(self) -> bool:
        return self.spec is None

    @property
    def label(self) -> str:
        """How messages name this node: its title and id."""
        return f"{self.title!r} ({self.id})" if self.title != self.id else self.id


@dataclass(frozen=True)
class Link:
    src: str
    src_port: str
    dst: str
    dst_port: str

    def __str__(self) -> str:
        return f"{self.src}.{self.src_port} -> {self.dst}.{self.dst_port}"


@dataclass
class Backdrop:
    """A frame on the canvas that groups the nodes inside it."""

    id: str
    title: str
    rect: tuple[float, float, float, float]  # x, y, width, height
    color: str = "#3a4a5a"


Listener = Callable[[str, dict[str, Any]], None]


class _LinkIndex:
    """The links by their ends, so that checking one link does not scan all
    of them (a feature-length storyboard has 10,000; loading checks each)."""

    def __init__(self, links: list[Link]) -> None:
        self.source = links  # the list this index describes, and its length when it last did
        self.count = 0
        self.links: dict[Link, int] = {}  # how many times each is in the list (loading keeps repeats)
        self.inputs: dict[tuple[str, str], int] = {}  # (node, input port) -> links into it
        self.forward: dict[str, list[str]] = {}  # node -> the nodes its outputs feed
        self.backward: dict[str, list[str]] = {}  # node -> the nodes that feed it
        for link in links:
            self.add(link)

    def add(self, link: Link) -> None:
        self.count += 1
        self.links[link] = self.links.get(link, 0) + 1
        key = (link.dst, link.dst_port)
        self.inputs[key] = self.inputs.get(key, 0) + 1
        self.forward.setdefault(link.src, []).append(link.dst)
        self.backward.setdefault(link.dst, []).append(link.src)

    def discard(self, link: Link) -> None:
        self.count -= 1
        if self.links[link] > 1:
            self.links[link] -= 1
        else:
            del self.links[link]
        key = (link.dst, link.dst_port)
        self.inputs[key] -= 1
        self.forward[link.src].remove(link.dst)
        self.backward[link.dst].remove(link.src)

    def walk(self, start: str, forward: bool) -> set[str]:
        """The nodes downstream (forward) or upstream of `start`."""
        neighbours = self.forward if forward else self.backward
        seen: set[str] = set()
        stack = [start]
        while stack:
            for following in neighbours.get(stack.pop(), ()):
                if following not in seen:
                    seen.add(following)
                    stack.append(following)
        return seen

    def reaches(self, start: str, target: str) -> bool:
        """Whether `target` is `start` or lies downstream of it."""
        seen, stack = {start}, [start]
        while stack:
            node = stack.pop()
            if node == target:
                return True
            for following in self.forward.get(node, ()):
                if following not in seen:
                    seen.add(following)
                    stack.append(following)
        return False


class Graph:
    def __init__(self, registry: NodeRegistry | None = None) -> None:
        self.registry = registry or default_registry()
        self.nodes: dict[str, Node] = {}
        self.links: list[Link] = []
        self.backdrops: dict[str, Backdrop] = {}
        self.metadata: dict[str, Any] = {}
        self._listeners: list[Listener] = []
        self._link_index: _LinkIndex | None = None

    # -- observing -----------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _emit(self, event: str, **payload: Any) -> None:
        for listener in list(self._listeners):
            listener(event, payload)

    # -- nodes -----------------------------------------------------------------------
    def new_node_id(self, type_name: str, taken: set[str] | frozenset[str] = frozenset()) -> str:
        """A fresh id for a node of `type_name`, used neither in the graph nor in `taken`."""
        stem = re.sub(r"[^a-z0-9]+", "_", type_name.lower()).strip("_") or "node"
        index = 1
        while f"{stem}{index}" in self.nodes or f"{stem}{index}" in taken:
            index += 1
        return f"{stem}{index}"

    def build_node(self, type_name: str, position: tuple[float, float] = (0.0, 0.0), *,
                   title: str | None = None, params: dict[str, Any] | None = None,
                   node_id: str | None = None) -> Node:
        """A new node with checked params, not yet in the graph (insert_node
        adds it; undo commands build first and insert on redo)."""
        node_class = self.registry.get(type_name)
        if node_class is None:
            raise GraphError(f"unknown node type {type_name!r}")
        spec = node_class.spec
        node = Node(id=node_id or self.new_node_id(type_name), type_name=type_name,
                    type_version=spec.version, title=title or spec.title,
                    position=(float(position[0]), float(position[1])),
                    params=spec.default_params(), spec=spec)
        for name, value in (params or {}).items():
            node.params[name] = self._checked_param(node, name, value)
        return node

    def add_node(self, type_name: str, position: tuple[float, float] = (0.0, 0.0), *,
                 title: str | None = None, params: dict[str, Any] | None = None,
                 node_id: str | None = None) -> Node:
        return self.insert_node(self.build_node(type_name, position, title=title, params=params,
                                                node_id=node_id))

    def insert_node(self, node: Node) -> Node:
        """Add a fully built node (used by loading, paste and undo)."""
        if node.id in self.nodes:
            raise GraphError(f"a node with id {node.id!r} already exists")
        self.nodes[node.id] = node
        self._emit("node_added", node=node)
        return node

    def remove_node(self, node_id: str) -> tuple[Node, list[tuple[int, Link]]]:
        """Remove a node and its links; returns them (with link positions) for undo."""
        node = self._node(node_id)
        removed = [(index, link) for index, link in enumerate(self.links)
                   if node_id in (link.src, link.dst)]
        for index, link in reversed(removed):
            del self.links[index]
            self._link_index = None
            self._emit("link_removed", link=link)
        del self.nodes[node_id]
        self._emit("node_removed", node=node)
        return node, removed

    def _node(self, node_id: str) -> Node:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise GraphError(f"no node with id {node_id!r}") from None

    def move_node(self, node_id: str, position: tuple[float, float]) -> None:
        node = self._node(node_id)
        node.position = (float(position[0]), float(position[1]))
        self._emit("node_moved", node=node)

    def set_title(self, node_id: str, title: str) -> None:
        node = self._node(node_id)
        node.title = title
        self._emit("title_changed", node=node)

    def check_param(self, node_id: str, name: str, value: Any) -> tuple[Any, str | None]:
        """(normalised value, None) when `value` may be set, else (value, why not)."""
        node = self.nodes.get(node_id)
        if node is None:
            return value, f"no node with id {node_id!r}"
        return self._check_node_param(node, name, value)

    @staticmethod
    def _check_node_param(node: Node, name: str, value: Any) -> tuple[Any, str | None]:
        if node.spec is None:
            return value, "this node has an unknown type; its params cannot be edited"
        param = node.spec.param(name)
        if param is None:
            return value, f"no param {name!r}"
        return param.check(value)

    def _checked_param(self, node: Node, name: str, value: Any) -> Any:
        value, reason = self._check_node_param(node, name, value)
        if reason:
            raise GraphError(f"node {node.label}, field {name}: {reason}")
        return value

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        node = self._node(node_id)
        node.params[name] = self._checked_param(node, name, copy.deepcopy(value))
        self._emit("param_changed", node=node, name=name)

    # -- links -----------------------------------------------------------------------
    def check_connect(self, link: Link, *, ignoring=(), adding=()) -> str | None:
        """The one place that decides whether a link may be made. Returns the
        reason it may not, or None. `ignoring`: links to treat as gone (one
        being replaced or dragged away); `adding`: nodes to treat as present
        (one about to be added together with the link)."""
        ignored = set(ignoring)
        links = [other for other in self.links if other not in ignored] if ignored else self.links
        nodes = {**self.nodes, **{node.id: node for node in adding}} if adding else self.nodes
        src, dst = nodes.get(link.src), nodes.get(link.dst)
        if src is None or dst is None:
            return f"no node with id {link.src if src is None else link.dst!r}"
        if src.spec is None or dst.spec is None:
            unknown = src if src.spec is None else dst
            return f"{unknown.label} has an unknown node type ({unknown.type_name})"
        out_port = src.spec.output(link.src_port)
        if out_port is None:
            return f"{src.label} has no output {link.src_port!r}"
        in_port = dst.spec.input(link.dst_port)
        if in_port is None:
            return f"{dst.label} has no input {link.dst_port!r}"
        if link.src == link.dst:
            return "a node cannot feed itself"
        if out_port.type != in_port.type:
            return (f"type mismatch: {src.label}.{link.src_port} gives {out_port.type}, "
                    f"{dst.label}.{link.dst_port} takes {in_port.type}")
        # A what-if is judged on an index of the links that would remain; the
        # rules below are the same either way.
        index = _LinkIndex(links) if ignored else self._links_by_end()
        if link in index.links:
            return "these ports are already connected"
        if not in_port.multiple and index.inputs.get((link.dst, link.dst_port)):
            return f"{dst.label}.{link.dst_port} already has an input; disconnect it first"
        if index.reaches(link.dst, link.src):
            return f"that link would make a cycle through {dst.label}"
        return None

    def _links_by_end(self) -> _LinkIndex:
        """The link index, rebuilt when `links` changed behind the graph's
        methods (a new list, or one grown or shrunk in place)."""
        index = self._link_index
        if index is None or index.source is not self.links or index.count != len(self.links):
            index = self._link_index = _LinkIndex(self.links)
        return index

    def connect(self, link: Link, index: int | None = None) -> Link:
        reason = self.check_connect(link)
        if reason:
            raise GraphError(reason)
        return self.insert_link(link, index)

    def insert_link(self, link: Link, index: int | None = None) -> Link:
        """Add a link without checks (loading keeps links of placeholders)."""
        links_index = self._link_index
        current = links_index is not None and links_index.source is self.links \
            and links_index.count == len(self.links)
        if index is None:
            self.links.append(link)
        else:
            self.links.insert(index, link)
        if current:
            links_index.add(link)
        self._emit("link_added", link=link)
        return link

    def disconnect(self, link: Link) -> int:
        try:
            index = self.links.index(link)
        except ValueError:
            raise GraphError(f"no link {link}") from None
        links_index = self._link_index
        current = links_index is not None and links_index.source is self.links \
            and links_index.count == len(self.links)
        del self.links[index]
        if current:
            links_index.discard(link)
        self._emit("link_removed", link=link)
        return index

    def links_into(self, node_id: str, port: str | None = None) -> list[Link]:
        return [link for link in self.links
                if link.dst == node_id and (port is None or link.dst_port == port)]

    def replaced_by(self, link: Link, *, ignoring=()) -> Link | None:
        """The link that `link` would displace from an occupied single input."""
        dst = self.nodes.get(link.dst)
        port = dst.spec.input(link.dst_port) if dst is not None and dst.spec is not None else None
        if port is None or port.multiple:
            return None
        existing = [other for other in self.links_into(link.dst, link.dst_port)
                    if other not in set(ignoring)]
        return existing[0] if existing and link not in existing else None

    def _walk(self, start: str, forward: bool, links: list[Link] | None = None) -> set[str]:
        """Downstream (forward) or upstream of `start`, through the graph's links
        or, for a what-if, through `links`."""
        index = self._links_by_end() if links is None else _LinkIndex(links)
        return index.walk(start, forward)

    def downstream_ids(self, node_id: str) -> set[str]:
        return self._walk(node_id, forward=True)

    # -- backdrops -------------------------------------------------------------------
    def add_backdrop(self, backdrop: Backdrop) -> Backdrop:
        if backdrop.id in self.backdrops:
            raise GraphError(f"a backdrop with id {backdrop.id!r} already exists")
        self.backdrops[backdrop.id] = backdrop
        self._emit("backdrop_added", backdrop=backdrop)
        return backdrop

    def remove_backdrop(self, backdrop_id: str) -> Backdrop:
        backdrop = self.backdrops.pop(backdrop_id)
        self._emit("backdrop_removed", backdrop=backdrop)
        return backdrop

    def set_backdrop(self, backdrop_id: str, *, title: str | None = None,
                     rect: tuple[float, float, float, float] | None = None,
                     color: str | None = None) -> None:
        backdrop = self.backdrops[backdrop_id]
        if title is not None:
            backdrop.title = title
        if rect is not None:
            backdrop.rect = tuple(float(v) for v in rect)  # type: ignore[assignment]
        if color is not None:
            backdrop.color = color
        self._emit("backdrop_changed", backdrop=backdrop)

    def new_backdrop_id(self) -> str:
        index = 1
        while f"backdrop{index}" in self.backdrops:
            index += 1
        return f"backdrop{index}"

    # -- metadata --------------------------------------------------------------------
    def set_metadata(self, key: str, value: Any) -> None:
        """Set project metadata (None removes the key); listeners hear
        "metadata_changed" with the key."""
        if value is None:
            self.metadata.pop(key, None)
        else:
            self.metadata[key] = copy.deepcopy(value)
        self._emit("metadata_changed", key=key)

    # -- whole graph -----------------------------------------------------------------
    def snapshot(self) -> "Graph":
        """An independent copy for a run: later edits do not reach it."""
        copy_ = Graph(self.registry)
        copy_.nodes = {node_id: Node(id=node.id, type_name=node.type_name,
                                     type_version=node.type_version, title=node.title,
                                     position=node.position, params=copy.deepcopy(node.params),
                                     spec=node.spec, raw=copy.deepcopy(node.raw))
                       for node_id, node in self.nodes.items()}
        copy_.links = list(self.links)
        copy_.backdrops = {key: copy.deepcopy(value) for key, value in self.backdrops.items()}
        copy_.metadata = copy.deepcopy(self.metadata)
        return copy_

    def clear(self) -> None:
        for node_id in list(self.nodes):
            self.remove_node(node_id)
        for backdrop_id in list(self.backdrops):
            self.remove_backdrop(backdrop_id)
