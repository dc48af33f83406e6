"""A node type brings what the editor shows of it (summary, advanced params,
which param takes dropped files, its port colours) in its spec: adding one
touches nothing under canvas_app/ui/."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QToolButton

from canvas_app.engine import Executor
from canvas_app.graph import NodeRegistry

ROOT = Path(__file__).resolve().parents[2]


def docs_example(heading: str) -> dict:
    """Run the first python block after `heading` in docs/architecture.md (our
    own documentation, as a reader would paste it) and return its names."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    code = text.split(heading, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    names: dict = {"__name__": "nodes.docs_example"}
    exec(compile(code, "docs/architecture.md", "exec"), names)  # noqa: S102 - our own docs
    return names


MoodBoard = docs_example("A worked example, `nodes/mood_board.py`")["MoodBoard"]


def with_mood_board() -> NodeRegistry:
    """The built-in types plus the worked example, in the order discovery
    would find nodes/mood_board.py: before nodes/reference.py."""
    registry = NodeRegistry()
    registry.register(MoodBoard)
    return registry.discover("nodes")


def test_with_the_worked_example_added_photos_still_make_a_reference(make_window, tmp_path):
    from PIL import Image

    window = make_window(registry=with_mood_board())
    picture = tmp_path / "face.png"
    Image.new("RGB", (8, 8), "red").save(picture)
    node_id = window.scene.drop_images([str(picture)], QPointF(0, 0))
    assert window.document.graph.nodes[node_id].type_name == "Reference"  # by declared priority
    board = window.document.add_node("MoodBoard", (600, 0)).id
    center = window.scene.node_items[board].sceneBoundingRect().center()
    assert window.scene.drop_images([str(picture)], center) == board  # onto it: added to it
    assert len(window.document.graph.nodes[board].params["images"]) == 1


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
