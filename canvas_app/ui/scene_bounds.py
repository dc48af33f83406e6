"""How far the canvas reaches: a scene rect that grows with the graph and
shrinks back when it gets smaller.

Qt's scene rect bounds what a view can scroll to and frame, so a fixed one
strands the nodes of a feature-length storyboard laid out beyond it. The rect
grows at once when a node arrives or moves past it (an O(1) check per item),
and is fitted to the whole graph (an O(n) walk) a moment after edits settle,
so a shrinking graph gives the room back without a walk on every drag step.
It changes in coarse steps because each change makes Qt rebuild its item index.
"""
from __future__ import annotations

import math
from typing import Callable

from PySide6.QtCore import QObject, QRectF, QTimer

BASE = QRectF(-20000, -20000, 40000, 40000)  # room to work in around a small graph
MARGIN = 3000.0  # room to pan past the outermost node
STEP = 5000.0  # the rect's edges lie on this grid: small moves never change it
SETTLE_MS = 400  # fit to the graph this long after the last edit


def snapped(rect: QRectF) -> QRectF:
    """`rect` grown outwards to the STEP grid."""
    left = math.floor(rect.left() / STEP) * STEP
    top = math.floor(rect.top() / STEP) * STEP
    right = math.ceil(rect.right() / STEP) * STEP
    bottom = math.ceil(rect.bottom() / STEP) * STEP
    return QRectF(left, top, right - left, bottom - top)


class SceneBounds(QObject):
    """Keeps `scene`'s rect around what `content()` (the graph's bounding
    rect) returns, with a margin, and never smaller than BASE."""

    def __init__(self, scene, content: Callable[[], QRectF]) -> None:
        super().__init__(scene)
        self.scene = scene
        self._content = content
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self.fit)
        scene.setSceneRect(BASE)

    def cover(self, rect: QRectF) -> None:
        """Grow now, if needed, so that `rect` (an item that arrived or moved)
        can be scrolled to and framed."""
        current = self.scene.sceneRect()
        needed = rect.adjusted(-MARGIN, -MARGIN, MARGIN, MARGIN)
        if not current.contains(needed):
            self.scene.setSceneRect(snapped(current.united(needed)))

    def changed(self) -> None:
        """The graph changed in a way that may let the rect shrink: fit it
        once edits settle."""
        self._settle.start()

    def fit(self) -> None:
        """Fit the rect to the graph, growing or shrinking it. What a view
        shows stays inside, so shrinking never makes the view jump."""
        self._settle.stop()
        target = QRectF(BASE)
        content = self._content()
        if not content.isEmpty():
            target = target.united(content.adjusted(-MARGIN, -MARGIN, MARGIN, MARGIN))
        for view in self.scene.views():
            target = target.united(view.mapToScene(view.viewport().rect()).boundingRect())
        target = snapped(target)
        if target != self.scene.sceneRect():
            self.scene.setSceneRect(target)
