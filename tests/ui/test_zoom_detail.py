"""Between the detailed items and the far-out batches: at half size the canvas
draws in batches (cheap on 10,000 nodes) but still shows ports and curved wires."""
from __future__ import annotations

from PySide6.QtCore import QPointF

from canvas_app.graph import Link
from tests.ui.helpers import add


def _shows_colour(window, scene_point: QPointF, colour) -> bool:
    image = window.view.viewport().grab().toImage()
    centre = window.view.mapFromScene(scene_point)
    return any(image.pixelColor(centre.x() + dx, centre.y() + dy).rgb() == colour.rgb()
               for dx in range(-2, 3) for dy in range(-2, 3))


def test_at_half_size_ports_and_curved_wires_are_drawn_in_batches(window):
    from canvas_app.ui import theme
    from canvas_app.ui.items import LOD_BATCHED, LOD_SIMPLE

    prompt = add(window, "Prompt", 0.0, 0.0)
    generate = add(window, "Generate", 420.0, 300.0)
    window.document.connect(Link(prompt, "prompt", generate, "prompt"))
    zoom = (LOD_SIMPLE + LOD_BATCHED) / 2
    window.view.set_zoom(zoom, QPointF(300, 200))
    assert not window.scene.detailed  # drawn by the view's batches
    items = window.scene.node_items
    port = items[prompt].ports[("prompt", True)]
    colour = theme.port_color(port.type)
    assert _shows_colour(window, items[prompt].pos() + port.center, colour)
    # The wire is drawn as the curve it is, not as the straight line drawn further out.
    link = next(iter(window.scene.link_items.values()))
    path = link.path()
    start, end = path.pointAtPercent(0.0), path.currentPosition()
    bend = path.pointAtPercent(0.2)
    on_chord_y = start.y() + (end.y() - start.y()) * (bend.x() - start.x()) / (end.x() - start.x())
    assert abs(bend.y() - on_chord_y) * zoom > 15  # pixels apart: the two are told apart
    assert _shows_colour(window, bend, link.color)
    assert not _shows_colour(window, QPointF(bend.x(), on_chord_y), link.color)

    window.view.set_zoom(LOD_BATCHED + 0.1, QPointF(300, 200))
    assert window.scene.detailed  # nearer, each item paints itself with its labels


def test_the_canvas_looks_the_same_while_the_wheel_turns_and_once_it_rests(window):
    """Zoom steps draw the grid without its cached picture; once the wheel rests
    the picture is back (a pan blits it) and the canvas is drawn the same."""
    from PySide6.QtWidgets import QApplication, QGraphicsView

    prompt = add(window, "Prompt", 0.0, 0.0)
    generate = add(window, "Generate", 420.0, 300.0)
    window.document.connect(Link(prompt, "prompt", generate, "prompt"))
    view = window.view
    view.set_zoom(0.9, QPointF(300, 200))
    for factor in (1 / 1.08, 1 / 1.08, 1.08, 1 / 1.08):
        view.zoom_by(factor, QPointF(200, 150))
        QApplication.processEvents()
        assert view.cacheMode() == QGraphicsView.CacheNone  # each zoom step paints without it
    view.zoom_by(1 / 1.08, QPointF(200, 150))
    zooming = view.viewport().grab().toImage()  # a zoom step's paint
    view.update()
    QApplication.processEvents()  # any other paint brings the picture back
    assert view.cacheMode() == QGraphicsView.CacheBackground
    view.pan_by(40, 0)
    view.pan_by(-40, 0)
    QApplication.processEvents()
    assert view.viewport().grab().toImage() == zooming
