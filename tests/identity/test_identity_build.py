"""build_identity on real photos: weights, outliers, refusals, portrait, progress."""
from __future__ import annotations

import numpy as np
import pytest

from canvas_app.engine.context import CancelToken, Cancelled, RunContext
from canvas_app.errors import BadInput
from canvas_app.identity import DEFAULT_THRESHOLD, build_identity
from conftest import resize


def test_identity_from_three_photos(eileen):
    assert eileen.name == "Eileen" and list(eileen.embeddings) == ["dlib"]
    vector = eileen.embeddings["dlib"]
    assert vector.shape == (128,) and vector.dtype == np.float32
    assert abs(float(np.linalg.norm(vector)) - 1) < 1e-5
    assert [s.source_name for s in eileen.samples] == ["eileen.png", "eileen_mirror.png",
                                                       "eileen_dark.png"]
    for sample in eileen.samples:
        assert sample.included and sample.role == "face"
        assert sample.similarity > 0.7
        assert 0 < sample.quality <= 1
        assert len(sample.source_sha256) == 64
        assert sample.thumbnail.shape == (150, 150, 3) and sample.thumbnail.dtype == np.uint8
        assert sample.note == ""  # one face each: nothing to report
    assert eileen.created.endswith("+00:00")
    assert "3 of 3" in eileen.notes


def test_combined_embedding_is_the_quality_weighted_mean(eileen):
    weights = np.array([s.quality for s in eileen.samples])
    stacked = np.stack([s.embeddings["dlib"] for s in eileen.samples]).astype(np.float64)
    expected = (weights[:, None] * stacked).sum(axis=0)
    expected /= np.linalg.norm(expected)
    assert np.allclose(eileen.embeddings["dlib"], expected, atol=1e-6)


def test_quality_prefers_larger_sharper_faces(write_photo, astronaut):
    import cv2

    refs = [write_photo("q_large.png", resize(astronaut, 1.8)),
            write_photo("q_small.png", resize(astronaut, 0.55)),
            write_photo("q_soft.png", cv2.GaussianBlur(astronaut, (0, 0), 1.6))]
    identity = build_identity("q", refs)
    large, small, soft = (s.quality for s in identity.samples)
    assert large > small and large > soft
    assert all(s.included for s in identity.samples)


def test_planted_wrong_reference_is_flagged_and_left_out(write_photo, astronaut,
                                                        astronaut_variants, hanks, eileen):
    refs = [write_photo("eileen.png", astronaut),
            write_photo("eileen_mirror.png", astronaut_variants["mirror"]),
            write_photo("hanks.png", hanks),
            write_photo("eileen_dark.png", astronaut_variants["dark"])]
    identity = build_identity("Eileen", refs)
    by_name = {s.source_name: s for s in identity.samples}
    impostor = by_name["hanks.png"]
    assert not impostor.included
    assert "left out" in impostor.note and "different person" in impostor.note
    assert "0.4" in impostor.note  # the threshold it failed, with its own number
    assert impostor.similarity < DEFAULT_THRESHOLD
    assert all(s.included for n, s in by_name.items() if n != "hanks.png")
    assert "hanks.png" in identity.notes and "3 of 4" in identity.notes
    # The impostor does not pull the identity: it is the same as without him.
    assert np.allclose(identity.embeddings["dlib"], eileen.embeddings["dlib"], atol=1e-6)


def test_two_references_of_different_people_are_refused(write_photo, astronaut, hanks):
    refs = [write_photo("eileen.png", astronaut), write_photo("hanks.png", hanks)]
    with pytest.raises(BadInput) as error:
        build_identity("who", refs)
    message = str(error.value)
    assert "different people" in message and "eileen.png" in message and "hanks.png" in message


def test_no_majority_is_refused(write_photo, astronaut, hanks, group):
    refs = [write_photo("eileen.png", astronaut), write_photo("hanks.png", hanks),
            write_photo("group_left.png", group[250:450, 0:250])]
    with pytest.raises(BadInput) as error:
        build_identity("nobody", refs)
    assert "do not agree" in str(error.value)


def test_only_face_and_profile_references_are_embedded(write_photo, astronaut, hanks):
    from canvas_app.media.images import load_reference

    face = write_photo("eileen.png", astronaut)
    outfit = load_reference(write_photo("hanks.png", hanks).path, "outfit")
    identity = build_identity("Eileen", [face, outfit])
    assert [s.source_name for s in identity.samples] == ["eileen.png"]
    with pytest.raises(BadInput) as error:
        build_identity("nobody", [outfit])
    assert error.value.field == "references"


def test_group_photo_reference_records_which_face_was_used(write_photo, group):
    ref = write_photo("group.png", group)
    identity = build_identity("someone", [ref])
    assert "6 faces found" in identity.samples[0].note
    picked = build_identity("someone else", [ref], face_index=0)
    assert "used face 0" in picked.samples[0].note and "as asked" in picked.samples[0].note
    assert not np.allclose(identity.embeddings["dlib"], picked.embeddings["dlib"])


def test_face_index_per_reference(write_photo, group, astronaut):
    refs = [write_photo("group.png", group), write_photo("eileen.png", astronaut)]
    with pytest.raises(BadInput):  # face 5 of the group is not the astronaut
        build_identity("x", refs, face_index=[5, None])
    with pytest.raises(BadInput) as error:
        build_identity("x", refs, face_index={"eileen.png": 3})
    assert error.value.field == "face_index" and "eileen.png" in str(error.value)


def test_no_face_tiny_face_and_blur_are_refused_naming_the_file(write_photo, astronaut):
    import cv2
    from skimage.data import coffee

    cases = [
        (write_photo("coffee.png", coffee()), "no face"),
        (write_photo("tiny.png", resize(astronaut, 30 / 91)), "too small"),
        (write_photo("blurred.png", cv2.GaussianBlur(astronaut, (0, 0), 3.0)), "blurred"),
    ]
    for ref, words in cases:
        with pytest.raises(BadInput) as error:
            build_identity("x", [ref, write_photo("eileen.png", astronaut)])
        assert words in str(error.value), str(error.value)
        assert error.value.file == str(ref.path)


class _TurnedHeads:
    """The dlib encoder, but every face's nose sits beside one eye: a head
    turned about 60 degrees, as the landmark geometry reports it."""

    def __init__(self, inner):
        self.inner = inner
        self.name, self.embedding_size, self.threshold = inner.name, inner.embedding_size, \
            inner.threshold

    def detect(self, image):
        faces = self.inner.detect(image)
        for face in faces:
            left, right = face.landmarks[0], face.landmarks[1]
            face.landmarks = face.landmarks.copy()
            face.landmarks[2, 0] = right[0] + 0.7 * (right[0] - left[0]) / 2
        return faces

    def align(self, image, face):
        return self.inner.align(image, face)

    def embed(self, aligned):
        return self.inner.embed(aligned)

    def similarity(self, a, b):
        return self.inner.similarity(a, b)


def test_turned_head_is_refused_as_face_but_allowed_as_profile(monkeypatch, write_photo,
                                                               astronaut, dlib_encoder):
    import canvas_app.identity.build as build_module

    monkeypatch.setattr(build_module, "get_encoder", lambda name, models_dir=None:
                        _TurnedHeads(dlib_encoder))
    face_ref = write_photo("eileen.png", astronaut)
    with pytest.raises(BadInput) as error:
        build_identity("x", [face_ref])
    assert "turned too far" in str(error.value) and "profile" in str(error.value)
    assert error.value.file == str(face_ref.path)
    from canvas_app.media.images import load_reference

    profile_ref = load_reference(face_ref.path, "profile")
    identity = build_identity("x", [profile_ref])
    assert identity.samples[0].role == "profile" and identity.samples[0].included


def test_portrait_frames_the_face_for_renderers(eileen, astronaut):
    portrait = eileen.portrait
    assert portrait.dtype == np.uint8 and portrait.shape[2] == 3
    assert portrait.shape[0] == portrait.shape[1] <= 768
    x0, y0, x1, y1 = eileen.portrait_face_box
    side = portrait.shape[0]
    assert 2.6 <= side / (y1 - y0) <= 3.4  # about 3x the face height
    assert abs((x0 + x1) / 2 - side / 2) < 3  # centred left to right
    assert (y0 + y1) / 2 < side / 2  # head above the middle: room for the shoulders
    landmarks = eileen.portrait_landmarks
    assert landmarks.shape == (5, 2) and landmarks.dtype == np.float32
    assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in landmarks)


def test_portrait_pixels_match_the_source_at_the_landmarks(dlib_encoder, astronaut):
    from canvas_app.identity.build import choose_face
    from canvas_app.identity.geometry import portrait_crop

    face = choose_face(dlib_encoder, astronaut).face
    crop, points, box = portrait_crop(astronaut, face.box, face.landmarks)
    for (sx, sy), (px, py) in zip(face.landmarks, points):
        sx, sy, px, py = (int(np.floor(v + 0.5)) for v in (sx, sy, px, py))
        source = astronaut[sy - 3:sy + 4, sx - 3:sx + 4]
        mine = crop[py - 3:py + 4, px - 3:px + 4]
        assert np.abs(source.astype(int) - mine.astype(int)).mean() < 4


def test_portrait_of_a_big_face_is_scaled_and_of_an_edge_face_padded(write_photo, astronaut):
    big = build_identity("big", [write_photo("big.png", resize(astronaut, 4.0))])
    assert big.portrait.shape == (768, 768, 3)
    x0, y0, x1, y1 = big.portrait_face_box
    assert 220 < y1 - y0 < 290  # the face is a third of the portrait after downscaling

    corner = astronaut[40:260, 140:330]  # face near the top-left corner of the photo
    edge = build_identity("edge", [write_photo("edge.png", corner)])
    side = edge.portrait.shape[0]
    assert side > max(corner.shape[:2])  # bigger than the photo: reflected padding
    assert edge.portrait.std() > 20  # real picture content everywhere, not a black frame
    assert edge.portrait[:8].std() > 5 and edge.portrait[-8:].std() > 5


def test_progress_is_reported_per_reference_and_cancel_works(write_photo, astronaut,
                                                            astronaut_variants):
    refs = [write_photo("eileen.png", astronaut),
            write_photo("eileen_mirror.png", astronaut_variants["mirror"]),
            write_photo("eileen_dark.png", astronaut_variants["dark"])]
    seen = []
    build_identity("E", refs, ctx=RunContext(on_progress=lambda f, m: seen.append((f, m))))
    fractions = [f for f, _m in seen]
    assert fractions[:3] == pytest.approx([0, 1 / 3, 2 / 3]) and fractions[-1] == 1.0
    assert "eileen_mirror.png" in seen[1][1]

    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        build_identity("E", refs, ctx=RunContext(cancel_token=token))


def test_bad_arguments_are_bad_input(write_photo, astronaut):
    ref = write_photo("eileen.png", astronaut)
    with pytest.raises(BadInput) as error:
        build_identity("  ", [ref])
    assert error.value.field == "name"
    with pytest.raises(BadInput) as error:
        build_identity("x", [ref], encoders=("facenet",))
    assert error.value.field == "encoders"
    with pytest.raises(BadInput) as error:
        build_identity("x", [ref], encoders=("insightface/not_here",), models_dir="/nonexistent")
    assert "non-commercial" in str(error.value) and "/nonexistent" in str(error.value)
