"""Mood grades on a plain test picture."""
from __future__ import annotations

import numpy as np
import pytest

from canvas_app.media.grading import Grade
from canvas_app.shot_directions import MOODS, resolve_mood


@pytest.fixture(scope="module")
def picture():
    ys, xs = np.mgrid[0:180, 0:320].astype(np.float32)
    return np.stack([xs / 320 * 255, ys / 180 * 255, 255 - xs / 320 * 255], -1).astype(np.uint8)


def test_neutral_leaves_the_picture_alone(picture):
    out = Grade("neutral", 320, 180).apply(picture)
    assert np.array_equal(out, picture) and out is not picture


def test_every_mood_is_distinct_and_noir_is_grey(picture):
    graded = {m: Grade(m, 320, 180).apply(picture).astype(int) for m in MOODS}
    for i, a in enumerate(MOODS):
        for b in MOODS[i + 1:]:
            assert np.abs(graded[a] - graded[b]).mean() > 3, (a, b)
    noir = graded["noir"]
    assert (noir[..., 0] == noir[..., 1]).all() and (noir[..., 1] == noir[..., 2]).all()


def test_vignette_darkens_corners_not_the_face_area():
    flat = np.full((180, 320, 3), 160, np.uint8)
    out = Grade("dramatic", 320, 180).apply(flat).astype(int)
    face_area = out[50:80, 140:180].mean()  # eyes on the upper third, centred
    assert out[:10, :10].mean() < 0.75 * face_area
    assert np.abs(out[50:80, 140:180] - out[90, 160]).max() <= 2  # untouched by the vignette


def test_mood_names_resolve():
    assert resolve_mood("Golden hour") == ("golden-hour", True)
    assert resolve_mood("b&w") == ("noir", True)
    assert resolve_mood("vaporwave") == ("neutral", False)
