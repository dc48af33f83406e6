"""A graph opened from an exported PNG may read files outside its folder only
after the user agrees (issue 23, item 6)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "resources" / "examples" / "spokesperson" / "spokesperson.canvas.json"


@pytest.fixture
def exported_png(tmp_path) -> Path:
    """A PNG in downloads/ whose graph names ../secret.jpg (outside) for reference1."""
    from PIL import Image, PngImagePlugin

    from canvas_app.media.exports.provenance import KEY

    (tmp_path / "secret.jpg").write_bytes((EXAMPLE.parent / "refs" / "astronaut.jpg").read_bytes())
    project = json.loads(EXAMPLE.read_text())
    for node in project["nodes"]:
        if node["id"] == "reference1":
            node["params"]["images"] = [{"path": "../secret.jpg", "role": "face"}]
    folder = tmp_path / "downloads"
    folder.mkdir()
    info = PngImagePlugin.PngInfo()
    info.add_text(KEY, json.dumps(project))
    Image.new("RGB", (8, 8)).save(folder / "shot.png", pnginfo=info)
    return folder / "shot.png"


@pytest.mark.parametrize("answer", ["Yes", "No"])
def test_the_editor_asks_before_an_exported_graph_reads_outside_its_folder(
        make_window, monkeypatch, exported_png, answer):
    from PySide6.QtWidgets import QMessageBox

    asked = []

    def question(_parent, _title, text, *_args):
        asked.append(text)
        return getattr(QMessageBox, answer)
    monkeypatch.setattr(QMessageBox, "question", question)
    window = make_window()
    assert window.open_path(exported_png, ask=False)
    assert len(asked) == 1 and "../secret.jpg" in asked[0]
    images = window.document.graph.nodes["reference1"].params["images"]
    assert len(images) == (1 if answer == "Yes" else 0)


def test_a_screenshot_of_an_exported_graph_never_asks(make_window, monkeypatch, exported_png):
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "question", lambda *args: pytest.fail("asked offscreen"))
    window = make_window(str(exported_png), offer_recovery=False, trust_paths=False)
    assert window.document.graph.nodes["reference1"].params["images"] == []
