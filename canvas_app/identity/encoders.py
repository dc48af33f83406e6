"""The face encoder interface, the registry of encoders and similarity maths.

Two encoders sit behind one `FaceEncoder` protocol:

- ``"dlib"``: embedded, CPU only, nothing to download. HOG frontal detector,
  the 5-point shape predictor, ``get_face_chip`` alignment and the 128-d
  ResNet descriptor from ``face_recognition_models``.
- ``"insightface/<pack>"``: an insightface model pack (SCRFD/RetinaFace
  detector with 5 keypoints + ArcFace 512-d recognizer) run by onnxruntime.
  The packs are licensed for non-commercial research only.

Landmarks always use one convention, whatever the encoder: five (x, y) points
in image pixels, ordered as insightface orders them: eye on the image's left,
eye on the image's right, nose, mouth corner on the image's left, mouth corner
on the image's right. (dlib's 5-point model has no mouth points; they are
estimated from the eyes and nose with the ArcFace template.)

Similarity is "higher = more alike" for every encoder and one threshold, 0.4,
means "same person":

- insightface: cosine similarity of the normalised embeddings.
- dlib: ``1 - DLIB_DESCRIPTOR_NORM * euclidean distance`` of the normalised
  embeddings. dlib's raw descriptors have a nearly constant length (about
  1.46), so this is 1 - dlib's own distance and dlib's published rule "same
  person if distance < 0.6" becomes "similarity > 0.4".

Nothing here imports dlib, cv2, insightface or onnxruntime at module level.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from canvas_app.errors import BadInput

DEFAULT_THRESHOLD = 0.4
# Mean length of dlib's raw 128-d descriptors (measured: 1.36..1.59, median 1.46).
DLIB_DESCRIPTOR_NORM = 1.46
DEFAULT_INSIGHTFACE_PACK = "buffalo_l"
INSIGHTFACE_PREFIX = "insightface/"
INSIGHTFACE_LICENSE_NOTE = (
    "insightface's pretrained model packs are licensed for non-commercial research use only")

# ArcFace 112x112 template (insightface.utils.face_align.arcface_dst), copied so
# that geometry code does not need to import insightface.
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
     [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)


@dataclass
class DetectedFace:
    """One face found in an image."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels
    landmarks: np.ndarray  # (5, 2) float32, see the module docstring for the order
    score: float  # detector confidence; its scale depends on the encoder
    native: np.ndarray | None = field(default=None, repr=False)  # encoder's own points

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return (float(self.box[0] + self.box[2]) / 2, float(self.box[1] + self.box[3]) / 2)


@runtime_checkable
class FaceEncoder(Protocol):
    """What build_identity and score_frames need from a face recogniser."""

    name: str  # "dlib" or "insightface/<pack>"
    embedding_size: int
    threshold: float  # similarity at or above which two faces are the same person

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        """Faces in an RGB uint8 image, any order."""

    def align(self, image: np.ndarray, face: DetectedFace) -> np.ndarray:
        """The face cropped, rotated upright and scaled the way `embed` wants (RGB uint8)."""

    def embed(self, aligned: np.ndarray) -> np.ndarray:
        """An L2-normalised float32 vector of length `embedding_size`."""

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        """Higher is more alike; `threshold` separates same from different people."""


# ----------------------------------------------------------------------------- maths

def normalize(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm <= 1e-12:
        raise ValueError("cannot normalise a zero or non-finite vector")
    return (vector / norm).astype(np.float32)


def encoder_family(encoder_name: str) -> str:
    return "insightface" if encoder_name.startswith("insightface") else encoder_name


def similarity(encoder_name: str, a: np.ndarray, b: np.ndarray) -> float:
    """Similarity of two normalised embeddings made by `encoder_name`.

    Pure maths: works on stored embeddings without loading any model.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"embedding sizes differ: {a.shape[0]} and {b.shape[0]}")
    if encoder_family(encoder_name) == "dlib":
        return float(1.0 - DLIB_DESCRIPTOR_NORM * np.linalg.norm(a - b))
    denominator = float(np.linalg.norm(a) * np.linalg.norm(b)) or 1e-12
    return float(np.dot(a, b) / denominator)


def threshold_for(encoder_name: str) -> float:
    return DEFAULT_THRESHOLD


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


# ----------------------------------------------------------------------------- where models live

def default_models_dir() -> Path:
    """Root of the insightface model packs: ``<dir>/models/<pack>/*.onnx``.

    $CANVAS_APP_MODELS, else ``<user data dir>/canvas-app/insightface``.
    """
    env = os.environ.get("CANVAS_APP_MODELS")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("canvas-app", appauthor=False)) / "insightface"


def resolve_models_dir(models_dir: str | Path | None) -> Path:
    return Path(models_dir).expanduser() if models_dir is not None else default_models_dir()


def pack_dir(pack: str, models_dir: str | Path | None = None) -> Path:
    return resolve_models_dir(models_dir) / "models" / pack


def _pack_is_present(path: Path) -> bool:
    try:
        return path.is_dir() and (any(path.glob("*.onnx")) or (path / "manifest.json").is_file())
    except OSError:
        return False


def installed_packs(models_dir: str | Path | None = None) -> list[str]:
    root = resolve_models_dir(models_dir) / "models"
    try:
        children = sorted(root.iterdir()) if root.is_dir() else []
    except OSError:
        return []
    return [child.name for child in children if _pack_is_present(child)]


def _module_available(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def available_encoders(models_dir: str | Path | None = None) -> list[str]:
    """Encoders that can run on this machine now (nothing is loaded or downloaded)."""
    names = []
    from canvas_app.identity import dlib_encoder

    if dlib_encoder.dlib_available():
        names.append("dlib")
    if _module_available("onnxruntime") and _module_available("insightface"):
        names.extend(INSIGHTFACE_PREFIX + pack for pack in installed_packs(models_dir))
    return names


# ----------------------------------------------------------------------------- registry

_ENCODERS: dict[tuple[str, str], FaceEncoder] = {}
_ENCODERS_LOCK = threading.Lock()


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


def clear_encoder_cache() -> None:
    """Forget loaded encoders (tests; after a model pack was replaced)."""
    with _ENCODERS_LOCK:
        _ENCODERS.clear()


def embed_face(encoder: FaceEncoder, image: np.ndarray, face: DetectedFace) -> np.ndarray:
    return encoder.embed(encoder.align(image, face))


def _as_rgb_uint8(image: Any, *, file: str | None = None) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or array.shape[0] < 8 or array.shape[1] < 8:
        raise BadInput(f"expected an RGB image, got an array of shape {array.shape}", file=file)
    if array.shape[2] == 4:
        array = array[:, :, :3]
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and np.nanmax(array) <= 1.0:
            array = np.clip(np.nan_to_num(array) * 255.0 + 0.5, 0, 255)
        array = np.clip(array, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(array)
