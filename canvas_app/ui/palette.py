"""The node palette: Tab or double-click on the canvas, type to search, Enter
places the node at the cursor. Dropping a wire on empty canvas opens it
filtered to the node types that can take that wire."""
from __future__ import annotations

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QFrame, QLabel, QLineEdit, QListWidget, QListWidgetItem,
                               QStyledItemDelegate, QVBoxLayout)

from canvas_app.graph.spec import NodeSpec
from canvas_app.ui import theme


def compatible_port(spec: NodeSpec, wire: dict | None) -> str | None:
    """The port of `spec` that a dragged wire would connect to, or None."""
    if wire is None:
        return None
    ports = spec.inputs if wire["output"] else spec.outputs
    return next((port.name for port in ports if port.type == wire["type"]), None)


def score(spec: NodeSpec, query: str) -> int | None:
    """Rank a node type for a search: prefix of the title first, then words,
    then any field containing the text, then letters in order."""
    if not query:
        return 0
    q = query.lower().strip()
    title = spec.title.lower()
    haystack = " ".join((spec.title, spec.type_name, spec.category, spec.description)).lower()
    if title.startswith(q) or spec.type_name.lower().startswith(q):
        return 0
    if any(word.startswith(q) for word in title.split()):
        return 1
    if q in haystack:
        return 2
    position = 0
    for char in q.replace(" ", ""):
        position = title.find(char, position)
        if position < 0:
            return None
        position += 1
    return 3


class NodePalette(QFrame):
    chosen = Signal(str, QPointF, object)  # type name, scene position, wire filter

    def __init__(self, registry, parent=None) -> None:
        super().__init__(parent, Qt.Popup)
        self.setObjectName("NodePalette")
        self.registry = registry
        self.scene_pos = QPointF()
        self.wire: dict | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        self.hint = QLabel()
        self.hint.setProperty("role", "dim")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search nodes…")
        self.search.addAction(theme.icon("search"), QLineEdit.LeadingPosition)
        self.search.setClearButtonEnabled(True)
        self.list = QListWidget()
        self.list.setUniformItemSizes(True)
        self.list.setItemDelegate(_CategoryDelegate(self.list))
        layout.addWidget(self.hint)
        layout.addWidget(self.search)
        layout.addWidget(self.list)
        self.setFixedWidth(340)
        self.search.textChanged.connect(self._filter)
        self.search.installEventFilter(self)
        self.list.itemActivated.connect(self._activate)
        self.list.itemClicked.connect(self._activate)

    def open_at(self, global_pos, scene_pos: QPointF, wire: dict | None = None) -> None:
        self.scene_pos = scene_pos
        self.wire = wire
        self.hint.setText(f"Nodes that take a {wire['type']} {'input' if wire['output'] else 'output'}"
                          if wire else "Add a node — type to search, Enter to place")
        self.search.clear()
        self._filter("")
        self.move(global_pos)
        self.show()
        self.raise_()
        self.activateWindow()
        self.search.setFocus()

    def _filter(self, text: str) -> None:
        self.list.clear()
        ranked = []
        for spec in self.registry.specs():
            if self.wire is not None and compatible_port(spec, self.wire) is None:
                continue
            rank = score(spec, text)
            if rank is not None:
                ranked.append((rank, spec.category, spec.title, spec))
        ranked.sort(key=lambda entry: entry[:3])
        for _, category, title, spec in ranked:
            item = QListWidgetItem(title)
            item.setData(Qt.UserRole, spec.type_name)
            item.setData(CATEGORY_ROLE, category)
            item.setToolTip(spec.description)
            item.setForeground(QColor("#e6e9ee"))
            item.setIcon(_dot(theme.header_color(category)))
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)
        rows = max(1, min(10, self.list.count()))
        self.list.setFixedHeight(rows * 26 + 6)
        self.adjustSize()

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        if obj is self.search and event.type() == event.Type.KeyPress:
            key = event.key()
            if key in (Qt.Key_Down, Qt.Key_Up, Qt.Key_PageDown, Qt.Key_PageUp):
                row = self.list.currentRow() + (1 if key in (Qt.Key_Down, Qt.Key_PageDown) else -1)
                self.list.setCurrentRow(max(0, min(self.list.count() - 1, row)))
                return True
            if key in (Qt.Key_Return, Qt.Key_Enter, Qt.Key_Tab):
                item = self.list.currentItem()
                if item is not None:
                    self._activate(item)
                return True
            if key == Qt.Key_Escape:
                self.hide()
                return True
        return super().eventFilter(obj, event)

    def _activate(self, item: QListWidgetItem) -> None:
        type_name = item.data(Qt.UserRole)
        self.hide()
        self.chosen.emit(type_name, self.scene_pos, self.wire)


CATEGORY_ROLE = Qt.UserRole + 1


class _CategoryDelegate(QStyledItemDelegate):
    """The node title, with its category right-aligned and dimmed."""

    def sizeHint(self, option, index):  # noqa: N802
        size = super().sizeHint(option, index)
        size.setHeight(26)
        return size

    def paint(self, painter, option, index) -> None:
        super().paint(painter, option, index)
        category = index.data(CATEGORY_ROLE)
        if category:
            painter.save()
            painter.setPen(QColor("#9aa3b2"))
            painter.drawText(option.rect.adjusted(0, 0, -10, 0), Qt.AlignVCenter | Qt.AlignRight, category)
            painter.restore()


def _dot(color: QColor):
    from PySide6.QtGui import QIcon, QPainter, QPixmap

    pixmap = QPixmap(16, 16)
    pixmap.fill(Qt.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.setBrush(color.lighter(130))
    painter.setPen(Qt.NoPen)
    painter.drawRoundedRect(2, 2, 12, 12, 3, 3)
    painter.end()
    return QIcon(pixmap)
