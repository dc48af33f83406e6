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


def _shows_colour(window, scene_point: QPointF, colour) -> bool:
    """Whether the viewport shows `colour` within 3 px of `scene_point`."""
    image = window.view.viewport().grab().toImage()
    centre = window.view.mapFromScene(scene_point)
    return any(image.pixelColor(centre.x() + dx, centre.y() + dy).rgb() == colour.rgb()
               for dx in range(-3, 4) for dy in range(-3, 4))


def test_far_out_the_batched_view_draws_every_node(window):
    from canvas_app.ui import theme
    from canvas_app.ui.items import HEADER, NODE_WIDTH

    ids = [add(window, "Generate", x, y) for x, y in FAR]
    colour = theme.header_color(window.document.graph.nodes[ids[0]].spec.category)
    for zoom in (0.2, 0.045):  # drawn per tile, then blitted from per-tile images
        window.view.frame_all()
        window.view.set_zoom(zoom)
        assert not window.scene.detailed
        for node_id in ids:
            item = window.scene.node_items[node_id]
            window.view.centerOn(item)
            header = item.pos() + QPointF(NODE_WIDTH / 2, HEADER * 0.8)
            assert _shows_colour(window, header, colour), (zoom, node_id)
        window.document.move({ids[0]: (FAR[0], (FAR[0][0] + 3000, FAR[0][1]))})  # redrawn where it went
        item = window.scene.node_items[ids[0]]
        window.view.centerOn(item)
        assert _shows_colour(window, item.pos() + QPointF(NODE_WIDTH / 2, HEADER * 0.8), colour)
        window.document.undo_stack.undo()


def test_far_out_a_rubber_band_selects_nodes(window):
    from tests.ui.helpers import drag

    ids = [add(window, "Prompt", 30000.0 + 400 * i, 30000.0) for i in range(5)]
    window.view.set_zoom(0.1, QPointF(31000, 30100))
    assert not window.scene.detailed
    start = window.view.mapFromScene(QPointF(29500, 29500))
    end = window.view.mapFromScene(QPointF(32500, 30600))
    drag(window, start, end)
    assert sorted(window.scene.selected_node_ids()) == sorted(ids)
