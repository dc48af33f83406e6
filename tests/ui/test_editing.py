"""Inspector edits, clipboard, files, autosave recovery and unknown node types."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QComboBox, QDoubleSpinBox, QPlainTextEdit, QSpinBox

from canvas_app.graph.model import Link
from canvas_app.project import graph_to_dict, load_project
from tests.ui.helpers import add, click, frame, view_point

ROOT = Path(__file__).resolve().parents[2]


def select(window, node_id):
    item = window.scene.node_items[node_id]
    click(window, view_point(window, item.mapToScene(QPointF(60, 8))))
    assert window.scene.selected_node_ids() == [node_id]


def test_inspector_edits_are_undoable_and_follow_undo(window, qtbot):
    frame(window)
    prompt = add(window, "Prompt", 0, 0)
    select(window, prompt)
    text = window.inspector.editors["positive"].findChild(QPlainTextEdit)
    text.setFocus()
    QTest.keyClicks(text, "a red coat")
    qtbot.waitUntil(lambda: window.document.graph.nodes[prompt].params["positive"] == "a red coat",
                    timeout=2000)
    assert window.document.undo_stack.count() == 2  # add + one merged typing step
    combo = window.inspector.editors["shot_size"].findChild(QComboBox)
    combo.setCurrentText("close-up")
    spin = window.inspector.editors["duration"].findChild(QDoubleSpinBox)
    spin.setValue(4.5)
    params = window.document.graph.nodes[prompt].params
    assert (params["shot_size"], params["duration"]) == ("close-up", 4.5)
    assert "close-up" in window.scene.node_items[prompt].summary[1]  # the node shows it
    stack = window.document.undo_stack
    stack.undo()
    assert params["duration"] == 2.0 and spin.value() == 2.0  # the editor follows undo
    stack.undo()
    assert params["shot_size"] == "medium" and combo.currentText() == "medium"
    stack.undo()
    assert params["positive"] == "" and text.toPlainText() == ""
    stack.redo()
    assert text.toPlainText() == "a red coat"


def test_seed_dice_and_title_edit(window):
    frame(window)
    gen = add(window, "Generate", 0, 0)
    select(window, gen)
    editor = window.inspector.editors["seed"]
    old = window.document.graph.nodes[gen].params["seed"]
    for _ in range(3):
        editor.dice.click()
        if window.document.graph.nodes[gen].params["seed"] != old:
            break
    assert window.document.graph.nodes[gen].params["seed"] != old
    assert editor.findChild(QSpinBox).value() == window.document.graph.nodes[gen].params["seed"]
    title = window.inspector.title_edit
    title.setText("Hero shot")
    title.editingFinished.emit()
    assert window.document.graph.nodes[gen].title == "Hero shot"
    assert window.scene.node_items[gen].title == "Hero shot"
    window.document.undo_stack.undo()
    assert window.document.graph.nodes[gen].title == "Generate" and title.text() == "Generate"


def test_images_editor_roles_and_remove(window, tmp_path):
    from PIL import Image

    frame(window)
    paths = []
    for name in ("one.png", "two.png"):
        Image.new("RGB", (64, 48), (10, 200, 30)).save(tmp_path / name)
        paths.append(str(tmp_path / name))
    ref = add(window, "Reference", 0, 0)
    select(window, ref)
    editor = window.inspector.editors["images"]
    editor.add_images(paths)
    assert [e["path"] for e in window.document.graph.nodes[ref].params["images"]] == paths
    assert editor.table.rowCount() == 2 and not editor.table.item(0, 0).icon().isNull()  # thumbnail
    editor.table.cellWidget(1, 1).setCurrentText("outfit")
    assert window.document.graph.nodes[ref].params["images"][1]["role"] == "outfit"
    editor.table.selectRow(0)
    editor.remove_selected()
    assert window.document.graph.nodes[ref].params["images"] == [{"path": paths[1], "role": "outfit"}]
    window.document.undo_stack.undo()
    assert len(window.document.graph.nodes[ref].params["images"]) == 2
    assert editor.table.rowCount() == 2


def test_copy_paste_within_and_between_projects(window, make_window):
    frame(window)
    ref = add(window, "Reference", 0, 0)
    lock = add(window, "IdentityLock", 400, 0)
    window.document.set_param(lock, "name", "Mara")
    window.document.connect(Link(ref, "images", lock, "references"))
    window.scene.select_nodes([ref, lock])
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key_C, Qt.ControlModifier)
    mime = QApplication.clipboard().mimeData()
    assert mime.hasFormat("application/x-canvas-app-nodes+json") and '"IdentityLock"' in mime.text()
    depth = window.document.undo_stack.count()
    QTest.keyClick(window.view, Qt.Key_V, Qt.ControlModifier)
    graph = window.document.graph
    assert len(graph.nodes) == 4 and len(graph.links) == 2
    new_ids = set(graph.nodes) - {ref, lock}
    assert sorted(window.scene.selected_node_ids()) == sorted(new_ids)  # the pasted copy is selected
    new_lock = next(graph.nodes[i] for i in new_ids if graph.nodes[i].type_name == "IdentityLock")
    assert new_lock.params["name"] == "Mara"
    assert window.document.undo_stack.count() == depth + 1  # one step
    window.document.undo_stack.undo()
    assert sorted(graph.nodes) == sorted([ref, lock]) and len(graph.links) == 1
    # another project in another window
    other = make_window()
    other.act_paste.trigger()  # Edit > Paste
    assert sorted(n.type_name for n in other.document.graph.nodes.values()) == ["IdentityLock", "Reference"]
    assert len(other.document.graph.links) == 1


def test_duplicate_offsets_copy(window):
    frame(window)
    prompt = add(window, "Prompt", 10, 20, positive="rain")
    window.scene.select_nodes([prompt])
    window.act_duplicate.trigger()
    (copy_id,) = set(window.document.graph.nodes) - {prompt}
    copy_node = window.document.graph.nodes[copy_id]
    assert copy_node.params["positive"] == "rain" and copy_node.position == (40.0, 50.0)


def test_save_reopen_and_compare(window, make_window, tmp_path):
    frame(window)
    ref = add(window, "Reference", 0, 0)
    lock = add(window, "IdentityLock", 400, 0)
    window.document.connect(Link(ref, "images", lock, "references"))
    window.scene.select_nodes([ref])
    window.act_group.trigger()
    path = tmp_path / "shots.canvas.json"
    assert window.isWindowModified()
    assert window._save_to(path)
    assert not window.isWindowModified() and window.windowTitle().startswith("shots")
    reopened = make_window(path)
    assert graph_to_dict(reopened.document.graph, tmp_path) == graph_to_dict(window.document.graph, tmp_path)
    assert len(reopened.scene.node_items) == 2 and len(reopened.scene.link_items) == 1
    assert len(reopened.scene.backdrop_items) == 1
    assert not reopened.isWindowModified()


def test_closing_with_unsaved_changes_asks(window):
    add(window, "Prompt", 0, 0)
    asked = []
    window.ask_unsaved = lambda: asked.append(1) or "cancel"
    assert not window.close()
    assert asked and window.isVisible()


def test_autosave_and_recover_after_crash(make_window, tmp_path, monkeypatch):
    from canvas_app.project import save_project
    from canvas_app.graph import Graph

    project = tmp_path / "film.canvas.json"
    save_project(Graph(), project)
    crashed = make_window(project)
    node = crashed.document.add_node("Prompt", (5, 5), params={"positive": "storm"})
    recovery = crashed.autosaver.save_now()
    assert recovery is not None and recovery.exists()
    saved = json.loads(recovery.read_text())
    assert saved["project_path"] == str(project.resolve())
    crashed.autosaver.timer.stop()
    crashed.autosaver.path = tmp_path / "gone.json"  # the crashed session never cleans up
    monkeypatch.setenv("CANVAS_APP_RECOVER", "yes")
    from canvas_app.ui.app import create_window

    recovered = create_window(None)
    recovered.ask_unsaved = lambda: "discard"
    try:
        graph = recovered.document.graph
        assert graph.nodes[node.id].params["positive"] == "storm"
        assert recovered.document.path == project.resolve()
        assert recovered.isWindowModified()  # recovered work is unsaved until saved
        assert not recovery.exists()  # offered once
    finally:
        recovered.close()


def test_autosave_timer_writes_only_unsaved_work(window):
    saver = window.autosaver
    assert saver.save_now() is None  # nothing unsaved
    add(window, "Prompt", 0, 0)
    saver.timer.timeout.emit()
    assert saver.path.exists()
    window.document.undo_stack.undo()  # back to clean: the recovery file goes
    assert not saver.path.exists()


def test_unknown_node_type_is_a_placeholder_and_saves_back_unchanged(make_window, tmp_path):
    raw_node = {"id": "fx1", "type": "FancyUpscaler", "type_version": 3, "title": "Upscale 4x",
                "position": [400.0, 0.0], "params": {"factor": 4, "model": "esrgan"},
                "extra": {"kept": True}}
    data = {"format_version": 1, "app": "canvas-app", "nodes": [
        {"id": "prompt1", "type": "Prompt", "type_version": 1, "title": "Prompt",
         "position": [0.0, 0.0], "params": {"positive": "hi"}}, raw_node],
        "links": [{"src": "prompt1", "src_port": "prompt", "dst": "fx1", "dst_port": "text"}],
        "backdrops": [], "metadata": {}}
    path = tmp_path / "odd.canvas.json"
    path.write_text(json.dumps(data))
    window = make_window(path)
    assert window.problems.topLevelItemCount() == 1
    assert "FancyUpscaler" in window.problems.topLevelItem(0).text(3)
    assert window.problems_dock.isVisible()
    item = window.scene.node_items["fx1"]
    assert item.placeholder and "FancyUpscaler" in item.subtitle
    assert ("text", False) in item.ports  # its link still shows
    assert len(window.scene.link_items) == 1
    window.scene.select_nodes(["fx1"])
    assert window.inspector.editors == {}  # nothing editable; the raw data is shown
    out = tmp_path / "back.canvas.json"
    window.document.save(out)
    saved = json.loads(out.read_text())
    assert next(n for n in saved["nodes"] if n["id"] == "fx1") == raw_node
    assert saved["links"] == data["links"]


def test_open_broken_values_still_opens(make_window, tmp_path):
    data = {"format_version": 1, "nodes": [
        {"id": "gen1", "type": "Generate", "params": {"seed": "abc", "width": 99999}},
        {"id": "ref1", "type": "Reference", "params": {"images": [{"path": "missing.png", "role": "face"}]}}],
        "links": []}
    path = tmp_path / "broken.canvas.json"
    path.write_text(json.dumps(data))
    window = make_window(path)
    assert set(window.scene.node_items) == {"gen1", "ref1"}
    problems = [window.problems.topLevelItem(i).text(3) for i in range(window.problems.topLevelItemCount())]
    assert any("file not found" in p for p in problems) and len(problems) >= 3


def test_editor_opens_without_heavy_imports(tmp_path):
    code = (
        "import sys\n"
        "from canvas_app.ui.app import create_window\n"
        "w = create_window(sys.argv[1])\n"
        "w.show()\n"
        "w.models_dock.raise_()\n"  # the Models tab in front (as a saved layout may have it)
        "from PySide6.QtWidgets import QApplication; QApplication.processEvents()\n"
        "assert w.models_panel.isVisible()\n"
        "heavy = [m for m in ('torch', 'diffusers', 'cv2', 'dlib', 'insightface', 'onnxruntime')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
        "w.autosaver.discard()\n"
    )
    project = tmp_path / "p.canvas.json"
    project.write_text(json.dumps({"format_version": 1, "nodes": [
        {"id": "gen1", "type": "Generate"}, {"id": "lock1", "type": "IdentityLock"}], "links": []}))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CANVAS_APP_RECOVER="no",
               PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", code, str(project)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr


def test_screenshot_renders_a_png(tmp_path):
    from PySide6.QtGui import QImage

    project = tmp_path / "p.canvas.json"
    project.write_text(json.dumps({"format_version": 1, "nodes": [
        {"id": "prompt1", "type": "Prompt", "position": [0, 0]},
        {"id": "gen1", "type": "Generate", "position": [300, 0]}],
        "links": [{"src": "prompt1", "src_port": "prompt", "dst": "gen1", "dst_port": "prompt"}]}))
    out = tmp_path / "shot.png"
    code = "import sys; from canvas_app.ui.app import launch_editor; " \
           "sys.exit(launch_editor(sys.argv[1], sys.argv[2], (900, 600)))"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("QT_QPA_PLATFORM", None)
    result = subprocess.run([sys.executable, "-c", code, str(project), str(out)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    image = QImage(str(out))
    assert (image.width(), image.height()) == (900, 600)


def test_recent_projects_and_reopening_the_last_one(window, make_window, tmp_path):
    path = tmp_path / "recent.canvas.json"
    add(window, "Prompt", 0, 0)
    assert window._save_to(path)
    window._fill_recent()
    recent = [a for a in window.recent_menu.actions() if a.statusTip() == str(path.resolve())]
    assert recent and recent[0].isEnabled()
    again = make_window(None, open_last=True)  # `canvas-app` with no project
    assert again.document.path == path.resolve()
    assert [n.type_name for n in again.document.graph.nodes.values()] == ["Prompt"]


def test_opening_a_project_offers_only_its_own_recovery(make_window, tmp_path, monkeypatch):
    from canvas_app.graph import Graph
    from canvas_app.project import save_project
    from canvas_app.ui.app import create_window

    first, second = tmp_path / "a.canvas.json", tmp_path / "b.canvas.json"
    save_project(Graph(), first)
    save_project(Graph(), second)
    crashed = make_window(first)
    crashed.document.add_node("Prompt", (0, 0))
    crashed.autosaver.save_now()
    crashed.autosaver.timer.stop()
    crashed.autosaver.path = tmp_path / "gone.json"
    monkeypatch.setenv("CANVAS_APP_RECOVER", "yes")
    other = create_window(second)  # another project: its file opens, a's recovery stays
    other.ask_unsaved = lambda: "discard"
    assert other.document.path == second.resolve() and not other.document.graph.nodes
    other.close()
    mine = create_window(first)
    mine.ask_unsaved = lambda: "discard"
    assert mine.document.path == first.resolve() and len(mine.document.graph.nodes) == 1
    assert mine.isWindowModified()
    mine.close()


def test_gestures_of_several_edits_undo_in_one_step(make_window):
    """Delete with links, reconnect and add-and-connect are composite commands."""
    from canvas_app.graph.model import Link

    window = make_window()
    doc = window.document
    prompt = doc.add_node("Prompt", (0, 0)).id
    other = doc.add_node("Prompt", (0, 200)).id
    generate = doc.add_node("Generate", (300, 0)).id
    old = Link(prompt, "prompt", generate, "prompt")
    assert doc.connect(old) is None
    new = Link(other, "prompt", generate, "prompt")
    assert doc.reconnect(old, new) is None
    assert doc.graph.links == [new] and doc.undo_stack.undoText() == "Reconnect"
    doc.undo_stack.undo()
    assert doc.graph.links == [old]
    node, reason = doc.add_connected_node("Sequence", (600, 0), lambda node_id: Link(
        generate, "clip", node_id, "clips"))
    assert reason is None and doc.graph.links_into(node.id) and "and connect" in doc.undo_stack.undoText()
    doc.remove([other], links=[old])
    assert other not in doc.graph.nodes and old not in doc.graph.links
    doc.undo_stack.undo()  # one step brings back the node and the link
    assert other in doc.graph.nodes and old in doc.graph.links
    doc.undo_stack.undo()
    assert node.id not in doc.graph.nodes
