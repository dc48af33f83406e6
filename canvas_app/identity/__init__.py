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
from canvas_app.identity.faces import DetectedFace, FaceEncoder
from canvas_app.identity.model_paths import default_models_dir, installed_packs
from canvas_app.identity.registry import available_encoders, download_pack, get_encoder
from canvas_app.identity.similarity import DEFAULT_THRESHOLD, similarity
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

