"""Renaming a node in place: a line edit over its title (as in Nuke and
Blender), not a dialog in the middle of the canvas. Enter or leaving the field
renames (one undo step); Escape keeps the old title."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QRect, Qt
from PySide6.QtWidgets import QLineEdit

from canvas_app.ui.items import HEADER, NODE_WIDTH


class InlineRename(QObject):
    def __init__(self, view, document_of) -> None:
        super().__init__(view)
        self.view = view
        self.document_of = document_of  # () -> the open Document
        self.edit: QLineEdit | None = None
        self.node_id: str | None = None

    def start(self, node_id: str) -> QLineEdit | None:
        self.finish(commit=True)
        document = self.document_of()
        node = document.graph.nodes.get(node_id)
        item = self.view.scene().node_items.get(node_id)
        if node is None or item is None:
            return None
        if not self.view.viewport().rect().contains(self.view.mapFromScene(item.sceneBoundingRect().center())):
            self.view.centerOn(item)
        top_left = self.view.mapFromScene(item.mapToScene(0, 0))
        bottom_right = self.view.mapFromScene(item.mapToScene(NODE_WIDTH, HEADER))
        edit = QLineEdit(node.title, self.view.viewport())
        edit.setObjectName("inline_rename")
        edit.setGeometry(QRect(top_left, bottom_right).adjusted(2, 2, -2, -2).united(
            QRect(top_left.x() + 2, top_left.y() + 2, 160, 24)))
        edit.selectAll()
        edit.installEventFilter(self)
        edit.returnPressed.connect(lambda: self.finish(commit=True))
        edit.show()
        edit.setFocus(Qt.OtherFocusReason)
        self.edit, self.node_id = edit, node_id
        return edit

    def finish(self, commit: bool) -> None:
        edit, node_id = self.edit, self.node_id
        if edit is None:
            return
        self.edit, self.node_id = None, None
        title = edit.text().strip()
        edit.removeEventFilter(self)
        edit.hide()
        edit.deleteLater()
        document = self.document_of()
        if commit and title and node_id in document.graph.nodes:
            document.set_title(node_id, title)
        self.view.setFocus(Qt.OtherFocusReason)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        if obj is self.edit:
            if event.type() == QEvent.Type.KeyPress and event.key() == Qt.Key_Escape:
                self.finish(commit=False)
                return True
            if event.type() == QEvent.Type.FocusOut:
                self.finish(commit=True)
        return False
