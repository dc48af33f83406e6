"""The Generate node on the diffusers backend, through the engine, as a project runs it:
identity file -> IdentityLock -> Generate (tiny SD 1.5 + FaceID from disk) -> Sequence."""
from __future__ import annotations

import json
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("diffusers")

import tiny_models as tm  # noqa: E402

from canvas_app.engine import Executor  # noqa: E402
from canvas_app.engine.events import NodePreview  # noqa: E402
from canvas_app.graph import Graph, Link  # noqa: E402
from canvas_app.identity import save_identity  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tm.build_all(tmp_path_factory.mktemp("tiny_for_node"))


def test_project_with_diffusers_backend_renders_scores_and_reports(tiny, tmp_path):
    identity_file = save_identity(tm.tiny_identity(0), tmp_path / "person.safetensors")
    graph = Graph()
    lock = graph.add_node("IdentityLock", params={"source": "file",
                                                  "identity_file": str(identity_file)})
    prompt = graph.add_node("Prompt", title="Close", params={"duration": 0.5,
                                                             "camera_move": "push-in"})
    generate = graph.add_node("Generate", params={
        "backend": "diffusers", "model": str(tiny["model"]), "faceid_adapter": str(tiny["faceid"]),
        "steps": 2, "width": 64, "height": 64, "fps": 4.0, "seed": 5, "guard_tries": 2,
        "identity_strength": 1.0})
    sequence = graph.add_node("Sequence")
    graph.connect(Link(lock.id, "identity", generate.id, "identity"))
    graph.connect(Link(prompt.id, "prompt", generate.id, "prompt"))
    graph.connect(Link(generate.id, "clip", sequence.id, "clips"))

    events = []
    result = Executor().run(graph, listener=events.append, output_dir=tmp_path / "out")
    assert result.status == "done", result.failures
    clip = result.outputs[generate.id]["clip"]
    assert len(clip.frames) == 2 and clip.frames[0].shape == (64, 64, 3)
    assert any(isinstance(e, NodePreview) and e.kind == "step" for e in events)

    report = json.loads((tmp_path / "out" / "cut.report.json").read_text())
    shot = report["shots"][0]
    assert shot["backend"] == "diffusers" and shot["steps"] == 2
    assert shot["identity_id"] == tm.tiny_identity(0).identity_id
    # Random weights draw no face: the guard tried both seeds, the shot fails, and says so.
    assert shot["tries"] == 2 and shot["passed"] is False
    assert shot["identity_score"]["frames_without_face"] == shot["identity_score"]["frames_scored"]
    # Scored with dlib: not the insightface encoder that conditioned generation.
    assert shot["identity_score"]["recognizer"] == "dlib"
    assert shot["generation"]["identity_encoder"].startswith("insightface")
