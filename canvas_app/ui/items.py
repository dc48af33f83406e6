"""Canvas items: nodes, links and backdrops. They draw what the model holds
and report gestures to the scene; they never change the graph themselves.

Ports are painted by the node item (not child items) and hit-tested by
geometry: 1,000 nodes stay 1,000 items. Below a zoom of ~0.4 nodes paint a
plain block (level of detail)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (QColor, QFont, QFontMetricsF, QImage, QPainter, QPainterPath, QPen,
                           QStaticText, QTransform)
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QStyleOptionGraphicsItem

from canvas_app.graph.model import Backdrop, Link, Node
from canvas_app.ui import theme
from canvas_app.ui.formatting import format_seconds
from canvas_app.ui.run_state import FINISHED, STATE_LOOK, NodeState, RunState
from canvas_app.ui.thumbnails import thumbnail

if TYPE_CHECKING:
    from canvas_app.ui.scene import CanvasScene

NODE_WIDTH = 230.0
HEADER = 28.0
ROW = 22.0
PORT_RADIUS = 6.0
PORT_HIT = 11.0
FOOTER = 22.0
PICTURE_H = 18.0  # reference thumbnails and the result picture in the status line
LOD_SIMPLE = 0.45
# Below this zoom the view draws every node and wire in batches (ui/overview.py) instead
# of one paint call per item: measured on 10,000 nodes, item-by-item frames cost about
# 1.4x batched ones, and between LOD_SIMPLE and here the items drew no labels anyway.
LOD_BATCHED = 0.6

TITLE_FONT = QFont()
TITLE_FONT.setPointSizeF(9.5)
TITLE_FONT.setBold(True)
LABEL_FONT = QFont()
LABEL_FONT.setPointSizeF(8.5)
SMALL_FONT = QFont()
SMALL_FONT.setPointSizeF(8.0)
OVERVIEW_FONT = QFont()  # node titles in the zoomed-out view (drawn by the view)
OVERVIEW_FONT.setPixelSize(11)
OVERVIEW_FONT.setBold(True)
BACKDROP_FONT = QFont()
BACKDROP_FONT.setPointSizeF(13)
BACKDROP_FONT.setBold(True)


def _static(text: str, font: QFont) -> QStaticText:
    static = QStaticText(text)
    static.setTextFormat(Qt.PlainText)
    static.prepare(QTransform(), font)
    return static


def _header_path() -> QPainterPath:
    path = QPainterPath()
    path.setFillRule(Qt.WindingFill)
    path.addRoundedRect(QRectF(0, 0, NODE_WIDTH, HEADER), 7, 7)
    path.addRect(QRectF(0, HEADER - 8, NODE_WIDTH, 8))
    return path.simplified()


HEADER_PATH = _header_path()
_BORDER_PEN = QPen(theme.NODE_BORDER, 1.2)
_PORT_BORDER_PEN = QPen(theme.NODE_BORDER, 1.5)
_POSITION_CHANGED = QGraphicsItem.ItemPositionHasChanged
_SELECTED_CHANGED = QGraphicsItem.ItemSelectedHasChanged


@dataclass
class PortInfo:
    name: str
    label: str
    type: str | None
    output: bool
    multiple: bool
    optional: bool
    center: QPointF


class NodeItem(QGraphicsItem):
    FLAGS = QGraphicsItem.ItemIsMovable | QGraphicsItem.ItemIsSelectable | \
        QGraphicsItem.ItemSendsGeometryChanges
    def __init__(self, node: Node, scene: "CanvasScene") -> None:
        super().__init__()
        self.node_id = node.id
        self._scene = scene
        self.setFlags(self.FLAGS)
        self.setCacheMode(QGraphicsItem.NoCache)
        self.setAcceptHoverEvents(True)
        self.setZValue(10)
        self.hover_port: str | None = None
        # A mirror of the run-state model's entry (an immutable RunState), replaced
        # when the model says it changed; painting reads it without a lookup.
        self.run: RunState = scene.run_states.get(node.id)
        self.result_image: QImage | None = None  # run.picture, scaled once for painting
        self.refresh(node)
        if self.run.picture is not None:
            self.run_state_changed()
        self.setPos(*node.position)

    # -- from the model --------------------------------------------------------------
    def refresh(self, node: Node) -> None:
        """Rebuild ports and texts from the model node."""
        self.prepareGeometryChange()
        self.placeholder = node.is_placeholder
        self.title = node.title
        spec = node.spec
        if spec is not None:
            inputs = [(p.name, p.label or p.name, p.type, p.multiple, p.optional) for p in spec.inputs]
            outputs = [(p.name, p.label or p.name, p.type, p.multiple, p.optional) for p in spec.outputs]
            self.category = spec.category
            self.own_color = spec.header_color
            self.subtitle = ""
        else:  # placeholder: ports as far as its links tell
            graph = self._scene.graph
            ins = sorted({l.dst_port for l in graph.links if l.dst == node.id})
            outs = sorted({l.src_port for l in graph.links if l.src == node.id})
            inputs = [(n, n, None, True, True) for n in ins]
            outputs = [(n, n, None, True, True) for n in outs]
            self.category = None
            self.own_color = ""
            self.subtitle = f"Unknown type: {node.type_name}"
        rows = max(len(inputs), len(outputs), 1)
        self.summary = summarize(node)
        body_top = HEADER + (18.0 if self.subtitle else 0.0)
        self.ports: dict[tuple[str, bool], PortInfo] = {}
        for index, (name, label, type_, multiple, optional) in enumerate(inputs):
            self.ports[(name, False)] = PortInfo(name, label, type_, False, multiple, optional,
                                                 QPointF(0.0, body_top + ROW * index + ROW / 2 + 4))
        for index, (name, label, type_, multiple, optional) in enumerate(outputs):
            self.ports[(name, True)] = PortInfo(name, label, type_, True, multiple, optional,
                                                QPointF(NODE_WIDTH, body_top + ROW * index + ROW / 2 + 4))
        self.summary_top = body_top + ROW * rows + 8
        lines = 0 if not self.summary else min(2, len(self.summary))
        self.thumbs_top = self.summary_top + lines * 15 - 4
        self.thumbs = reference_thumbnails(node)
        self._layout_height()
        self._texts = None  # laid out on the first close-up paint: most of 10,000 nodes never get one
        self._title_key = None
        self._header_color = theme.PLACEHOLDER_HEADER if self.placeholder else theme.header_color(self.category, self.own_color)
        self.update()

    def _layout_height(self) -> None:
        # Pictures live in the status line, so a node never grows over its neighbours.
        self.height = self.thumbs_top + FOOTER + 8
        self._rect = QRectF(0, 0, NODE_WIDTH, self.height)
        self._bounds = self._rect.adjusted(-PORT_RADIUS - 3, -3, PORT_RADIUS + 3, 3)

    def _prepare_texts(self) -> None:
        """Lay out every static text once (QStaticText), so painting is a few
        blits per node instead of text layout on every frame."""
        label_metrics = QFontMetricsF(LABEL_FONT)
        small = QFontMetricsF(SMALL_FONT)
        texts: list[tuple[QPointF, QStaticText, QColor, QFont]] = []
        half = NODE_WIDTH / 2 + 10
        for port in self.ports.values():
            label = label_metrics.elidedText(port.label, Qt.ElideRight, half - 14)
            static = _static(label, LABEL_FONT)
            width = label_metrics.horizontalAdvance(label)
            x = NODE_WIDTH - 14 - width if port.output else 14.0
            color = theme.NODE_TEXT if not port.optional or port.output else theme.NODE_DIM_TEXT
            texts.append((QPointF(x, port.center.y() - label_metrics.height() / 2), static, color, LABEL_FONT))
        for index, line in enumerate(self.summary[:2]):
            static = _static(small.elidedText(line, Qt.ElideRight, NODE_WIDTH - 20), SMALL_FONT)
            texts.append((QPointF(10, self.summary_top - 6 + index * 15 + (15 - small.height()) / 2),
                          static, theme.NODE_DIM_TEXT, SMALL_FONT))
        if self.subtitle:
            texts.append((QPointF(10, HEADER + 2 + (16 - small.height()) / 2),
                          _static(self.subtitle, SMALL_FONT), QColor("#ff9da1"), SMALL_FONT))
        self._texts = texts

    def overview_title(self, width_px: int) -> QStaticText:
        """The title for the zoomed-out view, 11 px bold, elided to `width_px`.
        Laid out again only when the elided text changes: the width changes at
        every zoom step, the text seldom (a title that fits stays whole)."""
        key = (self.title, width_px)
        if getattr(self, "_overview_key", None) != key:
            self._overview_key = key
            text = QFontMetricsF(OVERVIEW_FONT).elidedText(self.title, Qt.ElideRight, width_px)
            if text != getattr(self, "_overview_text", None):
                self._overview_title = _static(text, OVERVIEW_FONT)
                self._overview_text = text
        return self._overview_title

    def _title_width(self) -> float:
        if getattr(self, "_title_width_key", None) != self.title:
            self._title_width_key = self.title
            self._title_width_px = QFontMetricsF(TITLE_FONT).horizontalAdvance(self.title)
        return self._title_width_px

    def _title_static(self, badge_w: float) -> QStaticText:
        key = (self.title, badge_w)
        if self._title_key != key:
            metrics = QFontMetricsF(TITLE_FONT)
            self._title = _static(metrics.elidedText(self.title, Qt.ElideRight, NODE_WIDTH - 20 - badge_w),
                                  TITLE_FONT)
            self._title_y = (HEADER - metrics.height()) / 2
            self._title_key = key
        return self._title

    def run_state_changed(self) -> None:
        """The run-state model changed this node's entry: mirror and show it.
        The result picture (a render's frame, an identity's portrait, or a
        live frame while it runs) is scaled once here, not on every paint."""
        old_picture = self.run.picture if self.result_image is not None else None
        run = self.run = self._scene.run_states.get(self.node_id)
        if run.picture is None:
            self.result_image = None
        elif run.picture is not old_picture:
            self.result_image = run.picture.scaled(int(PICTURE_H * 3), int(PICTURE_H * 2),
                                                   Qt.KeepAspectRatio,
                                                   Qt.SmoothTransformation)  # 2x for HiDPI
        self.setToolTip(run.message if run.state in (NodeState.FAILED, NodeState.SKIPPED) else "")
        self.update()

    # -- geometry --------------------------------------------------------------------
    def boundingRect(self) -> QRectF:  # noqa: N802
        return self._bounds

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRect(self._bounds)
        return path

    def port_at(self, local: QPointF, radius: float = PORT_HIT) -> PortInfo | None:
        best, best_d = None, radius * radius
        for port in self.ports.values():
            d = (port.center.x() - local.x()) ** 2 + (port.center.y() - local.y()) ** 2
            if d <= best_d:
                best, best_d = port, d
        return best

    def port_scene_pos(self, name: str, output: bool) -> QPointF:
        port = self.ports.get((name, output))
        if port is None:  # a link to a port the node no longer has: attach to the edge
            return self.mapToScene(QPointF(NODE_WIDTH if output else 0.0, HEADER / 2))
        return self.mapToScene(port.center)

    def itemChange(self, change, value):  # noqa: N802
        if change == _POSITION_CHANGED:
            self._scene.node_item_moved(self)
        elif change == _SELECTED_CHANGED:
            self.setZValue(11 if value else 10)
        return value

    def hoverMoveEvent(self, event) -> None:  # noqa: N802
        port = self.port_at(event.pos())
        name = None if port is None else f"{port.name}:{port.output}"
        if name != self.hover_port:
            self.hover_port = name
            if port is not None:
                kind = port.type or "unknown"
                extra = " (several links, in order)" if port.multiple and not port.output else ""
                extra += " (optional)" if port.optional and not port.output and port.type else ""
                self.setToolTip(f"{port.label}: {kind}{extra}")
            else:
                self.run_state_changed()
            self.update()
        super().hoverMoveEvent(event)

    def hoverLeaveEvent(self, event) -> None:  # noqa: N802
        if self.hover_port is not None:
            self.hover_port = None
            self.update()
        super().hoverLeaveEvent(event)

    # -- painting --------------------------------------------------------------------
    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        if not self._scene.detailed:  # far out the view draws every node in batches
            return
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        selected = self.isSelected()
        header = self._header_color
        if lod < LOD_SIMPLE:
            painter.setPen(QPen(theme.SELECTION, 4) if selected else
                           QPen(theme.ERROR, 4) if self.alarmed else Qt.NoPen)
            painter.setBrush(theme.NODE_BODY)
            painter.drawRect(self._rect)
            painter.fillRect(QRectF(0, 0, NODE_WIDTH, HEADER * 1.6), header)
            if self.run.state != NodeState.IDLE:
                painter.fillRect(QRectF(0, self.height - 12, NODE_WIDTH, 12), self._state_color())
            return
        painter.setRenderHint(QPainter.Antialiasing, True)
        rect = self._rect
        outline = QPen(theme.SELECTION, 2.2) if selected else \
            QPen(theme.ERROR, 2.2) if self.alarmed else \
            QPen(theme.ERROR, 1.6, Qt.DashLine) if self.placeholder else None
        painter.setPen(_BORDER_PEN if outline is None else Qt.NoPen)
        painter.setBrush(theme.NODE_BODY)
        painter.drawRoundedRect(rect, 7, 7)
        painter.fillPath(HEADER_PATH, header)
        badge = self._badge_text()
        badge_w = QFontMetricsF(SMALL_FONT).horizontalAdvance(badge) + 12 if badge else 0
        if badge and not self.alarmed and self._title_width() + badge_w > NODE_WIDTH - 20:
            badge, badge_w = "", 0  # the title comes first; the status line says the same
        painter.setFont(TITLE_FONT)
        painter.setPen(theme.NODE_TEXT)
        title = self._title_static(badge_w)
        painter.drawStaticText(QPointF(10, self._title_y), title)
        if badge:
            self._paint_badge(painter, badge, badge_w)
        if outline is not None:  # selection, failure or placeholder outline
            painter.setBrush(Qt.NoBrush)
            painter.setPen(outline)
            painter.drawRoundedRect(rect, 7, 7)
        # ports, over the outline
        border = _PORT_BORDER_PEN
        for port in self.ports.values():
            color = theme.port_color(port.type)
            hovered = self.hover_port is not None and self.hover_port == f"{port.name}:{port.output}"
            painter.setPen(border)
            painter.setBrush(color.lighter(130) if hovered else color)
            r = PORT_RADIUS + (1.5 if hovered else 0)
            if port.multiple and not port.output:
                painter.drawRoundedRect(QRectF(port.center.x() - r, port.center.y() - r,
                                               2 * r, 2 * r), 2.5, 2.5)
            else:
                painter.drawEllipse(port.center, r, r)
        if lod >= 0.6:  # labels and summary: unreadable further out
            font = None
            if self._texts is None:
                self._prepare_texts()
            for position, static, color, text_font in self._texts:
                if text_font is not font:
                    painter.setFont(text_font)
                    font = text_font
                painter.setPen(color)
                painter.drawStaticText(position, static)
            self._paint_pictures(painter)
            self._paint_footer(painter)
        elif self.run.state != NodeState.IDLE:
            painter.fillRect(QRectF(8, self.height - 12, NODE_WIDTH - 16, 5), self._state_color())

    @property
    def alarmed(self) -> bool:
        """Failed, or rendered below its identity threshold: outlined in red."""
        return self.run.state == NodeState.FAILED or self.run.below_threshold

    def _state_color(self) -> QColor:
        return self.run.colour

    def _badge_text(self) -> str:
        return self.run.badge_text()

    def _paint_badge(self, painter: QPainter, text: str, width: float) -> None:
        rect = QRectF(NODE_WIDTH - width - 6, 6, width, HEADER - 12)
        color = self._state_color()
        painter.setPen(Qt.NoPen)
        painter.setBrush(QColor(0, 0, 0, 90))
        painter.drawRoundedRect(rect, 7, 7)
        painter.setFont(SMALL_FONT)
        painter.setPen(color.lighter(125))
        painter.drawText(rect, Qt.AlignCenter, text)

    def _paint_pictures(self, painter: QPainter) -> None:
        """Reference thumbnails or the latest result, right-aligned in the status line."""
        top = self.height - FOOTER + (FOOTER - PICTURE_H) / 2 - 2
        right = NODE_WIDTH - 8
        painter.setRenderHint(QPainter.SmoothPixmapTransform, True)
        if self.thumbs:
            for pixmap in reversed(self.thumbs):
                box = QRectF(right - PICTURE_H, top, PICTURE_H, PICTURE_H)
                if pixmap is None:
                    painter.setPen(QPen(theme.ERROR, 1, Qt.DashLine))
                    painter.setBrush(Qt.NoBrush)
                    painter.drawRect(box)
                else:
                    size = pixmap.size().scaled(int(PICTURE_H * 2), int(PICTURE_H * 2), Qt.KeepAspectRatio)
                    w, h = size.width() / 2, size.height() / 2
                    painter.drawPixmap(QRectF(box.center().x() - w / 2, box.center().y() - h / 2, w, h),
                                       pixmap, QRectF(pixmap.rect()))
                right -= PICTURE_H + 4
        elif self.result_image is not None:
            image = self.result_image
            w, h = image.width() / 2, image.height() / 2
            painter.drawImage(QRectF(right - w, top + (PICTURE_H - h) / 2, w, h), image,
                              QRectF(image.rect()))

    def _paint_footer(self, painter: QPainter) -> None:
        top = self.height - FOOTER
        state = self.run.state
        painter.setFont(SMALL_FONT)
        color = self._state_color()
        pictures = len(self.thumbs) * (PICTURE_H + 4) if self.thumbs else \
            (self.result_image.width() / 2 + 8 if self.result_image is not None else 0)
        if state == NodeState.RUNNING:
            where = f"on {self.run.host}" if self.run.host else ""
            room = QFontMetricsF(SMALL_FONT).horizontalAdvance(where) + 8 if where else 0
            track = QRectF(10, top + 7, NODE_WIDTH - 20 - pictures - room, 6)
            if where:
                painter.setPen(color.lighter(115))
                painter.drawText(QRectF(track.right() + 6, top, room, 20), Qt.AlignVCenter, where)
            painter.setPen(Qt.NoPen)
            painter.setBrush(QColor("#1b1e23"))
            painter.drawRoundedRect(track, 3, 3)
            painter.setBrush(theme.ACCENT)
            painter.drawRoundedRect(QRectF(track.x(), track.y(),
                                           max(6.0, track.width() * self.run.progress), 6), 3, 3)
            return
        width = self.footer_width()
        text = self.footer_text(width)
        if not text:
            return
        painter.setBrush(color)
        painter.setPen(Qt.NoPen)
        painter.drawEllipse(QPointF(14, top + 10), 3.5, 3.5)
        painter.setPen(color.lighter(115))
        painter.drawText(QRectF(24, top, width, 20), Qt.AlignVCenter, text)

    def footer_width(self) -> float:
        """Room for the status line's text, beside the pictures at its right."""
        pictures = len(self.thumbs) * (PICTURE_H + 4) if self.thumbs else \
            (self.result_image.width() / 2 + 8 if self.result_image is not None else 0)
        return NODE_WIDTH - 32 - pictures

    def footer_text(self, width: float) -> str:
        """The status line, in the longest wording that fits `width`: the verdict's
        numbers and the "edited since" mark are never the part cut off."""
        run, state = self.run, self.run.state
        if state == NodeState.DONE:
            plain = "done" + (f" in {format_seconds(run.elapsed)}" if run.elapsed is not None else "")
        elif state == NodeState.CACHED:
            plain = "from cache"
        elif state in (NodeState.FAILED, NodeState.SKIPPED):
            plain = run.message or STATE_LOOK[state][0]
        else:
            plain = STATE_LOOK[state][0]
        wordings = [plain]
        if run.likeness is not None and state in FINISHED:
            score = f"{run.likeness:.2f}"
            limit = f"{run.likeness_threshold:.2f}" if run.likeness_threshold is not None else None
            if run.below_threshold:  # the verdict first
                wordings = ["✗ " + run.likeness_text()] + \
                    ([f"✗ identity {score} < {limit}", f"✗ {score} < {limit}"] if limit else []) + \
                    [f"✗ {score}"]
            else:
                done = STATE_LOOK[state][0]
                wordings = [f"{done} · {run.likeness_text()}"] + \
                    ([f"{done} · {score} ≥ {limit}", f"✓ {score} ≥ {limit}"] if limit else []) + \
                    [f"✓ {score}"]
        marks = [""]
        if run.stale and state in FINISHED:
            marks = ["  (edited since)", " · edited", " ·edited"]
        metrics = QFontMetricsF(SMALL_FONT)
        for mark in marks:  # the mark shortened last: it says the result is out of date
            for wording in wordings:
                if wording and metrics.horizontalAdvance(wording + mark) <= width:
                    return wording + mark
        text = wordings[-1] + marks[-1]
        return metrics.elidedText(text, Qt.ElideRight, width) if text else ""

    # -- gestures --------------------------------------------------------------------
    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802
        if event.pos().y() < HEADER:
            self._scene.request_rename(self.node_id)
            return
        super().mouseDoubleClickEvent(event)


def reference_thumbnails(node: Node) -> list:
    """Up to four thumbnails of the images in a node's first "images" param
    (None: missing file)."""
    if node.spec is None:
        return []
    param = next((p for p in node.spec.params if p.kind == "images"), None)
    if param is None:
        return []
    return [thumbnail(entry["path"], int(PICTURE_H * 2)) for entry in (node.params.get(param.name) or [])[:4]]


def summarize(node: Node) -> list[str]:
    """One or two lines that tell nodes of a type apart on the canvas (the
    node type's spec writes them)."""
    if node.spec is None:
        return ["kept as written; cannot run"]
    return node.spec.summarize(node.params)


class LinkItem(QGraphicsPathItem):
    FLAGS = QGraphicsItem.ItemIsSelectable
    def __init__(self, link: Link, color: QColor) -> None:
        super().__init__()
        self.link = link
        self.color = color
        self.setFlags(self.FLAGS)
        self.setZValue(5)
        self._pen = QPen(color, 2.4)
        self._pen.setCapStyle(Qt.RoundCap)
        self._selected_pen = QPen(theme.SELECTION, 3.2)
        self.setPen(self._pen)
        self.setAcceptHoverEvents(False)
        self._shape: QPainterPath | None = None
        self._bounds = QRectF()

    def set_ends(self, start: QPointF, end: QPointF) -> None:
        path = wire_path(start, end)
        self.prepareGeometryChange()  # while boundingRect() still gives the old bounds
        self._bounds = path.controlPointRect().adjusted(-6, -6, 6, 6)
        self._shape = None
        self.setPath(path)

    def boundingRect(self) -> QRectF:  # noqa: N802
        # Qt's own strokes shape() for it: 10,000 wire strokes when a big project opens.
        return self._bounds

    def shape(self) -> QPainterPath:
        if self._shape is None:  # Qt asks on every hit test and hover: stroke the curve once
            from PySide6.QtGui import QPainterPathStroker

            stroker = QPainterPathStroker()
            stroker.setWidth(10)
            self._shape = stroker.createStroke(self.path())
        return self._shape

    def paint(self, painter: QPainter, option, widget=None) -> None:
        scene = self.scene()
        if scene is not None and not getattr(scene, "detailed", True):  # drawn in batches far out
            return
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        painter.setPen(self._selected_pen if self.isSelected() else self._pen)
        if lod < 0.2:  # far out: a straight line reads the same and costs less
            painter.setRenderHint(QPainter.Antialiasing, False)
            path = self.path()
            painter.drawLine(path.elementAt(0), path.currentPosition())
            return
        painter.setRenderHint(QPainter.Antialiasing, lod >= LOD_SIMPLE)
        painter.setBrush(Qt.NoBrush)
        painter.drawPath(self.path())


def wire_path(start: QPointF, end: QPointF) -> QPainterPath:
    path = QPainterPath(start)
    dx = max(40.0, abs(end.x() - start.x()) * 0.5)
    path.cubicTo(QPointF(start.x() + dx, start.y()), QPointF(end.x() - dx, end.y()), end)
    return path


class BackdropItem(QGraphicsItem):
    """A frame behind nodes. Drag its title bar to move it with the nodes
    inside; drag the bottom-right corner to resize; the body lets clicks
    through so rubber-band selection works inside it."""

    TITLE_H = 34.0
    GRIP = 16.0

    def __init__(self, backdrop: Backdrop, scene: "CanvasScene") -> None:
        super().__init__()
        self.backdrop_id = backdrop.id
        self._scene = scene
        self.setFlags(QGraphicsItem.ItemIsMovable | QGraphicsItem.ItemIsSelectable
                      | QGraphicsItem.ItemSendsGeometryChanges)
        self.setZValue(-10)
        self.resizing = False
        self.carried: dict[str, QPointF] = {}
        self.refresh(backdrop)

    def refresh(self, backdrop: Backdrop) -> None:
        self.prepareGeometryChange()
        x, y, w, h = backdrop.rect
        self.title = backdrop.title
        self.color = QColor(backdrop.color)
        self.size = (w, h)
        self.setPos(x, y)
        self.update()

    def model_rect(self) -> tuple[float, float, float, float]:
        return (self.pos().x(), self.pos().y(), self.size[0], self.size[1])

    def boundingRect(self) -> QRectF:  # noqa: N802
        return QRectF(-2, -2, self.size[0] + 4, self.size[1] + 4)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRect(QRectF(0, 0, self.size[0], self.TITLE_H))
        path.addRect(QRectF(self.size[0] - self.GRIP, self.size[1] - self.GRIP, self.GRIP, self.GRIP))
        return path

    def in_grip(self, pos: QPointF) -> bool:
        return pos.x() >= self.size[0] - self.GRIP and pos.y() >= self.size[1] - self.GRIP

    def paint(self, painter: QPainter, option, widget=None) -> None:
        w, h = self.size
        fill = QColor(self.color)
        fill.setAlpha(70)
        painter.setPen(QPen(theme.SELECTION if self.isSelected() else self.color.lighter(140), 1.5))
        painter.setBrush(fill)
        painter.drawRoundedRect(QRectF(0, 0, w, h), 8, 8)
        bar = QColor(self.color)
        bar.setAlpha(190)
        path = QPainterPath()
        path.setFillRule(Qt.WindingFill)
        path.addRoundedRect(QRectF(0, 0, w, self.TITLE_H), 8, 8)
        path.addRect(QRectF(0, self.TITLE_H - 8, w, 8))
        painter.fillPath(path, bar)
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        painter.setPen(theme.NODE_TEXT)
        font = QFont(BACKDROP_FONT)
        bar_h = self.TITLE_H
        if lod < LOD_SIMPLE:  # keep the title readable far out, inside the frame
            font.setPixelSize(max(1, int(min(16 / max(lod, 0.05), h / 3))))
            bar_h = min(h, font.pixelSize() * 1.6)
            painter.fillRect(QRectF(0, 0, w, bar_h), bar)
        painter.setFont(font)
        text = QFontMetricsF(font).elidedText(self.title, Qt.ElideRight, max(0.0, w - 24))
        painter.drawText(QRectF(12, 0, w - 24, bar_h), Qt.AlignVCenter | Qt.AlignLeft, text)
        painter.setPen(QPen(self.color.lighter(160), 1.4))
        for offset in (4, 8, 12):
            painter.drawLine(QPointF(w - offset, h - 2), QPointF(w - 2, h - offset))

    def itemChange(self, change, value):  # noqa: N802
        if change == QGraphicsItem.ItemPositionHasChanged and self.carried:
            origin = self._press_pos
            delta = self.pos() - origin
            for node_id, start in self.carried.items():
                item = self._scene.node_items.get(node_id)
                if item is not None and not item.isSelected():
                    item.setPos(start + delta)
        return super().itemChange(change, value)

    def mousePressEvent(self, event) -> None:  # noqa: N802
        self._press_pos = self.pos()
        if self.in_grip(event.pos()):
            self.resizing = True
            self._press_size = self.size
            self._press_mouse = event.scenePos()
            event.accept()
            return
        self.carried = {node_id: item.pos() for node_id, item in self._scene.nodes_inside(self).items()}
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self.resizing:
            delta = event.scenePos() - self._press_mouse
            self.prepareGeometryChange()
            self.size = (max(160.0, self._press_size[0] + delta.x()),
                         max(90.0, self._press_size[1] + delta.y()))
            self.update()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if self.resizing:
            self.resizing = False
            old = (self._press_pos.x(), self._press_pos.y(), *self._press_size)
            self._scene.backdrop_resized(self, old)
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802
        self._scene.request_backdrop_rename(self.backdrop_id)
