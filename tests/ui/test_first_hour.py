"""Issue 11: what an artist trying the editor for the first time tripped on.
Each test reproduces one defect with real input events."""
from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from canvas_app.graph.model import Link
from tests.ui.helpers import add, drag, frame, port_point


def _drag_held(window, start: QPoint, end: QPoint):
    """Press and move without releasing: returns a function that releases."""
    from tests.ui.helpers import _send
    from PySide6.QtGui import QMouseEvent

    viewport = window.view.viewport()
    _send(viewport, QMouseEvent.Type.MouseButtonPress, start, Qt.LeftButton, Qt.LeftButton)
    for index in range(1, 7):
        point = QPoint(start.x() + (end.x() - start.x()) * index // 6,
                       start.y() + (end.y() - start.y()) * index // 6)
        _send(viewport, QMouseEvent.Type.MouseMove, point, Qt.NoButton, Qt.LeftButton)

    def release():
        _send(viewport, QMouseEvent.Type.MouseButtonRelease, end, Qt.LeftButton, Qt.NoButton)
        QApplication.processEvents()
    return release


# 8 ---------------------------------------------------------------------------------
def test_self_loop_drag_is_refused_with_the_reason(window):
    frame(window)
    gen = add(window, "Generate", 0, 0)
    assert window.document.graph.check_connect(Link(gen, "clip", gen, "previous")) == \
        "a node cannot feed itself"
    release = _drag_held(window, port_point(window, gen, "clip", True),
                         port_point(window, gen, "previous", False))
    assert window.scene.wire.reason == "a node cannot feed itself"  # red while dragging
    assert "a node cannot feed itself" in window.statusBar().currentMessage()
    release()
    assert window.document.graph.links == []
    assert not window.palette.isVisible()  # not read as a drop on empty canvas
    assert "Not connected: a node cannot feed itself" in window.statusBar().currentMessage()
