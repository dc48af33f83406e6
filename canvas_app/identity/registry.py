"""The registry of face encoders: names, what can run here, and the shared
instances. The only module that imports the concrete encoders (dlib_encoder,
insightface_encoder), lazily, so nothing loads dlib or onnxruntime until an
encoder is asked for.

Two encoders sit behind one `FaceEncoder` protocol (faces.py):

- ``"dlib"``: embedded, CPU only, nothing to download. HOG frontal detector,
  the 5-point shape predictor, ``get_face_chip`` alignment and the 128-d
  ResNet descriptor from ``face_recognition_models``.
- ``"insightface/<pack>"``: an insightface model pack (SCRFD/RetinaFace
  detector with 5 keypoints + ArcFace 512-d recognizer) run by onnxruntime.
  The packs are licensed for non-commercial research only."""
from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Callable

from canvas_app.errors import BadInput
from canvas_app.identity.faces import FaceEncoder
from canvas_app.identity.model_paths import (DEFAULT_INSIGHTFACE_PACK, INSIGHTFACE_PREFIX,
                                             installed_packs, pack_dir, pack_is_present)

_ENCODERS: dict[tuple[str, str], FaceEncoder] = {}
_ENCODERS_LOCK = threading.Lock()


def canonical_encoder_name(name: str) -> str:
    """"dlib", "insightface" (= buffalo_l) or "insightface/<pack>"."""
    name = str(name).strip()
    if name == "dlib":
        return name
    if name == "insightface":
        return INSIGHTFACE_PREFIX + DEFAULT_INSIGHTFACE_PACK
    if name.startswith(INSIGHTFACE_PREFIX):
        pack = name[len(INSIGHTFACE_PREFIX):]
        if not pack or pack in (".", "..") or "/" in pack or "\\" in pack or "\x00" in pack:
            raise BadInput(f"bad insightface model pack name {pack!r}", field="encoders")
        return name
    raise BadInput(f"unknown face encoder {name!r}; use 'dlib' or 'insightface/<pack>'",
                   field="encoders")


def _module_available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def dlib_available() -> bool:
    """dlib and its face_recognition_models weights are installed."""
    from canvas_app.identity import dlib_encoder

    return dlib_encoder.dlib_available()


def can_run(encoder_name: str, models_dir: str | Path | None = None) -> bool:
    """Whether the encoder `encoder_name` (canonical) could run here now."""
    if encoder_name == "dlib":
        return dlib_available()
    if encoder_name.startswith(INSIGHTFACE_PREFIX):
        return pack_is_present(pack_dir(encoder_name[len(INSIGHTFACE_PREFIX):], models_dir))
    return False


def available_encoders(models_dir: str | Path | None = None) -> list[str]:
    """Encoders that can run on this machine now (nothing is loaded or downloaded)."""
    names = ["dlib"] if dlib_available() else []
    if _module_available("onnxruntime") and _module_available("insightface"):
        names.extend(INSIGHTFACE_PREFIX + pack for pack in installed_packs(models_dir))
    return names


def get_encoder(name: str, models_dir: str | Path | None = None) -> FaceEncoder:
    """The shared encoder instance for `name` (models load once per process)."""
    name = canonical_encoder_name(name)
    if name == "dlib":
        key = (name, "")
    else:
        key = (name, str(pack_dir(name[len(INSIGHTFACE_PREFIX):], models_dir).resolve()))
    with _ENCODERS_LOCK:
        encoder = _ENCODERS.get(key)
        if encoder is None:
            if name == "dlib":
                from canvas_app.identity.dlib_encoder import DlibEncoder

                encoder = DlibEncoder()
            else:
                from canvas_app.identity.insightface_encoder import InsightFaceEncoder

                encoder = InsightFaceEncoder(name[len(INSIGHTFACE_PREFIX):], models_dir)
            _ENCODERS[key] = encoder
        return encoder


def download_pack(name: str, models_dir: str | Path | None = None,
                  progress_callback: Callable | None = None) -> Path:
    """Download an insightface model pack (see insightface_encoder.download_pack)."""
    from canvas_app.identity.insightface_encoder import download_pack as download

    return download(name, models_dir, progress_callback)
