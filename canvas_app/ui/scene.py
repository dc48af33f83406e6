"""The canvas scene: mirrors the graph model through its events and turns
gestures (dragging wires, moving, dropping files) into document edits."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QPen, QTransform
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsScene, QToolTip

from canvas_app.graph.model import Link
from canvas_app.media.exports.provenance import VIDEO_SUFFIXES, has_graph
from canvas_app.graph.naming import describe_link
from canvas_app.ui import theme
from canvas_app.ui.document import Document
from canvas_app.ui.items import (BackdropItem, LinkItem, NodeItem, PortInfo,
                                 wire_path)
from canvas_app.ui.run_state import RunStates
from canvas_app.ui.overview import OverviewTiles
from canvas_app.ui.scene_bounds import SceneBounds

from canvas_app.media.formats import is_image_path


class WireDrag:
    """A wire being dragged out of a port."""

    def __init__(self, node_id: str, port: PortInfo, detached: Link | None) -> None:
        self.node_id = node_id
        self.port = port  # the fixed end
        self.detached = detached  # an existing link picked up from an input
        self.link: Link | None = None
        self.reason: str | None = None


class CanvasScene(QGraphicsScene):
    status_message = Signal(str)
    palette_requested = Signal(QPointF, object)  # scene pos, wire filter (dict) or None
    rename_requested = Signal(str)
    backdrop_rename_requested = Signal(str)
    context_menu_requested = Signal(object, QPointF, object)  # screen pos, scene pos, item
    open_requested = Signal(str)

    def __init__(self, document: Document, parent=None, run_states: RunStates | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.graph = document.graph
        if run_states is None:  # a scene on its own (tests, scripts) keeps its own model
            run_states = RunStates(self)
            run_states.observe(self.graph)
        self.run_states = run_states  # items read their run state here
        run_states.changed.connect(self._run_state_changed)
        self.node_items: dict[str, NodeItem] = {}
        self.link_items: dict[Link, LinkItem] = {}
        self.backdrop_items: dict[str, BackdropItem] = {}
        self._node_links: dict[str, set[Link]] = {}
        self.wire: WireDrag | None = None
        self._wire_item: QGraphicsPathItem | None = None
        self._press_positions: dict[str, QPointF] = {}
        self.active_node_ids: set[str] = set()  # run state other than idle: the few with a bar far out
        self._detailed = True
        self.overview = OverviewTiles(self)
        self._prebuild = QTimer(self)  # overview batches are built while idle, not mid-zoom
        self._prebuild.setSingleShot(True)
        self._prebuild.setInterval(400)
        self._prebuild.timeout.connect(self.overview.batches)
        self.setItemIndexMethod(QGraphicsScene.BspTreeIndex)
        self.bounds = SceneBounds(self, self.content_rect)  # grows with the graph
        self.rebuild()
        self.graph.subscribe(self._on_graph_event)

    def set_detail(self, detailed: bool) -> None:
        """Far out (detailed=False) node and link items paint nothing and the
        view draws them in batches; they stay in the scene for selection and
        hit-testing. Only a flag changes here: flipping a flag on 20,000 items
        took a zoom step 100 ms."""
        if detailed == self._detailed:
            return
        self._detailed = detailed
        self.update()

    @property
    def detailed(self) -> bool:
        return self._detailed

    def only_batched_items(self) -> bool:
        """Far out, with no wire being dragged: every node and link is drawn
        by the view's batches and only backdrops paint themselves."""
        return not self._detailed and self._wire_item is None

    def _overview_changed(self, member, point: QPointF | None) -> None:
        """A node (by id) or link changed where or how the far-out view draws
        it (point None: it is gone): rebuild its tile, not the whole overview."""
        if point is None:
            self.overview.remove(member)
        else:
            self.overview.place(member, point)
        if not self._detailed:
            self.update()
        self._prebuild.start()

    def detach(self) -> None:
        self.graph.unsubscribe(self._on_graph_event)
        try:
            self.run_states.changed.disconnect(self._run_state_changed)
        except (RuntimeError, TypeError):
            pass

    def _run_state_changed(self, node_id: str) -> None:
        item = self.node_items.get(node_id)
        if item is not None:
            item.run_state_changed()
        # The few nodes with run state other than idle: far out, only they get a bar.
        if item is not None and self.run_states.get(node_id).state != "idle":
            self.active_node_ids.add(node_id)
        else:
            self.active_node_ids.discard(node_id)

    # -- mirroring the model ---------------------------------------------------------
    def rebuild(self) -> None:
        for item in list(self.items()):
            self.removeItem(item)
        self.node_items.clear()
        self.link_items.clear()
        self.backdrop_items.clear()
        self._node_links.clear()
        self.overview.clear()
        for backdrop in self.graph.backdrops.values():
            self._add_backdrop(backdrop)
        for node in self.graph.nodes.values():
            self._add_node(node)
        for link in self.graph.links:
            self._add_link(link)
        self.bounds.fit()
        self._prebuild.start()

    def _on_graph_event(self, event: str, payload: dict[str, Any]) -> None:
        if event == "node_added":
            self._add_node(payload["node"])
        elif event == "node_removed":
            item = self.node_items.pop(payload["node"].id, None)
            if item is not None:
                self.removeItem(item)
            self._node_links.pop(payload["node"].id, None)
            self.active_node_ids.discard(payload["node"].id)
            self._overview_changed(payload["node"].id, None)
            self.bounds.changed()
        elif event == "link_added":
            self._add_link(payload["link"])
        elif event == "link_removed":
            link = payload["link"]
            item = self.link_items.pop(link, None)
            if item is not None:
                self.removeItem(item)
            self._overview_changed(link, None)
            for node_id in (link.src, link.dst):
                self._node_links.get(node_id, set()).discard(link)
                self._refresh_placeholder(node_id)
        elif event in ("param_changed", "title_changed"):
            node = payload["node"]
            item = self.node_items.get(node.id)
            if item is not None:
                item.refresh(node)
                self._update_links_of(node.id)
                self._overview_changed(node.id, item.pos())  # its height may have changed
        elif event == "node_moved":
            node = payload["node"]
            item = self.node_items.get(node.id)
            if item is not None and (item.pos().x(), item.pos().y()) != node.position:
                item.setPos(*node.position)  # node_item_moved keeps the bounds
        elif event == "backdrop_added":
            self._add_backdrop(payload["backdrop"])
        elif event == "backdrop_removed":
            item = self.backdrop_items.pop(payload["backdrop"].id, None)
            if item is not None:
                self.removeItem(item)
            self.bounds.changed()
        elif event == "backdrop_changed":
            item = self.backdrop_items.get(payload["backdrop"].id)
            if item is not None:
                item.refresh(payload["backdrop"])
                self.bounds.cover(item.sceneBoundingRect())
                self.bounds.changed()

    def _add_node(self, node) -> None:
        item = NodeItem(node, self)
        self.node_items[node.id] = item
        self.addItem(item)
        self.bounds.cover(item.sceneBoundingRect())

    def _add_backdrop(self, backdrop) -> None:
        item = BackdropItem(backdrop, self)
        self.backdrop_items[backdrop.id] = item
        self.addItem(item)
        self.bounds.cover(item.sceneBoundingRect())

    def _add_link(self, link: Link) -> None:
        src = self.graph.nodes.get(link.src)
        port = src.spec.output(link.src_port) if src is not None and src.spec else None
        item = LinkItem(link, theme.port_color(port.type if port else None))
        self.link_items[link] = item
        self._node_links.setdefault(link.src, set()).add(link)
        self._node_links.setdefault(link.dst, set()).add(link)
        self.addItem(item)
        for node_id in (link.src, link.dst):
            self._refresh_placeholder(node_id)
        self._place_link(item)

    def _refresh_placeholder(self, node_id: str) -> None:
        node = self.graph.nodes.get(node_id)
        item = self.node_items.get(node_id)
        if node is not None and item is not None and node.is_placeholder:
            item.refresh(node)
            self._update_links_of(node_id)
            self._overview_changed(node_id, item.pos())

    def _place_link(self, item: LinkItem) -> None:
        link = item.link
        src, dst = self.node_items.get(link.src), self.node_items.get(link.dst)
        if src is None or dst is None:
            return
        start = src.port_scene_pos(link.src_port, True)
        item.set_ends(start, dst.port_scene_pos(link.dst_port, False))
        self._overview_changed(link, start)

    def _update_links_of(self, node_id: str) -> None:
        for link in self._node_links.get(node_id, ()):
            item = self.link_items.get(link)
            if item is not None:
                self._place_link(item)

    def node_item_moved(self, item: NodeItem) -> None:
        self._update_links_of(item.node_id)
        self._overview_changed(item.node_id, item.pos())
        self.bounds.cover(item.sceneBoundingRect())
        self.bounds.changed()

    # -- queries ---------------------------------------------------------------------
    def selected_node_ids(self) -> list[str]:
        return [item.node_id for item in self.selectedItems() if isinstance(item, NodeItem)]

    def selected_backdrop_ids(self) -> list[str]:
        return [item.backdrop_id for item in self.selectedItems() if isinstance(item, BackdropItem)]

    def selected_links(self) -> list[Link]:
        return [item.link for item in self.selectedItems() if isinstance(item, LinkItem)]

    def select_nodes(self, node_ids) -> None:
        self.clearSelection()
        for node_id in node_ids:
            item = self.node_items.get(node_id)
            if item is not None:
                item.setSelected(True)

    def nodes_inside(self, backdrop: BackdropItem) -> dict[str, NodeItem]:
        x, y, w, h = backdrop.model_rect()
        area = QRectF(x, y, w, h)
        return {node_id: item for node_id, item in self.node_items.items()
                if area.contains(item.sceneBoundingRect().center())}

    def node_item_at(self, pos: QPointF) -> NodeItem | None:
        for item in self.items(pos):
            if isinstance(item, NodeItem):
                return item
        return None

    def content_rect(self) -> QRectF:
        """Roughly what items_bounding_rect() gives (wires included), from the
        overview tiles' bounds: no walk over 10,000 items after an edit."""
        rect = QRectF()
        for batch in self.overview.batches():
            rect = rect.united(batch.bounds)
        for item in self.backdrop_items.values():
            rect = rect.united(item.sceneBoundingRect())
        return rect

    def items_bounding_rect(self, node_ids=None) -> QRectF:
        rect = QRectF()
        items = [self.node_items[n] for n in node_ids if n in self.node_items] if node_ids \
            else list(self.node_items.values()) + list(self.backdrop_items.values())
        for item in items:
            rect = rect.united(item.sceneBoundingRect())
        return rect

    # -- gestures --------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.LeftButton:
            node_item = self.node_item_at(event.scenePos())
            if node_item is not None:
                port = node_item.port_at(node_item.mapFromScene(event.scenePos()))
                if port is not None:
                    self._start_wire(node_item, port)
                    event.accept()
                    return
            if event.modifiers() & Qt.ShiftModifier:
                event.setModifiers(event.modifiers() | Qt.ControlModifier)
        super().mousePressEvent(event)
        self._press_positions = {item.node_id: item.pos() for item in self.selectedItems()
                                 if isinstance(item, NodeItem)}
        for item in self.selectedItems():
            if isinstance(item, BackdropItem):
                self._press_positions.update({k: v.pos() for k, v in self.nodes_inside(item).items()})

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self.wire is not None:
            self._drag_wire(event.scenePos(), event.screenPos())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if self.wire is not None and event.button() == Qt.LeftButton:
            self._finish_wire(event.scenePos())
            event.accept()
            return
        if event.modifiers() & Qt.ShiftModifier:
            event.setModifiers(event.modifiers() | Qt.ControlModifier)
        super().mouseReleaseEvent(event)
        self._commit_moves()

    def _commit_moves(self) -> None:
        """After a drag: one undo step for everything that moved (the nodes
        that were selected or carried by a backdrop when the press began)."""
        moves = {}
        for node_id in self._press_positions:
            item = self.node_items.get(node_id)
            node = self.graph.nodes.get(node_id)
            if item is None:
                continue
            position = (item.pos().x(), item.pos().y())
            if node is not None and position != node.position:
                moves[node_id] = (node.position, position)
        backdrops = {}
        for backdrop_id, item in self.backdrop_items.items():
            backdrop = self.graph.backdrops.get(backdrop_id)
            rect = item.model_rect()
            if backdrop is not None and tuple(rect) != tuple(backdrop.rect):
                backdrops[backdrop_id] = (tuple(backdrop.rect), rect)
            item.carried = {}
        if moves or backdrops:
            self.document.move(moves, backdrops)

    def backdrop_resized(self, item: BackdropItem, old_rect) -> None:
        if tuple(item.model_rect()) != tuple(old_rect):
            self.document.change_backdrop(item.backdrop_id, rect=item.model_rect(), old_rect=old_rect)

    def request_rename(self, node_id: str) -> None:
        self.rename_requested.emit(node_id)

    def request_backdrop_rename(self, backdrop_id: str) -> None:
        self.backdrop_rename_requested.emit(backdrop_id)

    # -- wires -----------------------------------------------------------------------
    def _start_wire(self, node_item: NodeItem, port: PortInfo) -> None:
        detached = None
        if not port.output:
            existing = self.graph.links_into(node_item.node_id, port.name)
            if existing:  # pick up the wire from its input, like Nuke and ComfyUI
                detached = existing[-1]
                source = self.node_items.get(detached.src)
                if source is None:
                    return
                source_port = source.ports.get((detached.src_port, True))
                if source_port is None:
                    return
                node_item, port = source, source_port
                self.link_items[detached].setOpacity(0.25)
        self.wire = WireDrag(node_item.node_id, port, detached)
        self._wire_item = QGraphicsPathItem()
        self._wire_item.setZValue(100)
        self._wire_item.setPen(QPen(theme.port_color(port.type), 2.4, Qt.DashLine))
        self.addItem(self._wire_item)
        start = node_item.mapToScene(port.center)
        self._wire_item.setPath(wire_path(start, start))

    def _wire_ends(self, cursor: QPointF) -> tuple[QPointF, QPointF]:
        wire = self.wire
        fixed = self.node_items[wire.node_id].mapToScene(wire.port.center)
        return (fixed, cursor) if wire.port.output else (cursor, fixed)

    def _find_target(self, pos: QPointF) -> tuple[NodeItem | None, PortInfo | None]:
        wire = self.wire
        want_output = not wire.port.output
        area = QRectF(pos.x() - 14, pos.y() - 14, 28, 28)
        # The wire's own node stays a target so that a self-loop is refused
        # with its reason (check_connect) instead of reading as empty canvas.
        nodes = [item for item in self.items(area) if isinstance(item, NodeItem)]
        for item in nodes:
            port = item.port_at(item.mapFromScene(pos), radius=16)
            if port is not None and port.output == want_output:
                return item, port
        for item in nodes:  # over a node's body: its first port of the right type
            if not item.sceneBoundingRect().contains(pos) or item.node_id == wire.node_id:
                continue
            candidates = [p for p in item.ports.values()
                          if p.output == want_output and p.type == wire.port.type]
            free = [p for p in candidates if p.output or p.multiple or
                    not self.graph.links_into(item.node_id, p.name)]
            if free or candidates:
                return item, (free or candidates)[0]
            return item, None
        return None, None

    def _wire_link(self, item: NodeItem, port: PortInfo) -> Link:
        wire = self.wire
        if wire.port.output:
            return Link(wire.node_id, wire.port.name, item.node_id, port.name)
        return Link(item.node_id, port.name, wire.node_id, wire.port.name)

    def _drag_wire(self, pos: QPointF, screen_pos) -> None:
        wire = self.wire
        item, port = self._find_target(pos)
        end = pos
        wire.link, wire.reason = None, None
        if item is not None and port is not None:
            end = item.mapToScene(port.center)
            link = self._wire_link(item, port)
            if wire.detached is not None and link == wire.detached:
                reason = None
            else:
                reason, _ = self._reason_without_detached(link)
            wire.link, wire.reason = link, reason
        elif item is not None:
            wire.reason = f"{item.title} has no {'input' if wire.port.output else 'output'} " \
                          f"of type {wire.port.type}"
        start, finish = self._wire_ends(end)
        self._wire_item.setPath(wire_path(start, finish))
        color = theme.ERROR if wire.reason else theme.port_color(wire.port.type)
        self._wire_item.setPen(QPen(color, 2.6, Qt.SolidLine if wire.link and not wire.reason
                                    else Qt.DashLine))
        if wire.reason:
            self.status_message.emit(f"Cannot connect: {wire.reason}")
            QToolTip.showText(screen_pos, wire.reason)
        else:
            if wire.link is not None:
                self.status_message.emit(f"Connect {describe_link(self.graph, wire.link)}")
            QToolTip.hideText()

    def _reason_without_detached(self, link: Link):
        detached = self.wire.detached if self.wire else None
        return self.document.connect_reason(link, ignoring=(detached,) if detached else ())

    def _finish_wire(self, pos: QPointF) -> None:
        wire = self.wire
        item, port = self._find_target(pos)
        if item is not None and port is not None:
            link = self._wire_link(item, port)
            reason = None if wire.detached == link else self._reason_without_detached(link)[0]
        else:
            link, reason = None, None
        self._end_wire_visual()
        QToolTip.hideText()
        if wire.detached is not None and link == wire.detached:
            return
        if link is not None and reason is None:
            if wire.detached is not None:
                self.document.reconnect(wire.detached, link)
            else:
                self.document.connect(link)
            self.status_message.emit(f"Connected {describe_link(self.graph, link)}")
        elif reason:
            self.status_message.emit(f"Not connected: {reason}")
        elif item is not None:
            self.status_message.emit(f"Not connected: {item.title} has no "
                                     f"{'input' if wire.port.output else 'output'} of type {wire.port.type}")
        elif self._over_own_node(pos, wire):
            self.status_message.emit("Not connected: a node cannot feed itself")
        elif wire.detached is not None:
            self.document.disconnect([wire.detached])
            self.status_message.emit(f"Disconnected {describe_link(self.graph, wire.detached)}")
        else:  # dropped on empty canvas: offer the nodes that fit
            self.palette_requested.emit(pos, {"node": wire.node_id, "port": wire.port.name,
                                              "output": wire.port.output, "type": wire.port.type})

    def _over_own_node(self, pos: QPointF, wire: WireDrag) -> bool:
        own = self.node_items.get(wire.node_id)
        return own is not None and own.sceneBoundingRect().contains(pos)

    def _end_wire_visual(self) -> None:
        if self._wire_item is not None:
            self.removeItem(self._wire_item)
            self._wire_item = None
        if self.wire is not None and self.wire.detached in self.link_items:
            self.link_items[self.wire.detached].setOpacity(1.0)
        self.wire = None

    def cancel_wire(self) -> None:
        if self.wire is not None:
            self._end_wire_visual()
            QToolTip.hideText()

    # -- context menu and file drops -------------------------------------------------
    def contextMenuEvent(self, event) -> None:  # noqa: N802
        item = self.itemAt(event.scenePos(), QTransform())
        while item is not None and not isinstance(item, (NodeItem, LinkItem, BackdropItem)):
            item = item.parentItem()
        if item is not None and not item.isSelected():
            self.clearSelection()
            item.setSelected(True)
        self.context_menu_requested.emit(event.screenPos(), event.scenePos(), item)
        event.accept()

    @staticmethod
    def image_paths(mime) -> list[str]:
        if not mime.hasUrls():
            return []
        return [url.toLocalFile() for url in mime.urls()
                if url.isLocalFile() and is_image_path(url.toLocalFile())]

    @staticmethod
    def video_paths(mime) -> list[str]:
        """Videos, which may hold the graph that made them."""
        if not mime.hasUrls():
            return []
        return [url.toLocalFile() for url in mime.urls()
                if url.isLocalFile() and Path(url.toLocalFile()).suffix.lower() in VIDEO_SUFFIXES]

    @staticmethod
    def not_images(mime) -> list[str]:
        """Names of dropped things that are not image files (folders, text...)."""
        if not mime.hasUrls():
            return []
        return [Path(url.toLocalFile()).name or url.toString() for url in mime.urls()
                if not (url.isLocalFile() and is_image_path(url.toLocalFile()))]

    def _accept_as_copy(self, event) -> None:
        """Accepted as a copy (or link), never a move: the file stays where it is."""
        possible = event.possibleActions()
        event.setDropAction(Qt.CopyAction if possible & Qt.CopyAction else Qt.LinkAction)
        event.accept()

    def _refuse_drop(self, event) -> None:
        others = self.not_images(event.mimeData())
        if others:
            self.status_message.emit(f"Cannot drop {', '.join(others[:3])}"
                                     f"{' and more' if len(others) > 3 else ''}: not an image file "
                                     "(PNG, JPEG, WebP, BMP or TIFF)")
        event.ignore()

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if self.image_paths(event.mimeData()) or self.video_paths(event.mimeData()):
            self._accept_as_copy(event)
        else:
            self._refuse_drop(event)

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if self.image_paths(event.mimeData()) or self.video_paths(event.mimeData()):
            self._accept_as_copy(event)
        else:
            self._refuse_drop(event)

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = self.image_paths(event.mimeData())
        videos = self.video_paths(event.mimeData())
        # Like ComfyUI: a PNG or video exported by canvas-app opens the graph that made it.
        made_here = [path for path in paths + videos if has_graph(path)]
        if not paths and not made_here:
            self._refuse_drop(event)
            return
        self._accept_as_copy(event)
        if made_here:
            self.open_requested.emit(made_here[0])
            return
        self.drop_images(paths, event.scenePos())
        skipped = self.not_images(event.mimeData())
        if skipped:
            self.status_message.emit(f"{self.last_drop_message}; left out {', '.join(skipped[:3])}: "
                                     "not an image file")

    def drop_images(self, paths: list[str], pos: QPointF) -> str | None:
        """Image files dropped on a node whose type takes dropped files (its
        spec's drop_param) are added to it; anywhere else they make a new node
        of the type that takes them with the highest drop_priority (role face)."""
        from canvas_app.file_checks import image_problem

        # A file named like an image that is not one (a text file renamed broken.jpg) is
        # refused here with what is wrong with it, as a .txt is on the drag.
        refused = [(Path(p).name, image_problem(p)) for p in paths]
        refused = [(name, problem) for name, problem in refused if problem]
        paths = [p for p in paths if not image_problem(p)]
        if refused:
            name, problem = refused[0]
            more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
            self.last_drop_message = f"Cannot use {name}{more}: {problem}"
            self.status_message.emit(self.last_drop_message)
            if not paths:
                return None
        target = self.node_item_at(pos)
        entries = [{"path": str(Path(p).resolve()), "role": "face"} for p in paths]
        node = self.graph.nodes[target.node_id] if target is not None else None
        if node is not None and node.spec is not None and node.spec.drop_param:
            name = node.spec.drop_param
            self.document.set_param(node.id, name, list(node.params[name]) + entries)
            self.last_drop_message = f"Added {len(entries)} image(s) to {node.title}" + \
                (f"; {self.last_drop_message}" if refused else "")
            self.status_message.emit(self.last_drop_message)
            return node.id
        takers = [spec for spec in self.graph.registry.specs() if spec.drop_param]
        spec = max(takers, key=lambda spec: spec.drop_priority, default=None)  # first of the highest
        if spec is None:
            self.last_drop_message = "No node type takes dropped images"
            self.status_message.emit(self.last_drop_message)
            return None
        node = self.document.add_node(spec.type_name, (pos.x() - 115, pos.y() - 30),
                                      params={spec.drop_param: entries})
        self.select_nodes([node.id])
        self.last_drop_message = f"Created {node.title} with {len(entries)} image(s)" + \
            (f"; {self.last_drop_message}" if refused else "")
        self.status_message.emit(self.last_drop_message)
        return node.id
