"""The dlib encoder on real photos: who is the same person, which face is used,
and which photos are refused."""
from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from canvas_app.errors import BadInput
from canvas_app.identity import DEFAULT_THRESHOLD, FaceEncoder, available_encoders, choose_face
from conftest import resize


def embed_largest(encoder, image):
    choice = choose_face(encoder, image)
    return encoder.embed(encoder.align(image, choice.face))


@pytest.fixture(scope="module")
def astronaut_embedding(dlib_encoder, astronaut):
    return embed_largest(dlib_encoder, astronaut)


def test_dlib_is_always_available_and_follows_the_interface(dlib_encoder):
    assert "dlib" in available_encoders()
    assert isinstance(dlib_encoder, FaceEncoder)
    assert dlib_encoder.name == "dlib" and dlib_encoder.embedding_size == 128
    assert dlib_encoder.threshold == DEFAULT_THRESHOLD == 0.4


def test_embedding_is_normalised_128d_and_deterministic(dlib_encoder, astronaut,
                                                        astronaut_embedding):
    assert astronaut_embedding.shape == (128,) and astronaut_embedding.dtype == np.float32
    assert abs(float(np.linalg.norm(astronaut_embedding)) - 1.0) < 1e-5
    again = embed_largest(dlib_encoder, astronaut.copy())
    assert np.array_equal(again, astronaut_embedding)
    assert dlib_encoder.similarity(again, astronaut_embedding) == pytest.approx(1.0)


def test_landmarks_use_the_insightface_order(dlib_encoder, astronaut):
    face = choose_face(dlib_encoder, astronaut).face
    left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
    x0, y0, x1, y1 = face.box
    assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
    assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in face.landmarks)
    # The astronaut's face is about 90 px tall around (220, 120).
    assert 80 <= face.height <= 100
    assert abs(face.center[0] - 220) < 15 and abs(face.center[1] - 121) < 15


@pytest.mark.parametrize("variant", ["crop", "mirror", "dark", "bright", "side_light", "small",
                                     "large"])
def test_same_person_under_photo_changes_scores_above_threshold(
        dlib_encoder, astronaut_variants, astronaut_embedding, variant):
    value = dlib_encoder.similarity(embed_largest(dlib_encoder, astronaut_variants[variant]),
                                    astronaut_embedding)
    assert value > DEFAULT_THRESHOLD + 0.2, value  # dlib distance < 0.4: clearly the same


def test_dlib_similarity_keeps_dlibs_own_distance_rule(dlib_encoder, astronaut, hanks):
    """similarity = 1 - dlib's own (unnormalised) distance, so its 0.6 rule is 0.4 here."""
    import dlib  # noqa: F401  (only to reach the raw descriptors below)

    from canvas_app.identity.dlib_encoder import _load_models

    models = _load_models()
    raws = []
    for image in (astronaut, hanks):
        chip = dlib_encoder.align(image, choose_face(dlib_encoder, image).face)
        raws.append(np.asarray(models.recognizer.compute_face_descriptor(chip)))
    raw_distance = float(np.linalg.norm(raws[0] - raws[1]))
    ours = dlib_encoder.similarity(raws[0] / np.linalg.norm(raws[0]),
                                   raws[1] / np.linalg.norm(raws[1]))
    assert ours == pytest.approx(1 - raw_distance, abs=0.05)


def test_different_people_score_below_threshold(dlib_encoder, astronaut_embedding, hanks, group):
    people = {"astronaut": astronaut_embedding, "hanks": embed_largest(dlib_encoder, hanks)}
    faces = sorted(dlib_encoder.detect(group), key=lambda face: face.center[0])
    assert len(faces) == 6
    for index, face in enumerate(faces):
        people[f"group{index}"] = dlib_encoder.embed(dlib_encoder.align(group, face))
    for (name_a, a), (name_b, b) in itertools.combinations(people.items(), 2):
        assert dlib_encoder.similarity(a, b) < DEFAULT_THRESHOLD, (name_a, name_b)


def test_group_photo_uses_the_largest_face_and_says_so(dlib_encoder, group):
    choice = choose_face(dlib_encoder, group, file="t1.jpg")
    faces = sorted(dlib_encoder.detect(group), key=lambda face: face.center[0])
    assert choice.count == 6
    assert choice.face.area == max(face.area for face in faces)
    assert choice.face.box == faces[choice.index].box
    assert "6 faces" in choice.note and f"face {choice.index}" in choice.note
    assert "largest" in choice.note


def test_face_index_picks_another_face_counted_from_the_left(dlib_encoder, group):
    leftmost = choose_face(dlib_encoder, group, face_index=0)
    rightmost = choose_face(dlib_encoder, group, face_index=5)
    assert leftmost.face.center[0] < 200 and rightmost.face.center[0] > 1050
    a = dlib_encoder.embed(dlib_encoder.align(group, leftmost.face))
    b = dlib_encoder.embed(dlib_encoder.align(group, rightmost.face))
    assert dlib_encoder.similarity(a, b) < DEFAULT_THRESHOLD
    with pytest.raises(BadInput) as error:
        choose_face(dlib_encoder, group, face_index=6, file="t1.jpg")
    assert error.value.field == "face_index" and "6 face(s)" in str(error.value)
    assert "t1.jpg" in str(error.value)


def test_small_faces_of_about_40_px_are_still_found(dlib_encoder, astronaut,
                                                    astronaut_embedding):
    small = resize(astronaut, 46 / 91)  # face about 46 px tall
    choice = choose_face(dlib_encoder, small)
    assert 40 <= choice.face.height <= 52
    value = dlib_encoder.similarity(dlib_encoder.embed(dlib_encoder.align(small, choice.face)),
                                    astronaut_embedding)
    assert value > DEFAULT_THRESHOLD


def test_faces_in_a_large_frame_are_found(dlib_encoder, astronaut, astronaut_embedding):
    frame = np.zeros((1080, 1920, 3), np.uint8) + 40
    frame[300:812, 900:1412] = astronaut
    choice = choose_face(dlib_encoder, frame)
    assert abs(choice.face.center[0] - (900 + 220)) < 20
    value = dlib_encoder.similarity(dlib_encoder.embed(dlib_encoder.align(frame, choice.face)),
                                    astronaut_embedding)
    assert value > DEFAULT_THRESHOLD + 0.2


def test_no_face_is_bad_input_naming_the_file(dlib_encoder):
    from skimage.data import coffee

    with pytest.raises(BadInput) as error:
        choose_face(dlib_encoder, coffee(), file="coffee.png")
    assert "no face" in str(error.value) and "coffee.png" in str(error.value)


def test_importing_the_package_loads_no_heavy_library():
    code = ("import sys, canvas_app.identity, canvas_app.identity.cli; "
            "heavy = [m for m in ('dlib', 'cv2', 'insightface', 'onnxruntime', 'torch', 'av') "
            "if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)")
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(root), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, cwd=root, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_models_load_once_and_threads_get_the_same_answers(dlib_encoder, astronaut, hanks):
    from concurrent.futures import ThreadPoolExecutor

    from canvas_app.identity import get_encoder

    images = [astronaut, hanks, astronaut[:, ::-1].copy(), hanks[:, ::-1].copy()]
    serial = [embed_largest(dlib_encoder, image) for image in images]
    with ThreadPoolExecutor(max_workers=4) as pool:
        encoders = list(pool.map(lambda _: get_encoder("dlib"), range(8)))
        parallel = list(pool.map(lambda image: embed_largest(get_encoder("dlib"), image), images))
    assert all(encoder is dlib_encoder for encoder in encoders)
    assert all(np.array_equal(a, b) for a, b in zip(serial, parallel))
