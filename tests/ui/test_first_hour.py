"""Issue 11: what an artist trying the editor for the first time tripped on.
Each test reproduces one defect with real input events."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

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


# 3 ---------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[2]


def _real_shot(window, tmp_path, threshold):
    """Reference -> IdentityLock -> Generate (animatic, tiny) in a saved project."""
    refs = ROOT / "resources" / "examples" / "spokesperson" / "refs"
    face = next(iter(sorted(refs.glob("astronaut*"))), None)
    if face is None:
        pytest.skip("the example reference image is not available")
    shutil.copy(face, tmp_path / face.name)
    window.document.save(tmp_path / "real.canvas.json")
    doc = window.document
    ref = doc.add_node("Reference", (0, 0), params={"images": [{"path": str(tmp_path / face.name),
                                                                  "role": "face"}]}).id
    lock = doc.add_node("IdentityLock", (300, 0)).id
    prompt = doc.add_node("Prompt", (300, 260), params={"positive": "hello", "duration": 0.5}).id
    gen = doc.add_node("Generate", (620, 0), title="Render Shot 1",
                       params={"width": 128, "height": 72, "fps": 8.0, "guard_tries": 1,
                               "identity_threshold": threshold}).id
    for link in (Link(ref, "images", lock, "references"), Link(lock, "identity", gen, "identity"),
                 Link(prompt, "prompt", gen, "prompt")):
        doc.connect(link)
    return ref, lock, prompt, gen


def _run(qtbot, window, action=None):
    with qtbot.waitSignal(window.execution.job_finished, timeout=90000) as blocker:
        (action or window.act_run).trigger()
    return blocker.args


def _red_pixels(image, rect) -> int:
    count = 0
    for x in range(int(rect.left()), int(rect.right()), 2):
        for y in range(int(rect.top()), int(rect.bottom()), 2):
            c = image.pixelColor(x, y)
            if c.red() > 180 and c.green() < 120 and c.blue() < 120:
                count += 1
    return count


def test_a_shot_below_its_threshold_is_as_visible_as_a_failure(make_window, qtbot, tmp_path,
                                                                monkeypatch):
    monkeypatch.setenv("CANVAS_APP_ENGINE", "thread")
    monkeypatch.setenv("CANVAS_APP_NO_DISK_CACHE", "1")
    window = make_window()
    *_, gen = _real_shot(window, tmp_path, threshold=0.99)
    job_id, status = _run(qtbot, window)
    run = window.run_states.get(gen)
    assert run.below_threshold and run.likeness_threshold == 0.99
    item = window.scene.node_items[gen]
    assert item.alarmed and item._badge_text().startswith("✗")  # red outline and badge
    assert "< threshold 0.99" in run.likeness_text()  # the threshold beside the score
    # the Run Log has a warning row, the status line names the shot and the threshold
    rows = window.log_panel.events(job_id)
    assert any(event == "below threshold" and node == "Render Shot 1" for node, event, _ in rows)
    message = window.statusBar().currentMessage()
    assert "below the identity threshold" in message and "Render Shot 1" in message
    assert "0.99" in message
    window.scene.select_nodes([gen])
    label = window.inspector.run_label
    assert label.isVisible() and "Below the identity threshold" in label.text()
    # readable at every zoom: a red frame around the node at 100 % and far out
    for zoom in (1.0, 0.3, 0.12):
        window.view.resetTransform()
        window.view.scale(zoom, zoom)
        window.view.centerOn(item.sceneBoundingRect().center())
        QApplication.processEvents()
        image = window.view.viewport().grab().toImage()
        rect = window.view.mapFromScene(item.sceneBoundingRect()).boundingRect()
        assert _red_pixels(image, rect.adjusted(-3, -3, 3, 3)) > 10, zoom


# 4, 9 (Preview names by title), 14 (Preview plays the cut) ---------------------------
def test_sequence_table_shows_each_shots_threshold_and_why_and_the_cut_plays(
        make_window, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("CANVAS_APP_ENGINE", "thread")
    monkeypatch.setenv("CANVAS_APP_NO_DISK_CACHE", "1")
    window = make_window()
    ref, lock, prompt, strict = _real_shot(window, tmp_path, threshold=0.99)
    doc = window.document
    lenient = doc.add_node("Generate", (620, 300), title="Render Shot 2",
                           params={"width": 128, "height": 72, "fps": 8.0, "guard_tries": 1,
                                   "identity_threshold": 0.1}).id
    seq = doc.add_node("Sequence", (950, 0), title="Final Cut").id
    for link in (Link(lock, "identity", lenient, "identity"), Link(prompt, "prompt", lenient, "prompt"),
                 Link(strict, "clip", seq, "clips"), Link(lenient, "clip", seq, "clips")):
        doc.connect(link)
    preview = window.preview
    titles = []
    original = preview.node_started

    def spy(node_id, title):
        original(node_id, title)
        titles.append(preview.title.text())
    monkeypatch.setattr(preview, "node_started", spy)
    window.scene.clearSelection()
    job_id, status = _run(qtbot, window)
    assert status == "done"
    assert "Running: Final Cut" in titles  # the Preview follows the run by title
    assert not any("generate" in text or "sequence" in text for text in titles)
    window.scene.select_nodes([seq])
    text = preview.details.text()
    assert "<th>threshold</th>" in text and "<th>verdict</th>" in text
    assert "0.99" in text and "0.10" in text
    assert "✗ below" in text and "✓ pass" in text  # beside the score and threshold that say why
    assert preview.clip is not None and len(preview.clip.frames) > 0  # the finished cut plays
    preview.toggle_play()
    assert preview.timer.isActive()
    preview.toggle_play()


# 11 --------------------------------------------------------------------------------
def test_paste_numbers_the_copies_titles(window):
    from canvas_app.graph.naming import copy_title

    gen = add(window, "Generate", 0, 0)
    window.document.set_title(gen, "Render Shot 4")
    prompt = add(window, "Prompt", 0, 300)
    window.scene.select_nodes([gen, prompt])
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key_C, Qt.ControlModifier)
    QTest.keyClick(window.view, Qt.Key_V, Qt.ControlModifier)
    QTest.keyClick(window.view, Qt.Key_V, Qt.ControlModifier)
    titles = sorted(node.title for node in window.document.graph.nodes.values())
    assert titles == ["Prompt", "Prompt 2", "Prompt 3",
                      "Render Shot 4", "Render Shot 5", "Render Shot 6"]
    assert copy_title("Blur1", {"Blur1", "Blur2"}) == "Blur3"


# 9 ---------------------------------------------------------------------------------
def test_status_line_and_history_name_nodes_by_title(window):
    frame(window)
    lock = add(window, "IdentityLock", 0, 0)
    gen = add(window, "Generate", 400, 0)
    window.document.set_title(gen, "Render Shot 4")
    drag(window, port_point(window, lock, "identity", True), port_point(window, gen, "identity", False))
    assert window.document.graph.links == [Link(lock, "identity", gen, "identity")]
    message = window.statusBar().currentMessage()
    assert "Render Shot 4.identity" in message and gen not in message and lock not in message
    stack = window.document.undo_stack
    history = stack.text(stack.count() - 1)
    assert "Render Shot 4" in history and gen not in history and lock not in history


# 5 ---------------------------------------------------------------------------------
def _wheel(widget, steps: int = -1) -> None:
    from PySide6.QtGui import QWheelEvent

    pos = QPointF(widget.rect().center())
    event = QWheelEvent(pos, QPointF(widget.mapToGlobal(pos.toPoint())), QPoint(0, 0),
                        QPoint(0, 120 * steps), Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)
    QApplication.processEvents()


def test_the_wheel_over_the_inspector_scrolls_it_and_changes_only_a_focused_field(window):
    gen = add(window, "Generate", 0, 0)
    window.inspector_dock.resize(420, 300)
    window.resize(1400, 500)
    window.scene.select_nodes([gen])
    QApplication.processEvents()
    inspector = window.inspector
    combo = inspector.editors["backend"].combo
    spin = inspector.editors["seed"].spin  # (the diffusers fields are folded, and off with animatic)
    depth = window.document.undo_stack.count()
    before = dict(window.document.graph.nodes[gen].params)
    bar = inspector.verticalScrollBar()
    assert bar.maximum() > 0  # the panel can scroll
    for widget in (combo, spin):
        _wheel(widget)
    assert window.document.graph.nodes[gen].params == before  # nothing changed
    assert window.document.undo_stack.count() == depth
    assert bar.value() > 0  # the panel scrolled instead
    spin.setFocus()
    QApplication.processEvents()
    assert spin.hasFocus()
    old = spin.value()
    _wheel(spin, 1)
    assert spin.value() != old  # a focused field takes the wheel
    assert window.document.undo_stack.count() == depth + 1


# 13 --------------------------------------------------------------------------------
def test_fields_that_do_not_apply_are_disabled_and_say_why(window):
    lock = add(window, "IdentityLock", 0, 0)
    window.scene.select_nodes([lock])
    editors = window.inspector.editors
    assert not editors["insightface_pack"].isEnabled()  # dlib encoder
    assert "encoders" in editors["insightface_pack"].toolTip()
    assert not editors["identity_file"].isEnabled() and not editors["library_name"].isEnabled()
    editors["encoders"].combo.setCurrentText("insightface")
    assert editors["insightface_pack"].isEnabled()
    window.document.set_param(lock, "source", "file")
    assert editors["identity_file"].isEnabled() and not editors["library_name"].isEnabled()
    assert not editors["face_index"].isEnabled()
    window.document.undo_stack.undo()
    assert not editors["identity_file"].isEnabled()


# 6 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ["thread", "process"])
def test_clear_result_cache_clears_renders_on_disk_too_and_says_how_much(
        make_window, qtbot, tmp_path, monkeypatch, engine):
    monkeypatch.setenv("CANVAS_APP_ENGINE", engine)
    monkeypatch.delenv("CANVAS_APP_NO_DISK_CACHE", raising=False)
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("CANVAS_APP_CACHE_DIR", str(cache_dir))
    window = make_window()
    *_, gen = _real_shot(window, tmp_path, threshold=0.1)
    assert _run(qtbot, window)[1] == "done"
    assert gen in window.run_states.runs[max(window.run_states.runs)].executed
    on_disk = sum(f.stat().st_size for f in cache_dir.rglob("*") if f.is_file())
    assert on_disk > 0  # the render was kept on disk
    window.act_clear_cache.trigger()
    assert not [f for f in cache_dir.rglob("*") if f.is_file()]
    message = window.statusBar().currentMessage()
    assert f"{on_disk / 1e6:.1f} MB freed" in message
    assert _run(qtbot, window)[1] == "done"
    result = window.run_states.runs[max(window.run_states.runs)]
    assert gen in result.executed and not result.cached  # rendered again, nothing served


# 7 ---------------------------------------------------------------------------------
def test_edited_since_follows_the_cache_key_through_undo_and_redo(make_window, qtbot, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setenv("CANVAS_APP_ENGINE", "thread")
    monkeypatch.setenv("CANVAS_APP_NO_DISK_CACHE", "1")
    window = make_window()
    ref, lock, prompt, gen = _real_shot(window, tmp_path, threshold=0.1)
    assert _run(qtbot, window)[1] == "done"
    runs, doc = window.run_states, window.document
    rendered_key = runs.get(gen).result_key
    assert rendered_key and not runs.get(gen).stale
    doc.set_param(prompt, "positive", "goodbye")
    assert runs.get(gen).stale and runs.get(prompt).stale
    assert "edited since" in runs.get(gen).describe()
    doc.undo_stack.undo()  # back at exactly the rendered state
    assert not runs.get(gen).stale and not runs.get(prompt).stale
    assert runs.current_keys([gen])[gen] == rendered_key
    doc.undo_stack.redo()
    assert runs.get(gen).stale
    doc.undo_stack.undo()
    # a deleted node comes back by undo with its result line
    window.scene.select_nodes([gen])
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key_Delete)
    assert gen not in doc.graph.nodes
    doc.undo_stack.undo()
    assert runs.get(gen).state == "done" and runs.get(gen).likeness is not None
    assert not runs.get(gen).stale
    # re-running the rendered state is all cached
    assert _run(qtbot, window)[1] == "done"
    result = window.run_states.runs[max(window.run_states.runs)]
    assert not result.executed and gen in result.cached


# 12 --------------------------------------------------------------------------------
def test_dropping_a_non_image_says_why_and_images_are_taken_as_a_copy(window, tmp_path):
    from PIL import Image
    from PySide6.QtCore import QMimeData, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent

    frame(window)
    viewport = window.view.viewport()
    pos = QPoint(300, 300)
    text = tmp_path / "notes.txt"
    text.write_text("x")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(text))])
    enter = QDragEnterEvent(pos, Qt.CopyAction | Qt.MoveAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(viewport, enter)
    assert not enter.isAccepted()
    message = window.statusBar().currentMessage()
    assert "notes.txt" in message and "not an image" in message
    assert not window.document.graph.nodes

    Image.new("RGB", (16, 16)).save(tmp_path / "face.png")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "face.png")), QUrl.fromLocalFile(str(text))])
    actions = Qt.CopyAction | Qt.MoveAction | Qt.LinkAction
    for kind in (QDragEnterEvent, QDragMoveEvent):
        event = kind(pos, actions, mime, Qt.LeftButton, Qt.NoModifier)
        QApplication.sendEvent(viewport, event)
        assert event.isAccepted() and event.dropAction() == Qt.CopyAction
    drop = QDropEvent(QPointF(pos), actions, mime, Qt.LeftButton, Qt.NoModifier)
    drop.setDropAction(Qt.MoveAction)  # what a file manager may propose
    QApplication.sendEvent(viewport, drop)
    assert drop.dropAction() == Qt.CopyAction  # never "move the original"
    (node,) = window.document.graph.nodes.values()
    assert len(node.params["images"]) == 1
    message = window.statusBar().currentMessage()
    assert "left out notes.txt" in message
    assert (tmp_path / "face.png").exists()


# 10 --------------------------------------------------------------------------------
def test_the_inspector_keeps_its_width_whatever_node_is_shown(window, qtbot):
    gen = add(window, "Generate", 0, 0)
    seq = add(window, "Sequence", 400, 0)
    lock = add(window, "IdentityLock", 0, 300)
    start = window.inspector_dock.width()
    hints, widths = set(), []
    for node in (gen, seq, gen, lock, seq, None, gen):
        window.scene.select_nodes([node] if node else [])
        qtbot.wait(20)
        hints.add(window.inspector.sizeHint().width())
        window.inspector_dock.adjustSize()  # a relayout asks the dock for its hint
        window.resizeDocks([window.inspector_dock], [window.inspector.sizeHint().width()], Qt.Horizontal)
        widths.append(window.inspector_dock.width())
    assert len(hints) == 1  # the form shown no longer decides the column's width
    assert min(widths) >= 400 and max(widths) - min(widths) <= 2, (start, widths)
    assert window.inspector.minimumWidth() >= 320


# 2 ---------------------------------------------------------------------------------
EXAMPLE = ROOT / "resources" / "examples" / "spokesperson" / "spokesperson.canvas.json"


def test_the_example_opens_framed_at_a_readable_zoom(app, qtbot, monkeypatch):
    from canvas_app.ui.app import create_window
    from canvas_app.ui.items import NODE_WIDTH
    from canvas_app.ui.view import LABELS_ZOOM

    monkeypatch.setenv("CANVAS_APP_RECOVER", "no")
    window = create_window(str(EXAMPLE))  # framed before the window has its size, as the app does
    window.ask_unsaved = lambda: "discard"
    qtbot.addWidget(window)
    window.resize(1500, 950)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(50)
    view = window.view
    assert view.zoom() >= LABELS_ZOOM  # ports, titles and status lines drawn
    graph_rect = view.mapFromScene(window.scene.items_bounding_rect()).boundingRect()
    visible = graph_rect.intersected(view.viewport().rect())
    # the whole graph, centred (issue 21, 9: not framed to the top-left with Deep field cut off)
    assert visible == graph_rect
    centre = view.viewport().rect().center()
    assert abs(graph_rect.center().x() - centre.x()) <= 4 and abs(graph_rect.center().y() - centre.y()) <= 4
    # the graph fills the view (not a quarter of it): its width or its height spans it
    assert visible.width() >= 0.8 * view.viewport().width() or \
        visible.height() >= 0.8 * view.viewport().height()
    titles = [item for item in window.scene.node_items.values() if item.title.startswith("Render Shot")]
    assert titles and all(item._title_static(0).text() == item.title for item in titles)  # not elided
    # far out (overview), titles keep enough pixels to be read whole
    view.resetTransform()
    view.scale(0.3, 0.3)
    view._zoom_updated()
    item = titles[0]
    width_px = max(int((NODE_WIDTH - 12) * 0.3), 150)
    assert item.overview_title(width_px).text() == item.title
    window.close()


# 14: Prompt and Generate headers ---------------------------------------------------
def test_prompt_and_generate_headers_differ(window):
    prompt = add(window, "Prompt", 0, 0)
    gen = add(window, "Generate", 300, 0)
    items = window.scene.node_items
    assert items[prompt]._header_color != items[gen]._header_color


# 1 ---------------------------------------------------------------------------------
def test_a_missing_xcb_library_is_named_with_the_apt_get_line(monkeypatch, capsys):
    from canvas_app.ui import platform_check
    from canvas_app.ui.app import launch_editor

    ldd_output = ("\tlibxcb-cursor.so.0 => /usr/lib/libxcb-cursor.so.0\n"
                  "\tlibxcb-icccm.so.4 => not found\n\tlibxcb-keysyms.so.1 => not found\n"
                  "\tlibxkbcommon-x11.so.0 => not found\n")
    monkeypatch.setattr(platform_check, "_ldd", lambda path: ldd_output)
    monkeypatch.setattr(platform_check, "xcb_plugin_files", lambda: [Path("libqxcb.so")])
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    assert launch_editor(None, None) == 1  # no Qt abort
    err = capsys.readouterr().err
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0" in err
    assert "xcb-cursor" not in err  # the one that is there is not blamed
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert platform_check.xcb_problem() is None  # headless runs are not checked


def test_the_xcb_check_reads_this_machines_real_qt_plugin(monkeypatch):
    from canvas_app.ui import platform_check

    files = platform_check.xcb_plugin_files()
    assert files, "PySide6 ships libqxcb.so"
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    missing = platform_check.missing_libraries(files)
    problem = platform_check.xcb_problem()
    assert (problem is None) == (not missing)
    if missing:
        assert all(platform_check.debian_package(name) in problem for name in missing)


# 14: inline rename -------------------------------------------------------------------
def test_double_click_on_a_title_renames_in_place(window):
    from PySide6.QtWidgets import QDialog, QLineEdit

    frame(window)
    gen = add(window, "Generate", 0, 0)
    item = window.scene.node_items[gen]
    title_point = window.view.mapFromScene(item.mapToScene(40, 12))
    QTest.mouseDClick(window.view.viewport(), Qt.LeftButton, Qt.NoModifier, title_point)
    edit = window.view.viewport().findChild(QLineEdit, "inline_rename")
    assert edit is not None and edit.isVisible() and edit.hasFocus()
    assert not [w for w in QApplication.topLevelWidgets() if isinstance(w, QDialog) and w.isVisible()]
    assert edit.geometry().contains(title_point)  # over the title, not mid-canvas
    edit.selectAll()
    QTest.keyClicks(edit, "Render Shot 4")
    QTest.keyClick(edit, Qt.Key_Return)
    assert window.document.graph.nodes[gen].title == "Render Shot 4"
    window.document.undo_stack.undo()
    assert window.document.graph.nodes[gen].title != "Render Shot 4"
    # Escape keeps the title
    window.scene.select_nodes([gen])
    window.act_rename.trigger()
    (edit,) = [e for e in window.view.viewport().findChildren(QLineEdit, "inline_rename")
               if e.isVisible()]
    QTest.keyClicks(edit, "zzz")
    QTest.keyClick(edit, Qt.Key_Escape)
    assert "zzz" not in window.document.graph.nodes[gen].title


# 14: an unconnected Reference does not run after the Sequence -----------------------
def test_an_unconnected_reference_runs_with_the_inputs_not_after_the_cut():
    from canvas_app.engine.plan import plan
    from canvas_app.project import load_project

    graph, _issues = load_project(EXAMPLE)
    late = graph.add_node("Reference", (0, 900)).id  # added last, feeds nothing
    order = plan(graph)
    sequence = next(n for n, node in graph.nodes.items() if node.type_name == "Sequence")
    assert order.index(late) < order.index(sequence)
    assert order[-1] == sequence
    generates = [n for n, node in graph.nodes.items() if node.type_name == "Generate"]
    assert all(order.index(late) < order.index(g) for g in generates)


# 14: a new Generate starts as the example's shots do ---------------------------------
def test_a_new_generate_has_the_examples_settings(window):
    from canvas_app.project import load_project

    graph, _issues = load_project(EXAMPLE)
    shots = [node for node in graph.nodes.values() if node.type_name == "Generate"]
    fresh = window.document.graph.nodes[add(window, "Generate", 0, 0)].params
    for shot in shots:
        differing = {name for name in fresh if fresh[name] != shot.params.get(name)}
        assert differing <= {"seed"}, differing  # only the seed tells the shots apart


# 14: deleting a node during a run says the run keeps its snapshot ------------------
def test_deleting_a_node_mid_run_says_the_run_keeps_its_snapshot(make_window, qtbot, tmp_path,
                                                                   monkeypatch):
    from tests import fake_nodes

    monkeypatch.setenv("CANVAS_APP_ENGINE", "thread")
    window = make_window(registry=fake_nodes.registry())
    window.document.save(tmp_path / "fake.canvas.json")
    doc = window.document
    source = doc.add_node("Source", (0, 0)).id
    slow = doc.add_node("Slow", (300, 0), title="Slow shot", params={"steps": 40, "delay": 0.02}).id
    doc.connect(Link(source, "value", slow, "value"))
    with qtbot.waitSignal(window.execution.job_finished, timeout=30000) as blocker:
        window.act_run.trigger()
        qtbot.waitUntil(lambda: window.run_states.get(slow).state == "running", timeout=10000)
        window.scene.select_nodes([slow])
        window.view.setFocus()
        QTest.keyClick(window.view, Qt.Key_Delete)
        assert slow not in doc.graph.nodes
        message = window.statusBar().currentMessage()
        assert "Slow shot deleted" in message and "keeps the snapshot" in message
    job_id = blocker.args[0]
    rows = window.log_panel.events(job_id)
    assert any(node == "Slow shot" and event == "deleted" for node, event, _ in rows)


def test_every_node_spec_travels_to_the_engine_process():
    """The process engine pickles the snapshot with its specs: a lambda in a
    spec (the Sequence's summary) made every editor run of the example fail."""
    import pickle

    from canvas_app.graph.registry import default_registry

    for spec in default_registry().specs():
        assert pickle.loads(pickle.dumps(spec)).type_name == spec.type_name


def test_a_long_title_is_not_cut_by_the_state_badge(window):
    frame(window)
    lock = add(window, "IdentityLock", 0, 0)
    window.document.set_title(lock, "Spokesperson identity")
    window.run_states.update(lock, "cached")
    item = window.scene.node_items[lock]
    item._title_key = None
    window.view.viewport().grab()  # paints the node
    assert item._title_key == ("Spokesperson identity", 0)  # painted without a badge eating it
    assert item._title_static(0).text() == "Spokesperson identity"
