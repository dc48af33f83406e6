"""A canvas with no edge to the world: nodes far past the old +-20,000 scene
bounds can be framed and scrolled to, and the scene gives the room back."""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF

from canvas_app.ui.scene_bounds import BASE
from tests.ui.helpers import add

FAR = [(-61000.0, -2000.0), (25800.0, 300.0), (48000.0, 57000.0), (3000.0, -33000.0)]


def visible(window) -> QRectF:
    view = window.view
    return view.mapToScene(view.viewport().rect()).boundingRect()


def test_frame_all_shows_every_node_beyond_the_old_bounds(window, qtbot):
    ids = [add(window, "Prompt", x, y) for x, y in FAR]
    ids.append(add(window, "Generate", 0.0, 0.0))
    window.view.frame_all()
    qtbot.wait(1)  # let the view settle its scroll bars
    shown = visible(window)
    for node_id in ids:
        rect = window.scene.node_items[node_id].sceneBoundingRect()
        assert shown.contains(rect), f"{node_id} at {rect} is outside the framed view {shown}"


def test_every_far_node_can_be_scrolled_to_at_zoom_one(window):
    ids = [add(window, "Prompt", x, y) for x, y in FAR]
    view = window.view
    for node_id in ids:
        item = window.scene.node_items[node_id]
        view.resetTransform()
        view.centerOn(item)
        assert visible(window).contains(item.sceneBoundingRect()), node_id
        view.scene().select_nodes([node_id])
        view.frame_selected()
        assert visible(window).contains(item.sceneBoundingRect()), node_id


def test_dragging_a_node_outwards_grows_the_scene(window):
    node_id = add(window, "Prompt", 0.0, 0.0)
    item = window.scene.node_items[node_id]
    item.setPos(90000.0, -70000.0)  # what a drag does, step by step
    assert window.scene.sceneRect().contains(item.sceneBoundingRect().adjusted(-500, -500, 500, 500))
    window.view.resetTransform()
    window.view.centerOn(item)
    assert visible(window).contains(item.sceneBoundingRect())


def test_scene_shrinks_back_when_the_far_nodes_go(window, qtbot):
    near = add(window, "Prompt", 0.0, 0.0)
    far = [add(window, "Prompt", x, y) for x, y in FAR]
    grown = window.scene.sceneRect()
    assert grown.width() > BASE.width() and grown.height() > BASE.height()
    window.view.resetTransform()
    window.view.centerOn(window.scene.node_items[near])
    window.document.remove(far)
    qtbot.waitUntil(lambda: window.scene.sceneRect() == BASE, timeout=3000)
    window.document.undo_stack.undo()  # the far nodes come back, and so does the room
    assert window.scene.sceneRect().contains(window.scene.items_bounding_rect())
