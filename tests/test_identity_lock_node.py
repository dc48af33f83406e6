"""IdentityLock loading a saved identity from the project's library."""
import numpy as np
import pytest

from canvas_app.engine import Executor
from canvas_app.graph import Graph
from canvas_app.identity import IdentityLibrary
from canvas_app.values import FaceSample, Identity


def identity(name: str, seed: int) -> Identity:
    vector = np.random.default_rng(seed).standard_normal(128).astype(np.float32)
    vector /= np.linalg.norm(vector)
    sample = FaceSample(source_name="a.jpg", source_sha256="0" * 64, role="face",
                        embeddings={"dlib": vector}, thumbnail=np.zeros((8, 8, 3), np.uint8),
                        quality=1.0)
    return Identity(name=name, embeddings={"dlib": vector}, samples=[sample])


def test_library_identity_loads_and_a_replaced_file_is_picked_up(tmp_path, monkeypatch):
    monkeypatch.setenv("CANVAS_APP_LIBRARY", str(tmp_path / "user"))
    library = IdentityLibrary(tmp_path / "identities")
    library.save(identity("Ada", 1))
    graph = Graph()
    node = graph.add_node("IdentityLock", params={"source": "library", "library_name": "Ada"})
    executor = Executor()
    first = executor.run(graph, project_dir=tmp_path).outputs[node.id]["identity"]
    assert first.identity_id == identity("Ada", 1).identity_id
    assert executor.run(graph, project_dir=tmp_path).cached == {node.id}

    library.save(identity("Ada", 2), overwrite=True)  # re-locked under the same name
    second = executor.run(graph, project_dir=tmp_path)
    assert second.executed == [node.id]
    assert second.outputs[node.id]["identity"].identity_id == identity("Ada", 2).identity_id


def test_unknown_library_name_is_bad_input(tmp_path, monkeypatch):
    monkeypatch.setenv("CANVAS_APP_LIBRARY", str(tmp_path / "user"))
    graph = Graph()
    graph.add_node("IdentityLock", title="Hero", params={"source": "library", "library_name": "Nobody"})
    result = Executor().run(graph, project_dir=tmp_path)
    assert result.bad_input and "Nobody" in result.failures["identitylock1"]
    assert "library_name" in result.failures["identitylock1"]
