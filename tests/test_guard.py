"""The identity guard re-rolls seeds until a shot looks like the identity."""
from types import SimpleNamespace

import numpy as np
import pytest

import canvas_app.identity as identity_api
from canvas_app.engine.context import RunContext
from canvas_app.generation.base import ShotRequest
from canvas_app.generation.guard import render_with_guard
from canvas_app.values import Clip, Identity, ShotPrompt


class CountingBackend:
    name = "fake"

    def __init__(self):
        self.seeds = []

    def render(self, request, ctx):
        self.seeds.append(request.seed)
        ctx.progress(1.0)
        return Clip([np.full((8, 8, 3), len(self.seeds), np.uint8)], 12.0,
                    {"backend": "fake", "seed": request.seed, "identity_encoder": "insightface/x"})


@pytest.fixture
def scores(monkeypatch):
    """Make the scorer return the given means, one per call, and record its calls."""
    queue, calls = [], []

    def fake_score(identity, frames, conditioned_encoder=None, **kwargs):
        calls.append(conditioned_encoder)
        mean = queue.pop(0)
        return SimpleNamespace(mean=mean, to_dict=lambda: {"mean": mean, "recognizer": "dlib"})

    monkeypatch.setattr(identity_api, "score_frames", fake_score)
    return SimpleNamespace(queue=queue, calls=calls)


def request():
    return ShotRequest(identity=Identity("x", {"dlib": np.ones(128, np.float32)}),
                       prompt=ShotPrompt(), seed=7)


def test_rerolls_until_the_score_passes(scores):
    scores.queue.extend([0.2, 0.3, 0.7, 0.9])
    backend = CountingBackend()
    clip = render_with_guard(backend, request(), RunContext(), threshold=0.5, tries=5)
    assert len(backend.seeds) == 3 and len(set(backend.seeds)) == 3 and backend.seeds[0] == 7
    assert clip.metadata["tries"] == 3 and clip.metadata["identity_passed"]
    assert clip.metadata["seed"] == backend.seeds[2]
    # The scorer is told which encoder conditioned generation, so it can pick another.
    assert scores.calls == ["insightface/x"] * 3


def test_keeps_the_best_try_when_none_passes(scores):
    scores.queue.extend([0.2, 0.35, 0.1])
    backend = CountingBackend()
    clip = render_with_guard(backend, request(), RunContext(), threshold=0.5, tries=3)
    assert clip.metadata["tries"] == 3 and not clip.metadata["identity_passed"]
    assert clip.metadata["identity_score"]["mean"] == 0.35
    assert clip.frames[0][0, 0, 0] == 2  # the second render
    assert [a["mean"] for a in clip.metadata["attempts"]] == [0.2, 0.35, 0.1]


def test_one_try_when_the_first_passes(scores):
    scores.queue.extend([0.8])
    backend = CountingBackend()
    clip = render_with_guard(backend, request(), RunContext(), threshold=0.5, tries=3)
    assert backend.seeds == [7] and clip.metadata["tries"] == 1


def test_frames_without_a_face_count_against_the_shot(monkeypatch):
    def one_face_in_four(identity, frames, conditioned_encoder=None, **kwargs):
        similarities = [0.9, None, None, None]
        return SimpleNamespace(mean=0.9, similarities=similarities,
                               to_dict=lambda: {"mean": 0.9, "similarities": similarities})

    monkeypatch.setattr(identity_api, "score_frames", one_face_in_four)
    clip = render_with_guard(CountingBackend(), request(), RunContext(), threshold=0.4, tries=1)
    assert clip.metadata["identity_score"]["effective_mean"] == pytest.approx(0.225)
    assert not clip.metadata["identity_passed"]


def test_a_backend_whose_seed_cannot_change_the_likeness_is_not_rerolled(scores):
    scores.queue.extend([0.1, 0.1, 0.1])
    backend = CountingBackend()
    backend.seed_changes_likeness = False
    clip = render_with_guard(backend, request(), RunContext(), threshold=0.5, tries=3)
    assert backend.seeds == [7] and clip.metadata["tries"] == 1
    assert not clip.metadata["identity_passed"]
    assert any("did not re-roll" in note for note in clip.metadata["notes"])
