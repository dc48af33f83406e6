"""The identity's face embeddings as IP-Adapter FaceID inputs."""
from __future__ import annotations

from typing import Any

import numpy as np

from canvas_app.errors import BadInput
from canvas_app.values import FaceSample, Identity

FACE_EMBED_DIM = 512
# IP-Adapter FaceID was trained on buffalo_l's ArcFace recognizer (w600k_r50). Another
# pack's recognizer (antelopev2's glintr100, ...) gives 512-d vectors in a different space.
FACEID_PACK = "buffalo_l"
INSIGHTFACE_PREFIX = "insightface/"


def recognizer_pack(key: str) -> str:
    """'insightface/buffalo_l' -> 'buffalo_l'; a bare 'insightface' is buffalo_l."""
    lowered = key.lower()
    if lowered.startswith(INSIGHTFACE_PREFIX):
        return lowered[len(INSIGHTFACE_PREFIX):]
    if lowered in ("insightface", "arcface"):
        return FACEID_PACK
    return lowered


def insightface_key(identity: Identity) -> str | None:
    """The identity's 512-d insightface embedding key, preferring buffalo_l."""
    keys = [key for key, vector in identity.embeddings.items()
            if ("insightface" in key.lower() or key.lower().startswith(("arcface", "antelope", "buffalo")))
            and np.asarray(vector).size == FACE_EMBED_DIM]
    keys.sort(key=lambda key: recognizer_pack(key) != FACEID_PACK)
    return keys[0] if keys else None


def _faceid_key(identity: Identity) -> str:
    """The identity's buffalo_l embedding key; BadInput when it has none."""
    key = insightface_key(identity)
    if key is None:
        have = ", ".join(identity.embeddings) or "none"
        raise BadInput("IP-Adapter FaceID needs ArcFace (insightface) embeddings, and this identity has "
                       f"only: {have}. Add an insightface encoder to the IdentityLock node and lock the "
                       "identity again.", field="identity")
    pack = recognizer_pack(key)
    if pack != FACEID_PACK:
        raise BadInput(f"identity {identity.name!r} was embedded with the {pack} pack's recognizer, but "
                       f"IP-Adapter FaceID was trained on {FACEID_PACK}'s ArcFace: the face would condition "
                       f"with the wrong embedding. Lock the identity again with the insightface/{FACEID_PACK} "
                       "encoder.", field="identity")
    return key


def _usable_vector(sample: FaceSample, key: str) -> np.ndarray | None:
    """The sample's 512-d embedding when it is included, finite and the right size."""
    if not sample.included or key not in sample.embeddings:
        return None
    vector = np.asarray(sample.embeddings[key], dtype=np.float32).reshape(-1)
    return vector if vector.size == FACE_EMBED_DIM and np.all(np.isfinite(vector)) else None


def face_embeddings(identity: Identity) -> np.ndarray:
    """(n_refs, 512) float32: the buffalo_l embedding of every included reference
    (all go to FaceID together), or the combined one if the identity keeps no
    per-reference samples. Refuses an embedding from another recognizer."""
    key = _faceid_key(identity)
    vectors = [vector for vector in (_usable_vector(sample, key) for sample in identity.samples)
               if vector is not None]
    if not vectors:
        vectors = [np.asarray(identity.embeddings[key], dtype=np.float32).reshape(-1)]
    return np.stack(vectors).astype(np.float32)


def portrait_sample(identity: Identity) -> FaceSample | None:
    """The sample the identity's portrait was cut from: the best included one
    by quality, as `build_identity` picks it."""
    included = [sample for sample in identity.samples if sample.included]
    return max(included, key=lambda sample: sample.quality) if included else None


def plus_v2_crop(identity: Identity, sample: FaceSample) -> np.ndarray | None:
    """The sample's 224-px aligned crop; for identities locked before crops were
    kept, the portrait's sample gets one made from the stored portrait landmarks."""
    if sample.face_crop is not None and np.asarray(sample.face_crop).size:
        return np.asarray(sample.face_crop, dtype=np.uint8)
    if (sample is portrait_sample(identity) and identity.portrait is not None
            and identity.portrait_landmarks is not None):
        from canvas_app.identity.geometry import faceid_crop

        return faceid_crop(identity.portrait, identity.portrait_landmarks)
    return None


def plus_v2_inputs(identity: Identity) -> tuple[np.ndarray, list[np.ndarray]]:
    """FaceID Plus v2's two inputs, paired by sample: (n, 512) ArcFace embeddings
    and n aligned 224-px face crops of the same references (the adapter's
    projection concatenates them per image, so the counts must agree). A sample
    without a usable embedding or crop is left out of both."""
    key = _faceid_key(identity)
    vectors, crops = [], []
    for sample in identity.samples:
        vector = _usable_vector(sample, key)
        crop = plus_v2_crop(identity, sample) if vector is not None else None
        if vector is not None and crop is not None:
            vectors.append(vector)
            crops.append(crop)
    if not crops:
        raise BadInput(f"identity {identity.name!r} keeps no aligned face crops with usable ArcFace "
                       "embeddings, which FaceID Plus v2 needs; lock the identity again or set "
                       "faceid_variant to faceid", field="faceid_variant")
    return np.stack(vectors).astype(np.float32), crops


def faceid_embeds(faces: np.ndarray, *, do_cfg: bool, dtype: Any = None, device: Any = None):
    """The FaceID `ip_adapter_image_embeds` entry: (1 or 2, n_refs, 1, 512),
    zeros (the negative half) first when doing classifier-free guidance."""
    import torch

    embeds = torch.from_numpy(np.ascontiguousarray(faces, dtype=np.float32)).reshape(1, -1, 1, faces.shape[-1])
    if do_cfg:
        embeds = torch.cat([torch.zeros_like(embeds), embeds], dim=0)
    return embeds.to(device=device, dtype=dtype)
