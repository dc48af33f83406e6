"""The insightface path end to end, on a tiny pack exported from torch and
loaded by insightface's own FaceAnalysis / model_zoo routing."""
from __future__ import annotations

import numpy as np
import pytest

from canvas_app.errors import BadInput
from canvas_app.identity import (
    available_encoders,
    build_identity,
    get_encoder,
    load_identity,
    save_identity,
    score_frames,
)
from tiny_insightface import TEMPLATE, expected_box

TINY = "insightface/tiny"


@pytest.fixture(scope="module")
def tiny(tiny_models_dir):
    return get_encoder(TINY, tiny_models_dir)


def test_pack_is_listed_and_routed_by_insightface(tiny, tiny_models_dir, monkeypatch):
    assert available_encoders(tiny_models_dir) == ["dlib", TINY]
    monkeypatch.setenv("CANVAS_APP_MODELS", str(tiny_models_dir))
    assert TINY in available_encoders()
    from insightface.model_zoo.arcface_onnx import ArcFaceONNX
    from insightface.model_zoo.scrfd import SCRFD

    assert isinstance(tiny._detector, SCRFD) and isinstance(tiny._recognizer, ArcFaceONNX)
    assert tiny.model_files["detection"].endswith("det_tiny.onnx")
    assert tiny.name == TINY and tiny.embedding_size == 512 and tiny.aligned_size == 112
    assert tiny.providers[-1] == "CPUExecutionProvider"
    assert get_encoder("insightface/tiny", tiny_models_dir) is tiny  # loaded once


def test_detection_finds_the_rigged_face_with_landmarks(tiny, astronaut):
    faces = tiny.detect(astronaut)
    assert len(faces) == 1
    face = faces[0]
    assert np.allclose(face.box, expected_box(512), atol=1.0)
    assert np.allclose(face.landmarks, TEMPLATE * 512 / 112, atol=1.0)
    assert face.score == pytest.approx(0.9, abs=1e-3)


def test_alignment_maps_landmarks_to_the_arcface_template(tiny, hanks, astronaut):
    # Tom_Hanks_54745.png is already ArcFace-aligned; the rigged detector
    # reports the template, so alignment must give the photo back unchanged.
    face = tiny.detect(hanks)[0]
    aligned = tiny.align(hanks, face)
    assert aligned.shape == (112, 112, 3) and aligned.dtype == np.uint8
    assert np.abs(aligned.astype(int) - hanks.astype(int)).mean() < 1.0
    # On a 512 px photo the aligned crop is the centre region scaled down 512/112.
    import cv2

    aligned = tiny.align(astronaut, tiny.detect(astronaut)[0])
    expected = cv2.resize(astronaut, (112, 112), interpolation=cv2.INTER_AREA)
    assert np.abs(aligned.astype(int) - expected.astype(int)).mean() < 12


def test_embedding_is_the_recognizers_output_normalised_in_rgb_order(tiny, tiny_models_dir,
                                                                     astronaut):
    import onnxruntime

    aligned = tiny.align(astronaut, tiny.detect(astronaut)[0])  # a colour face
    vector = tiny.embed(aligned)
    assert vector.shape == (512,) and vector.dtype == np.float32
    assert abs(float(np.linalg.norm(vector)) - 1) < 1e-5
    session = onnxruntime.InferenceSession(
        str(tiny_models_dir / "models" / "tiny" / "rec_tiny.onnx"),
        providers=["CPUExecutionProvider"])
    blob = ((aligned.astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None]
    raw = session.run(None, {"input.1": blob})[0][0]
    assert np.allclose(vector, raw / np.linalg.norm(raw), atol=1e-5)
    swapped = tiny.embed(np.ascontiguousarray(aligned[:, :, ::-1]))  # BGR by mistake
    assert tiny.similarity(vector, swapped) < 0.999
    assert tiny.similarity(vector, tiny.embed(aligned.copy())) == pytest.approx(1.0)


def test_identity_with_both_encoders_round_trips(write_photo, hanks, tiny_models_dir, tmp_path):
    refs = [write_photo("hanks.png", hanks),
            write_photo("hanks_bright.png", np.clip(hanks * 1.2, 0, 255).astype(np.uint8))]
    identity = build_identity("Tom", refs, encoders=("dlib", TINY), models_dir=tiny_models_dir)
    assert list(identity.embeddings) == ["dlib", TINY]
    assert identity.embeddings[TINY].shape == (512,)
    assert all(set(s.embeddings) == {"dlib", TINY} for s in identity.samples)
    loaded = load_identity(save_identity(identity, tmp_path / "tom.safetensors"))
    assert loaded.embeddings[TINY].tobytes() == identity.embeddings[TINY].tobytes()
    assert loaded.identity_id == identity.identity_id


def test_identity_from_insightface_alone(write_photo, hanks, tiny_models_dir):
    identity = build_identity("Tom", [write_photo("hanks.png", hanks)], encoders=(TINY,),
                              models_dir=tiny_models_dir)
    sample = identity.samples[0]
    assert sample.thumbnail.shape == (112, 112, 3)
    assert np.abs(sample.thumbnail.astype(int) - hanks.astype(int)).mean() < 1.0
    assert identity.portrait_landmarks.shape == (5, 2)


def test_scoring_prefers_the_encoder_that_did_not_condition(write_photo, hanks, tiny_models_dir):
    identity = build_identity("Tom", [write_photo("hanks.png", hanks)],
                              encoders=("dlib", TINY), models_dir=tiny_models_dir)
    frames = [hanks] * 3
    by_tiny = score_frames(identity, frames, conditioned_encoder="dlib",
                           models_dir=tiny_models_dir)
    assert by_tiny.encoder == TINY and by_tiny.independent
    assert by_tiny.mean == pytest.approx(1.0, abs=1e-4)
    by_dlib = score_frames(identity, frames, conditioned_encoder=TINY, models_dir=tiny_models_dir)
    assert by_dlib.encoder == "dlib" and by_dlib.independent and by_dlib.mean > 0.9
    # Without the pack only dlib can run: used even when it conditioned, and said so.
    alone = score_frames(identity, frames, conditioned_encoder="dlib", models_dir="/nonexistent")
    assert alone.encoder == "dlib" and not alone.independent
    assert "not independent" in alone.notes[0]


def test_missing_pack_says_where_it_looked_and_the_licence(tmp_path):
    with pytest.raises(BadInput) as error:
        get_encoder("insightface/buffalo_l", tmp_path)
    message = str(error.value)
    assert str(tmp_path / "models" / "buffalo_l") in message
    assert "non-commercial" in message and "canvas-app identity download-pack" in message
    assert available_encoders(tmp_path) == ["dlib"]


def test_pack_without_a_recognizer_is_bad_input(tiny_models_dir, tmp_path):
    import shutil

    folder = tmp_path / "models" / "det_only"
    folder.mkdir(parents=True)
    shutil.copy(tiny_models_dir / "models" / "tiny" / "det_tiny.onnx", folder)
    with pytest.raises(BadInput) as error:
        get_encoder("insightface/det_only", tmp_path)
    assert "no ArcFace recognition model" in str(error.value)
    (folder / "broken.onnx").write_bytes(b"not a model")
    (folder / "det_tiny.onnx").unlink()
    with pytest.raises(BadInput) as error:
        get_encoder("insightface/det_only", tmp_path)
    assert "cannot load" in str(error.value) and str(folder) in str(error.value)


@pytest.mark.parametrize("name", ["insightface/../../etc", "insightface/", "insightface/a/b"])
def test_pack_names_cannot_leave_the_models_folder(name):
    with pytest.raises(BadInput):
        get_encoder(name)
