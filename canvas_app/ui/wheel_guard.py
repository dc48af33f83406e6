"""Fields change on the mouse wheel only when they have focus (as in Blender
and Nuke): scrolling a panel over a spin box or combo box scrolls the panel."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractScrollArea, QAbstractSpinBox, QApplication, QComboBox, QWidget


class WheelGuard(QObject):
    """Event filter for the wheel-sensitive fields under a scroll area."""

    def __init__(self, scroll_area: QAbstractScrollArea) -> None:
        super().__init__(scroll_area)
        self.scroll_area = scroll_area

    def guard(self, root: QWidget) -> None:
        for field in root.findChildren(QAbstractSpinBox) + root.findChildren(QComboBox):
            field.setFocusPolicy(Qt.StrongFocus)  # a click or Tab focuses, the wheel does not
            field.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Wheel and not obj.hasFocus():
            # Not the field's: the panel scrolls instead.
            QApplication.sendEvent(self.scroll_area.verticalScrollBar(), event)
            return True
        return False
