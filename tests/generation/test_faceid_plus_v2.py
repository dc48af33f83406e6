"""FaceID Plus v2 on Generate: ArcFace embeddings plus CLIP hidden states of the
identity's aligned face crops (`clip_embeds`, shortcut on), on a tiny adapter in
the layout of ip-adapter-faceid-plusv2_sd15.bin (perceiver resampler + LoRA)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("diffusers")
pytest.importorskip("peft")

import tiny_models as tm  # noqa: E402
from diffusers_helpers import pipe_of, request  # noqa: E402

from canvas_app.engine.context import RunContext  # noqa: E402
from canvas_app.errors import BadInput  # noqa: E402


def plus(tiny, **extra):
    return {"faceid_variant": "plus_v2", "faceid_adapter": str(tiny["faceid_plus_v2"]),
            "image_encoder": str(tiny["image_encoder"]), **extra}


def _identity_with_faces(seed=0):
    identity = tm.tiny_identity(seed)
    rng = np.random.default_rng(seed)
    for sample in identity.samples:
        sample.face_crop = rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)
    return identity


def test_plus_v2_feeds_clip_face_embeddings_with_the_shortcut(tiny, backend):
    import torch

    identity = _identity_with_faces()
    clip = backend.render(request(tiny, identity=identity, **plus(tiny)), RunContext())
    assert clip.metadata["faceid_variant"] == "plus_v2" and clip.metadata["face_crops"] == 3
    pipe = pipe_of(backend, faceid_variant="plus_v2")
    projection = pipe.unet.encoder_hid_proj.image_projection_layers[0]
    assert type(projection).__name__ == "IPAdapterFaceIDPlusImageProjection"
    assert projection.shortcut is True and projection.shortcut_scale == 1.0
    # (negative, positive) x 3 crops x CLIP tokens x hidden; the negative half encodes blank images.
    embeds = projection.clip_embeds
    assert embeds.shape[:2] == (2, 3) and embeds.shape[-1] == 32
    assert not torch.equal(embeds[0], embeds[1])
    # Stronger face structure changes the picture; another face's crops do too.
    strong = backend.render(request(tiny, identity=identity, **plus(tiny, face_structure=3.0)), RunContext())
    assert np.abs(strong.frames[0].astype(int) - clip.frames[0]).mean() > 0.5
    assert strong.metadata["face_structure"] == 3.0


def test_plus_v2_adapter_needs_the_variant_and_the_variant_needs_plus_weights(tiny, backend):
    with pytest.raises(BadInput) as error:
        backend.render(request(tiny, faceid_adapter=str(tiny["faceid_plus_v2"]),
                               image_encoder=str(tiny["image_encoder"])), RunContext())
    assert error.value.field == "faceid_adapter" and "plus_v2" in str(error.value)
    with pytest.raises(BadInput) as error:
        backend.render(request(tiny, **plus(tiny, faceid_adapter=str(tiny["faceid"]))), RunContext())
    assert error.value.field == "faceid_adapter" and "Plus v2" in str(error.value)


def test_plus_v2_is_a_generate_param_and_auto_picks_the_plus_file():
    from canvas_app.generation.diffusers.loading import needed_models
    from canvas_app.generation.diffusers.options import parse_options
    from nodes.generate import Generate

    names = {spec.name for spec in Generate.spec.params}
    assert {"faceid_variant", "face_structure", "loras"} <= names
    needed = needed_models(parse_options({"faceid_variant": "plus_v2"}), "sd15", has_references=False)
    assert needed["faceid_adapter"].endswith("ip-adapter-faceid-plusv2_sd15.bin")
    assert needed["image_encoder"] == "h94/IP-Adapter/models/image_encoder"
