"""The identity package's face-encoder names in one import, for callers that
want them together. Each job lives in its own module:

- faces.py        the FaceEncoder protocol and DetectedFace
- similarity.py   similarity maths and the "same person" threshold
- model_paths.py  where insightface model packs live
- registry.py     encoder names, what can run here, the shared instances
                  (the only importer of dlib_encoder and insightface_encoder)
- image_input.py  images coerced to what the encoders take
- geometry.py     alignment maths and the ArcFace template
"""
from __future__ import annotations

from canvas_app.identity.faces import DetectedFace, FaceEncoder
from canvas_app.identity.model_paths import (DEFAULT_INSIGHTFACE_PACK, INSIGHTFACE_LICENSE_NOTE,
                                             INSIGHTFACE_PREFIX, default_models_dir,
                                             installed_packs, pack_dir, resolve_models_dir)
from canvas_app.identity.registry import (available_encoders, canonical_encoder_name,
                                          get_encoder)
from canvas_app.identity.similarity import (DEFAULT_THRESHOLD, DLIB_DESCRIPTOR_NORM,
                                            encoder_family, normalize, similarity)

__all__ = [
    "DEFAULT_INSIGHTFACE_PACK", "DEFAULT_THRESHOLD", "DLIB_DESCRIPTOR_NORM", "DetectedFace",
    "FaceEncoder", "INSIGHTFACE_LICENSE_NOTE", "INSIGHTFACE_PREFIX", "available_encoders",
    "canonical_encoder_name", "default_models_dir", "encoder_family", "get_encoder",
    "installed_packs", "normalize", "pack_dir", "resolve_models_dir", "similarity",
]
