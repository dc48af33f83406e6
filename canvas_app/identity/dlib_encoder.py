"""The embedded default encoder: dlib on the CPU, nothing to download.

Weights come from the `face_recognition_models` wheel. Its package
``__init__`` imports pkg_resources (gone from new setuptools), so the model
files are located with importlib without importing the package.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from canvas_app.errors import NodeFailure
from canvas_app.identity.faces import DetectedFace
from canvas_app.identity.similarity import DEFAULT_THRESHOLD, normalize, similarity
from canvas_app.identity.geometry import five_points_from_eyes_nose

CHIP_SIZE = 150  # what dlib's ResNet expects
CHIP_PADDING = 0.25
# dlib's HOG detector sees faces of about 80 px and up; each upsampling halves
# that. The image is searched at 1x first; only when no face is found there is
# it searched again at 2x (faces down to ~40 px) and 4x (~20 px, so that a
# too-small face is reported as such), while the upsampled image stays under
# this many pixels. (A small face next to a large one is therefore not seen:
# the large one is what a reference or a shot is about.)
MAX_UPSAMPLED_PIXELS = 16_000_000
# HOG detections scoring below this are dropped: on the test photos real faces
# score 0.2 and up, a mission patch on a space suit 0.06..0.12.
MIN_DETECTION_SCORE = 0.15

_MODEL_FILES = {
    "shape_predictor": "shape_predictor_5_face_landmarks.dat",
    "recognizer": "dlib_face_recognition_resnet_model_v1.dat",
}
_models = None
_models_lock = threading.Lock()


def models_folder() -> Path | None:
    import importlib.util

    try:
        spec = importlib.util.find_spec("face_recognition_models")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "models"
        if all((folder / name).is_file() for name in _MODEL_FILES.values()):
            return folder
    return None


def dlib_available() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("dlib") is not None and models_folder() is not None
    except (ImportError, ValueError):
        return False


class _DlibModels:
    def __init__(self) -> None:
        try:
            import dlib
        except ImportError as error:  # pragma: no cover - dlib-bin is a dependency
            raise NodeFailure(f"the dlib face encoder is not installed ({error})") from None
        folder = models_folder()
        if folder is None:
            raise NodeFailure("the dlib face models (face_recognition_models) are not installed")
        self.dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.shape_predictor = dlib.shape_predictor(str(folder / _MODEL_FILES["shape_predictor"]))
        self.recognizer = dlib.face_recognition_model_v1(str(folder / _MODEL_FILES["recognizer"]))
        # dlib's DNN keeps per-call state in the network object: one caller at a time.
        self.lock = threading.Lock()


def _load_models() -> _DlibModels:
    global _models
    if _models is None:
        with _models_lock:
            if _models is None:
                _models = _DlibModels()
    return _models


class DlibEncoder:
    """dlib HOG detector + 5-point landmarks + 128-d ResNet descriptor."""

    name = "dlib"
    embedding_size = 128
    threshold = DEFAULT_THRESHOLD
    aligned_size = CHIP_SIZE

    def __init__(self) -> None:
        self._models = _load_models()

    # -- detection
    def _upsample_levels(self, image: np.ndarray) -> list[int]:
        height, width = image.shape[:2]
        return [0] + [level for level in (1, 2)
                      if height * width * (4 ** level) <= MAX_UPSAMPLED_PIXELS]

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        models = self._models
        image = np.ascontiguousarray(image, dtype=np.uint8)
        rects, scores = [], []
        with models.lock:
            for level in self._upsample_levels(image):
                found = models.detector.run(image, level, MIN_DETECTION_SCORE)
                rects, scores = found[0], found[1]
                if len(rects):
                    break
            faces = []
            for rect, score in zip(rects, scores):
                shape = models.shape_predictor(image, rect)
                native = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
                faces.append(DetectedFace(
                    box=(float(rect.left()), float(rect.top()), float(rect.right() + 1),
                         float(rect.bottom() + 1)),
                    landmarks=_five_points(native), score=float(score), native=native))
        return faces

    # -- alignment and embedding
    def align(self, image: np.ndarray, face: DetectedFace) -> np.ndarray:
        dlib = self._models.dlib
        image = np.ascontiguousarray(image, dtype=np.uint8)
        x0, y0, x1, y1 = (int(round(v)) for v in face.box)
        rect = dlib.rectangle(x0, y0, max(x0, x1 - 1), max(y0, y1 - 1))
        if face.native is not None and len(face.native) == 5:
            points = face.native
        else:
            points = _dlib_order(face.landmarks)
        shape = dlib.full_object_detection(
            rect, [dlib.point(int(round(x)), int(round(y))) for x, y in points])
        return np.ascontiguousarray(dlib.get_face_chip(image, shape, CHIP_SIZE, CHIP_PADDING))

    def embed(self, aligned: np.ndarray) -> np.ndarray:
        aligned = np.ascontiguousarray(aligned, dtype=np.uint8)
        if aligned.shape != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(f"dlib embeds {CHIP_SIZE}x{CHIP_SIZE} RGB chips, got {aligned.shape}")
        models = self._models
        with models.lock:
            descriptor = models.recognizer.compute_face_descriptor(aligned)
        return normalize(np.asarray(descriptor, dtype=np.float32))

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        return similarity(self.name, a, b)


def _five_points(native: np.ndarray) -> np.ndarray:
    """dlib's 5 points (corners of the image-right eye, of the image-left eye,
    base of the nose) -> the common 5-point convention."""
    right_eye = native[0:2].mean(axis=0)
    left_eye = native[2:4].mean(axis=0)
    if left_eye[0] > right_eye[0]:  # mirrored input; keep image-left first
        left_eye, right_eye = right_eye, left_eye
    return five_points_from_eyes_nose(left_eye, right_eye, native[4])


def _dlib_order(landmarks: np.ndarray) -> np.ndarray:
    """Common 5 points -> points dlib's chip code accepts (eye corners approximated)."""
    left_eye, right_eye, nose = (np.asarray(p, dtype=np.float64) for p in landmarks[:3])
    eye_axis = right_eye - left_eye
    spread = 0.2 * eye_axis
    return np.array([right_eye + spread, right_eye - spread, left_eye - spread,
                     left_eye + spread, nose], dtype=np.float32)

