"""The timeline panel: the selected Sequence's cut as a strip of shots.

Each shot is drawn to scale (its trimmed length at the cut's frame rate) under
a time ruler in timecode, with a thumbnail, its name and its identity score,
framed green when it passed and red when it failed. On the strip:

- drag a shot sideways to reorder (a marker shows where it will land): the
  Sequence's input links are rewired in the new order (its trims move with it);
- drag a shot's left or right edge to trim it: the new in or out point shows
  while dragging, and lands on a frame of the shot;
- click a shot to preview its first frame and put the playhead there; click
  the ruler to put the playhead there;
- right-click a shot for Play from Here, Move Earlier/Later, Reset Trim;
- Space plays or pauses, L plays forward (again: faster), J backward, K stops,
  Left/Right step a frame, Home/End go to the ends. Frames come from the shots
  the last run left in memory (dissolves blended, nothing rendered again).

Every change is one undoable edit through the Document. Shots that have not
been rendered yet show as grey placeholders of two seconds.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QMenu, QPushButton,
                               QSizePolicy, QVBoxLayout, QWidget)

from canvas_app.ui.qimage import qimage_from_array
from canvas_app.engine.events import NodeProgress, RunFinished

EDGE = 6  # pixels either side of a shot's edge that grab a trim
DRAG_START = 6  # pixels of movement before a press becomes a drag
PLACEHOLDER_SECONDS = 2.0
RULER = 18  # pixels of time ruler above the shots
PASS_COLOUR, FAIL_COLOUR, NONE_COLOUR = QColor(90, 200, 120), QColor(235, 64, 64), QColor(120, 120, 130)
MARKER_COLOUR = QColor(255, 210, 80)  # drop marker and the edge being trimmed
MAX_SPEED = 4  # L or J pressed again doubles the speed, up to this


def timecode(frame: int, fps: float) -> str:
    """HH:MM:SS:FF, as editors read positions (non-drop-frame, at the rounded rate)."""
    rate = max(1, int(round(fps)))
    frame = max(0, int(frame))
    seconds, frames = divmod(frame, rate)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}:{frames:02d}"


@dataclass
class ShotView:
    """One shot on the strip, as the graph and the last run have it."""
    node_id: str  # the node whose clip this is
    title: str
    clip: Any | None  # canvas_app.values.Clip from the last run, or None
    trim: dict  # {"in": s, "out": s or None, "dissolve": s}
    first: int = 0  # trimmed range, in the clip's frames
    last: int = 0
    frames: int = 0  # length at the cut's rate
    score: float | None = None
    passed: bool | None = None
    thumbnail: QImage | None = None


def _thumbnail(frame: np.ndarray, height: int) -> QImage:
    return qimage_from_array(frame[:, :, :3]).scaledToHeight(height, Qt.SmoothTransformation)


class TimelineStrip(QWidget):
    """The ruler and the shots drawn to scale; mouse gestures become edit requests."""

    reorder_requested = Signal(int, int)  # from index, to index
    trim_requested = Signal(int, float, object)  # index, in seconds, out seconds or None
    shot_clicked = Signal(int)
    seek_requested = Signal(int)  # cut frame (a click on the ruler)
    menu_requested = Signal(int, object)  # shot index, global position

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.shots: list[ShotView] = []
        self.fps = 12.0
        self.scale = 6.0  # pixels per frame of the cut
        self.playhead = 0
        self._press: tuple[str, int, QPointF] | None = None  # mode, shot index, start
        self._drag_x: float | None = None
        self.setMinimumHeight(84)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setMouseTracking(True)

    # -- layout ----------------------------------------------------------------------
    def shot_rects(self) -> list[QRectF]:
        rects, x = [], 8.0
        for index, shot in enumerate(self.shots):
            dissolve = int(round(shot.trim.get("dissolve", 0.0) * self.fps)) if index else 0
            x -= dissolve * self.scale  # a dissolve overlaps the shot before it
            width = max(8.0, shot.frames * self.scale)
            rects.append(QRectF(x, RULER + 2, width, self.height() - RULER - 6))
            x += width
        return rects

    def frame_x(self, frame: int) -> float:
        return 8.0 + frame * self.scale

    def frame_at(self, x: float) -> int:
        return max(0, int(round((x - 8.0) / self.scale)))

    def total_frames(self) -> int:
        rects = self.shot_rects()
        return int(round((rects[-1].right() - 8.0) / self.scale)) if rects else 0

    def set_shots(self, shots: list[ShotView], fps: float) -> None:
        self.shots, self.fps = shots, fps
        total = sum(shot.frames for shot in shots) or 1
        self.scale = max(1.0, min(12.0, (max(self.width(), 400) - 16) / total))
        self.update()

    def resizeEvent(self, event) -> None:  # noqa: N802
        if event.size().height() != event.oldSize().height():  # pictures as tall as the shots
            for shot in self.shots:
                if shot.clip is not None:
                    shot.thumbnail = _thumbnail(np.asarray(shot.clip.frames[shot.first]),
                                                max(20, event.size().height() - RULER - 6))
        self.set_shots(self.shots, self.fps)
        super().resizeEvent(event)

    def hit(self, pos: QPointF) -> tuple[str, int] | None:
        """('left' | 'right' | 'body', index) under a point; edges win over bodies,
        and where two shots meet, the edge of the shot the point is in wins."""
        rects = self.shot_rects()
        edges = []
        for index, rect in enumerate(rects):
            if rect.top() <= pos.y() <= rect.bottom():
                if abs(pos.x() - rect.left()) <= EDGE:
                    edges.append(("left", index, pos.x() > rect.left()))
                if abs(pos.x() - rect.right()) <= EDGE:
                    edges.append(("right", index, pos.x() <= rect.right()))
        if edges:
            mode, index, _ = next((edge for edge in edges if edge[2]), edges[0])
            return mode, index
        for index, rect in reversed(list(enumerate(rects))):
            if rect.contains(pos):
                return "body", index
        return None

    def drop_index(self, x: float) -> int:
        """The gap a shot dragged to x drops into: before the first shot whose middle is
        right of x (len(shots) = after the last)."""
        for index, rect in enumerate(self.shot_rects()):
            if x < rect.center().x():
                return index
        return len(self.shots)

    def drop_marker_x(self) -> float | None:
        """Where the shot being dragged would land (None when no shot is dragged)."""
        if not (self._press and self._press[0] == "body" and self._drag_x is not None):
            return None
        rects, gap = self.shot_rects(), self.drop_index(self._drag_x)
        return rects[gap].left() if gap < len(rects) else rects[-1].right()

    # -- trimming --------------------------------------------------------------------
    def snapped_trim(self, edge: str, index: int, dx: float) -> tuple[int, int] | None:
        """The shot's (first, last) frames after moving its `edge` by dx pixels,
        on whole frames of the shot; None for a shot not rendered yet."""
        shot = self.shots[index]
        if shot.clip is None:
            return None
        count = len(shot.clip.frames)
        frames = int(round(dx / self.scale * shot.clip.fps / self.fps))  # cut px -> shot frames
        if edge == "left":
            return min(max(0, shot.first + frames), shot.last - 1), shot.last
        return shot.first, max(min(count, shot.last + frames), shot.first + 1)

    def _request_trim(self, edge: str, index: int, dx: float) -> None:
        snapped = self.snapped_trim(edge, index, dx)
        if snapped is None:
            return
        shot = self.shots[index]
        first, last = snapped
        if (first, last) == (shot.first, shot.last):
            return
        fps, count = shot.clip.fps, len(shot.clip.frames)
        self.trim_requested.emit(index, first / fps, None if last >= count else last / fps)

    def trim_preview(self) -> tuple[int, str, int, int] | None:
        """While an edge is dragged: (index, edge, first, last) it would leave."""
        if not (self._press and self._press[0] in ("left", "right") and self._drag_x is not None):
            return None
        mode, index, start = self._press
        snapped = self.snapped_trim(mode, index, self._drag_x - start.x())
        return None if snapped is None else (index, mode, *snapped)

    # -- painting --------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(28, 28, 32))
        font = QFont(painter.font())
        font.setPointSizeF(8.5)
        painter.setFont(font)
        metrics = QFontMetricsF(font)
        self._paint_ruler(painter, metrics)
        for index, (shot, rect) in enumerate(zip(self.shots, self.shot_rects())):
            painter.fillRect(rect, QColor(48, 48, 56))
            if shot.thumbnail is not None:
                painter.save()
                painter.setClipRect(rect)
                x = rect.left()
                while x < rect.right():  # thumbnails repeated along the shot, as editors do
                    painter.drawImage(QPointF(x, rect.top()), shot.thumbnail)
                    x += max(1, shot.thumbnail.width())
                painter.restore()
            colour = PASS_COLOUR if shot.passed else FAIL_COLOUR if shot.passed is False \
                else NONE_COLOUR
            painter.setPen(QPen(colour, 3 if shot.passed is False else 2))
            painter.drawRect(rect.adjusted(1, 1, -1, -1))
            self._paint_label(painter, metrics, index, shot, rect)
        preview = self.trim_preview()
        if preview is not None:
            self._paint_trim(painter, metrics, *preview)
        marker = self.drop_marker_x()
        if marker is not None:
            painter.setPen(QPen(MARKER_COLOUR, 3))
            painter.drawLine(QPointF(marker, RULER), QPointF(marker, self.height() - 2))
            rect = self.shot_rects()[self._press[1]]  # the dragged shot, following the cursor
            ghost = QRectF(self._drag_x - rect.width() / 2, rect.top() + 6, rect.width(),
                           rect.height() - 12)
            painter.fillRect(ghost, QColor(255, 255, 255, 40))
        x = self.frame_x(self.playhead)
        painter.setPen(QPen(QColor(255, 255, 255), 2))
        painter.drawLine(QPointF(x, 0), QPointF(x, self.height()))
        painter.end()

    def _paint_ruler(self, painter: QPainter, metrics: QFontMetricsF) -> None:
        painter.fillRect(QRectF(0, 0, self.width(), RULER), QColor(36, 36, 42))
        total = max(self.total_frames(), 1)
        rate = max(1, int(round(self.fps)))
        label_w = metrics.horizontalAdvance("00:00:00:00") + 12
        seconds_per_label = 1
        while seconds_per_label * rate * self.scale < label_w:  # labels never touch
            seconds_per_label *= 2
        painter.setPen(QColor(150, 150, 160))
        if self.scale >= 4:  # a tick per frame when frames are wide enough to see
            for frame in range(0, total + 1):
                x = self.frame_x(frame)
                painter.drawLine(QPointF(x, RULER - 3), QPointF(x, RULER))
        for second in range(0, total // rate + 1):
            x = self.frame_x(second * rate)
            painter.drawLine(QPointF(x, RULER - 8), QPointF(x, RULER))
            if second % seconds_per_label == 0:
                painter.drawText(QRectF(x + 3, 0, label_w, RULER - 4), Qt.AlignLeft | Qt.AlignVCenter,
                                 timecode(second * rate, self.fps))

    def label_text(self, index: int, metrics: QFontMetricsF) -> str:
        """Number, name and verdict of a shot, elided to the shot's own width
        (labels of short shots never run into the next one); "" when none fits."""
        shot = self.shots[index]
        room = self.shot_rects()[index].width() - 10
        label = f"{index + 1}. {shot.title}"
        if shot.score is not None:
            label += f"  {shot.score:.2f} {'pass' if shot.passed else 'FAIL'}"
        if room < metrics.horizontalAdvance(f"{index + 1}.…"):
            return ""  # too short for any text: the tooltip names it
        return metrics.elidedText(label, Qt.ElideRight, room)

    def _paint_label(self, painter, metrics, index: int, shot: ShotView, rect: QRectF) -> None:
        text = self.label_text(index, metrics)
        if not text:
            return
        band = QRectF(rect.left() + 2, rect.top() + 2, rect.width() - 4, metrics.height() + 2)
        painter.fillRect(band, QColor(0, 0, 0, 150))
        painter.setPen(QColor(235, 235, 235))
        painter.drawText(band.adjusted(3, 0, -3, 0), Qt.AlignLeft | Qt.AlignVCenter, text)

    def _paint_trim(self, painter, metrics, index: int, edge: str, first: int, last: int) -> None:
        shot = self.shots[index]
        rect = self.shot_rects()[index]
        per_frame = self.scale * self.fps / shot.clip.fps  # pixels per frame of the shot
        if edge == "left":
            x = rect.left() + (first - shot.first) * per_frame
            text = f"In {timecode(first, shot.clip.fps)}"
        else:
            x = rect.right() + (last - shot.last) * per_frame
            text = f"Out {timecode(last, shot.clip.fps)}"
        cut = QRectF(min(x, rect.left()) if edge == "left" else min(x, rect.right()), rect.top(),
                     abs(x - (rect.left() if edge == "left" else rect.right())), rect.height())
        painter.fillRect(cut, QColor(0, 0, 0, 140))  # what the trim takes off (or gives back)
        painter.setPen(QPen(MARKER_COLOUR, 2))
        painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
        width = metrics.horizontalAdvance(text) + 10
        box = QRectF(min(max(0.0, x - width / 2), self.width() - width), rect.bottom() - 20, width, 18)
        painter.fillRect(box, QColor(0, 0, 0, 200))
        painter.setPen(MARKER_COLOUR)
        painter.drawText(box, Qt.AlignCenter, text)

    # -- mouse -----------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802
        self._press = None
        if self.parentWidget() is not None:  # J/K/L and Space go to the panel
            self.parentWidget().setFocus()
        if event.button() != Qt.LeftButton:
            return
        if event.position().y() < RULER:  # the ruler: put the playhead there
            self.seek_requested.emit(self.frame_at(event.position().x()))
            return
        found = self.hit(event.position())
        if found is not None:
            self._press = (found[0], found[1], event.position())
            self._drag_x = None

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._press is None:
            found = self.hit(event.position())
            self.setCursor(Qt.SizeHorCursor if found and found[0] != "body" else Qt.ArrowCursor)
            self.setToolTip(self._tooltip(found[1]) if found else "")
            return
        if abs(event.position().x() - self._press[2].x()) >= DRAG_START or self._drag_x is not None:
            self._drag_x = event.position().x()
            self.update()

    def _tooltip(self, index: int) -> str:
        shot = self.shots[index]
        text = f"{index + 1}. {shot.title}"
        if shot.score is not None:
            text += f"\nidentity {shot.score:.2f}: {'pass' if shot.passed else 'below its threshold'}"
        return text + "\nDrag to reorder, drag an edge to trim, right-click for more"

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        press, self._press = self._press, None
        dragged, self._drag_x = self._drag_x, None
        if press is None:
            return
        mode, index, start = press
        if dragged is None:
            if mode == "body":
                self.shot_clicked.emit(index)
            self.update()
            return
        if mode == "body":
            gap = self.drop_index(event.position().x())
            target = gap - 1 if gap > index else gap  # its place once taken out of the row
            if target != index:
                self.reorder_requested.emit(index, target)
        else:
            self._request_trim(mode, index, event.position().x() - start.x())
        self.update()

    def contextMenuEvent(self, event) -> None:  # noqa: N802
        found = self.hit(QPointF(event.pos()))
        if found is not None:
            self.menu_requested.emit(found[1], event.globalPos())
            event.accept()


class TimelinePanel(QWidget):
    """The strip, a preview and a transport, for one Sequence node."""

    frame_shown = Signal(int)  # cut frame number shown in the preview
    progress_message = Signal(str)  # a Sequence's export progress, for the status bar

    def __init__(self, document=None, clip_source: Callable[[str], Any] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = None
        self.clip_source = clip_source or (lambda node_id: None)
        self.sequence_id: str | None = None
        self.plan = None  # CutPlan of the rendered shots, for playback
        self.strip = TimelineStrip()
        self.preview = QLabel("Select a Sequence node to see its cut.")
        self.preview.setAlignment(Qt.AlignCenter)
        self.preview.setMinimumSize(160, 90)
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Play or pause (Space); L forward, J backward, K stop")
        self.play_button.setFocusPolicy(Qt.NoFocus)  # Space stays with the panel
        self.play_button.toggled.connect(lambda on: self.play() if on else self.stop())
        self.position = QLabel("")
        self.position.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.position.setMinimumWidth(  # never squeezed to a few letters
            self.position.fontMetrics().horizontalAdvance("00:00:00:00 / 00:00:00:00  frame 0000 of 0000"))
        self.export_status = QLabel("")  # "cut: frame 40/120, ETA 3 s" while exporting
        self.export_status.setProperty("role", "dim")
        self.speed = 1  # frames per tick: 1, 2, 4 forward; -1, -2, -4 backward
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        # The transport first, above the strip: it is never the part a short dock cuts off.
        controls = QHBoxLayout()
        controls.addWidget(self.play_button)
        controls.addWidget(self.position)
        controls.addStretch(1)
        controls.addWidget(self.export_status)
        left = QVBoxLayout()
        left.addLayout(controls)
        left.addWidget(self.strip, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(left, 3)
        layout.addWidget(self.preview, 1)
        self.setFocusPolicy(Qt.StrongFocus)  # J/K/L and Space
        self.strip.reorder_requested.connect(self.reorder)
        self.strip.trim_requested.connect(self.trim)
        self.strip.shot_clicked.connect(self.preview_shot)
        self.strip.seek_requested.connect(self.show_frame)
        self.strip.menu_requested.connect(lambda index, at: self.shot_menu(index).exec(at))
        if document is not None:
            self.set_document(document)

    # -- document and selection ------------------------------------------------------
    def set_document(self, document) -> None:
        if self.document is not None:
            self.document.graph.unsubscribe(self._on_graph_event)
        self.document = document
        document.graph.subscribe(self._on_graph_event)
        self.show_sequence(None)

    def show_nodes(self, node_ids: list[str]) -> None:
        """Follow the canvas selection: a single selected Sequence is shown."""
        graph = self.document.graph if self.document else None
        if graph and len(node_ids) == 1 and node_ids[0] in graph.nodes and \
                graph.nodes[node_ids[0]].type_name == "Sequence":
            self.show_sequence(node_ids[0])

    def show_sequence(self, node_id: str | None) -> None:
        self.stop()
        self.sequence_id = node_id
        self.refresh()

    def _on_graph_event(self, event: str, payload: dict) -> None:
        if self.sequence_id is None:
            return
        if event == "node_removed" and payload["node"].id == self.sequence_id:
            self.show_sequence(None)
        elif event in ("param_changed", "link_added", "link_removed", "title_changed"):
            QTimer.singleShot(0, self.refresh)  # after the whole edit (a macro) is done

    @Slot(int, str, float, str)
    def worker_progress(self, _job_id: int, node_id: str, fraction: float, message: str) -> None:
        self.export_progress(node_id, fraction, message)

    def export_progress(self, node_id: str, fraction: float, message: str) -> None:
        """A Sequence reports its export: frames written of all, and the time left."""
        graph = self.document.graph if self.document else None
        node = graph.nodes.get(node_id) if graph else None
        if node is None or node.type_name != "Sequence" or not message:
            return
        text = f"Exporting {node.title}: {message} ({fraction * 100:.0f}%)"
        if node_id == self.sequence_id:
            self.export_status.setText(text if fraction < 1.0 else "")
        self.progress_message.emit(text)

    # -- model -----------------------------------------------------------------------
    def clip_links(self) -> list:
        return self.document.graph.links_into(self.sequence_id, "clips")

    def refresh(self) -> None:
        """Rebuild the strip from the graph and the clips the last run left."""
        from canvas_app.media.exports.cut import CutPlan, PlannedShot, retime_indices

        graph = self.document.graph if self.document else None
        if graph is None or self.sequence_id not in graph.nodes:
            self.sequence_id = None
            self.strip.set_shots([], 12.0)
            self.plan = None
            self.preview.setText("Select a Sequence node to see its cut.")
            self.position.setText("")
            return
        node = graph.nodes[self.sequence_id]
        trims = node.params.get("trims") or []
        links = self.clip_links()
        clips = [self.clip_source(link.src) for link in links]
        rendered = [clip for clip in clips if clip is not None]
        fps = float(node.params.get("fps") or (rendered[0].fps if rendered else 12.0))
        shots = []
        for index, (link, clip) in enumerate(zip(links, clips)):
            trim = dict(trims[index]) if index < len(trims) and trims[index] else {"in": 0.0,
                                                                                  "out": None}
            shot = ShotView(link.src, graph.nodes[link.src].title if link.src in graph.nodes
                            else link.src, clip, trim)
            if clip is not None:
                count = len(clip.frames)
                shot.first = min(count - 1, int(round(trim.get("in", 0.0) * clip.fps)))
                out = trim.get("out")
                shot.last = count if out is None else max(shot.first + 1,
                                                          min(count, int(round(out * clip.fps))))
                shot.frames = len(retime_indices(shot.last - shot.first, clip.fps, fps))
                score = clip.metadata.get("identity_score") or {}
                shot.score = score.get("mean")
                shot.passed = clip.metadata.get("identity_passed")
                shot.thumbnail = _thumbnail(np.asarray(clip.frames[shot.first]),
                                            max(20, self.strip.height() - RULER - 6))
            else:
                shot.frames = int(PLACEHOLDER_SECONDS * fps)
            shots.append(shot)
        self.strip.set_shots(shots, fps)
        self.plan = None
        if shots and all(shot.clip is not None for shot in shots):
            planned = [PlannedShot(shot.clip, shot.first, shot.last,
                                   int(round(shot.trim.get("dissolve", 0.0) * fps)) if i else 0)
                       for i, shot in enumerate(shots)]
            first = rendered[0]
            size = (int(node.params.get("width") or first.size[0]),
                    int(node.params.get("height") or first.size[1]))
            plan = CutPlan(planned, fps, size)
            self.plan = plan if plan.check() is None else None
        self.strip.playhead = min(self.strip.playhead, max(0, self.total_frames() - 1))
        self._update_position()
        if self.plan is None:
            self.preview.setText("Run the graph to preview the cut." if shots else
                                 "Connect shots to this Sequence.")
        else:
            self.show_frame(self.strip.playhead)

    def total_frames(self) -> int:
        return self.plan.total_frames if self.plan is not None else \
            sum(shot.frames for shot in self.strip.shots)

    # -- edits (each one undo step) ----------------------------------------------------
    def _trims(self) -> list[dict]:
        node = self.document.graph.nodes[self.sequence_id]
        trims = copy.deepcopy(node.params.get("trims") or [])
        count = len(self.clip_links())
        return [trims[i] if i < len(trims) and trims[i] else {"in": 0.0, "out": None}
                for i in range(count)]

    def reorder(self, source: int, target: int) -> None:
        """Move shot `source` to position `target`: rewire the inputs, move its trim."""
        links = self.clip_links()
        if not (0 <= source < len(links) and 0 <= target < len(links)) or source == target:
            return
        order = list(range(len(links)))
        order.insert(target, order.pop(source))
        trims = self._trims()
        new_trims = [trims[i] for i in order]
        # A dissolve belongs to the joint before a shot; the first shot has none.
        if new_trims:
            new_trims[0] = {k: v for k, v in new_trims[0].items() if k != "dissolve"}
        title = self.strip.shots[source].title if source < len(self.strip.shots) else "shot"
        self.document.reorder_inputs(self.sequence_id, "clips", order, {"trims": new_trims},
                                     f"Move {title} to position {target + 1}")

    def trim(self, index: int, start: float, end: float | None) -> None:
        trims = self._trims()
        if not 0 <= index < len(trims):
            return
        trims[index] = {**trims[index], "in": float(start), "out": end}
        self.document.set_param(self.sequence_id, "trims", trims)

    def reset_trim(self, index: int) -> None:
        trims = self._trims()
        if 0 <= index < len(trims):
            trims[index] = {k: v for k, v in trims[index].items() if k == "dissolve"}
            trims[index].update({"in": 0.0, "out": None})
            self.document.set_param(self.sequence_id, "trims", trims)

    def shot_menu(self, index: int) -> QMenu:
        """What a right-click on a shot offers (each entry one undo step, or playback)."""
        menu = QMenu(self)
        shot = self.strip.shots[index]
        play = menu.addAction("Play from Here", lambda: (self.preview_shot(index), self.play()))
        play.setEnabled(self.plan is not None)
        menu.addSeparator()
        earlier = menu.addAction("Move Earlier", lambda: self.reorder(index, index - 1))
        earlier.setEnabled(index > 0)
        later = menu.addAction("Move Later", lambda: self.reorder(index, index + 1))
        later.setEnabled(index < len(self.strip.shots) - 1)
        menu.addSeparator()
        reset = menu.addAction("Reset Trim", lambda: self.reset_trim(index))
        reset.setEnabled(bool(shot.trim.get("in")) or shot.trim.get("out") is not None)
        return menu

    # -- preview and playback ----------------------------------------------------------
    def preview_shot(self, index: int) -> None:
        if not 0 <= index < len(self.strip.shots):
            return
        shot = self.strip.shots[index]
        if self.plan is not None:
            self.show_frame(self.plan.starts()[index] + (self.plan.shots[index].dissolve
                                                         if index else 0))
        elif shot.clip is not None:
            self._show_image(np.asarray(shot.clip.frames[shot.first]))

    def show_frame(self, position: int) -> None:
        if self.plan is None:
            return
        position = max(0, min(position, self.plan.total_frames - 1))
        self.strip.playhead = position
        self._show_image(self.plan.frame_at(position))
        self._update_position()
        self.strip.update()
        self.frame_shown.emit(position)

    def _show_image(self, frame: np.ndarray) -> None:
        image = qimage_from_array(frame[:, :, :3]).scaled(
            max(60, self.preview.width() - 4), max(40, self.preview.height() - 4),
            Qt.KeepAspectRatio, Qt.SmoothTransformation)
        self.preview.setPixmap(QPixmap.fromImage(image))

    def _update_position(self) -> None:
        fps = self.strip.fps or 12.0
        total = self.total_frames()
        self.position.setText(f"{timecode(self.strip.playhead, fps)} / {timecode(total, fps)}  "
                              f"frame {self.strip.playhead + 1} of {total}" if total else "")

    def play(self, speed: int = 1) -> None:
        if self.plan is None:
            self.play_button.setChecked(False)
            return
        self.speed = speed
        if speed > 0 and self.strip.playhead >= self.plan.total_frames - 1:
            self.strip.playhead = 0
        elif speed < 0 and self.strip.playhead <= 0:
            self.strip.playhead = self.plan.total_frames - 1
        self.timer.start(max(1, int(1000 / self.plan.fps)))
        self.play_button.blockSignals(True)
        self.play_button.setChecked(True)
        self.play_button.blockSignals(False)
        self.play_button.setText("Pause")

    def stop(self) -> None:
        self.timer.stop()
        self.play_button.blockSignals(True)
        self.play_button.setChecked(False)
        self.play_button.blockSignals(False)
        self.play_button.setText("Play")

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def _tick(self) -> None:
        if self.plan is None:
            self.stop()
            return
        position = self.strip.playhead + self.speed
        if not 0 <= position < self.plan.total_frames:
            if self.strip.playhead not in (0, self.plan.total_frames - 1):
                self.show_frame(position)  # a fast play ends on the last (or first) frame
            self.stop()
            return
        self.show_frame(position)

    def keyPressEvent(self, event) -> None:  # noqa: N802
        """Space plays or pauses; J/K/L as in every editor: L forward (again:
        faster), J backward (again: faster), K stops; Left/Right a frame."""
        key = event.key()
        if key == Qt.Key_Space:
            self.stop() if self.playing else self.play()
        elif key == Qt.Key_L:
            self.play(min(MAX_SPEED, self.speed * 2) if self.playing and self.speed > 0 else 1)
        elif key == Qt.Key_J:
            self.play(max(-MAX_SPEED, self.speed * 2) if self.playing and self.speed < 0 else -1)
        elif key == Qt.Key_K:
            self.stop()
        elif key in (Qt.Key_Left, Qt.Key_Right):
            self.stop()
            self.show_frame(self.strip.playhead + (1 if key == Qt.Key_Right else -1))
        elif key in (Qt.Key_Home, Qt.Key_End):
            self.stop()
            self.show_frame(0 if key == Qt.Key_Home else self.total_frames() - 1)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def mousePressEvent(self, event) -> None:  # noqa: N802
        self.setFocus()
        super().mousePressEvent(event)


def observe_runs(panel: TimelinePanel, model) -> None:
    """The timeline follows the run model: a Sequence's export progress as it
    goes, its shots' new clips when a run ends."""
    def run_event(job_id: int, event) -> None:
        if isinstance(event, NodeProgress):
            panel.worker_progress(job_id, event.node_id, event.fraction, event.message)
        elif isinstance(event, RunFinished):
            panel.refresh()

    model.applied.connect(run_event)
