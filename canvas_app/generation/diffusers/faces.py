"""The identity's face embeddings as IP-Adapter FaceID inputs."""
from __future__ import annotations

from typing import Any

import numpy as np

from canvas_app.errors import BadInput
from canvas_app.values import Identity

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


def face_embeddings(identity: Identity) -> np.ndarray:
    """(n_refs, 512) float32: the buffalo_l embedding of every included reference
    (all go to FaceID together), or the combined one if the identity keeps no
    per-reference samples. Refuses an embedding from another recognizer."""
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
    vectors = [np.asarray(sample.embeddings[key], dtype=np.float32).reshape(-1)
               for sample in identity.samples
               if sample.included and key in sample.embeddings]
    vectors = [v for v in vectors if v.size == FACE_EMBED_DIM and np.all(np.isfinite(v))]
    if not vectors:
        vectors = [np.asarray(identity.embeddings[key], dtype=np.float32).reshape(-1)]
    return np.stack(vectors).astype(np.float32)


def faceid_embeds(faces: np.ndarray, *, do_cfg: bool, dtype: Any = None, device: Any = None):
    """The FaceID `ip_adapter_image_embeds` entry: (1 or 2, n_refs, 1, 512),
    zeros (the negative half) first when doing classifier-free guidance."""
    import torch

    embeds = torch.from_numpy(np.ascontiguousarray(faces, dtype=np.float32)).reshape(1, -1, 1, faces.shape[-1])
    if do_cfg:
        embeds = torch.cat([torch.zeros_like(embeds), embeds], dim=0)
    return embeds.to(device=device, dtype=dtype)
