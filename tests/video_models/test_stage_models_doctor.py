"""`doctor` and the Models panel list what Keyframe and Motion nodes will download."""
from canvas_app.doctor import format_report, project_models
from canvas_app.project.io import load_project
from video_models.test_two_stage_nodes import EXAMPLE


def test_the_cpu_example_needs_no_model():
    graph, _ = load_project(EXAMPLE)
    assert project_models(graph) == []


def test_new_models_are_listed_with_download_command_and_licence(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty hub cache
    local_wan = tmp_path / "Wan2.2-local"
    local_wan.mkdir()
    (local_wan / "model_index.json").write_text("{}")
    graph, _ = load_project(EXAMPLE)
    graph.nodes["keyframe1"].params.update(backend="flux2-klein",
                                           model="black-forest-labs/FLUX.2-klein-9B")
    graph.nodes["keyframe2"].params.update(backend="flux2-klein",
                                           model="black-forest-labs/FLUX.2-klein-9B")
    graph.nodes["motion1"].params.update(backend="wan2.2-i2v", model=str(local_wan))
    checks = {check.field: check for check in project_models(graph)}
    flux = checks["keyframe_model"]
    assert not flux.present and flux.fix == "hf download black-forest-labs/FLUX.2-klein-9B"
    assert flux.nodes == ["Keyframe 1", "Keyframe 2"]  # one download for both nodes
    assert "Non-Commercial" in flux.licence
    assert flux.size_bytes == 34 * 10**9  # the estimated download, shown before it is fetched
    assert checks["motion_model"].present and checks["motion_model"].nodes == ["Motion 1"]
    text = format_report({"python": "3", "platform": "x", "device": {}, "packages": [],
                          "face_packs": {"folder": "f", "installed": [], "licence": "l"},
                          "project": "p", "models": [vars(c) for c in checks.values()],
                          "missing": [flux.fix], "runnable": False})
    assert "[MISSING] keyframe_model: black-forest-labs/FLUX.2-klein-9B" in text
