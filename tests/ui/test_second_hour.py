"""The editor's second hour (issue 21): the far-out view, text that fits, an
editor's timeline, a workspace that stays put, one name per shot, History."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication

from canvas_app.ui import theme


def _red_pixels(image, rect) -> int:
    """Pixels of a viewport grab close to the error red inside a viewport rect."""
    red = QColor(theme.ERROR)
    count = 0
    rect = rect.toAlignedRect().intersected(image.rect())
    for y in range(rect.top(), rect.bottom() + 1):
        for x in range(rect.left(), rect.right() + 1):
            colour = image.pixelColor(x, y)
            if abs(colour.red() - red.red()) < 40 and abs(colour.green() - red.green()) < 40 \
                    and abs(colour.blue() - red.blue()) < 40:
                count += 1
    return count


def _rendered(window, node_id: str, score: float, passed: bool, threshold: float) -> None:
    """A shot's result reaching the run model as a run sends it (started, its
    result with the guard's verdict, finished)."""
    import numpy as np

    from canvas_app.engine.events import NodeFinished, NodeResult, NodeStarted, RunStarted
    from canvas_app.ui.execution.worker import RunJob
    from canvas_app.values import Clip

    clip = Clip([np.zeros((54, 96, 3), np.uint8)], 12.0,
                {"identity_score": {"mean": score}, "identity_passed": passed,
                 "identity_threshold": threshold})
    runs = window.run_states
    job = runs.add_run(RunJob(window.document.graph.snapshot(), None, Path("."), None, "test")).job_id
    for event in (RunStarted((node_id,)), NodeStarted(node_id),
                  NodeResult(node_id, f"key-{node_id}", {"clip": clip}),
                  NodeFinished(node_id, cached=False, elapsed=3.3, key=f"key-{node_id}")):
        runs.apply(job, event)


def test_far_out_only_the_failed_node_is_red(make_window, qtbot):
    window = make_window()
    doc = window.document
    ids = [doc.add_node("Prompt", (x * 300.0, y * 260.0)).id for y in range(2) for x in range(3)]
    failed, below = ids[1], ids[4]
    for node_id in ids:
        window.run_states.update(node_id, "failed" if node_id == failed else "done", elapsed=1.2)
    _rendered(window, below, 0.62, False, 0.99)  # rendered below its threshold
    window.view.minimap.render_map()
    minimap = window.view.minimap._picture.toImage()
    assert _red_pixels(minimap, QRectF(minimap.rect())) > 0  # the overview map shows them too
    for zoom in (0.25, 0.12):
        window.view.set_zoom(zoom, QPointF(400, 200))
        QApplication.processEvents()
        image = window.view.viewport().grab().toImage()
        for node_id in ids:
            item = window.scene.node_items[node_id]
            rect = window.view.mapFromScene(item.sceneBoundingRect()).boundingRect()
            red = _red_pixels(image, QRectF(rect))
            if node_id in (failed, below):
                assert red > 20, (zoom, "the failed node is marked red")
            else:
                assert red == 0, (zoom, item.title, red)



def test_far_out_titles_stop_short_of_the_next_node(make_window):
    from canvas_app.ui.view import _title_room

    window = make_window()
    doc = window.document
    left = doc.add_node("Prompt", (0, 0), title="Shot 2 - the launch of the rocket").id
    right = doc.add_node("Generate", (260, 0), title="Render Shot 2").id
    below = doc.add_node("Prompt", (0, 400), title="Shot 3 - the mission").id
    lower = doc.add_node("Prompt", (0, 800), title="Shot 4 - the landing").id
    raised = doc.add_node("Generate", (200, 790), title="Render Shot 4").id  # a little higher
    items = [window.scene.node_items[n] for n in (left, right, below, lower, raised)]
    room = _title_room(items, items, 150 / 0.25)  # 25 %: 150 px of title is 600 scene units
    assert room[items[0]] <= 260 - 12  # no "Shot 2 - theRender Shot 2"
    assert room[items[2]] == 600 - 12  # nothing beside it: the whole width
    assert room[items[3]] <= 200 - 12  # a neighbour whose title band overlaps from above counts


# 13 --------------------------------------------------------------------------------
def test_the_missing_library_message_names_a_readme_heading(monkeypatch):
    import re
    from pathlib import Path

    from canvas_app.ui import platform_check

    monkeypatch.setattr(platform_check, "uses_xcb", lambda environ: True)
    monkeypatch.setattr(platform_check, "xcb_plugin_files", lambda: [Path("libqxcb.so")])
    monkeypatch.setattr(platform_check, "missing_libraries", lambda files, ldd=None:
                        ["libxcb-cursor.so.0"])
    message = platform_check.xcb_problem()
    section = re.search(r'README\.md, section "([^"]+)"', message).group(1)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    headings = [line.lstrip("#").strip() for line in readme.splitlines() if line.startswith("#")]
    assert section in headings


# 12 --------------------------------------------------------------------------------
def test_a_text_file_named_like_a_jpeg_is_refused_with_why(make_window, tmp_path):
    from PIL import Image

    window = make_window()
    broken = tmp_path / "broken.jpg"
    broken.write_text("not a picture")
    assert window.scene.drop_images([str(broken)], QPointF(0, 0)) is None
    message = window.statusBar().currentMessage()
    assert "broken.jpg" in message and "not a readable image" in message
    assert not window.document.graph.nodes
    # one good image and the broken one: the good one is taken, the broken one named
    Image.new("RGB", (16, 16)).save(tmp_path / "face.png")
    node_id = window.scene.drop_images([str(tmp_path / "face.png"), str(broken)], QPointF(0, 0))
    node = window.document.graph.nodes[node_id]
    assert [entry["path"] for entry in node.params["images"]] == [str((tmp_path / "face.png").resolve())]
    assert "broken.jpg" in window.statusBar().currentMessage()
    # already in a project (saved before): the list says what is wrong, not only its path
    window.document.set_param(node_id, "images", node.params["images"] + [
        {"path": str(broken), "role": "face"}])
    window.scene.select_nodes([node_id])
    table = window.inspector.editors["images"].table
    row = table.item(1, 0)
    assert "not a readable image" in row.text() and "not a readable image" in row.toolTip()


# 11 --------------------------------------------------------------------------------
def test_typing_then_backspace_in_a_text_field_is_one_history_step(make_window, qtbot, monkeypatch):
    from PySide6.QtTest import QTest

    from canvas_app.ui import commands

    monkeypatch.setattr(commands.SetParamCommand, "MERGE_WINDOW", 0.0)  # as after a long pause
    window = make_window()
    prompt = window.document.add_node("Prompt", (0, 0)).id
    window.scene.select_nodes([prompt])
    stack = window.document.undo_stack
    before = stack.count()
    editor = window.inspector.editors["positive"]
    editor.edit.setFocus()
    qtbot.waitUntil(editor.edit.hasFocus)
    QTest.keyClicks(editor.edit, "x")
    editor.commit()
    QTest.keyClick(editor.edit, Qt.Key_Backspace)
    editor.commit()
    assert stack.count() - before == 1
    assert stack.text(stack.count() - 1).startswith("Set Prompt ")
    # another field's typing is its own step
    window.inspector.editors["negative"].edit.setFocus()
    qtbot.waitUntil(window.inspector.editors["negative"].edit.hasFocus)
    QTest.keyClicks(window.inspector.editors["negative"].edit, "blur")
    window.inspector.editors["negative"].commit()
    assert stack.count() - before == 2


def test_history_names_nodes_by_their_titles(make_window):
    from canvas_app.graph.model import Link

    window = make_window()
    doc = window.document
    prompt = doc.add_node("Prompt", (0, 0), title="Opening line").id
    sequence = doc.add_node("Sequence", (600, 0), title="Spokesperson cut").id
    generate = doc.add_node("Generate", (300, 0), title="Render Shot 1").id
    assert doc.connect(Link(prompt, "prompt", generate, "prompt")) is None
    assert doc.undo_stack.undoText() == "Connect Opening line to Render Shot 1"
    assert doc.connect(Link(generate, "clip", sequence, "clips")) is None
    assert doc.undo_stack.undoText() == "Connect Render Shot 1 to Spokesperson cut"
    doc.disconnect([Link(generate, "clip", sequence, "clips")])
    assert doc.undo_stack.undoText() == "Disconnect Render Shot 1 from Spokesperson cut"
    doc.remove([prompt])
    assert doc.undo_stack.undoText() == "Delete Opening line"
    doc.remove([generate, sequence])
    assert doc.undo_stack.undoText() == "Delete Render Shot 1 and Spokesperson cut"


# 7 ---------------------------------------------------------------------------------
def test_farm_line_for_ray_here_does_not_say_unreachable_and_fits(qtbot):
    from canvas_app.ui.farm_status import LINE_WIDTH, FarmStatus, status_text

    # "ray" starts a cluster on this computer with the next run: none running is no fault
    line = status_text({"address": "ray", "error": "cannot join the Ray cluster at auto: "
                        "ConnectionError: could not find any running Ray instance"})
    assert "unreachable" not in line and "auto" not in line and "next run" in line
    assert status_text({"address": "ray", "error": "the Ray farm needs the 'ray' package, "
                        "which is not installed"}).startswith("farm unreachable")
    assert status_text({"address": "ray://head:10001", "error": "cannot reach"}).startswith(
        "farm unreachable")
    widget = FarmStatus()
    qtbot.addWidget(widget)
    long = {"address": "ray://render-head.example.com:10001", "error": "cannot reach the Ray "
            "cluster at ray://render-head.example.com:10001 (Connection refused) " * 3}
    widget.show_status(long)
    assert widget.line.fontMetrics().horizontalAdvance(widget.line.text()) <= LINE_WIDTH
    assert widget.line.toolTip() == status_text(long)  # the whole message, on hover


def test_farm_probe_restarts_after_one_ends_and_quit_does_not_wait(qtbot, monkeypatch):
    import sys
    import time

    from PySide6.QtCore import QCoreApplication, QEvent, QProcess

    from canvas_app.ui import farm_status
    from canvas_app.ui.settings import set_render_on

    set_render_on("")
    widget = farm_status.FarmStatus()
    qtbot.addWidget(widget)
    monkeypatch.setattr(sys, "executable", "/bin/true")  # a probe that ends at once
    widget.address.setText("ray://127.0.0.1:9")
    widget.choice.setCurrentText(farm_status.RAY_CLUSTER)
    try:
        first = widget._process
        assert first is not None
        qtbot.waitUntil(lambda: widget._process is None, timeout=5000)
        QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)  # Qt frees the old one
        widget.refresh()  # asked the deleted QProcess before: RuntimeError tracebacks
        assert widget._process is not None and widget._process is not first
        qtbot.waitUntil(lambda: widget._process is None, timeout=5000)
        monkeypatch.setattr(QProcess, "start", lambda self, program, args: QProcess.startCommand(
            self, "/bin/sleep 30"))
        widget.refresh()
        assert widget._process.waitForStarted(3000)
        started = time.monotonic()
        widget.shutdown()
        assert time.monotonic() - started < 2.0
    finally:
        widget.choice.setCurrentText(farm_status.THIS_COMPUTER)


# 6 ---------------------------------------------------------------------------------
def _shot_clip(colour, metadata, frames=12):
    import numpy as np

    from canvas_app.values import Clip

    frame = np.zeros((48, 64, 3), np.uint8)
    frame[:] = colour
    return Clip(frames=[frame.copy() for _ in range(frames)], fps=12.0, metadata=metadata)


def test_one_name_per_shot_everywhere(make_window, tmp_path, monkeypatch):
    from canvas_app.engine.context import RunContext
    from canvas_app.graph.model import Link
    from canvas_app.media.exports import contact_sheet
    from canvas_app.ui.execution.preview import shot_table_html
    from nodes.sequence import Sequence

    window = make_window()
    doc = window.document
    sequence = doc.add_node("Sequence", (900, 0), title="Spokesperson cut").id
    clips = {}
    for index, (prompt_title, shot_title) in enumerate([("Shot 1 - hello", "Hello"),
                                                        ("Shot 2 - the launch", "Launch")]):
        prompt = doc.add_node("Prompt", (0, index * 300), title=prompt_title).id
        generate = doc.add_node("Generate", (300, index * 300), title=shot_title).id
        assert doc.connect(Link(prompt, "prompt", generate, "prompt")) is None
        assert doc.connect(Link(generate, "clip", sequence, "clips")) is None
        # what a Generate's clip carries: the prompt's name, and its own node id
        clips[generate] = _shot_clip((80 * index, 90, 200), {"shot": prompt_title, "node": generate,
                                                             "identity_passed": True})
    rows = []
    real_sheet = contact_sheet.write_contact_sheet
    monkeypatch.setattr(contact_sheet, "write_contact_sheet",
                        lambda path, sheet_rows, *args: (rows.extend(sheet_rows),
                                                         real_sheet(path, sheet_rows, *args)))
    params = {spec.name: spec.default for spec in Sequence.spec.params}
    params.update(name="cut", export_contact_sheet=True)
    ctx = RunContext(node_id=sequence, node_title="Spokesperson cut", output_dir=tmp_path)
    ctx.graph = doc.graph
    result = Sequence().run({"clips": list(clips.values())}, params, ctx)["sequence"]
    names = ["Hello", "Launch"]
    assert [shot["name"] for shot in result.report["shots"]] == names  # report, Preview table
    assert all(name in shot_table_html(result.report) for name in names)
    assert [Path(shot["file"]).name for shot in result.report["shots"]] == \
        ["cut_01_Hello.mp4", "cut_02_Launch.mp4"]  # file names
    assert [row["name"] for row in rows] == names  # contact sheet
    window.timeline.clip_source = clips.get
    window.scene.select_nodes([sequence])
    window.timeline.show_sequence(sequence)
    assert [shot.title for shot in window.timeline.strip.shots] == names  # Timeline
    doc.set_param(sequence, "trims", [{"in": 0.0, "out": None}, {"in": 0.0, "out": None}])
    table = window.inspector.editors["trims"].table
    assert [table.verticalHeaderItem(row).text() for row in range(2)] == ["1. Hello", "2. Launch"]


# 10 --------------------------------------------------------------------------------
EXAMPLE = Path(__file__).resolve().parents[2] / "resources/examples/spokesperson/spokesperson.canvas.json"


def test_a_graph_reopened_from_an_exported_png_has_the_same_cache_keys(make_window, tmp_path):
    import numpy as np

    from canvas_app.engine.executor import Executor
    from canvas_app.media.exports.provenance import KEY, graph_json
    from canvas_app.media.images import save_png

    first = make_window(EXAMPLE)
    still = tmp_path / "exported" / "spokesperson_01_Render_Shot_1.png"
    still.parent.mkdir()
    save_png(np.zeros((8, 8, 3), np.uint8), still, {KEY: graph_json(first.document.graph)})
    # as a drop or File > Open does, the first window still open; the user agrees to its
    # paths outside the export folder (the example's references), as they must now
    second = make_window(still, trust_paths=True)
    assert second.document.path is None and len(second.document.graph.nodes) == 11
    executor = Executor()

    def keys(window):
        graph = window.document.graph
        return executor.keys_for(graph, list(graph.nodes), output_dir=tmp_path / "out",
                                 project_dir=window.document.base_dir)

    before, after = keys(first), keys(second)
    assert len(before) == 11
    assert before == after  # every render and identity comes from the cache


# 8 ---------------------------------------------------------------------------------
def _open_window(qtbot):
    from canvas_app.ui.app import create_window

    window = create_window(None, offer_recovery=False)
    window.ask_unsaved = lambda: "discard"
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_layout_and_size_come_back_after_a_restart_and_reset_layout(app, qtbot):
    from PySide6.QtWidgets import QDockWidget

    first = _open_window(qtbot)
    assert first.dockWidgetArea(first.preview_dock) == Qt.RightDockWidgetArea
    first.resize(1280, 800)
    first.addDockWidget(Qt.LeftDockWidgetArea, first.preview_dock)  # the artist's own place
    first.history_dock.hide()
    QApplication.processEvents()
    first.close()

    second = _open_window(qtbot)  # the window opened again: as it was left
    assert (second.width(), second.height()) == (1280, 800)
    assert second.dockWidgetArea(second.preview_dock) == Qt.LeftDockWidgetArea
    assert not second.history_dock.isVisible()

    second.act_reset_layout.trigger()
    QApplication.processEvents()
    assert (second.width(), second.height()) == (1600, 1000)
    assert second.dockWidgetArea(second.preview_dock) == Qt.RightDockWidgetArea
    assert second.preview_dock.isVisible() and second.inspector_dock.isVisible()
    assert "Reset Layout" in [action.text().replace("&", "") for action in
                              second.menuBar().actions()[3].menu().actions()]
    # a touch on a title bar does not tear a panel off; panels still move between areas
    for dock in second.findChildren(QDockWidget):
        assert not dock.features() & QDockWidget.DockWidgetFloatable, dock.objectName()
        assert dock.features() & QDockWidget.DockWidgetMovable
    second.close()


def test_the_preview_has_room_and_the_models_panel_follows_the_graph(make_window, qtbot):
    window = make_window()

    def preview_share() -> float:
        return window.preview_dock.height() / (window.inspector_dock.height() + window.preview_dock.height())

    qtbot.waitUntil(lambda: preview_share() >= 0.5, timeout=5000)  # the Sequence table's rows fit
    generate = window.document.add_node("Generate", (0, 0), params={"backend": "animatic"}).id
    window.models_dock.show()
    window.models_dock.raise_()
    qtbot.waitUntil(lambda: window.models_panel.isVisible())
    qtbot.wait(400)
    before = window.models_panel.tree.topLevelItemCount()
    window.document.set_param(generate, "backend", "diffusers")
    qtbot.waitUntil(lambda: window.models_panel.tree.topLevelItemCount() > before, timeout=15000)
    assert window.models_panel.tree.height() >= 150


# 3 ---------------------------------------------------------------------------------
def test_the_verdict_and_the_edited_mark_are_never_the_text_cut_off(make_window):
    window = make_window()
    node = window.document.add_node("Generate", (0, 0), title="Render Shot 2").id
    _rendered(window, node, 0.827, False, 0.99)  # with its picture beside the status line
    item = window.scene.node_items[node]
    text = item.footer_text(item.footer_width())
    assert "0.83" in text and "0.99" in text and "…" not in text, text
    window.run_states.update(node, stale=True)
    text = item.footer_text(item.footer_width())
    assert "0.83" in text and "0.99" in text and "edited" in text and "…" not in text, text
    passed = window.document.add_node("Generate", (0, 300)).id
    _rendered(window, passed, 0.83, True, 0.4)
    window.run_states.update(passed, stale=True)
    text = window.scene.node_items[passed].footer_text(window.scene.node_items[passed].footer_width())
    assert "0.83" in text and "edited" in text and "…" not in text, text


def test_the_sequence_table_keeps_its_verdicts_and_all_its_rows(app, qtbot):
    from canvas_app.ui.execution.preview import PreviewPanel
    from canvas_app.values import SequenceResult

    report = {"shots": [{"index": i + 1, "name": f"Render Shot {i + 1}",
                         "identity_score": {"mean": 0.827, "minimum": 0.7},
                         "threshold": 0.99 if i == 1 else 0.4, "passed": i != 1} for i in range(4)]}
    result = SequenceResult(video_path=Path("/nowhere/cut.mp4"), timeline_path=Path("/nowhere/cut.otio"),
                            report_path=Path("/nowhere/cut.report.json"), report=report)
    panel = PreviewPanel()
    qtbot.addWidget(panel)
    panel.resize(380, 470)
    panel.show()
    panel.show_node("sequence1", "Spokesperson cut", {"sequence": result})
    QApplication.processEvents()
    html = panel.details.text()
    assert html.count("✓ pass") == 3 and html.count("✗ below") == 1  # short enough not to wrap
    scroll = panel.details_scroll
    # every row can be reached: what the viewport does not show, the scroll bar does
    assert scroll.viewport().height() + scroll.verticalScrollBar().maximum() >= panel.details.height()
    assert scroll.viewport().height() >= 100  # and the table is not squeezed to a line


def test_screenshot_zoom_out_of_range_is_refused_with_exit_code_2(tmp_path, capsys):
    from canvas_app.cli import main

    assert main(["open", str(EXAMPLE), "--zoom", "2", "--screenshot", str(tmp_path / "x.png")]) == 2
    assert "--zoom" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_a_sequence_key_is_the_same_in_a_run_and_in_the_edited_since_check(make_window, tmp_path):
    """The shot names in a Sequence's key come from the graph: the check that says
    "edited since" must see them too, or every finished cut reads as edited."""
    from canvas_app.engine.context import RunContext
    from canvas_app.engine.executor import Executor
    from canvas_app.graph.model import Link
    from nodes.sequence import Sequence

    window = make_window()
    doc = window.document
    sequence = doc.add_node("Sequence", (600, 0)).id
    generate = doc.add_node("Generate", (300, 0), title="Hello").id
    doc.connect(Link(generate, "clip", sequence, "clips"))
    executor = Executor()
    before = executor.keys_for(doc.graph, [sequence], output_dir=tmp_path)[sequence]
    ctx = RunContext(node_id=sequence, output_dir=tmp_path)
    ctx.graph = doc.graph
    assert "Hello" in Sequence().cache_key_extra({}, ctx)
    doc.set_title(generate, "Goodbye")  # a renamed shot: the cut is exported again
    assert executor.keys_for(doc.graph, [sequence], output_dir=tmp_path)[sequence] != before


def test_a_window_left_off_screen_comes_back_onto_it(app, qtbot):
    first = _open_window(qtbot)
    first.move(9000, 9000)  # a second monitor since unplugged
    first.close()
    second = _open_window(qtbot)
    screen = second.screen().availableGeometry()
    assert screen.contains(second.frameGeometry().topLeft())
    second.close()
