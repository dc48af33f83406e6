"""The main window: menus, toolbar, shortcuts, docks, files and clipboard."""
from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QAction, QCursor, QKeySequence
from PySide6.QtWidgets import (QApplication, QDockWidget, QFileDialog, QInputDialog, QLabel,
                               QMainWindow, QMenu, QMessageBox, QScrollArea, QTreeWidget, QTreeWidgetItem,
                               QUndoView)

from canvas_app.errors import CanvasError
from canvas_app.graph.model import Link
from canvas_app.project import PROJECT_SUFFIX, graph_from_dict
from canvas_app.ui import settings, theme
from canvas_app.ui.autosave import Autosaver, find_recoveries
from canvas_app.ui.document import CLIPBOARD_MIME, Document
from canvas_app.ui.inspector import Inspector
from canvas_app.ui.items import BackdropItem, LinkItem, NodeItem
from canvas_app.ui.palette import NodePalette, compatible_port
from canvas_app.ui.run_state import RunStates
from canvas_app.ui.scene import CanvasScene
from canvas_app.ui.view import CanvasView

DEFAULT_SIZE = (1600, 1000)
LAYOUT_VERSION = 1  # saved dock layouts of another version are not restored
PROJECT_FILTER = f"canvas-app projects (*{PROJECT_SUFFIX});;JSON (*.json);;All files (*)"


class MainWindow(QMainWindow):
    def __init__(self, registry=None) -> None:
        super().__init__()
        self.registry = registry
        self.setDockNestingEnabled(True)
        self.setAcceptDrops(True)
        self.document: Document | None = None
        self.scene: CanvasScene | None = None
        self.view = CanvasView(None, self)
        self.setCentralWidget(self.view)
        self.palette = NodePalette(registry or Document().registry, self)
        self.palette.chosen.connect(self._palette_chosen)
        self.view.palette_requested.connect(lambda pos: self.open_palette(pos))
        self.view.zoom_changed.connect(self._zoom_changed)
        self.autosaver = Autosaver(self)
        self.execution = None  # set by _attach_execution when the engine is available
        self.run_states = RunStates(self)  # what the executor said of each node
        self._build_docks()
        self.inspector.set_run_states(self.run_states)
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self.zoom_label = QLabel("100%")
        self.zoom_label.setFixedWidth(48)  # no status bar relayout while zooming
        self.zoom_label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self._zoom_timer = QTimer(self)  # and at most ~12 label updates a second
        self._zoom_timer.setSingleShot(True)
        self._zoom_timer.setInterval(80)
        self._zoom_timer.timeout.connect(
            lambda: self.zoom_label.setText(f"{self.view.zoom() * 100:.0f}%"))
        self.count_label = QLabel()
        for label in (self.count_label, self.zoom_label):
            label.setProperty("role", "dim")
            self.statusBar().addPermanentWidget(label)
        from canvas_app.ui.farm_status import FarmStatus

        self.farm_status = FarmStatus(self)  # "Render on" this computer or a Ray cluster
        self.statusBar().addPermanentWidget(self.farm_status)
        self.set_document(Document(registry=registry))
        self.resize(*DEFAULT_SIZE)
        self._attach_execution()
        if self.execution is not None:  # a run may have saved an identity to the library
            self.execution.job_finished.connect(lambda *_: self.library.refresh())
        self._set_up_workspace()

    # -- workspace: dock layout and window size, kept between sessions -----------------
    def _set_up_workspace(self) -> None:
        for dock in self.findChildren(QDockWidget):
            # Docked panels stay docked: a touch on a title bar (a click, a small drag, a
            # double-click) no longer tears one off into a floating window.
            dock.setFeatures(QDockWidget.DockWidgetClosable | QDockWidget.DockWidgetMovable)
        self._default_state = self.saveState(LAYOUT_VERSION)
        store = settings.settings()
        geometry, state = store.value("window/geometry"), store.value("window/state")
        self._sizes_pending = state is None  # the default dock sizes, once the window has its size
        if geometry is not None:
            self.restoreGeometry(geometry)
            size = store.value("window/size")  # as left: restoreGeometry may fit it to a screen
            if size is not None and not self.isMaximized():
                self.resize(size)
            self._keep_on_screen()
        if state is not None:
            self.restoreState(state, LAYOUT_VERSION)

    def _keep_on_screen(self) -> None:
        """A restored window whose top-left lies off its screen's free area (a
        screen gone, or X11 without a window manager adding a title bar's height
        at each restore) is moved back onto it; its size is the user's."""
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        if screen is None or screen.isEmpty():
            return
        frame = self.frameGeometry()
        x = max(screen.left(), min(frame.x(), screen.right() + 1 - frame.width()))
        y = max(screen.top(), min(frame.y(), screen.bottom() + 1 - frame.height()))
        if (x, y) != (frame.x(), frame.y()):
            self.move(x, y)

    def _default_dock_sizes(self) -> None:
        preview = getattr(self, "preview_dock", None)
        if preview is not None:  # room for the Sequence table under the inspector
            height = self.inspector_dock.height() + preview.height()
            self.resizeDocks([self.inspector_dock, preview], [height * 9 // 20, height * 11 // 20],
                             Qt.Vertical)

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if self._sizes_pending:
            self._sizes_pending = False
            QTimer.singleShot(0, self._default_dock_sizes)  # after the first layout

    def save_workspace(self) -> None:
        store = settings.settings()
        store.setValue("window/geometry", self.saveGeometry())
        store.setValue("window/size", self.normalGeometry().size() if self.isMaximized() else self.size())
        store.setValue("window/state", self.saveState(LAYOUT_VERSION))
        store.sync()

    def reset_layout(self) -> None:
        """Docks where a new installation has them, and the default window size."""
        if self.isMaximized() or self.isFullScreen():
            self.showNormal()
        self.restoreState(self._default_state, LAYOUT_VERSION)
        self.resize(*DEFAULT_SIZE)
        QTimer.singleShot(0, self._default_dock_sizes)
        for dock in (self.inspector_dock, getattr(self, "preview_dock", None),
                     getattr(self, "log_dock", None)):
            if dock is not None:
                dock.show()
                dock.raise_()
        self.statusBar().showMessage("Layout reset", 3000)

    # -- layout ----------------------------------------------------------------------
    def _dock(self, title: str, widget, area, name: str) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        self.inline_rename = None  # the title editor over a node, made on first use
        self.inspector = Inspector()
        self.inspector_dock = self._dock("Inspector", self.inspector, Qt.RightDockWidgetArea, "inspector")
        self.undo_view = QUndoView()
        self.undo_view.setEmptyLabel("<opened>")
        self.history_dock = self._dock("History", self.undo_view, Qt.RightDockWidgetArea, "history")
        self.splitDockWidget(self.inspector_dock, self.history_dock, Qt.Vertical)
        self.problems = QTreeWidget()
        self.problems.setHeaderLabels(["", "Node", "Field", "Problem"])
        self.problems.setRootIsDecorated(False)
        self.problems.setAlternatingRowColors(True)
        self.problems.setColumnWidth(0, 70)
        self.problems.setColumnWidth(1, 140)
        self.problems.setColumnWidth(2, 110)
        self.problems.itemActivated.connect(self._problem_activated)
        self.problems_dock = self._dock("Problems", self.problems, Qt.BottomDockWidgetArea, "problems")
        from canvas_app.ui.library_panel import IdentityLibraryPanel

        self.library = IdentityLibraryPanel()
        self.library.use_identity.connect(self.place_library_identity)
        self.library_dock = self._dock("Identities", self.library, Qt.RightDockWidgetArea,
                                       "identities")
        self.tabifyDockWidget(self.history_dock, self.library_dock)
        from canvas_app.ui.models_panel import ModelsPanel

        self.models_panel = ModelsPanel(lambda: self.document.graph if self.document else None)
        models_scroll = QScrollArea()  # its list keeps five rows; a short dock scrolls, the window
        models_scroll.setWidgetResizable(True)  # does not grow
        models_scroll.setFrameShape(QScrollArea.NoFrame)
        models_scroll.setWidget(self.models_panel)
        self.models_dock = self._dock("Models", models_scroll, Qt.RightDockWidgetArea, "models")
        self.tabifyDockWidget(self.library_dock, self.models_dock)
        self.inspector_dock.raise_()
        self.resizeDocks([self.inspector_dock], [380], Qt.Horizontal)

    def _action(self, text: str, slot, shortcut=None, icon: str | None = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if icon:
            action.setIcon(theme.icon(icon))
        if shortcut is not None:
            if isinstance(shortcut, (list, tuple)):
                action.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(f"{tip or text.replace('&', '').replace('…', '')}"
                          f"{f' ({action.shortcut().toString(QKeySequence.NativeText)})' if shortcut else ''}")
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        a = self._action
        self.act_new = a("&New", self.new_project, QKeySequence.New, "new", "Start an empty project")
        self.act_open = a("&Open…", self.open_dialog, QKeySequence.Open, "open", "Open a project")
        self.act_save = a("&Save", self.save, QKeySequence.Save, "save", "Save the project")
        self.act_save_as = a("Save &As…", self.save_as, QKeySequence.SaveAs, None, "Save under a new name")
        self.act_quit = a("&Quit", self.close, QKeySequence.Quit)
        self.act_undo = a("&Undo", lambda: self.document.undo_stack.undo(), QKeySequence.Undo, "undo")
        self.act_redo = a("&Redo", lambda: self.document.undo_stack.redo(),
                          [QKeySequence.Redo, "Ctrl+Y"] if QKeySequence(QKeySequence.Redo).toString()
                          != "Ctrl+Y" else QKeySequence.Redo, "redo")
        self.act_cut = a("Cu&t", self.cut, QKeySequence.Cut, "cut")
        self.act_copy = a("&Copy", self.copy, QKeySequence.Copy, "copy")
        self.act_paste = a("&Paste", self.paste, QKeySequence.Paste, "paste")
        self.act_duplicate = a("&Duplicate", self.duplicate, "Ctrl+D", "duplicate")
        self.act_delete = a("De&lete", self.delete_selected, [QKeySequence.Delete, "Backspace"], "delete")
        self.act_select_all = a("Select &All", self.select_all, QKeySequence.SelectAll)
        self.act_group = a("&Group in Backdrop", self.group_selected, "Ctrl+G", "backdrop",
                           "Put a backdrop behind the selected nodes")
        self.act_rename = a("&Rename…", self.rename_selected, "F2")
        self.act_add_node = a("Add &Node…", lambda: self.open_palette(self.view.cursor_scene_pos()),
                              None, "add", "Add a node (Tab or double-click the canvas)")
        self.act_frame_sel = a("&Frame Selected", self.view.frame_selected, "F", "frame",
                               "Frame the selection (everything when nothing is selected)")
        self.act_frame_all = a("Frame &All", self.view.frame_all, ["Home", "Shift+F"], None)
        self.act_zoom_in = a("Zoom &In", lambda: self.view.zoom_by(1.25), [QKeySequence.ZoomIn, "Ctrl+="],
                             "zoom-in")
        self.act_zoom_out = a("Zoom &Out", lambda: self.view.zoom_by(0.8), QKeySequence.ZoomOut, "zoom-out")
        self.act_zoom_reset = a("Actual &Size", self._zoom_reset, "Ctrl+0")
        self.act_run = a("&Run", self.run_all, ["Ctrl+Return", "Ctrl+Enter"], "run",
                         "Evaluate the whole graph")
        self.act_run_here = a("Run to &Here", self.run_to_selected, "Ctrl+Shift+Return", "run-to-here",
                              "Evaluate only what the selected node needs")
        self.act_stop = a("&Stop", self.stop, "Ctrl+.", "stop", "Stop the running job")
        self.act_stop.setEnabled(False)
        self.act_clear_recent = a("Clear Recent", self._clear_recent)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addActions([self.act_new, self.act_open])
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self._fill_recent()
        file_menu.addSeparator()
        file_menu.addActions([self.act_save, self.act_save_as])
        file_menu.addSeparator()
        from canvas_app.ui.settings_dialog import add_settings_action

        add_settings_action(self, file_menu)
        file_menu.addAction(self.act_quit)
        edit = bar.addMenu("&Edit")
        edit.addActions([self.act_undo, self.act_redo])
        edit.addSeparator()
        edit.addActions([self.act_cut, self.act_copy, self.act_paste, self.act_duplicate, self.act_delete])
        edit.addSeparator()
        edit.addActions([self.act_select_all, self.act_rename, self.act_group])
        node_menu = bar.addMenu("&Node")
        node_menu.addAction(self.act_add_node)
        view = bar.addMenu("&View")
        view.addActions([self.act_frame_sel, self.act_frame_all])
        view.addSeparator()
        view.addActions([self.act_zoom_in, self.act_zoom_out, self.act_zoom_reset])
        view.addSeparator()
        self.panels_menu = view.addMenu("&Panels")
        for dock in self.findChildren(QDockWidget):
            self.panels_menu.addAction(dock.toggleViewAction())
        self.act_reset_layout = self._action("Reset &Layout", self.reset_layout, None, None,
                                             "Put the panels back where they start and the window "
                                             "at its default size")
        view.addAction(self.act_reset_layout)
        run = bar.addMenu("&Run")
        run.addActions([self.act_run, self.act_run_here, self.act_stop])
        self.run_menu = run
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(QAction("Shortcuts and gestures", self, triggered=self._show_help))

    def _build_toolbar(self) -> None:
        bar = self.addToolBar("Main")
        bar.setObjectName("main_toolbar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonIconOnly)
        bar.addActions([self.act_new, self.act_open, self.act_save])
        bar.addSeparator()
        bar.addActions([self.act_undo, self.act_redo])
        bar.addSeparator()
        bar.addActions([self.act_add_node, self.act_group, self.act_frame_sel])
        bar.addSeparator()
        bar.addActions([self.act_run, self.act_run_here, self.act_stop])
        self.toolbar = bar

    # -- the document ----------------------------------------------------------------
    def set_document(self, document: Document) -> None:
        old_scene, old_document = self.scene, self.document
        if old_document is not None:
            stack = old_document.undo_stack
            for signal in (stack.cleanChanged, stack.indexChanged, stack.canUndoChanged,
                           stack.canRedoChanged, stack.undoTextChanged, stack.redoTextChanged,
                           old_document.path_changed):
                try:
                    signal.disconnect()
                except (RuntimeError, TypeError):
                    pass
        document.setParent(self)
        if old_document is not None:
            old_document.graph.unsubscribe(self.models_panel.graph_changed)
        self.document = document
        document.graph.subscribe(self.models_panel.graph_changed)
        self.models_panel.graph_changed("node_added", {})  # a new project: look again when shown
        self.run_states.observe(document.graph)
        self.scene = CanvasScene(document, self, self.run_states)
        self.scene.status_message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        self.scene.open_requested.connect(self.open_path)
        self.scene.palette_requested.connect(self._wire_dropped)
        self.scene.rename_requested.connect(self.rename_node)
        self.scene.backdrop_rename_requested.connect(self.rename_backdrop)
        self.scene.context_menu_requested.connect(self._context_menu)
        self.scene.selectionChanged.connect(self._selection_changed)
        self.view.set_scene(self.scene)
        if old_scene is not None:
            old_scene.detach()
            old_scene.deleteLater()
        self.inspector.set_document(document)
        if getattr(self, "timeline", None) is not None:
            self.timeline.set_document(document)
        self.undo_view.setStack(document.undo_stack)
        stack = document.undo_stack
        stack.cleanChanged.connect(self._update_title)
        stack.indexChanged.connect(self._update_counts)
        for action, can in ((self.act_undo, stack.canUndoChanged), (self.act_redo, stack.canRedoChanged)):
            can.connect(action.setEnabled)
        self.act_undo.setEnabled(stack.canUndo())
        self.act_redo.setEnabled(stack.canRedo())
        stack.undoTextChanged.connect(self._undo_text)
        stack.redoTextChanged.connect(self._redo_text)
        document.path_changed.connect(self._update_title)
        document.path_changed.connect(lambda: self.library.set_project_dir(self.document.base_dir))
        self.library.set_project_dir(document.base_dir)
        self.autosaver.attach(document)
        self._show_issues(document.issues)
        self._update_title()
        self._update_counts()
        if self.execution is not None:
            self.execution.set_document(document)
        if old_document is not None:
            old_document.deleteLater()
        self.view.frame_on_open()

    def _zoom_changed(self, _zoom: float) -> None:
        if not self._zoom_timer.isActive():
            self._zoom_timer.start()

    def _undo_text(self, text: str) -> None:
        self.act_undo.setText(f"&Undo {text}".strip())

    def _redo_text(self, text: str) -> None:
        self.act_redo.setText(f"&Redo {text}".strip())

    def _update_title(self, *_args) -> None:
        self.setWindowTitle(f"{self.document.display_name}[*] — canvas-app")
        self.setWindowModified(not self.document.undo_stack.isClean())

    def _update_counts(self, *_args) -> None:
        graph = self.document.graph
        self.count_label.setText(f"{len(graph.nodes)} nodes · {len(graph.links)} links")

    def _show_issues(self, issues) -> None:
        self.problems.clear()
        for issue in issues:
            item = QTreeWidgetItem([issue.severity, issue.node or "", issue.field or "", issue.message])
            item.setForeground(0, theme.ERROR if issue.severity == "error" else theme.SELECTION)
            item.setToolTip(3, str(issue))
            item.setData(0, Qt.UserRole, issue.node)
            self.problems.addTopLevelItem(item)
        self.problems_dock.setWindowTitle(f"Problems ({len(issues)})" if issues else "Problems")
        self.problems_dock.setVisible(bool(issues))
        if issues:
            self.problems_dock.show()
            self.problems_dock.raise_()
            self.statusBar().showMessage(
                f"Opened with {len(issues)} problem{'s' if len(issues) != 1 else ''}: see the Problems panel",
                10000)

    def _problem_activated(self, item) -> None:
        node_id = item.data(0, Qt.UserRole)
        if node_id and node_id in self.scene.node_items:
            self.scene.select_nodes([node_id])
            self.view.frame_selected()

    def _selection_changed(self) -> None:
        if self.scene is None:
            return
        try:
            nodes = self.scene.selected_node_ids()
        except RuntimeError:
            return
        self.inspector.show_node(nodes[0] if len(nodes) == 1 else None)
        if getattr(self, "preview", None) is not None:
            node = self.document.graph.nodes.get(nodes[0]) if len(nodes) == 1 else None
            self.preview.select(node.id if node else None, node.title if node else None)
        if getattr(self, "timeline", None) is not None:
            self.timeline.show_nodes(nodes)

    # -- files -----------------------------------------------------------------------
    def ask_unsaved(self) -> str:
        """'save', 'discard' or 'cancel' (tests replace this)."""
        answer = QMessageBox.question(
            self, "Unsaved changes",
            f"Save the changes to {self.document.display_name} before closing?",
            QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
        return {QMessageBox.Save: "save", QMessageBox.Discard: "discard"}.get(answer, "cancel")

    def maybe_save(self) -> bool:
        if self.document is None or self.document.undo_stack.isClean():
            return True
        answer = self.ask_unsaved()
        if answer == "save":
            return self.save()
        return answer == "discard"

    def new_project(self) -> None:
        if self.maybe_save():
            self.autosaver.discard()
            self.set_document(Document(registry=self.registry))

    def open_dialog(self) -> None:
        if not self.maybe_save():
            return
        start = str(self.document.base_dir or Path.cwd())
        path, _ = QFileDialog.getOpenFileName(self, "Open project", start, PROJECT_FILTER)
        if path:
            self.open_path(path, ask=False)

    def open_path(self, path: str | Path, ask: bool = True, trust_paths: bool | None = None) -> bool:
        """trust_paths: whether the graph of an exported PNG or video may read
        files outside its folder; None asks the user when it names any."""
        if ask and not self.maybe_save():
            return False
        try:
            if trust_paths is None:
                trust_paths = self._agree_to_paths_outside(path)
            document = Document.open(path, self.registry, trust_paths=trust_paths)
        except CanvasError as error:
            QMessageBox.warning(self, "Cannot open project", str(error))
            return False
        self.autosaver.discard()
        self.set_document(document)
        settings.add_recent_file(str(path))
        self.statusBar().showMessage(f"Opened {path}", 5000) if not document.issues else None
        return True

    def _agree_to_paths_outside(self, path: str | Path) -> bool:
        from canvas_app.media.exports.provenance import is_media
        from canvas_app.project.io import paths_outside

        outside = paths_outside(path, self.registry) if is_media(path) else []
        if not outside:
            return False
        listed = "\n".join(outside[:8]) + (f"\n... and {len(outside) - 8} more" if len(outside) > 8
                                          else "")
        answer = QMessageBox.question(
            self, "Files outside the folder",
            f"The graph in {Path(path).name} names files outside the folder it was exported to:"
            f"\n\n{listed}\n\nRead them? (No opens the graph without them.)",
            QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        return answer == QMessageBox.Yes

    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        return self._save_to(self.document.path)

    def save_as(self) -> bool:
        start = str(self.document.path or (Path.cwd() / f"untitled{PROJECT_SUFFIX}"))
        path, _ = QFileDialog.getSaveFileName(self, "Save project as", start, PROJECT_FILTER)
        if not path:
            return False
        if not path.endswith(".json"):
            path += PROJECT_SUFFIX
        return self._save_to(Path(path))

    def _save_to(self, path: Path) -> bool:
        try:
            self.document.save(path)
        except OSError as error:
            QMessageBox.critical(self, "Save failed", f"Could not save {path}:\n{error}")
            return False
        settings.add_recent_file(str(path))
        self.autosaver.discard()
        self.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        files = settings.recent_files()
        for path in files:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.setEnabled(Path(path).exists())
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
        if not files:
            self.recent_menu.addAction("No recent projects").setEnabled(False)
        self.recent_menu.addSeparator()
        self.recent_menu.addAction(self.act_clear_recent)

    def _clear_recent(self) -> None:
        settings.clear_recent_files()

    def recover(self, path: Path, data: dict) -> None:
        """Open the document stored in a recovery file, marked unsaved."""
        project = data.get("project_path")
        base = Path(project).parent if project else None
        graph, issues = graph_from_dict(data["document"], self.registry or Document().registry, base,
                                        source=str(path))
        document = Document(graph, Path(project) if project else None, issues, graph.registry)
        self.set_document(document)
        document.undo_stack.resetClean()
        self._update_title()
        self.autosaver.save_now()
        self.statusBar().showMessage("Recovered unsaved work; save it to keep it", 10000)

    def offer_recovery(self, project: str | Path | None = None) -> bool:
        """After a crash: offer the newest recovery file (with `project`, only
        that project's). CANVAS_APP_RECOVER=yes|no answers without asking.
        Returns whether work was recovered."""
        found = find_recoveries()
        if project is not None:
            wanted = str(Path(project).resolve())
            found = [(path, data) for path, data in found if data.get("project_path") == wanted]
        if not found:
            return False
        path, data = found[0]
        answer = os.environ.get("CANVAS_APP_RECOVER", "").lower()
        if answer not in ("yes", "no"):
            name = Path(data["project_path"]).name if data.get("project_path") else "an untitled project"
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(data.get("saved_at", 0)))
            reply = QMessageBox.question(
                self, "Recover unsaved work?",
                f"canvas-app did not close normally. Unsaved changes to {name} were saved at {when}.\n\n"
                "Recover them?", QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
            answer = "yes" if reply == QMessageBox.Yes else "no"
        if answer == "yes":
            self.recover(path, data)
        for stale, _ in found:
            try:
                stale.unlink()
            except OSError:
                pass
        return answer == "yes"

    def closeEvent(self, event) -> None:  # noqa: N802
        if not self.maybe_save():
            event.ignore()
            return
        self.save_workspace()
        self.farm_status.shutdown()
        if self.execution is not None:
            self.execution.shutdown()
        self.autosaver.timer.stop()
        self.autosaver.discard()
        self.palette.hide()
        event.accept()

    # -- editing ---------------------------------------------------------------------
    def open_palette(self, scene_pos: QPointF, wire: dict | None = None) -> None:
        view_pos = self.view.mapFromScene(scene_pos)
        global_pos = self.view.viewport().mapToGlobal(view_pos)
        self.palette.open_at(global_pos, scene_pos, wire)

    def _wire_dropped(self, scene_pos: QPointF, wire: dict) -> None:
        self.open_palette(scene_pos, wire)

    def _palette_chosen(self, type_name: str, scene_pos: QPointF, wire: dict | None) -> str | None:
        return self.place_node(type_name, scene_pos, wire)

    def place_node(self, type_name: str, scene_pos: QPointF, wire: dict | None = None) -> str | None:
        """Add a node at a scene position; with a wire, connect it too (one undo step)."""
        document = self.document
        spec = document.registry.get(type_name).spec
        position = (scene_pos.x() - (0 if (wire and wire["output"]) else 230 if wire else 20),
                    scene_pos.y() - 40)
        if wire is None:
            node = document.add_node(type_name, position)
        else:
            port = compatible_port(spec, wire)
            node, reason = document.add_connected_node(
                type_name, position,
                lambda node_id: Link(wire["node"], wire["port"], node_id, port) if wire["output"]
                else Link(node_id, port, wire["node"], wire["port"]))
            if reason:
                self.statusBar().showMessage(f"Added {spec.title} but not connected: {reason}", 8000)
        self.scene.select_nodes([node.id])
        self.view.setFocus()
        return node.id

    def place_library_identity(self, name: str) -> str:
        """An IdentityLock node that loads a saved identity by name (one undo step)."""
        document = self.document
        center = self.view.mapToScene(self.view.viewport().rect().center())
        node = document.add_node("IdentityLock", (center.x() - 80, center.y() - 40),
                                 params={"source": "library", "library_name": name},
                                 title=name, text=f"Add identity {name}")
        self.scene.select_nodes([node.id])
        return node.id

    def delete_selected(self) -> None:
        nodes, backdrops = self.scene.selected_node_ids(), self.scene.selected_backdrop_ids()
        links = self.scene.selected_links()
        self.document.remove(nodes, backdrops, links)

    def select_all(self) -> None:
        for item in self.scene.node_items.values():
            item.setSelected(True)

    def copy(self) -> bool:
        node_ids = set(self.scene.selected_node_ids())
        if not node_ids:
            return False
        data = self.document.fragment(node_ids)
        mime = QMimeData()
        text = Document.fragment_to_text(data)
        mime.setData(CLIPBOARD_MIME, text.encode("utf-8"))
        mime.setText(text)
        QApplication.clipboard().setMimeData(mime)
        _clear_offscreen_clipboard_at_exit()
        self.statusBar().showMessage(f"Copied {len(node_ids)} node(s)", 3000)
        return True

    def cut(self) -> None:
        if self.copy():
            self.document.remove(self.scene.selected_node_ids(), text="Cut")

    def paste(self) -> list[str]:
        mime = QApplication.clipboard().mimeData()
        data = None
        if mime is not None and mime.hasFormat(CLIPBOARD_MIME):
            data = Document.fragment_from_text(bytes(mime.data(CLIPBOARD_MIME)).decode("utf-8"))
        elif mime is not None and mime.hasText():
            data = Document.fragment_from_text(mime.text())
        if data is None:
            paths = CanvasScene.image_paths(mime) if mime is not None else []
            if paths:
                node_id = self.scene.drop_images(paths, self.view.cursor_scene_pos())
                return [node_id] if node_id else []
            self.statusBar().showMessage("Nothing to paste: the clipboard holds no canvas-app nodes", 4000)
            return []
        local = self.view.viewport().mapFromGlobal(QCursor.pos())
        anchor = None
        if self.view.viewport().rect().contains(local):
            scene_pos = self.view.mapToScene(local)
            anchor = (scene_pos.x(), scene_pos.y())
        new_ids = self.document.paste(data, anchor=anchor)
        self.scene.select_nodes(new_ids)
        self.statusBar().showMessage(f"Pasted {len(new_ids)} node(s)", 3000)
        return new_ids

    def duplicate(self) -> list[str]:
        node_ids = set(self.scene.selected_node_ids())
        if not node_ids:
            return []
        new_ids = self.document.paste(self.document.fragment(node_ids), offset=(30.0, 30.0))
        self.scene.select_nodes(new_ids)
        return new_ids

    def group_selected(self) -> None:
        node_ids = self.scene.selected_node_ids()
        if node_ids:
            rect = self.scene.items_bounding_rect(node_ids).adjusted(-30, -60, 30, 30)
        else:
            center = self.view.mapToScene(self.view.viewport().rect().center())
            rect = QRectF(center.x() - 200, center.y() - 150, 400, 300)
        self.document.add_backdrop((rect.x(), rect.y(), rect.width(), rect.height()), "Group")

    def rename_selected(self) -> None:
        nodes = self.scene.selected_node_ids()
        if len(nodes) == 1:
            self.rename_node(nodes[0])
        elif self.scene.selected_backdrop_ids():
            self.rename_backdrop(self.scene.selected_backdrop_ids()[0])

    def rename_node(self, node_id: str) -> None:
        node = self.document.graph.nodes.get(node_id)
        if node is None:
            return
        if self.inline_rename is None:
            from canvas_app.ui.inline_rename import InlineRename

            self.inline_rename = InlineRename(self.view, lambda: self.document)
        self.inline_rename.start(node_id)

    def rename_backdrop(self, backdrop_id: str) -> None:
        backdrop = self.document.graph.backdrops.get(backdrop_id)
        if backdrop is None:
            return
        title, ok = QInputDialog.getText(self, "Rename backdrop", "Title:", text=backdrop.title)
        if ok and title.strip():
            self.document.change_backdrop(backdrop_id, title=title.strip())

    def _zoom_reset(self) -> None:
        self.view.zoom_by(1.0 / self.view.zoom())

    def _context_menu(self, screen_pos, scene_pos: QPointF, item) -> None:
        menu = QMenu(self)
        if isinstance(item, NodeItem):
            menu.addAction(self.act_run_here)
            menu.addSeparator()
            menu.addAction(self.act_rename)
            menu.addActions([self.act_duplicate, self.act_copy, self.act_cut, self.act_delete])
            menu.addSeparator()
            menu.addAction(self.act_group)
        elif isinstance(item, LinkItem):
            menu.addAction(theme.icon("delete"), "Disconnect",
                           lambda: self.document.disconnect([item.link]))
        elif isinstance(item, BackdropItem):
            menu.addAction(self.act_rename)
            menu.addAction(self.act_delete)
        else:
            menu.addAction(theme.icon("add"), "Add Node…", lambda: self.open_palette(scene_pos))
            menu.addAction(self.act_paste)
            menu.addAction(self.act_group)
            menu.addSeparator()
            menu.addAction(self.act_frame_all)
        menu.exec(screen_pos)

    def _show_help(self) -> None:
        docs = Path(__file__).resolve().parents[2] / "docs" / "editor.md"
        text = docs.read_text(encoding="utf-8") if docs.exists() else "See docs/editor.md"
        box = QMessageBox(self)
        box.setWindowTitle("Shortcuts and gestures")
        box.setTextFormat(Qt.MarkdownText)
        box.setText(text)
        box.exec()

    # -- running -------------------------------------------------------------------------
    def _attach_execution(self) -> None:
        try:
            from canvas_app.ui.execution.controller import ExecutionController
        except ImportError:
            for action in (self.act_run, self.act_run_here, self.act_stop):
                action.setEnabled(False)
                action.setToolTip(action.toolTip() + " — the engine is not available")
            return
        from canvas_app.ui.execution.docks import (build_run_docks, build_timeline_dock,
                                                   connect_run_panels, run_actions)

        panels = build_run_docks(self)
        self.preview_dock, self.log_dock, self.queue_dock = \
            panels.preview_dock, panels.log_dock, panels.queue_dock
        self.preview, self.log_panel = panels.preview, panels.log_panel
        self.queue_panel = panels.queue_panel
        self.execution = ExecutionController(self, self.run_states)
        self.run_logs = connect_run_panels(self, panels, self.run_states, self.execution)
        self.execution.status_message.connect(self.statusBar().showMessage)
        self.execution.running_changed.connect(self.act_stop.setEnabled)
        self.act_output, self.act_open_output, self.act_clear_cache = run_actions(self, self.execution)
        self.run_menu.addSeparator()
        self.run_menu.addActions([self.act_output, self.act_open_output, self.act_clear_cache])
        self.execution.set_document(self.document)
        self.timeline = build_timeline_dock(self, self.run_states)

    def run_all(self) -> None:
        if self.execution is not None:
            self.execution.run(None)

    def run_to_selected(self) -> None:
        nodes = self.scene.selected_node_ids()
        if self.execution is not None and nodes:
            self.execution.run(nodes)

    def stop(self) -> None:
        if self.execution is not None:
            self.execution.stop()


_exit_hook_installed = False


def _clear_offscreen_clipboard_at_exit() -> None:
    """PySide6 6.12 on the offscreen platform (tests, --screenshot) crashes at
    exit when the clipboard still holds mime data the program set. Clear it
    first there; real desktops keep the usual clipboard behaviour."""
    global _exit_hook_installed
    if _exit_hook_installed or QApplication.platformName() not in ("offscreen", "minimal"):
        return
    import atexit

    def clear() -> None:
        if QApplication.instance() is not None:
            QApplication.clipboard().clear()

    atexit.register(clear)
    _exit_hook_installed = True
