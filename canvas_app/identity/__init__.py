"""Face identity: detect / align / embed backends, identity files, library, scoring.

Importing this package is cheap: dlib, cv2, insightface, onnxruntime and torch
are imported inside the functions that need them, so the editor opens fast.

Public API::

    available_encoders(models_dir=None) -> list[str]
    get_encoder(name, models_dir=None) -> FaceEncoder
    build_identity(name, references, *, encoders=("dlib",), face_index=None,
                   models_dir=None, ctx=None) -> Identity
    save_identity(identity, path) / load_identity(path)
    IdentityLibrary(folder), user_library(), project_library(project_dir)
    score_frames(identity, frames, *, conditioned_encoder=None, max_samples=8,
                 models_dir=None) -> ShotScore
    score_media(identity, paths, ...) -> list[ShotScore]
    download_pack(name, models_dir=None, progress_callback=None)
"""
from __future__ import annotations

from canvas_app.identity.build import build_identity, choose_face
from canvas_app.identity.encoders import (
    DEFAULT_THRESHOLD,
    DetectedFace,
    FaceEncoder,
    available_encoders,
    default_models_dir,
    get_encoder,
    installed_packs,
    similarity,
)
from canvas_app.identity.files import load_identity, save_identity
from canvas_app.identity.library import IdentityLibrary, LibraryEntry, project_library, user_library
from canvas_app.identity.scoring import ShotScore, score_frames, score_media, summarize

__all__ = [
    "DEFAULT_THRESHOLD",
    "DetectedFace",
    "FaceEncoder",
    "IdentityLibrary",
    "LibraryEntry",
    "ShotScore",
    "available_encoders",
    "build_identity",
    "choose_face",
    "default_models_dir",
    "download_pack",
    "get_encoder",
    "installed_packs",
    "load_identity",
    "project_library",
    "save_identity",
    "score_frames",
    "score_media",
    "similarity",
    "summarize",
    "user_library",
]


def download_pack(name, models_dir=None, progress_callback=None):
    """Download an insightface model pack (non-commercial research licence);
    see canvas_app.identity.insightface_encoder.download_pack."""
    from canvas_app.identity.insightface_encoder import download_pack as _download

    return _download(name, models_dir, progress_callback)
