"""The far-out canvas in batches: every node and wire drawn with a few
drawRects/drawLines calls per tile of the scene, instead of one Python paint
call per item.

The scene is cut into TILE x TILE squares; a node belongs to the tile of its
top-left corner, a wire to the tile of its start. An edit rebuilds only the
tiles it touched, and a frame draws only the tiles its exposed area meets,
so panning far out over 10,000 nodes costs what is on screen, and a move on
a big graph does not rebuild the whole overview.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen

from canvas_app.graph.model import Link
from canvas_app.ui import theme
from canvas_app.ui.items import HEADER, NODE_WIDTH, PORT_RADIUS

if TYPE_CHECKING:
    from canvas_app.ui.scene import CanvasScene

TILE = 4000.0
CACHE_ZOOM = 0.05  # at or below (a whole big graph in view) tiles are drawn once into images
Key = tuple[int, int]


@dataclass
class TileBatch:
    bounds: QRectF  # everything in the tile, wires included (they reach into other tiles)
    lines: list[tuple[QColor, list[QLineF]]] = field(default_factory=list)  # by colour
    # Between LOD_SIMPLE and LOD_BATCHED (see items.py) the batches stand in for the detailed
    # items, so they draw what those show there: curved wires and the ports, by colour.
    curves: list[tuple[QColor, QPainterPath]] = field(default_factory=list)
    ports: list[tuple[QColor, list[QPointF]]] = field(default_factory=list)  # port centres
    port_dots: list[tuple[QColor, QPainterPath]] | None = None  # built on first use
    bodies: list[QRectF] = field(default_factory=list)
    headers: list[tuple[QColor, list[QRectF]]] = field(default_factory=list)  # by colour
    dots: list[tuple[QColor, list[QPointF]]] = field(default_factory=list)  # header centres (minimap)
    nodes: list = field(default_factory=list)  # the NodeItems: run-state bars, titles
    image: QImage | None = None  # the tile drawn at image_zoom (only far out, see CACHE_ZOOM)
    image_zoom: float = 0.0
    corners: np.ndarray | None = None  # (N, 2) top-left of each of `nodes`, built on first use

    def nodes_meeting(self, rect: QRectF) -> list:
        """The nodes whose title band meets `rect`: one array test instead of a
        Python test per node (a tile holds hundreds; a frame shows a few)."""
        if self.corners is None:
            self.corners = np.array([(item.pos().x(), item.pos().y()) for item in self.nodes],
                                    dtype=np.float64).reshape(-1, 2)
        x, y = self.corners[:, 0], self.corners[:, 1]
        hit = np.flatnonzero((x < rect.right()) & (x + NODE_WIDTH > rect.left())
                             & (y < rect.bottom()) & (y + HEADER * 1.6 > rect.top()))
        return [self.nodes[index] for index in hit]


def paint_batches(painter: QPainter, batches: list[TileBatch], near: bool = False) -> None:
    """Wires first, then node bodies and headers, each colour in one call;
    `near` (zoom >= LOD_SIMPLE): curved wires and the ports too."""
    painter.setRenderHint(QPainter.Antialiasing, False)
    painter.setBrush(Qt.NoBrush)
    for batch in batches:
        if near:  # cosmetic 1 px (about the detailed 2.4 at this zoom): stroked 7x faster
            for color, curves in batch.curves:
                painter.setPen(QPen(color, 0))
                painter.drawPath(curves)
        else:
            for color, lines in batch.lines:
                painter.setPen(QPen(color, 0))  # cosmetic 1 px: no stroking far out
                painter.drawLines(lines)
    painter.setPen(Qt.NoPen)
    painter.setBrush(theme.NODE_BODY)
    for batch in batches:
        painter.drawRects(batch.bodies)
    for batch in batches:
        for color, headers in batch.headers:
            painter.setBrush(color)
            painter.drawRects(headers)
    if near:  # one filled path of dots per colour: half the cost of round-capped points
        painter.setPen(Qt.NoPen)
        for batch in batches:
            if batch.port_dots is None:
                batch.port_dots = [(color, _dots(points)) for color, points in batch.ports]
            for color, dots in batch.port_dots:
                painter.setBrush(color)
                painter.drawPath(dots)


def _dots(points: list[QPointF]) -> QPainterPath:
    path = QPainterPath()
    path.setFillRule(Qt.WindingFill)  # dots that touch still fill
    for point in points:
        path.addEllipse(point, PORT_RADIUS, PORT_RADIUS)
    return path


def blit_batches(painter: QPainter, batches: list[TileBatch], zoom: float) -> None:
    """Far out, one image per tile: a whole feature-length graph in view is
    ~100 blits instead of 30,000 rectangles and lines a frame. Images are
    drawn at the zoom rounded up to a quarter power of two and scaled down
    to `zoom`, so zooming redraws them every fourth wheel step, not every
    step. The painter maps scene to device."""
    image_zoom = 2.0 ** (math.ceil(math.log2(zoom) * 4) / 4)
    transform = painter.worldTransform()
    painter.resetTransform()
    for batch in batches:
        bounds = batch.bounds
        if batch.image is None or batch.image_zoom != image_zoom:
            image = QImage(max(1, math.ceil(bounds.width() * image_zoom)),
                           max(1, math.ceil(bounds.height() * image_zoom)),
                           QImage.Format_ARGB32_Premultiplied)
            image.fill(Qt.transparent)
            tile_painter = QPainter(image)
            tile_painter.scale(image_zoom, image_zoom)
            tile_painter.translate(-bounds.left(), -bounds.top())
            paint_batches(tile_painter, [batch])
            tile_painter.end()
            batch.image, batch.image_zoom = image, image_zoom
        target = transform.mapRect(QRectF(bounds.left(), bounds.top(),
                                          batch.image.width() / image_zoom,
                                          batch.image.height() / image_zoom))
        painter.drawImage(target, batch.image)
    painter.setWorldTransform(transform)


class OverviewTiles:
    def __init__(self, scene: "CanvasScene") -> None:
        self.scene = scene
        self._tile_of: dict[str | Link, Key] = {}  # node id or link -> its tile
        self._members: dict[Key, set[str | Link]] = {}
        self._batches: dict[Key, TileBatch] = {}

    @staticmethod
    def _key(point: QPointF) -> Key:
        return (math.floor(point.x() / TILE), math.floor(point.y() / TILE))

    def place(self, member: str | Link, point: QPointF) -> None:
        """A node (by id) or a wire arrived, moved or changed colour at `point`."""
        key = self._key(point)
        old = self._tile_of.get(member)
        if old is not None and old != key:
            self._leave(member, old)
        self._tile_of[member] = key
        self._members.setdefault(key, set()).add(member)
        self._batches.pop(key, None)

    def remove(self, member: str | Link) -> None:
        old = self._tile_of.pop(member, None)
        if old is not None:
            self._leave(member, old)

    def _leave(self, member: str | Link, key: Key) -> None:
        members = self._members.get(key)
        if members is not None:
            members.discard(member)
            if not members:
                del self._members[key]
        self._batches.pop(key, None)

    def clear(self) -> None:
        self._tile_of.clear()
        self._members.clear()
        self._batches.clear()

    def batches(self, rect: QRectF | None = None) -> list[TileBatch]:
        """The tiles whose content meets `rect` (all of them for None),
        building the ones that changed since they were last drawn."""
        found = []
        for key in list(self._members):
            batch = self._batches.get(key)
            if batch is None:
                batch = self._batches[key] = self._build(key)
            if rect is None or batch.bounds.intersects(rect):
                found.append(batch)
        return found

    def _build(self, key: Key) -> TileBatch:
        scene = self.scene
        lines: dict[int, tuple[QColor, list[QLineF]]] = {}
        curves: dict[int, tuple[QColor, QPainterPath]] = {}
        ports: dict[int, tuple[QColor, list[QPointF]]] = {}
        headers: dict[int, tuple[QColor, list[QRectF]]] = {}
        dots: dict[int, tuple[QColor, list[QPointF]]] = {}
        batch = TileBatch(QRectF())
        bounds = QRectF()
        for member in self._members[key]:
            if isinstance(member, Link):
                item = scene.link_items.get(member)
                if item is None:
                    continue
                path = item.path()
                line = QLineF(path.elementAt(0), path.currentPosition())
                lines.setdefault(item.color.rgba(), (item.color, []))[1].append(line)
                curves.setdefault(item.color.rgba(), (item.color, QPainterPath()))[1].addPath(path)
                bounds = bounds.united(path.controlPointRect())  # the curve stays inside it
            else:
                item = scene.node_items.get(member)
                if item is None:
                    continue
                pos = item.pos()
                body = QRectF(pos.x(), pos.y(), NODE_WIDTH, item.height)
                batch.bodies.append(body)
                color = theme.PLACEHOLDER_HEADER if item.placeholder else theme.header_color(item.category, item.own_color)
                headers.setdefault(color.rgba(), (color, []))[1].append(
                    QRectF(pos.x(), pos.y(), NODE_WIDTH, HEADER * 1.6))
                dots.setdefault(color.rgba(), (color, []))[1].append(
                    QPointF(pos.x() + NODE_WIDTH / 2, pos.y() + HEADER * 0.8))
                for port in item.ports.values():
                    port_color = theme.port_color(port.type)
                    ports.setdefault(port_color.rgba(), (port_color, []))[1].append(
                        pos + port.center)
                batch.nodes.append(item)
                bounds = bounds.united(body.adjusted(-PORT_RADIUS, 0, PORT_RADIUS, 0))
        batch.lines = list(lines.values())
        batch.curves = list(curves.values())
        batch.ports = list(ports.values())
        batch.headers = list(headers.values())
        batch.dots = list(dots.values())
        batch.bounds = bounds.adjusted(-4, -4, 4, 4)  # a flat wire still has an area
        return batch
