"""The inspector: the selected node's title and params, one editor per param
kind. Every edit goes through Document.set_param (an undo command); editors
follow the model when undo/redo changes a value."""
from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QPlainTextEdit, QPushButton, QScrollArea, QSpinBox, QTableWidget,
                               QTableWidgetItem, QToolButton, QVBoxLayout, QWidget)

from canvas_app.graph.spec import NodeSpec, ParamSpec
from canvas_app.media.formats import IMAGE_FILTER, is_image_path
from canvas_app.file_checks import image_problem
from canvas_app.ui import theme
from canvas_app.ui.run_state import NodeState
from canvas_app.ui.thumbnails import thumbnail
from canvas_app.ui.wheel_guard import WheelGuard
from canvas_app.values import ROLES


class ParamEditor(QWidget):
    edited = Signal(object)
    continuous = False  # edits arrive in bursts (typing, spinning) and merge into one undo step

    def __init__(self, param: ParamSpec, parent=None) -> None:
        super().__init__(parent)
        self.param = param

    def set_value(self, value: Any) -> None:
        raise NotImplementedError

    def merge_token(self) -> Any:
        """How this field's edits join into undo steps (SetParamCommand's `merge`)."""
        return self.continuous


class LineEditor(ParamEditor):
    def __init__(self, param, parent=None) -> None:
        super().__init__(param, parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit()
        layout.addWidget(self.edit)
        self.edit.editingFinished.connect(lambda: self.edited.emit(self.edit.text()))

    def set_value(self, value) -> None:
        if self.edit.text() != value:
            self.edit.setText(value)


class TextEditor(ParamEditor):
    """Multiline prompt text; commits while typing (after a short pause) and
    on leaving the field. Typing merges into one undo step."""

    continuous = True

    def __init__(self, param, parent=None) -> None:
        super().__init__(param, parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.edit = QPlainTextEdit()
        self.edit.setTabChangesFocus(True)
        self.edit.setFixedHeight(28 * max(1, param.rows))
        layout.addWidget(self.edit)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(400)
        self._timer.timeout.connect(self.commit)
        self.edit.textChanged.connect(self._timer.start)
        self.edit.installEventFilter(self)
        self._session = 0  # one typing session per stay in the field: one undo step

    def merge_token(self) -> Any:
        return ("typing", id(self), self._session)

    def commit(self) -> None:
        self._timer.stop()
        self.edited.emit(self.edit.toPlainText())

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        if event.type() == event.Type.FocusOut and self._timer.isActive():
            self.commit()
        if event.type() == event.Type.FocusIn:
            self._session += 1
        return False

    def set_value(self, value) -> None:
        if self.edit.toPlainText() != value:
            self.edit.blockSignals(True)
            self.edit.setPlainText(value)
            self.edit.blockSignals(False)


class NumberEditor(ParamEditor):
    continuous = True
    def __init__(self, param, parent=None) -> None:
        super().__init__(param, parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        if param.kind == "float":
            self.spin = QDoubleSpinBox()
            step = param.step or 0.1
            self.spin.setSingleStep(step)
            self.spin.setDecimals(max(2, len(f"{step:g}".split(".")[-1]) if "." in f"{step:g}" else 2))
            self.spin.setRange(param.minimum if param.minimum is not None else -1e9,
                               param.maximum if param.maximum is not None else 1e9)
        else:
            self.spin = QSpinBox()
            self.spin.setSingleStep(int(param.step or 1))
            self.spin.setRange(int(param.minimum if param.minimum is not None else -2**31),
                               int(min(param.maximum if param.maximum is not None else 2**31 - 1,
                                       2**31 - 1)))
        self.spin.setKeyboardTracking(False)
        self.spin.setAccelerated(True)
        if param.minimum is not None and param.maximum is not None:
            self.spin.setToolTip(f"{param.help}\nRange {param.minimum:g} to {param.maximum:g}".strip())
        layout.addWidget(self.spin, 1)
        self.spin.valueChanged.connect(lambda value: self.edited.emit(value))
        if param.kind == "seed":
            dice = QToolButton()
            dice.setIcon(theme.icon("dice"))
            dice.setToolTip("New random seed")
            dice.setObjectName(f"dice_{param.name}")
            dice.clicked.connect(self.roll)
            self.dice = dice
            layout.addWidget(dice)

    def roll(self) -> None:
        self.spin.setValue(random.randint(int(self.spin.minimum()), int(self.spin.maximum())))

    def set_value(self, value) -> None:
        self.spin.blockSignals(True)
        self.spin.setValue(value)
        self.spin.blockSignals(False)


class BoolEditor(ParamEditor):
    def __init__(self, param, parent=None) -> None:
        super().__init__(param, parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.check = QCheckBox()
        layout.addWidget(self.check)
        self.check.toggled.connect(lambda value: self.edited.emit(bool(value)))

    def set_value(self, value) -> None:
        self.check.blockSignals(True)
        self.check.setChecked(bool(value))
        self.check.blockSignals(False)


class ChoiceEditor(ParamEditor):
    def __init__(self, param, parent=None) -> None:
        super().__init__(param, parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.combo = QComboBox()
        self.combo.addItems(list(param.choices))
        layout.addWidget(self.combo)
        self.combo.currentTextChanged.connect(lambda text: self.edited.emit(text))

    def set_value(self, value) -> None:
        self.combo.blockSignals(True)
        self.combo.setCurrentText(value)
        self.combo.blockSignals(False)


class FileEditor(ParamEditor):
    def __init__(self, param, parent=None) -> None:
        super().__init__(param, parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("No file")
        browse = QToolButton()
        browse.setIcon(theme.icon("browse"))
        browse.setToolTip("Choose a file…")
        row.addWidget(self.edit, 1)
        row.addWidget(browse)
        layout.addLayout(row)
        self.thumb = QLabel()
        self.thumb.hide()
        layout.addWidget(self.thumb)
        self.edit.editingFinished.connect(lambda: self.edited.emit(self.edit.text()))
        browse.clicked.connect(self.browse)

    def browse(self) -> None:
        start = str(Path(self.edit.text()).parent) if self.edit.text() else ""
        path, _ = QFileDialog.getOpenFileName(self, f"Choose {self.param.display_name}", start,
                                              self.param.file_filter or "All files (*)")
        if path:
            self.edited.emit(path)

    def set_value(self, value) -> None:
        if self.edit.text() != value:
            self.edit.setText(value)
        self.edit.setToolTip(value)
        exists = bool(value) and Path(value).exists()
        self.edit.setProperty("invalid", bool(value) and not exists)
        self.edit.style().unpolish(self.edit)
        self.edit.style().polish(self.edit)
        pixmap = thumbnail(value, 96) if exists else None
        self.thumb.setVisible(pixmap is not None)
        if pixmap is not None:
            self.thumb.setPixmap(pixmap)


class ImagesEditor(ParamEditor):
    """A list of images with a role each: thumbnails, role combos, add/remove."""

    def __init__(self, param, parent=None) -> None:
        super().__init__(param, parent)
        self.value: list[dict] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Image", "Role"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeToContents)
        self.table.setIconSize(QSize(44, 44))
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setMinimumHeight(150)
        self.table.setToolTip("Drop image files here to add them")
        self.table.viewport().setAcceptDrops(True)
        self.table.viewport().installEventFilter(self)
        layout.addWidget(self.table)
        row = QHBoxLayout()
        add = QPushButton(theme.icon("add"), "Add images…")
        remove = QPushButton(theme.icon("remove"), "Remove")
        add.clicked.connect(self.add_images)
        remove.clicked.connect(self.remove_selected)
        row.addWidget(add)
        row.addWidget(remove)
        row.addStretch(1)
        layout.addLayout(row)

    def set_value(self, value) -> None:
        self.value = copy.deepcopy(value)
        self.table.setRowCount(len(value))
        for index, entry in enumerate(value):
            name = Path(entry["path"]).name
            problem = "file not found" if not Path(entry["path"]).exists() else \
                image_problem(entry["path"])
            item = QTableWidgetItem(f"{name}\n{problem}" if problem else name)
            item.setToolTip(entry["path"] + (f"\n({problem})" if problem else ""))
            pixmap = thumbnail(entry["path"], 44)
            if pixmap is not None:
                from PySide6.QtGui import QIcon

                item.setIcon(QIcon(pixmap))
            else:
                item.setForeground(theme.ERROR)
            self.table.setItem(index, 0, item)
            combo = QComboBox()
            combo.addItems(list(ROLES))
            combo.setCurrentText(entry["role"])
            combo.currentTextChanged.connect(lambda role, i=index: self._set_role(i, role))
            self.table.setCellWidget(index, 1, combo)
            self.table.setRowHeight(index, 50)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - file drops onto the list
        kind = event.type()
        if kind in (event.Type.DragEnter, event.Type.DragMove, event.Type.Drop):
            mime = event.mimeData()
            paths = [url.toLocalFile() for url in mime.urls() if url.isLocalFile()
                     and is_image_path(url.toLocalFile())] if mime.hasUrls() else []
            if not paths:
                return False
            event.acceptProposedAction()
            if kind == event.Type.Drop:
                self.add_images(paths)
            return True
        return False

    def _set_role(self, index: int, role: str) -> None:
        value = copy.deepcopy(self.value)
        value[index]["role"] = role
        self.edited.emit(value)

    def add_images(self, paths: list[str] | None = None) -> None:
        if not paths:
            paths, _ = QFileDialog.getOpenFileNames(self, "Add reference images", "", IMAGE_FILTER)
        if paths:
            self.edited.emit(copy.deepcopy(self.value) + [{"path": p, "role": "face"} for p in paths])

    def remove_selected(self) -> None:
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        if rows:
            self.edited.emit([entry for i, entry in enumerate(self.value) if i not in rows])


class TrimsEditor(ParamEditor):
    """Per shot in order: in and out points in seconds (out empty = to the end) and
    the seconds of dissolve into the shot (empty = a cut)."""

    def __init__(self, param, parent=None) -> None:
        super().__init__(param, parent)
        self.value: list[dict] = []
        self.shot_names = lambda: []  # the inspector sets it: titles of the shots, in order
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["In", "Out", "Dissolve"])
        for column, tip in enumerate(("In point, seconds into the shot",
                                      "Out point, seconds into the shot (empty: its end)",
                                      "Seconds of dissolve into the shot (empty: a cut)")):
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.table.verticalHeader().setMaximumWidth(130)  # shot names: the columns keep their room
        self.table.setMinimumHeight(110)
        self.table.itemChanged.connect(self._changed)
        layout.addWidget(self.table)
        row = QHBoxLayout()
        add = QPushButton(theme.icon("add"), "Add trim")
        remove = QPushButton(theme.icon("remove"), "Remove")
        add.clicked.connect(lambda: self.edited.emit(self.value + [{"in": 0.0, "out": None}]))
        remove.clicked.connect(self._remove)
        row.addWidget(add)
        row.addWidget(remove)
        row.addStretch(1)
        layout.addLayout(row)

    def set_value(self, value) -> None:
        self.value = copy.deepcopy(value)
        self.table.blockSignals(True)
        self.table.setRowCount(len(value))
        names = self.shot_names()
        for index, entry in enumerate(value):
            name = names[index] if index < len(names) else f"Shot {index + 1}"
            header = QTableWidgetItem(f"{index + 1}. {name}")
            header.setToolTip(name)
            self.table.setVerticalHeaderItem(index, header)
            self.table.setItem(index, 0, QTableWidgetItem(f"{entry['in']:g}"))
            self.table.setItem(index, 1, QTableWidgetItem("" if entry["out"] is None else f"{entry['out']:g}"))
            dissolve = entry.get("dissolve")
            self.table.setItem(index, 2, QTableWidgetItem(f"{dissolve:g}" if dissolve else ""))
        self.table.blockSignals(False)

    def _changed(self, _item) -> None:
        value = []
        for row in range(self.table.rowCount()):
            try:
                start = float(self.table.item(row, 0).text() or 0)
                out_text = self.table.item(row, 1).text().strip() if self.table.item(row, 1) else ""
                end = float(out_text) if out_text else None
                cell = self.table.item(row, 2)
                dissolve = float(cell.text().strip() or 0) if cell else 0.0
            except ValueError:
                self.set_value(self.value)
                return
            value.append({"in": start, "out": end, **({"dissolve": dissolve} if dissolve else {})})
        self.edited.emit(value)

    def _remove(self) -> None:
        rows = {index.row() for index in self.table.selectedIndexes()}
        if rows:
            self.edited.emit([e for i, e in enumerate(self.value) if i not in rows])


EDITORS = {"str": LineEditor, "text": TextEditor, "int": NumberEditor, "float": NumberEditor,
           "seed": NumberEditor, "bool": BoolEditor, "choice": ChoiceEditor, "file": FileEditor,
           "images": ImagesEditor, "trims": TrimsEditor}


def advanced_params(spec: NodeSpec) -> set[str]:
    """Params shown folded away (the spec marks them advanced)."""
    return {param.name for param in spec.params if param.advanced}


class Inspector(QScrollArea):
    """Shows the selected node, and the executor's word on it from the run-state
    model it observes (`set_run_states`)."""

    advanced_open = False
    WIDTH = 410  # what the dock asks for, whatever node is shown
    MIN_WIDTH = 320

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        # The dock column must not follow each node's form: a narrower form
        # (the Sequence's) used to shrink the column on the next relayout.
        self.setMinimumWidth(self.MIN_WIDTH)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.document = None
        self.node_id: str | None = None
        self.editors: dict[str, ParamEditor] = {}
        self.errors: dict[str, QLabel] = {}
        self.run_states = None
        self.labels: dict[str, QLabel] = {}
        self.wheel_guard = WheelGuard(self)
        self._empty()

    def sizeHint(self):  # noqa: N802
        hint = super().sizeHint()
        hint.setWidth(self.WIDTH)
        return hint

    def set_run_states(self, run_states) -> None:
        """Observe a RunStates model: the shown node's run state follows it."""
        self.run_states = run_states
        run_states.changed.connect(self._run_state_changed)

    def _run_state_changed(self, node_id: str) -> None:
        if node_id == self.node_id and self.run_states is not None:
            self.show_run(self.run_states.get(node_id))

    def set_document(self, document) -> None:
        if self.document is not None:
            self.document.graph.unsubscribe(self._on_event)
        self.document = document
        document.graph.subscribe(self._on_event)
        self.show_node(None)

    def _empty(self) -> None:
        widget = QWidget()
        layout = QVBoxLayout(widget)
        label = QLabel("Select a node to edit its settings.\n\nTab or double-click the canvas to "
                       "add a node; drag from a port to connect.")
        label.setWordWrap(True)
        label.setProperty("role", "dim")
        label.setAlignment(Qt.AlignCenter)
        layout.addWidget(label)
        layout.addStretch(1)
        self.setWidget(widget)
        self.editors, self.errors, self.labels = {}, {}, {}
        self.title_edit = None
        self.run_label = None

    def show_node(self, node_id: str | None) -> None:
        node = self.document.graph.nodes.get(node_id) if (self.document and node_id) else None
        self.node_id = node.id if node else None
        if node is None:
            self._empty()
            return
        widget = QWidget()
        outer = QVBoxLayout(widget)
        outer.setContentsMargins(10, 10, 10, 10)
        self.title_edit = QLineEdit(node.title)
        self.title_edit.setObjectName("inspector_title")
        self.title_edit.setToolTip("Node title (a Generate's title is its shot's name in the cut "
                                   "and its files)")
        self.title_edit.editingFinished.connect(
            lambda: self.document.set_title(self.node_id, self.title_edit.text()))
        outer.addWidget(self.title_edit)
        info = QLabel(f"{node.type_name}  ·  id {node.id}")
        info.setProperty("role", "dim")
        outer.addWidget(info)
        self.run_label = QLabel()
        self.run_label.setWordWrap(True)
        self.run_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.run_label.hide()
        outer.addWidget(self.run_label)
        if self.run_states is not None:
            self.show_run(self.run_states.get(node.id))
        self.editors, self.errors, self.labels = {}, {}, {}
        if node.spec is None:
            warning = QLabel(f"Unknown node type <b>{node.type_name}</b>. This program cannot run "
                             "it; its settings are kept exactly as written and saved back unchanged.")
            warning.setWordWrap(True)
            warning.setProperty("role", "error")
            outer.addWidget(warning)
            raw = QPlainTextEdit(_pretty(node.raw))
            raw.setReadOnly(True)
            outer.addWidget(raw, 1)
            self.setWidget(widget)
            return
        if node.spec.description:
            description = QLabel(node.spec.description)
            description.setWordWrap(True)
            description.setProperty("role", "dim")
            outer.addWidget(description)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignRight | Qt.AlignVCenter)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        advanced_names = advanced_params(node.spec)
        advanced_form = QFormLayout()
        advanced_form.setLabelAlignment(Qt.AlignRight | Qt.AlignVCenter)
        advanced_form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        for param in node.spec.params:
            editor = EDITORS[param.kind](param)
            editor.setObjectName(f"param_{param.name}")
            if param.kind == "trims":  # rows named as the Timeline names the shots
                editor.shot_names = lambda node_id=node.id: self._shot_names(node_id)
            editor.set_value(node.params.get(param.name))
            editor.setToolTip(param.help)
            editor.edited.connect(lambda value, name=param.name: self._edited(name, value))
            label = QLabel(param.display_name)
            label.setToolTip(param.help)
            error = QLabel()
            error.setProperty("role", "error")
            error.setWordWrap(True)
            error.hide()
            box = QWidget()
            box_layout = QVBoxLayout(box)
            box_layout.setContentsMargins(0, 0, 0, 0)
            box_layout.setSpacing(2)
            box_layout.addWidget(editor)
            box_layout.addWidget(error)
            (advanced_form if param.name in advanced_names else form).addRow(label, box)
            self.editors[param.name] = editor
            self.errors[param.name] = error
            self.labels[param.name] = label
        self._update_applicable(node)
        outer.addLayout(form)
        if advanced_names:
            toggle = QToolButton()
            toggle.setObjectName("advanced_toggle")
            toggle.setText("Advanced")
            toggle.setCheckable(True)
            toggle.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
            toggle.setArrowType(Qt.RightArrow)
            section = QWidget()
            section.setLayout(advanced_form)
            section.setVisible(Inspector.advanced_open)
            toggle.setChecked(Inspector.advanced_open)
            toggle.setArrowType(Qt.DownArrow if Inspector.advanced_open else Qt.RightArrow)

            def flip(checked: bool) -> None:
                Inspector.advanced_open = checked
                section.setVisible(checked)
                toggle.setArrowType(Qt.DownArrow if checked else Qt.RightArrow)

            toggle.toggled.connect(flip)
            outer.addWidget(toggle)
            outer.addWidget(section)
        outer.addStretch(1)
        self.wheel_guard.guard(widget)
        self.setWidget(widget)

    def _shot_names(self, node_id: str) -> list[str]:
        graph = self.document.graph
        return [graph.nodes[link.src].title if link.src in graph.nodes else link.src
                for link in graph.links_into(node_id, "clips")]

    def _update_applicable(self, node) -> None:
        """Disable the fields that do not apply with the node's other params
        (the param specs say when each applies); the tooltip says why."""
        for param in node.spec.params:
            editor, label = self.editors.get(param.name), self.labels.get(param.name)
            if editor is None:
                continue
            reason = param.not_applying(node.params)
            editor.setEnabled(reason is None)
            label.setEnabled(reason is None)
            tip = param.help if reason is None else f"{reason}.\n{param.help}".strip()
            editor.setToolTip(tip)
            label.setToolTip(tip)

    def _edited(self, name: str, value) -> None:
        if self.node_id is None:
            return
        reason = self.document.set_param(self.node_id, name, value,
                                         merge=self.editors[name].merge_token())
        error = self.errors.get(name)
        if error is not None:
            error.setText(reason or "")
            error.setVisible(bool(reason))
        if reason:  # show the model's value again
            self.editors[name].set_value(self.document.graph.nodes[self.node_id].params[name])

    def _on_event(self, event: str, payload: dict) -> None:
        node = payload.get("node")
        if node is None or node.id != self.node_id:
            return
        if event == "param_changed":
            editor = self.editors.get(payload["name"])
            if editor is not None:
                editor.set_value(node.params[payload["name"]])
                self.errors[payload["name"]].hide()
            if node.spec is not None:
                self._update_applicable(node)
        elif event == "title_changed" and self.title_edit is not None:
            self.title_edit.setText(node.title)
        elif event == "node_removed":
            self.show_node(None)

    def show_run(self, run) -> None:
        """The model's RunState of the shown node: a failure or a verdict below
        threshold in the error style (read from the state, not its sentence)."""
        if self.run_label is None:
            return
        message = run.describe()
        if not message:
            self.run_label.hide()
            return
        alarm = run.state == NodeState.FAILED or run.below_threshold
        self.run_label.setText(f"<b>Failed:</b> {message}" if run.state == NodeState.FAILED else message)
        self.run_label.setProperty("role", "error" if alarm else "dim")
        self.run_label.style().unpolish(self.run_label)
        self.run_label.style().polish(self.run_label)
        self.run_label.show()


def _pretty(raw) -> str:
    import json

    return json.dumps(raw, indent=2, ensure_ascii=False)
