"""Driving the canvas like a user: scene coordinates to viewport clicks."""
from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication


def view_point(window, scene_pos: QPointF) -> QPoint:
    return window.view.mapFromScene(scene_pos)


def port_point(window, node_id: str, port: str, output: bool) -> QPoint:
    item = window.scene.node_items[node_id]
    return view_point(window, item.mapToScene(item.ports[(port, output)].center))


def _send(widget, kind, pos: QPoint, button, buttons, modifiers=Qt.NoModifier) -> None:
    global_pos = widget.mapToGlobal(pos)
    event = QMouseEvent(kind, QPointF(pos), QPointF(global_pos), button, buttons, modifiers)
    QApplication.sendEvent(widget, event)


def drag(window, start: QPoint, end: QPoint, steps: int = 6, button=Qt.LeftButton,
         modifiers=Qt.NoModifier) -> None:
    """Press at start, move in steps with the button held, release at end."""
    viewport = window.view.viewport()
    _send(viewport, QMouseEvent.Type.MouseButtonPress, start, button, button, modifiers)
    for index in range(1, steps + 1):
        point = QPoint(start.x() + (end.x() - start.x()) * index // steps,
                       start.y() + (end.y() - start.y()) * index // steps)
        _send(viewport, QMouseEvent.Type.MouseMove, point, Qt.NoButton, button, modifiers)
    _send(viewport, QMouseEvent.Type.MouseButtonRelease, end, button, Qt.NoButton, modifiers)
    QApplication.processEvents()


def click(window, pos: QPoint, modifiers=Qt.NoModifier) -> None:
    QTest.mouseClick(window.view.viewport(), Qt.LeftButton, modifiers, pos)


def add(window, type_name: str, x: float, y: float, **params) -> str:
    return window.document.add_node(type_name, (x, y), params=params or None).id


def frame(window, x: float = -50, y: float = -50) -> None:
    """A fixed 1:1 view with scene (x, y) at the top-left of the viewport."""
    view = window.view
    view.resetTransform()
    view.horizontalScrollBar().setValue(0)
    view.verticalScrollBar().setValue(0)
    top_left = view.mapToScene(QPoint(0, 0))
    view.pan_by(x - top_left.x(), y - top_left.y())
    QApplication.processEvents()
