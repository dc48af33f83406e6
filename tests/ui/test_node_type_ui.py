"""A node type brings what the editor shows of it (summary, advanced params,
which param takes dropped files, its port colours) in its spec: adding one
touches nothing under canvas_app/ui/."""
from __future__ import annotations

from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QToolButton

from canvas_app.engine import Executor
from canvas_app.graph import NodeRegistry, NodeSpec, NodeType, ParamSpec, PortSpec
from canvas_app.graph.types import register_port_type
from canvas_app.values import ImageSet

# The worked example of docs/architecture.md, as written there.
LOOK = register_port_type("look", "#4fc1b0")


def summarize(params) -> list[str]:
    return [f"{len(params['images'])} pictures · weight {params['weight']:g}"]


class MoodBoard(NodeType):
    spec = NodeSpec(
        type_name="MoodBoard", version=1, title="Mood Board", category="Inputs",
        description="Pictures that set the look of a shot.",
        outputs=(PortSpec("look", LOOK, "Look"),),
        params=(
            ParamSpec("images", "images", [], help="Drop pictures on the node."),
            ParamSpec("weight", "float", 0.5, minimum=0.0, maximum=1.0, step=0.05),
            ParamSpec("max_side", "int", 512, minimum=64, maximum=4096, advanced=True),
        ),
        summary=summarize,
        drop_param="images",
    )

    def run(self, inputs, params, ctx):
        from canvas_app.media.images import load_reference  # services load lazily

        node = ctx.node_title or ctx.node_id
        pictures = [load_reference(entry["path"], entry["role"], node=node, field="images")
                    for entry in params["images"]]
        return {"look": ImageSet(tuple(pictures))}


def test_a_new_node_type_shows_its_summary_colours_drops_and_advanced_params(make_window, tmp_path):
    from PIL import Image

    registry = NodeRegistry()
    registry.register(MoodBoard)
    window = make_window(registry=registry)
    picture = tmp_path / "look.png"
    Image.new("RGB", (8, 8), "red").save(picture)

    node_id = window.scene.drop_images([str(picture)], QPointF(0, 0))  # a new node that takes files
    node = window.document.graph.nodes[node_id]
    assert node.type_name == "MoodBoard" and len(node.params["images"]) == 1
    item = window.scene.node_items[node_id]
    assert item.summary == ["1 pictures · weight 0.5"] and item.thumbs and item.thumbs[0] is not None
    assert item.ports[("look", True)].type == "look"
    from canvas_app.ui import theme

    assert theme.port_color("look").name() == "#4fc1b0"

    center = item.sceneBoundingRect().center()
    assert window.scene.drop_images([str(picture)], center) == node_id  # dropped onto it: added
    assert len(window.document.graph.nodes[node_id].params["images"]) == 2
    assert window.scene.node_items[node_id].summary == ["2 pictures · weight 0.5"]

    window.scene.select_nodes([node_id])
    toggle = window.inspector.findChild(QToolButton, "advanced_toggle")
    assert toggle is not None  # max_side is folded away under "Advanced"
    assert "max_side" in window.inspector.editors
    result = Executor().run(window.document.graph.snapshot())  # and it runs
    assert result.status == "done" and len(result.outputs[node_id]["look"].images) == 2
