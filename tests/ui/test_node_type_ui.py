"""A node type brings what the editor shows of it (summary, advanced params,
which param takes dropped files, its port colours) in its spec: adding one
touches nothing under canvas_app/ui/."""
from __future__ import annotations

from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QToolButton

from canvas_app.graph import NodeRegistry, NodeSpec, NodeType, ParamSpec, PortSpec
from canvas_app.graph.types import register_port_type

MASK = register_port_type("mask", "#12ab34")


class Moodboard(NodeType):
    spec = NodeSpec(
        "Moodboard", 1, "Moodboard", "Inputs",
        outputs=(PortSpec("mask", MASK, "Mask"),),
        params=(ParamSpec("pictures", "images", []),
                ParamSpec("softness", "float", 0.5, minimum=0.0, maximum=1.0, advanced=True)),
        summary=lambda params: [f"{len(params['pictures'])} pictures"],
        drop_param="pictures",
    )

    def run(self, inputs, params, ctx):
        return {"mask": len(params["pictures"])}


def test_a_new_node_type_shows_its_summary_colours_drops_and_advanced_params(make_window, tmp_path):
    from PIL import Image

    registry = NodeRegistry()
    registry.register(Moodboard)
    window = make_window(registry=registry)
    picture = tmp_path / "look.png"
    Image.new("RGB", (8, 8), "red").save(picture)

    node_id = window.scene.drop_images([str(picture)], QPointF(0, 0))  # a new node that takes files
    node = window.document.graph.nodes[node_id]
    assert node.type_name == "Moodboard" and len(node.params["pictures"]) == 1
    item = window.scene.node_items[node_id]
    assert item.summary == ["1 pictures"] and item.thumbs and item.thumbs[0] is not None
    assert item.ports[("mask", True)].type == "mask"
    from canvas_app.ui import theme

    assert theme.port_color("mask").name() == "#12ab34"

    center = item.sceneBoundingRect().center()
    assert window.scene.drop_images([str(picture)], center) == node_id  # dropped onto it: added
    assert len(window.document.graph.nodes[node_id].params["pictures"]) == 2
    assert window.scene.node_items[node_id].summary == ["2 pictures"]

    window.scene.select_nodes([node_id])
    toggle = window.inspector.findChild(QToolButton, "advanced_toggle")
    assert toggle is not None  # softness is folded away under "Advanced"
    assert "softness" in window.inspector.editors
