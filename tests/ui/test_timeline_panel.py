"""The timeline panel, driven with the mouse: reorder, trim, undo, playback from cache."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from canvas_app.graph.model import Link
from canvas_app.ui.document import Document
from canvas_app.ui.timeline_panel import TimelinePanel
from canvas_app.values import Clip

FPS = 12.0
COLOURS = [(200, 30, 30), (30, 30, 200), (30, 200, 30)]


def clip(index: int, frames: int = 12, passed: bool = True) -> Clip:
    return Clip(frames=[np.full((36, 64, 3), COLOURS[index], np.uint8) for _ in range(frames)],
                fps=FPS, metadata={"shot": f"Shot {index + 1}", "seed": index,
                                   "identity_score": {"mean": 0.8 if passed else 0.2},
                                   "identity_passed": passed})


@pytest.fixture
def cut(app, qtbot):
    """A Sequence fed by three Generate nodes whose clips the last run left in memory."""
    document = Document()
    shots = [document.add_node("Generate", (0, i * 200)).id for i in range(3)]
    sequence = document.add_node("Sequence", (400, 0)).id
    for shot in shots:
        assert document.connect(Link(shot, "clip", sequence, "clips")) is None
    document.undo_stack.clear()
    cache = {shot: clip(i, passed=i != 2) for i, shot in enumerate(shots)}
    panel = TimelinePanel(document, cache.get)
    qtbot.addWidget(panel)
    panel.resize(900, 220)
    panel.show()
    panel.show_nodes([sequence])
    QApplication.processEvents()
    return panel, document, sequence, shots


def order(document, sequence):
    return [link.src for link in document.graph.links_into(sequence, "clips")]


def mouse(widget, kind, pos: QPointF, buttons):
    button = Qt.LeftButton
    event = QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons, Qt.NoModifier)
    QApplication.sendEvent(widget, event)


def drag(widget, start: QPointF, end: QPointF) -> None:
    mouse(widget, QMouseEvent.Type.MouseButtonPress, start, Qt.LeftButton)
    for step in range(1, 6):
        point = QPointF(start.x() + (end.x() - start.x()) * step / 5, start.y())
        mouse(widget, QMouseEvent.Type.MouseMove, point, Qt.LeftButton)
    mouse(widget, QMouseEvent.Type.MouseButtonRelease, end, Qt.NoButton)
    QApplication.processEvents()


def test_strip_shows_shots_to_scale_with_scores(cut):
    panel, _, _, _ = cut
    rects = panel.strip.shot_rects()
    assert len(rects) == 3
    assert rects[0].width() == pytest.approx(rects[1].width())
    assert [shot.passed for shot in panel.strip.shots] == [True, True, False]
    assert panel.strip.shots[0].score == pytest.approx(0.8)
    assert panel.total_frames() == 36


def test_dragging_a_shot_reorders_the_inputs_in_one_undo_step(cut):
    panel, document, sequence, shots = cut
    strip = panel.strip
    rects = strip.shot_rects()
    drag(strip, rects[0].center(), QPointF(rects[2].center().x() + 5, rects[0].center().y()))
    assert order(document, sequence) == [shots[1], shots[2], shots[0]]
    assert document.undo_stack.count() == 1
    QApplication.processEvents()
    assert [s.node_id for s in panel.strip.shots] == [shots[1], shots[2], shots[0]]
    document.undo_stack.undo()
    assert order(document, sequence) == shots


def test_dragging_an_edge_trims_the_shot_and_undo_restores_it(cut):
    panel, document, sequence, _ = cut
    strip = panel.strip
    right = strip.shot_rects()[0]
    frames_off = 4
    drag(strip, QPointF(right.right(), right.center().y()),
         QPointF(right.right() - frames_off * strip.scale, right.center().y()))
    trims = document.graph.nodes[sequence].params["trims"]
    assert trims[0]["out"] == pytest.approx((12 - frames_off) / FPS, abs=0.5 / FPS)
    QApplication.processEvents()
    assert panel.total_frames() == 36 - frames_off
    assert document.undo_stack.count() == 1
    document.undo_stack.undo()
    assert document.graph.nodes[sequence].params["trims"] == []
    QApplication.processEvents()
    assert panel.total_frames() == 36


def test_click_previews_the_shot(cut):
    panel, _, _, _ = cut
    rect = panel.strip.shot_rects()[1]
    mouse(panel.strip, QMouseEvent.Type.MouseButtonPress, rect.center(), Qt.LeftButton)
    mouse(panel.strip, QMouseEvent.Type.MouseButtonRelease, rect.center(), Qt.NoButton)
    assert panel.strip.playhead == 12
    image = panel.preview.pixmap().toImage()
    pixel = image.pixelColor(image.width() // 2, image.height() // 2)
    assert (pixel.red(), pixel.green(), pixel.blue()) == COLOURS[1]


def test_playhead_plays_the_cut_from_cached_shots_without_a_run(cut, qtbot, monkeypatch):
    from canvas_app.engine import Executor

    def no_run(*args, **kwargs):
        raise AssertionError("playback must not run the graph")

    monkeypatch.setattr(Executor, "run", no_run)
    panel, document, sequence, _ = cut
    # A dissolve into shot 2 shows blended frames while playing.
    document.set_param(sequence, "trims", [{"in": 0, "out": None},
                                           {"in": 0, "out": None, "dissolve": 4 / FPS}])
    QApplication.processEvents()
    shown = []
    panel.frame_shown.connect(lambda position: shown.append(
        panel.preview.pixmap().toImage().pixelColor(5, 5).red()))
    panel.play()
    assert panel.playing
    qtbot.waitUntil(lambda: not panel.playing, timeout=10000)
    assert len(shown) == 32 - 1  # every frame after the first, dissolve taken off
    assert shown[-1] == COLOURS[2][0]
    # The dissolve's frames lie between the red of shot 1 and the blue of shot 2.
    assert any(COLOURS[1][0] + 20 < red < COLOURS[0][0] - 20 for red in shown)


def test_dropping_an_exported_png_opens_the_graph_that_made_it(window, tmp_path, monkeypatch):
    from PySide6.QtCore import QMimeData, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QMessageBox

    asked = []  # its references lie outside the PNG's folder: the editor asks first
    monkeypatch.setattr(QMessageBox, "question", lambda *args: asked.append(args) or QMessageBox.Yes)

    from canvas_app.media.exports.provenance import KEY, graph_json
    from canvas_app.media.images import save_png
    from canvas_app.project import load_project

    example = (__import__("pathlib").Path(__file__).resolve().parents[2] /
               "resources/examples/spokesperson/spokesperson.canvas.json")
    graph, _ = load_project(example)
    still = tmp_path / "still.png"
    save_png(np.zeros((16, 16, 3), np.uint8), still, {KEY: graph_json(graph)})
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(still))])
    viewport = window.view.viewport()
    pos = QPointF(200, 200)
    QApplication.sendEvent(viewport, QDragEnterEvent(pos.toPoint(), Qt.CopyAction, mime,
                                                     Qt.LeftButton, Qt.NoModifier))
    QApplication.sendEvent(viewport, QDropEvent(pos, Qt.CopyAction, mime, Qt.LeftButton,
                                                Qt.NoModifier))
    QApplication.processEvents()
    assert set(window.document.graph.nodes) == set(graph.nodes) and len(asked) == 1
    assert window.document.path is None  # saving never overwrites the PNG


def test_selecting_a_sequence_in_the_editor_shows_its_cut(window):
    from canvas_app.graph.model import Link

    shot = window.document.add_node("Generate", (0, 0)).id
    sequence = window.document.add_node("Sequence", (300, 0)).id
    window.document.connect(Link(shot, "clip", sequence, "clips"))
    window.scene.select_nodes([sequence])
    QApplication.processEvents()
    assert window.timeline.sequence_id == sequence
    assert [s.node_id for s in window.timeline.strip.shots] == [shot]
    assert window.timeline.strip.shots[0].clip is None  # not rendered yet: a placeholder


def test_inspector_trims_table_edits_and_keeps_dissolves(app, qtbot):
    from PySide6.QtWidgets import QTableWidgetItem

    from canvas_app.ui.inspector import TrimsEditor
    from nodes.sequence import Sequence

    editor = TrimsEditor(Sequence.spec.param("trims"))
    qtbot.addWidget(editor)
    editor.set_value([{"in": 0.0, "out": None}, {"in": 0.0, "out": None, "dissolve": 0.5}])
    assert editor.table.item(1, 2).text() == "0.5"
    emitted = []
    editor.edited.connect(emitted.append)
    editor.table.setItem(1, 0, QTableWidgetItem("0.25"))  # the user types a new in point
    assert emitted[-1][1] == {"in": 0.25, "out": None, "dissolve": 0.5}
    editor.table.setItem(0, 2, QTableWidgetItem("1"))
    assert emitted[-1][0]["dissolve"] == 1.0


def test_export_progress_shows_frames_and_eta(cut):
    panel, _, sequence, shots = cut
    texts = []
    panel.progress_message.connect(texts.append)
    panel.export_progress(sequence, 0.5, "cut: frame 18/36, ETA 2 s")
    panel.export_progress(shots[0], 0.5, "step 3/20")  # not an export: ignored
    assert texts == ["Exporting Sequence: cut: frame 18/36, ETA 2 s (50%)"]
    assert "frame 18/36, ETA 2 s" in panel.export_status.text()


def test_dropping_a_shot_between_two_others_puts_it_there(cut):
    panel, document, sequence, shots = cut
    rects = panel.strip.shot_rects()
    between = QPointF((rects[1].center().x() + rects[2].center().x()) / 2, rects[0].center().y())
    drag(panel.strip, rects[0].center(), between)
    assert order(document, sequence) == [shots[1], shots[0], shots[2]]


def test_the_timeline_is_a_tab_beside_the_run_log_not_a_narrow_strip(window):
    # Side by side with the Run Log it was squeezed to a few words' width.
    assert window.timeline.dock in window.tabifiedDockWidgets(window.log_dock)


# issue 21, 5: an editor's timeline ------------------------------------------------------
def _press_and_move(widget, start: QPointF, end: QPointF) -> None:
    mouse(widget, QMouseEvent.Type.MouseButtonPress, start, Qt.LeftButton)
    for step in range(1, 6):
        mouse(widget, QMouseEvent.Type.MouseMove,
              QPointF(start.x() + (end.x() - start.x()) * step / 5, start.y()), Qt.LeftButton)


def _has_colour(image, x: float, colour, rows) -> bool:
    return any(image.pixelColor(int(x) + dx, y).getRgb()[:3] == colour.getRgb()[:3]
               for dx in (-1, 0, 1) for y in rows)


def test_a_trim_shows_while_dragging_and_lands_on_a_frame(cut):
    from canvas_app.ui.timeline_panel import MARKER_COLOUR

    panel, document, sequence, _ = cut
    strip = panel.strip
    rect = strip.shot_rects()[0]
    start = QPointF(rect.right(), rect.center().y())
    end = QPointF(rect.right() - 3.4 * strip.scale, rect.center().y())  # between two frames
    _press_and_move(strip, start, end)
    assert strip.trim_preview() == (0, "right", 0, 9)  # shown before the release
    image = strip.grab().toImage()
    x = rect.right() - 3 * strip.scale
    assert _has_colour(image, x, MARKER_COLOUR, range(int(rect.top()) + 4, int(rect.bottom()) - 24))
    mouse(strip, QMouseEvent.Type.MouseButtonRelease, end, Qt.NoButton)
    trims = document.graph.nodes[sequence].params["trims"]
    assert trims[0]["out"] * FPS == pytest.approx(9, abs=1e-9)  # on a frame, not 0.7417 s
    # the left edge too
    QApplication.processEvents()
    rect = strip.shot_rects()[1]
    drag(strip, QPointF(rect.left() + 2, rect.center().y()),  # just inside shot 2: its in point
         QPointF(rect.left() + 2 + 2.6 * strip.scale, rect.center().y()))
    trims = document.graph.nodes[sequence].params["trims"]
    assert trims[1]["in"] * FPS == pytest.approx(3, abs=1e-9)


def test_space_and_j_k_l_play_and_the_ruler_reads_timecode(cut, qtbot):
    from PySide6.QtTest import QTest

    from canvas_app.ui.timeline_panel import timecode

    panel, _, _, _ = cut
    assert timecode(0, FPS) == "00:00:00:00" and timecode(37, FPS) == "00:00:03:01"
    assert timecode(12 * 3661, FPS) == "01:01:01:00"
    panel.setFocus()
    QTest.keyClick(panel, Qt.Key_Space)
    assert panel.playing and panel.speed == 1
    QTest.keyClick(panel, Qt.Key_Space)
    assert not panel.playing
    QTest.keyClick(panel, Qt.Key_L)
    QTest.keyClick(panel, Qt.Key_L)
    assert panel.playing and panel.speed == 2  # L again: faster
    QTest.keyClick(panel, Qt.Key_K)
    assert not panel.playing
    panel.show_frame(20)
    QTest.keyClick(panel, Qt.Key_J)
    assert panel.playing and panel.speed == -1
    qtbot.waitUntil(lambda: panel.strip.playhead < 18, timeout=5000)  # backwards
    QTest.keyClick(panel, Qt.Key_K)
    QTest.keyClick(panel, Qt.Key_Home)
    QTest.keyClick(panel, Qt.Key_Right)
    assert panel.strip.playhead == 1
    assert panel.position.text().startswith("00:00:00:01 / 00:00:03:00")
    # a click on the ruler puts the playhead there
    x = panel.strip.frame_x(25)
    mouse(panel.strip, QMouseEvent.Type.MouseButtonPress, QPointF(x, 6), Qt.LeftButton)
    mouse(panel.strip, QMouseEvent.Type.MouseButtonRelease, QPointF(x, 6), Qt.NoButton)
    assert panel.strip.playhead == 25 and panel.position.text().startswith("00:00:02:01")


def test_right_click_menu_moves_and_resets_a_shot(cut):
    panel, document, sequence, shots = cut
    panel.trim(1, 2 / FPS, None)
    QApplication.processEvents()
    menu = panel.shot_menu(1)
    actions = {action.text(): action for action in menu.actions() if action.text()}
    assert set(actions) == {"Play from Here", "Move Earlier", "Move Later", "Reset Trim"}
    assert all(action.isEnabled() for action in actions.values())
    assert not {a.text(): a for a in panel.shot_menu(0).actions()}["Move Earlier"].isEnabled()
    actions["Move Earlier"].trigger()
    assert order(document, sequence) == [shots[1], shots[0], shots[2]]
    assert document.graph.nodes[sequence].params["trims"][0]["in"] == pytest.approx(2 / FPS)
    QApplication.processEvents()
    {a.text(): a for a in panel.shot_menu(0).actions()}["Reset Trim"].trigger()
    assert document.graph.nodes[sequence].params["trims"][0]["in"] == 0.0
    assert document.undo_stack.count() == 3  # trim, move, reset: one step each
    assert document.undo_stack.text(1) == "Move Generate to position 1"


def test_a_drop_marker_shows_while_reordering(cut):
    from canvas_app.ui.timeline_panel import MARKER_COLOUR

    panel, _, _, _ = cut
    strip = panel.strip
    rects = strip.shot_rects()
    _press_and_move(strip, rects[0].center(), QPointF(rects[2].center().x() + 5, rects[0].center().y()))
    marker = strip.drop_marker_x()
    assert marker == pytest.approx(rects[2].right())
    image = strip.grab().toImage()
    assert _has_colour(image, marker - 1, MARKER_COLOUR, range(int(rects[0].top()), int(rects[0].bottom())))
    mouse(strip, QMouseEvent.Type.MouseButtonRelease, rects[0].center(), Qt.NoButton)


def test_labels_of_short_shots_stay_inside_their_shots(cut):
    from PySide6.QtGui import QFont, QFontMetricsF

    panel, document, sequence, _ = cut
    # shots trimmed to a few frames each: their labels must not run into the next shot
    document.set_param(sequence, "trims", [{"in": 0.0, "out": 2 / FPS}, {"in": 0.0, "out": 3 / FPS},
                                           {"in": 0.0, "out": None}])
    panel.strip.resize(300, panel.strip.height())
    panel.refresh()
    font = QFont(panel.strip.font())
    font.setPointSizeF(8.5)
    metrics = QFontMetricsF(font)
    for index, rect in enumerate(panel.strip.shot_rects()):
        assert metrics.horizontalAdvance(panel.strip.label_text(index, metrics)) <= rect.width() - 6


def test_play_and_time_readout_are_whole_at_the_default_layout(window, qtbot):
    window.resize(1600, 1000)
    window.timeline.dock.raise_()
    qtbot.wait(50)
    panel = window.timeline
    for widget in (panel.play_button, panel.position):
        assert widget.visibleRegion().boundingRect().size() == widget.size(), widget
    panel.position.setText("00:00:00:01 / 00:00:03:00  frame 2 of 36")
    QApplication.processEvents()
    assert panel.position.width() >= panel.position.fontMetrics().horizontalAdvance(panel.position.text())


def test_shot_pictures_follow_the_strip_height(cut):
    panel, _, _, _ = cut
    strip = panel.strip
    strip.resize(strip.width(), 160)
    QApplication.processEvents()
    rect = strip.shot_rects()[0]
    assert strip.shots[0].thumbnail.height() == pytest.approx(rect.height(), abs=2)
