"""Project files: round trips, relative assets, and loading that never crashes."""
import json
import os
from pathlib import Path

import pytest

from canvas_app.errors import BadInput
from canvas_app.graph import Graph, Link
from canvas_app.project import FORMAT_VERSION, graph_to_dict, load_project, save_project


def sample_graph(asset: Path) -> Graph:
    graph = Graph()
    reference = graph.add_node("Reference", (0, 0), params={"images": [{"path": str(asset),
                                                                        "role": "face"}]})
    lock = graph.add_node("IdentityLock", (200, 0))
    prompt = graph.add_node("Prompt", (200, 150), title="Shot 1", params={"positive": "a smile"})
    generate = graph.add_node("Generate", (400, 0))
    graph.connect(Link(reference.id, "images", lock.id, "references"))
    graph.connect(Link(lock.id, "identity", generate.id, "identity"))
    graph.connect(Link(prompt.id, "prompt", generate.id, "prompt"))
    return graph


def test_round_trip_keeps_everything_and_stores_assets_relative(tmp_path):
    asset = tmp_path / "refs" / "face.png"
    asset.parent.mkdir()
    asset.write_bytes(b"not checked at save time")
    graph = sample_graph(asset)
    path = tmp_path / "shot.canvas.json"
    save_project(graph, path)
    data = json.loads(path.read_text())
    assert data["format_version"] == FORMAT_VERSION
    assert data["nodes"][0]["params"]["images"] == [{"path": "refs/face.png", "role": "face"}]

    loaded, issues = load_project(path)
    assert issues == []
    assert loaded.nodes["reference1"].params["images"][0]["path"] == str(asset.resolve())
    assert graph_to_dict(loaded, tmp_path) == graph_to_dict(graph, tmp_path)

    # Moving the project folder with its assets keeps it working.
    moved = tmp_path.parent / (tmp_path.name + "-moved")
    os.rename(tmp_path, moved)
    loaded, issues = load_project(moved / "shot.canvas.json")
    assert issues == []
    assert Path(loaded.nodes["reference1"].params["images"][0]["path"]).exists()


def test_unknown_node_type_is_kept_as_placeholder_and_saved_back_unchanged(tmp_path):
    alien = {"id": "warp1", "type": "TimeWarp", "type_version": 3, "title": "Time warp",
             "position": [10.0, 20.0], "params": {"factor": 2.5, "curve": [1, 2, 3]},
             "custom": {"kept": True}}
    data = {"format_version": 1, "nodes": [
        {"id": "prompt1", "type": "Prompt", "type_version": 1, "title": "P", "position": [0, 0],
         "params": {}}, alien],
        "links": [{"src": "prompt1", "src_port": "prompt", "dst": "warp1", "dst_port": "in"}]}
    path = tmp_path / "alien.canvas.json"
    path.write_text(json.dumps(data))
    graph, issues = load_project(path)
    assert graph.nodes["warp1"].is_placeholder
    assert any("TimeWarp" in issue.message and issue.node == "warp1" for issue in issues)
    out = tmp_path / "saved.canvas.json"
    save_project(graph, out)
    saved = json.loads(out.read_text())
    assert next(n for n in saved["nodes"] if n["id"] == "warp1") == alien
    assert saved["links"] == data["links"]


def test_missing_image_and_wrong_values_are_reported_with_node_and_field(tmp_path):
    data = {"format_version": 1, "nodes": [
        {"id": "ref", "type": "Reference", "params": {"images": [{"path": "gone.png"}]}},
        {"id": "p", "type": "Prompt", "params": {"duration": "long", "shot_size": "huge",
                                                 "mystery": 1}}], "links": []}
    path = tmp_path / "bad.canvas.json"
    path.write_text(json.dumps(data))
    graph, issues = load_project(path)
    by_field = {(issue.node, issue.field): issue for issue in issues}
    assert "gone.png" in by_field[("ref", "images")].message
    assert by_field[("p", "duration")].severity == "error"
    assert "'huge' is not one of" in by_field[("p", "shot_size")].message
    assert by_field[("p", "mystery")].severity == "warning"
    assert graph.nodes["p"].params["duration"] == 2.0  # the default, so the project still opens


def test_newer_format_version_is_refused_with_a_message(tmp_path):
    path = tmp_path / "future.canvas.json"
    path.write_text(json.dumps({"format_version": FORMAT_VERSION + 1, "nodes": []}))
    with pytest.raises(BadInput, match="newer canvas-app"):
        load_project(path)


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a canvas-app project"),
    ('{"nodes": []}', "format_version"),
])
def test_broken_files_are_bad_input_naming_the_file(tmp_path, content, message):
    path = tmp_path / "broken.canvas.json"
    path.write_text(content)
    with pytest.raises(BadInput, match=message) as caught:
        load_project(path)
    assert str(path) in str(caught.value)


def test_a_failed_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "p.canvas.json"
    graph = Graph()
    graph.add_node("Prompt", title="Original")
    save_project(graph, path)
    before = path.read_text()
    graph.add_node("Prompt", title="Second")

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        save_project(graph, path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.canvas.json"]  # no temp file left
