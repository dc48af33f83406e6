"""The canvas view: grid, zoom to the cursor, pan (middle mouse or space +
drag), rubber-band selection (Shift adds) and a minimap overview."""
from __future__ import annotations

import math
from bisect import bisect_right

from PySide6.QtCore import QPointF, QRect, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (QFrame, QGraphicsView, QRubberBand, QStyle, QStyleOptionGraphicsItem,
                               QStyleOptionRubberBand, QWidget)

from canvas_app.ui import theme
from canvas_app.ui.items import (HEADER, LOD_BATCHED, LOD_SIMPLE, NODE_WIDTH, OVERVIEW_FONT,
                                  LinkItem, NodeItem)
from canvas_app.ui.overview import CACHE_ZOOM, blit_batches, paint_batches

MIN_ZOOM, MAX_ZOOM = 0.08, 3.0
ZOOM_REST_MS = 300  # no wheel step for this long: the zoom has ended
# A project opens framed whole and centred when that keeps the detailed drawing
# (titles, ports, status lines); a bigger graph opens at OPEN_ZOOM on its top-left.
OPEN_ZOOM = 0.7
LABELS_ZOOM = 0.6  # from here NodeItem.paint draws port labels, summaries and status lines
OVERVIEW_TITLE_PX = 150  # far out, titles keep at least this many pixels (Nuke keeps names)


class CanvasView(QGraphicsView):
    palette_requested = Signal(QPointF)  # scene position
    zoom_changed = Signal(float)

    def __init__(self, scene, parent=None) -> None:
        super().__init__(scene, parent)
        self.setRenderHints(QPainter.Antialiasing | QPainter.TextAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.SmartViewportUpdate)
        # The grid is kept as a picture: a repaint blits it instead of drawing ~150 lines, and a
        # pan scrolls it and draws only the strip it exposes (Qt redraws it when the zoom changes).
        self.setCacheMode(QGraphicsView.CacheBackground)
        self.setOptimizationFlags(QGraphicsView.DontSavePainterState
                                  | QGraphicsView.DontAdjustForAntialiasing)
        self.setTransformationAnchor(QGraphicsView.NoAnchor)  # zoom_by keeps the cursor's point
        self.setResizeAnchor(QGraphicsView.AnchorViewCenter)
        self.setDragMode(QGraphicsView.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.IntersectsItemShape)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.NoFrame)
        self.setAcceptDrops(True)
        self.setBackgroundBrush(theme.CANVAS_BG)
        self.setFocusPolicy(Qt.StrongFocus)
        self._panning = False
        self._space = False
        self._frame_pending = False  # framing on open, redone until the window has its size
        self._pan_last = QPointF()
        # While zooming the grid picture is off (see _zooming); back once the wheel rests.
        self._cache_back = QTimer(self, singleShot=True, interval=ZOOM_REST_MS)
        self._cache_back.timeout.connect(self._zoom_rests)
        self._zoom_step = False  # a zoom step waits for its paint
        self.minimap = Minimap(self)
        self.set_scene(scene)

    def set_scene(self, scene) -> None:
        self.setScene(scene)
        self.minimap.set_scene(scene)
        if scene is not None:
            scene.set_detail(self.zoom() >= LOD_BATCHED)

    # -- zoom ------------------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float, anchor_view_pos: QPointF | None = None) -> None:
        self._frame_pending = False
        current = self.zoom()
        factor = max(MIN_ZOOM / current, min(MAX_ZOOM / current, factor))
        if abs(factor - 1.0) < 1e-6:
            return
        if anchor_view_pos is None:
            anchor_view_pos = QPointF(self.viewport().rect().center())
        # One transform change and one scroll, keeping the scene point under the anchor.
        anchor = anchor_view_pos.toPoint()
        before = self.mapToScene(anchor)
        self._zooming()
        self.setTransform(self.transform().scale(factor, factor))
        after = self.mapFromScene(before)
        self.setViewportUpdateMode(QGraphicsView.FullViewportUpdate)  # all of it is redrawn:
        self.pan_by(after.x() - anchor.x(), after.y() - anchor.y())  # no pixels to scroll
        self.setViewportUpdateMode(QGraphicsView.SmartViewportUpdate)
        self._zoom_updated()

    def _zoom_rests(self) -> None:
        """A zoom by jump (Frame All, a set zoom): the grid picture is back at once."""
        self._cache_back.stop()
        self.setCacheMode(QGraphicsView.CacheBackground)

    def _zooming(self) -> None:
        """A zoom step redraws the whole grid: through the cached picture it was
        also scrolled twice (the anchor's pan) and blitted, ~1 ms of a 1600x1000
        frame for nothing. So the cache is off for the paints of zoom steps; the
        first other paint, or the wheel resting, brings it back."""
        if self.cacheMode() != QGraphicsView.CacheNone:
            self.setCacheMode(QGraphicsView.CacheNone)
        self._zoom_step = True
        self._cache_back.start()

    def _zoom_updated(self) -> None:
        scene = self.scene()
        if scene is not None:
            scene.set_detail(self.zoom() >= LOD_BATCHED)
        self.zoom_changed.emit(self.zoom())
        self.minimap.update()

    def wheelEvent(self, event) -> None:  # noqa: N802
        self._frame_pending = False
        delta = event.angleDelta().y() or event.angleDelta().x()
        self.zoom_by(math.pow(1.0015, delta), event.position())
        event.accept()

    def frame_rect(self, rect: QRectF) -> None:
        if rect.isNull() or rect.isEmpty():
            rect = QRectF(-400, -300, 800, 600)
        rect = rect.adjusted(-24, -24, 24, 24)  # a thin margin: the example fits with its labels
        self._zoom_rests()
        self.resetTransform()
        self.fitInView(rect, Qt.KeepAspectRatio)
        if self.zoom() > 1.25:
            center = rect.center()
            self.resetTransform()
            self.scale(1.25, 1.25)
            self.centerOn(center)
        self._zoom_updated()

    def set_zoom(self, zoom: float, center: QPointF | None = None) -> None:
        """Zoom to exactly `zoom` (1.0: 100 %), centred on the scene point
        `center` (default: what is in the middle now)."""
        if center is None:
            center = self.mapToScene(self.viewport().rect().center())
        zoom = max(MIN_ZOOM, min(MAX_ZOOM, zoom))
        self._zoom_rests()
        self.resetTransform()
        self.scale(zoom, zoom)
        self.centerOn(center)
        self._zoom_updated()

    def frame_all(self) -> None:
        self.frame_rect(self.scene().items_bounding_rect())

    def frame_on_open(self) -> None:
        """Frame a project just opened; repeated as the window takes its real
        size (until the user zooms or pans), so it never opens framed to a
        small, not yet laid out view."""
        self._frame_pending = True
        self.frame_readable()

    def frame_readable(self) -> None:
        """Frame the whole graph, centred, as Home does; but a graph too big to
        show its labels and status lines that way shows its top-left (where
        the inputs are) at OPEN_ZOOM instead."""
        rect = self.scene().items_bounding_rect()
        self.frame_rect(rect)
        if self.zoom() < LABELS_ZOOM and not rect.isEmpty():
            self.resetTransform()
            self.scale(OPEN_ZOOM, OPEN_ZOOM)
            viewport = self.viewport().rect()
            margin = 24 / OPEN_ZOOM
            self.centerOn(QPointF(rect.left() - margin + viewport.width() / (2 * OPEN_ZOOM),
                                  rect.top() - margin + viewport.height() / (2 * OPEN_ZOOM)))
            self._zoom_updated()

    def frame_selected(self) -> None:
        selected = self.scene().selectedItems()
        if not selected:
            self.frame_all()
            return
        rect = QRectF()
        for item in selected:
            rect = rect.united(item.sceneBoundingRect())
        self.frame_rect(rect)

    # -- pan -------------------------------------------------------------------------
    def pan_by(self, dx: float, dy: float) -> None:
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(h.value() + int(dx))
        v.setValue(v.value() + int(dy))

    def scrollContentsBy(self, dx: int, dy: int) -> None:  # noqa: N802
        super().scrollContentsBy(dx, dy)
        self.minimap.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._frame_pending = False
        if event.button() == Qt.MiddleButton or (event.button() == Qt.LeftButton and self._space):
            self._panning = True
            self._pan_last = event.position()
            self.viewport().setCursor(Qt.ClosedHandCursor)
            event.accept()
            return
        if event.button() == Qt.LeftButton and event.modifiers() & Qt.ShiftModifier \
                and self.itemAt(event.position().toPoint()) is None:
            # Shift + rubber band adds to the selection (Qt uses Ctrl for that).
            event = QMouseEvent(event.type(), event.position(), event.globalPosition(), event.button(),
                                event.buttons(), event.modifiers() | Qt.ControlModifier)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._panning:
            delta = event.position() - self._pan_last
            self._pan_last = event.position()
            self.pan_by(-delta.x(), -delta.y())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._panning and event.button() in (Qt.MiddleButton, Qt.LeftButton):
            self._panning = False
            self.viewport().setCursor(Qt.OpenHandCursor if self._space else Qt.ArrowCursor)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.LeftButton and self.itemAt(event.position().toPoint()) is None:
            self.palette_requested.emit(self.mapToScene(event.position().toPoint()))
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if event.key() == Qt.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.OpenHandCursor)
            event.accept()
            return
        if event.key() == Qt.Key_Tab and not event.modifiers() & Qt.ControlModifier:
            self.palette_requested.emit(self.cursor_scene_pos())
            event.accept()
            return
        if event.key() == Qt.Key_Escape:
            self.scene().cancel_wire()
            self.scene().clearSelection()
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:  # noqa: N802
        if event.key() == Qt.Key_Space and not event.isAutoRepeat():
            self._space = False
            if not self._panning:
                self.viewport().setCursor(Qt.ArrowCursor)
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusNextPrevChild(self, next_: bool) -> bool:  # noqa: N802
        return False  # Tab opens the palette instead of moving focus

    def cursor_scene_pos(self) -> QPointF:
        local = self.viewport().mapFromGlobal(self.cursor().pos())
        if not self.viewport().rect().contains(local):
            local = self.viewport().rect().center()
        return self.mapToScene(local)

    # -- grid ------------------------------------------------------------------------
    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        painter.fillRect(rect, theme.CANVAS_BG)
        zoom = self.zoom()
        painter.setRenderHint(QPainter.Antialiasing, False)
        # The grid lines as 1-pixel rectangles in pixels: the very pixels of 1-pixel aliased
        # lines (floor of the mapped position), filled at a half to a third of their cost.
        to_pixels = painter.worldTransform()
        pixels = to_pixels.mapRect(rect).toAlignedRect()
        painter.resetTransform()
        painter.setPen(Qt.NoPen)
        for step, color, min_zoom in ((20, theme.GRID_MINOR, 0.75), (100, theme.GRID_MAJOR, 0.15)):
            if zoom < min_zoom:
                continue
            painter.setBrush(color)
            sx, dx, sy, dy = to_pixels.m11(), to_pixels.dx(), to_pixels.m22(), to_pixels.dy()
            rects = []
            x = math.floor(rect.left() / step) * step
            while x < rect.right():
                rects.append(QRect(math.floor(sx * x + dx), pixels.top(), 1, pixels.height()))
                x += step
            y = math.floor(rect.top() / step) * step
            while y < rect.bottom():
                rects.append(QRect(pixels.left(), math.floor(sy * y + dy), pixels.width(), 1))
                y += step
            painter.drawRects(rects)
        painter.setBrush(Qt.NoBrush)
        painter.setWorldTransform(to_pixels)

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        scene = self.scene()
        if scene is None or scene.detailed:
            return
        batches = scene.overview.batches(rect)  # only the tiles this paint meets
        if self.zoom() <= CACHE_ZOOM:
            blit_batches(painter, batches, self.zoom())
        else:
            paint_batches(painter, batches, near=self.zoom() >= LOD_SIMPLE)
        painter.setPen(Qt.NoPen)
        # run states: few nodes, drawn one by one
        for node_id in scene.active_node_ids:
            item = scene.node_items.get(node_id)
            if item is None:
                continue
            if item.run.state != "idle":
                painter.setPen(Qt.NoPen)  # never the red frame's pen of a node drawn before
                painter.setBrush(item.run.colour)
                pos = item.pos()
                painter.drawRect(QRectF(pos.x(), pos.y() + item.height - 14, NODE_WIDTH, 14))
            if item.alarmed:  # failed or below its identity threshold: a red frame at any zoom
                painter.setPen(QPen(theme.ERROR, 4 / max(self.zoom(), 0.05)))
                painter.setBrush(Qt.NoBrush)
                pos = item.pos()
                painter.drawRect(QRectF(pos.x(), pos.y(), NODE_WIDTH, item.height))
        zoom = self.zoom()
        if zoom >= 0.24:  # titles, 11 px on screen, for the nodes in view
            painter.setFont(OVERVIEW_FONT)
            painter.setPen(theme.NODE_TEXT)
            base = painter.worldTransform()
            scale = 1.0 / zoom
            width_px = max(int((NODE_WIDTH - 12) * zoom), OVERVIEW_TITLE_PX)
            if zoom >= LOD_SIMPLE:  # near enough to see ports and wires: keep inside the node
                width_px = int((NODE_WIDTH - 12) * zoom) // 8 * 8  # 8 px steps: reused a while
            y_offset = (HEADER * 1.6 - 14 * scale) / 2
            shown = [item for batch in batches for item in batch.nodes_meeting(rect)]
            widest = width_px * scale
            # The neighbours a shown title could run into: the same in a part repaint as in a whole one.
            reach = rect.adjusted(0, -HEADER * 1.6, widest, HEADER * 1.6)
            near = [item for batch in batches for item in batch.nodes_meeting(reach)]
            room = _title_room(shown, near, widest)
            # Drawn in pixels (11 px whatever the zoom): no transform per title, and Qt's
            # fast glyph path, which a scale that only nearly cancels the zoom may miss.
            painter.resetTransform()
            for item in shown:
                pos = item.pos()
                static = item.overview_title(max(int((NODE_WIDTH - 12) * zoom),
                                                 min(width_px, int(room[item] * zoom))))
                painter.drawStaticText(base.map(QPointF(pos.x() + 6, pos.y() + y_offset)), static)
            painter.setWorldTransform(base)
        painter.setBrush(Qt.NoBrush)
        for item in scene.selectedItems():
            if isinstance(item, NodeItem):
                painter.setPen(QPen(theme.SELECTION, 0 if self.zoom() > 0.5 else 2 / self.zoom()))
                painter.drawRect(QRectF(item.pos().x(), item.pos().y(), NODE_WIDTH, item.height))
            elif isinstance(item, LinkItem):
                painter.setPen(QPen(theme.SELECTION, 3 / self.zoom()))
                painter.drawPath(item.path())

    def paintEvent(self, event) -> None:  # noqa: N802
        if self._zoom_step:
            self._zoom_step = False  # this paint shows a zoom step: the grid picture stays off
        elif self.cacheMode() == QGraphicsView.CacheNone:
            self._zoom_rests()  # anything else (an edit, a pan) paints with the picture again
        scene = self.scene()
        if scene is None or not scene.only_batched_items():
            super().paintEvent(event)
            return
        # Far out, drawForeground draws every node and wire in batches; only
        # backdrops paint themselves. Qt's own paint would still sort and walk
        # all 20,000 items of a feature-length graph to find they draw nothing.
        painter = QPainter(self.viewport())
        painter.setClipRegion(event.region())
        painter.setRenderHints(self.renderHints())
        view_transform = self.viewportTransform()
        painter.setWorldTransform(view_transform)
        exposed = self.mapToScene(event.rect()).boundingRect()
        self.drawBackground(painter, exposed)
        option = QStyleOptionGraphicsItem()
        for item in scene.backdrop_items.values():
            if item.sceneBoundingRect().intersects(exposed):
                painter.save()
                painter.setWorldTransform(item.sceneTransform() * view_transform)
                item.paint(painter, option, self.viewport())
                painter.restore()
        self.drawForeground(painter, exposed)
        band = self.rubberBandRect()
        if not band.isNull():  # what Qt's own paint adds on top
            painter.resetTransform()
            option = QStyleOptionRubberBand()
            option.initFrom(self.viewport())
            option.rect = band
            option.shape = QRubberBand.Rectangle
            self.style().drawControl(QStyle.CE_RubberBand, option, painter, self.viewport())
        painter.end()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.minimap.place()
        if self._frame_pending and self.scene() is not None:
            self.frame_readable()
            if self.isVisible():  # laid out now: a later resize is the user's
                QTimer.singleShot(500, self._end_open_framing)

    def _end_open_framing(self) -> None:
        self._frame_pending = False


def _title_room(shown, near, widest: float) -> dict:
    """Scene width each shown title may take far out: up to `widest`, but never
    over the next node to its right whose title band it would cross (titles
    wider than their node must not run into a neighbour's: "Shot 2 - theRender
    Shot 2"). Neighbours are looked up by row band, so a frame costs about one
    step per title, not one per pair of nodes."""
    band = HEADER * 1.6
    rows: dict[int, list[tuple[float, float]]] = {}
    for other in near:
        pos = other.pos()
        rows.setdefault(int(pos.y() // band), []).append((pos.x(), pos.y()))
    for row in rows.values():
        row.sort()
    room = {}
    for item in shown:
        pos = item.pos()
        x, y, limit = pos.x(), pos.y(), widest
        key = int(y // band)
        for row in (rows.get(key - 1), rows.get(key), rows.get(key + 1)):
            if not row:
                continue
            for other_x, other_y in row[bisect_right(row, (x, math.inf)):]:
                gap = other_x - x
                if gap >= limit:
                    break
                if abs(other_y - y) < band:  # the nearest to the right in this row band
                    limit = gap
                    break
        room[item] = max(0.0, limit - 12)
    return room


class Minimap(QWidget):
    """An overview in the corner: node blocks from a cached picture (redrawn
    when the graph changes, not while panning) plus the visible area. Click
    or drag in it to jump there."""

    SIZE = (220, 140)

    def __init__(self, view: CanvasView) -> None:
        super().__init__(view)
        self.view = view
        self.scene = None
        self.setFixedSize(*self.SIZE)
        self.setCursor(Qt.PointingHandCursor)
        self.setToolTip("Overview: click or drag to move the view")
        self._picture: QPixmap | None = None
        self._world = QRectF()
        self._dirty = QTimer(self)
        self._dirty.setSingleShot(True)
        self._dirty.setInterval(150)
        self._dirty.timeout.connect(self.render_map)

    def set_scene(self, scene) -> None:
        if self.scene is not None:
            try:
                self.scene.changed.disconnect(self._schedule)
            except (RuntimeError, TypeError):
                pass
        self.scene = scene
        if scene is not None:
            scene.changed.connect(self._schedule)
        self._schedule()

    def place(self) -> None:
        view_rect = self.view.viewport().rect()
        self.move(view_rect.width() - self.width() - 12, view_rect.height() - self.height() - 12)

    def _schedule(self, *_args) -> None:
        if not self._dirty.isActive():
            self._dirty.start()

    def render_map(self) -> None:
        scene = self.scene
        if scene is None:
            return
        world = scene.content_rect()  # from the overview tiles: no walk over every item
        if world.isEmpty():
            world = QRectF(-400, -300, 800, 600)
        self._world = world.adjusted(-200, -200, 200, 200)
        pixmap = QPixmap(self.size() * self.devicePixelRatioF())
        pixmap.setDevicePixelRatio(self.devicePixelRatioF())
        pixmap.fill(QColor(20, 22, 26, 215))
        painter = QPainter(pixmap)
        scale, ox, oy = self._mapping()
        for item in scene.backdrop_items.values():
            x, y, w, h = item.model_rect()
            color = QColor(item.color)
            color.setAlpha(110)
            painter.fillRect(QRectF(ox + x * scale, oy + y * scale, w * scale, h * scale), color)
        # Nodes as blocks of their header colour, one call per colour and tile, plus
        # a 1 px point each so that none vanishes however small the scale (an
        # outlined rectangle per node made this 100 ms on a 10,000-node graph).
        painter.translate(ox, oy)
        painter.scale(scale, scale)
        for batch in scene.overview.batches():
            for (color, headers), (_, dots) in zip(batch.headers, batch.dots):
                color = color.lighter(120)
                painter.setPen(Qt.NoPen)
                painter.setBrush(color)
                painter.drawRects(headers)
                painter.setPen(QPen(color, 0))
                painter.drawPoints(dots)
        marked = [(item, theme.SELECTION) for item in scene.selectedItems() if isinstance(item, NodeItem)]
        marked += [(scene.node_items[node_id], theme.ERROR) for node_id in scene.active_node_ids
                   if node_id in scene.node_items and scene.node_items[node_id].alarmed]
        for item, color in marked:
            color = color.lighter(120)
            pen = QPen(color, 2)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.setBrush(color)
            painter.drawRect(item.sceneBoundingRect())
        painter.end()
        self._picture = pixmap
        self.update()

    def _mapping(self) -> tuple[float, float, float]:
        world = self._world if not self._world.isEmpty() else QRectF(-400, -300, 800, 600)
        scale = min((self.width() - 8) / world.width(), (self.height() - 8) / world.height())
        ox = (self.width() - world.width() * scale) / 2 - world.x() * scale
        oy = (self.height() - world.height() * scale) / 2 - world.y() * scale
        return scale, ox, oy

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        if self._picture is None:
            self.render_map()
        if self._picture is not None:
            painter.drawPixmap(0, 0, self._picture)
        scale, ox, oy = self._mapping()
        visible = self.view.mapToScene(self.view.viewport().rect()).boundingRect()
        frame = QRectF(ox + visible.x() * scale, oy + visible.y() * scale,
                       visible.width() * scale, visible.height() * scale)
        painter.setPen(QPen(QColor("#dfe3ea"), 1.2))
        painter.setBrush(QColor(255, 255, 255, 22))
        painter.drawRect(frame.intersected(QRectF(self.rect()).adjusted(1, 1, -1, -1)))
        painter.setPen(QPen(QColor("#3a404b"), 1))
        painter.setBrush(Qt.NoBrush)
        painter.drawRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5))

    def _jump(self, pos: QPointF) -> None:
        scale, ox, oy = self._mapping()
        self.view.centerOn(QPointF((pos.x() - ox) / scale, (pos.y() - oy) / scale))
        self.update()

    def mousePressEvent(self, event) -> None:  # noqa: N802
        self._jump(event.position())
        event.accept()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if event.buttons() & Qt.LeftButton:
            self._jump(event.position())
        event.accept()
