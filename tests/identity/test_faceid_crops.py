"""Issue 18, defect 6: every new identity keeps, per reference, the face crop
IP-Adapter FaceID Plus v2 was trained on (`face_align.norm_crop(image,
landmark=kps, image_size=224)`), and identity files carry it; older identities
get one from the portrait's stored landmarks when a Plus v2 shot needs it."""
from __future__ import annotations

import numpy as np

from canvas_app.identity import build_identity
from canvas_app.identity.files import load_identity, save_identity


def test_new_identities_keep_224_px_aligned_crops_that_survive_saving(eileen, dlib_encoder, astronaut, tmp_path):
    from insightface.utils import face_align

    from canvas_app.identity.build import choose_face

    assert all(sample.face_crop.shape == (224, 224, 3) and sample.face_crop.dtype == np.uint8
               for sample in eileen.samples)
    first = eileen.samples[0]  # eileen.png: the astronaut photo as it is
    face = choose_face(dlib_encoder, astronaut).face
    expected = face_align.norm_crop(astronaut, landmark=np.asarray(face.landmarks, np.float32), image_size=224)
    assert np.abs(first.face_crop.astype(int) - expected).mean() < 1.0  # the same warp of the same face
    assert first.face_crop.std() > 20  # a face, not the black border of a bad warp
    assert first.thumbnail.shape[:2] != (224, 224)  # the encoder's own crop is kept apart

    loaded = load_identity(save_identity(eileen, tmp_path / "eileen.safetensors"))
    for before, after in zip(eileen.samples, loaded.samples):
        np.testing.assert_array_equal(before.face_crop, after.face_crop)


def test_an_identity_file_without_crops_still_loads(eileen, tmp_path):
    """Files written before the crops were kept have none: they load with face_crop None."""
    import dataclasses

    old = dataclasses.replace(eileen, samples=[dataclasses.replace(s, face_crop=None) for s in eileen.samples])
    loaded = load_identity(save_identity(old, tmp_path / "old.safetensors"))
    assert all(sample.face_crop is None for sample in loaded.samples)
    assert loaded.portrait_landmarks is not None and loaded.portrait_landmarks.shape == (5, 2)


def test_old_identity_gets_its_plus_v2_crop_from_the_portrait(eileen):
    """The portrait is cut from the best included reference; its landmarks make that
    sample's crop, and the other samples (no landmarks kept) get none."""
    import dataclasses

    from insightface.utils import face_align

    from canvas_app.generation.diffusers.faces import plus_v2_crop, portrait_sample

    old = dataclasses.replace(eileen, samples=[dataclasses.replace(s, face_crop=None) for s in eileen.samples])
    best = portrait_sample(old)
    assert best is not None and f"portrait from {best.source_name}" in eileen.notes
    expected = face_align.norm_crop(old.portrait, landmark=old.portrait_landmarks, image_size=224)
    np.testing.assert_array_equal(plus_v2_crop(old, best), expected)
    assert [plus_v2_crop(old, s) is None for s in old.samples] == [s is not best for s in old.samples]


def test_build_keeps_crops_for_every_reference_left_out_or_not(write_photo, astronaut, hanks):
    refs = [write_photo("e1.png", astronaut), write_photo("e2.png", astronaut[:, ::-1]),
            write_photo("th.png", hanks), write_photo("e3.png", (astronaut * 0.6).astype(np.uint8))]
    identity = build_identity("E", refs)
    assert [s.face_crop.shape for s in identity.samples] == [(224, 224, 3)] * 4
