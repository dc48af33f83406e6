"""Building a graph on the canvas with mouse and keyboard."""
from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from canvas_app.graph.model import Link
from tests.ui.helpers import add, click, drag, frame, port_point, view_point


def test_tab_palette_search_and_enter_places_node(window, qtbot):
    frame(window)
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key_Tab)
    assert window.palette.isVisible()
    QTest.keyClicks(window.palette.search, "gener")
    assert window.palette.list.count() == 1
    assert window.palette.list.item(0).data(Qt.UserRole) == "Generate"
    QTest.keyClick(window.palette.search, Qt.Key_Return)
    assert not window.palette.isVisible()
    nodes = list(window.document.graph.nodes.values())
    assert [n.type_name for n in nodes] == ["Generate"]
    assert nodes[0].id in window.scene.node_items  # the user sees it
    assert window.scene.selected_node_ids() == [nodes[0].id]
    assert window.isWindowModified()
    window.document.undo_stack.undo()
    assert not window.document.graph.nodes and not window.scene.node_items
    assert not window.isWindowModified()
    window.document.undo_stack.redo()
    assert list(window.scene.node_items) == [nodes[0].id]


def test_double_click_empty_canvas_opens_palette_at_that_spot(window, qtbot):
    frame(window)
    QTest.mouseDClick(window.view.viewport(), Qt.LeftButton, Qt.NoModifier, QPoint(300, 200))
    assert window.palette.isVisible()
    QTest.keyClicks(window.palette.search, "prompt")
    QTest.keyClick(window.palette.search, Qt.Key_Enter)
    node = next(iter(window.document.graph.nodes.values()))
    assert node.type_name == "Prompt"
    spot = window.view.mapToScene(QPoint(300, 200))
    assert abs(node.position[0] - spot.x()) < 60 and abs(node.position[1] - spot.y()) < 60


def test_drag_from_port_to_port_connects_and_undo_disconnects(window):
    frame(window)
    ref = add(window, "Reference", 0, 0)
    lock = add(window, "IdentityLock", 400, 0)
    drag(window, port_point(window, ref, "images", True), port_point(window, lock, "references", False))
    link = Link(ref, "images", lock, "references")
    assert window.document.graph.links == [link]
    assert link in window.scene.link_items
    window.document.undo_stack.undo()
    assert window.document.graph.links == [] and not window.scene.link_items
    window.document.undo_stack.redo()
    assert window.document.graph.links == [link]


def test_bad_connection_is_refused_with_the_reason(window):
    frame(window)
    prompt = add(window, "Prompt", 0, 0)
    lock = add(window, "IdentityLock", 400, 0)
    depth = window.document.undo_stack.count()
    drag(window, port_point(window, prompt, "prompt", True), port_point(window, lock, "references", False))
    assert window.document.graph.links == []
    assert window.document.undo_stack.count() == depth
    message = window.statusBar().currentMessage()
    assert "Not connected" in message and "type mismatch" in message


def test_wire_dropped_on_empty_canvas_offers_compatible_nodes_and_connects(window):
    frame(window)
    prompt = add(window, "Prompt", 0, 0)
    drag(window, port_point(window, prompt, "prompt", True), QPoint(700, 450))
    assert window.palette.isVisible()
    offered = [window.palette.list.item(i).data(Qt.UserRole) for i in range(window.palette.list.count())]
    assert offered == ["Generate", "Keyframe", "Motion"]  # the types with a prompt input
    QTest.keyClick(window.palette.search, Qt.Key_Return)
    gen = next(n for n in window.document.graph.nodes.values() if n.type_name == "Generate")
    assert window.document.graph.links == [Link(prompt, "prompt", gen.id, "prompt")]
    window.document.undo_stack.undo()  # one step removes node and link
    assert list(window.document.graph.nodes) == [prompt] and not window.document.graph.links


def test_drag_existing_wire_off_an_input_disconnects(window):
    frame(window)
    ref = add(window, "Reference", 0, 0)
    lock = add(window, "IdentityLock", 400, 0)
    window.document.connect(Link(ref, "images", lock, "references"))
    drag(window, port_point(window, lock, "references", False), QPoint(500, 500))
    assert window.document.graph.links == []
    window.document.undo_stack.undo()
    assert len(window.document.graph.links) == 1


def test_rubber_band_select_and_multi_move_undo_as_one_step(window):
    frame(window)
    a = add(window, "Prompt", 0, 0)
    b = add(window, "Prompt", 0, 250)
    c = add(window, "Generate", 600, 0)
    drag(window, QPoint(10, 10), view_point(window, QPointF(300, 420)))  # rubber band from empty space
    assert sorted(window.scene.selected_node_ids()) == sorted([a, b])
    # shift-click adds one more
    click(window, view_point(window, QPointF(650, 10)), Qt.ShiftModifier)
    assert sorted(window.scene.selected_node_ids()) == sorted([a, b, c])
    depth = window.document.undo_stack.count()
    drag(window, view_point(window, QPointF(100, 10)), view_point(window, QPointF(180, 70)))
    graph = window.document.graph
    assert graph.nodes[a].position == (80.0, 60.0)
    assert graph.nodes[b].position == (80.0, 310.0)
    assert graph.nodes[c].position == (680.0, 60.0)
    assert window.document.undo_stack.count() == depth + 1
    window.document.undo_stack.undo()
    assert graph.nodes[a].position == (0.0, 0.0) and graph.nodes[c].position == (600.0, 0.0)
    assert window.scene.node_items[c].pos() == QPointF(600, 0)  # the canvas follows undo


def test_delete_key_removes_nodes_and_undo_restores_links(window):
    frame(window)
    ref = add(window, "Reference", 0, 0)
    lock = add(window, "IdentityLock", 400, 0)
    window.document.connect(Link(ref, "images", lock, "references"))
    click(window, view_point(window, QPointF(420, 10)))
    assert window.scene.selected_node_ids() == [lock]
    QTest.keyClick(window.view, Qt.Key_Delete)
    assert list(window.document.graph.nodes) == [ref] and not window.scene.link_items
    window.document.undo_stack.undo()
    assert sorted(window.document.graph.nodes) == sorted([ref, lock])
    assert len(window.scene.link_items) == 1


def test_backdrop_groups_nodes_and_moves_them_together(window):
    frame(window)
    a = add(window, "Prompt", 0, 0)
    b = add(window, "Prompt", 0, 200)
    outside = add(window, "Generate", 700, 0)
    window.scene.select_nodes([a, b])
    window.act_group.trigger()
    (backdrop,) = window.document.graph.backdrops.values()
    x, y, w, h = backdrop.rect
    window.scene.clearSelection()
    drag(window, view_point(window, QPointF(x + 40, y + 12)), view_point(window, QPointF(x + 140, y + 62)))
    graph = window.document.graph
    assert graph.nodes[a].position == (100.0, 50.0) and graph.nodes[b].position == (100.0, 250.0)
    assert graph.nodes[outside].position == (700.0, 0.0)
    assert graph.backdrops[backdrop.id].rect[:2] == (x + 100, y + 50)
    window.document.undo_stack.undo()  # one step
    assert graph.nodes[a].position == (0.0, 0.0) and graph.backdrops[backdrop.id].rect[:2] == (x, y)
    window.document.undo_stack.undo()
    assert not graph.backdrops and not window.scene.backdrop_items


def test_zoom_keeps_the_point_under_the_cursor(window):
    frame(window)
    view = window.view
    anchor = QPointF(400, 300)
    before = view.mapToScene(anchor.toPoint())
    view.zoom_by(1.6, anchor)
    after = view.mapToScene(anchor.toPoint())
    assert abs(view.zoom() - 1.6) < 1e-6
    assert abs(before.x() - after.x()) < 2 and abs(before.y() - after.y()) < 2


def test_middle_mouse_pans(window):
    frame(window)
    before = window.view.mapToScene(QPoint(0, 0))
    drag(window, QPoint(400, 400), QPoint(300, 350), button=Qt.MiddleButton)
    after = window.view.mapToScene(QPoint(0, 0))
    assert round(after.x() - before.x()) == 100 and round(after.y() - before.y()) == 50
    assert not window.document.graph.nodes  # panning changes nothing in the project


def test_drop_image_files_creates_reference_node(window, tmp_path):
    from PIL import Image
    from PySide6.QtCore import QMimeData, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    frame(window)
    files = []
    for name in ("a.png", "b.jpg"):
        Image.new("RGB", (32, 32), (200, 100, 50)).save(tmp_path / name)
        files.append(tmp_path / name)
    (tmp_path / "notes.txt").write_text("x")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in files + [tmp_path / "notes.txt"]])
    viewport = window.view.viewport()
    pos = QPointF(300, 300)
    for kind in (QDragEnterEvent, QDragMoveEvent):
        QApplication.sendEvent(viewport, kind(pos.toPoint(), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))
    QApplication.sendEvent(viewport, QDropEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))
    (node,) = window.document.graph.nodes.values()
    assert node.type_name == "Reference"
    assert [(e["path"], e["role"]) for e in node.params["images"]] == \
        [(str(p.resolve()), "face") for p in files]


def test_space_drag_pans_and_does_not_select(window):
    frame(window)
    add(window, "Prompt", 0, 0)
    before = window.view.mapToScene(QPoint(0, 0))
    window.view.setFocus()
    QTest.keyPress(window.view, Qt.Key_Space)
    drag(window, QPoint(60, 20), QPoint(10, 10))  # starts on the node: still a pan
    QTest.keyRelease(window.view, Qt.Key_Space)
    after = window.view.mapToScene(QPoint(0, 0))
    assert round(after.x() - before.x()) == 50 and round(after.y() - before.y()) == 10
    assert window.document.graph.nodes["prompt1"].position == (0.0, 0.0)
    assert window.document.undo_stack.count() == 1  # only the add


def test_frame_all_and_frame_selected(window):
    a = add(window, "Prompt", -2000, -1500)
    b = add(window, "Generate", 3000, 2000)
    window.act_frame_all.trigger()
    view_rect = window.view.mapToScene(window.view.viewport().rect()).boundingRect()
    for node_id in (a, b):
        assert view_rect.contains(window.scene.node_items[node_id].sceneBoundingRect())
    window.scene.select_nodes([b])
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key_F)
    view_rect = window.view.mapToScene(window.view.viewport().rect()).boundingRect()
    assert view_rect.contains(window.scene.node_items[b].sceneBoundingRect())
    assert not view_rect.contains(window.scene.node_items[a].sceneBoundingRect())
