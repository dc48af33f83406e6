"""insightface model packs (detector + ArcFace) run by onnxruntime.

A pack is a folder ``<models_dir>/models/<pack>/`` of .onnx files, loaded with
insightface's own `FaceAnalysis`, which routes each file by its input and
output shapes (a detector has >= 5 outputs; a recognizer takes N x 3 x 112 x
112). Only the detection and recognition models are loaded.

The pretrained packs (buffalo_l, antelopev2, ...) are licensed by insightface
for NON-COMMERCIAL RESEARCH USE ONLY. They are never downloaded implicitly:
`download_pack` does it when the user asks.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from canvas_app.errors import BadInput, NodeFailure
from canvas_app.identity.faces import DetectedFace
from canvas_app.identity.model_paths import (INSIGHTFACE_LICENSE_NOTE, INSIGHTFACE_PREFIX, pack_dir,
                                             pack_is_present, resolve_models_dir)
from canvas_app.identity.similarity import DEFAULT_THRESHOLD, normalize, similarity

DETECTION_THRESHOLD = 0.5


def onnx_providers() -> tuple[list[str], int]:
    """(providers, insightface ctx_id): CUDA when onnxruntime has it, else CPU."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"], 0
    return ["CPUExecutionProvider"], -1


def missing_pack_error(pack: str, models_dir: str | Path | None) -> BadInput:
    folder = pack_dir(pack, models_dir)
    return BadInput(
        f"insightface model pack {pack!r} is not installed: no .onnx files in {folder}. "
        f"Download it with `canvas-app identity download-pack {pack} "
        f"--accept-non-commercial-license` (or from the editor's Identities panel), or copy the pack's "
        f".onnx files there (set CANVAS_APP_MODELS to use another models folder). Note: "
        f"{INSIGHTFACE_LICENSE_NOTE}.", file=str(folder), field="encoders")


class InsightFaceEncoder:
    """Detection + 5 keypoints + ArcFace embedding from one insightface pack."""

    threshold = DEFAULT_THRESHOLD

    def __init__(self, pack: str, models_dir: str | Path | None = None) -> None:
        self.pack = pack
        self.name = INSIGHTFACE_PREFIX + pack
        self.folder = pack_dir(pack, models_dir)
        if not pack_is_present(self.folder):
            raise missing_pack_error(pack, models_dir)
        self._lock = threading.Lock()
        self._app = None
        self.providers, self._ctx_id = onnx_providers()
        self._load()

    def _load(self) -> None:
        try:
            from insightface.app import FaceAnalysis
        except ImportError as error:
            raise NodeFailure(f"insightface is not installed ({error})") from None
        try:
            # A folder path as `name` makes FaceAnalysis load it directly: it
            # never reaches insightface's download code.
            app = FaceAnalysis(name=str(self.folder.resolve()), root=str(self.folder.parent.parent),
                               allowed_modules=["detection", "recognition"],
                               providers=self.providers)
        except AssertionError:
            raise BadInput(f"the insightface pack in {self.folder} has no face detector model "
                           f"that insightface recognises", file=str(self.folder),
                           field="encoders") from None
        except Exception as error:  # onnxruntime / protobuf errors on damaged files
            raise BadInput(f"cannot load the insightface pack in {self.folder}: "
                           f"{error.__class__.__name__}: {error}", file=str(self.folder),
                           field="encoders") from None
        if "recognition" not in app.models:
            raise BadInput(f"the insightface pack in {self.folder} has no ArcFace recognition "
                           f"model (N x 3 x 112 x 112 input)", file=str(self.folder),
                           field="encoders")
        app.prepare(ctx_id=self._ctx_id, det_thresh=DETECTION_THRESHOLD)
        self._app = app
        self._detector = app.models["detection"]
        self._recognizer = app.models["recognition"]
        if not getattr(self._detector, "use_kps", True):
            raise BadInput(f"the detector in {self.folder} gives no face landmarks, which "
                           f"alignment needs", file=str(self.folder), field="encoders")
        self.aligned_size = int(self._recognizer.input_size[0])
        output_shape = self._recognizer.output_shape
        size = output_shape[-1] if output_shape and isinstance(output_shape[-1], int) else None
        self.embedding_size = int(size) if size else 512

    @property
    def model_files(self) -> dict[str, str]:
        return {task: str(model.model_file) for task, model in self._app.models.items()}

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        bgr = np.ascontiguousarray(np.asarray(image, dtype=np.uint8)[:, :, ::-1])
        boxes, keypoints = self._detector.detect(bgr, max_num=0)
        faces = []
        for index in range(boxes.shape[0]):
            x0, y0, x1, y1, score = (float(v) for v in boxes[index, :5])
            if keypoints is None:
                continue
            points = np.asarray(keypoints[index], dtype=np.float32).reshape(5, 2)
            if not (np.isfinite(points).all() and np.isfinite([x0, y0, x1, y1]).all()):
                continue
            faces.append(DetectedFace(box=(x0, y0, x1, y1), landmarks=points, score=score,
                                      native=points.copy()))
        return faces

    def align(self, image: np.ndarray, face: DetectedFace) -> np.ndarray:
        from insightface.utils import face_align

        image = np.ascontiguousarray(image, dtype=np.uint8)
        with warnings.catch_warnings():  # scikit-image deprecates the estimate() call it uses
            warnings.simplefilter("ignore", FutureWarning)
            return np.ascontiguousarray(face_align.norm_crop(
                image, landmark=np.asarray(face.landmarks, dtype=np.float32),
                image_size=self.aligned_size))

    def embed(self, aligned: np.ndarray) -> np.ndarray:
        aligned = np.asarray(aligned, dtype=np.uint8)
        if aligned.shape != (self.aligned_size, self.aligned_size, 3):
            raise ValueError(f"{self.name} embeds {self.aligned_size}x{self.aligned_size} RGB "
                             f"crops, got {aligned.shape}")
        # insightface models take BGR (cv2) images and swap to RGB themselves.
        feature = self._recognizer.get_feat(np.ascontiguousarray(aligned[:, :, ::-1]))
        vector = np.asarray(feature, dtype=np.float32).reshape(-1)
        if vector.shape[0] != self.embedding_size:
            raise NodeFailure(f"{self.name} returned a {vector.shape[0]}-d embedding, "
                              f"expected {self.embedding_size}")
        try:
            return normalize(vector)
        except ValueError:
            raise NodeFailure(f"{self.name} returned an empty or non-finite embedding") from None

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        return similarity(self.name, a, b)


def download_pack(name: str, models_dir: str | Path | None = None,
                  progress_callback: Callable[[int, int | None], None] | None = None) -> Path:
    """Download an insightface model pack (e.g. "buffalo_l") into
    ``<models_dir>/models/<name>`` from insightface's model-zoo release, using
    insightface's own URL scheme and downloader.

    The pretrained packs are licensed for non-commercial research only; the
    caller must have shown that to the user. `progress_callback(done_bytes,
    total_bytes_or_None)` is called while downloading. The pack folder appears
    atomically: an interrupted download leaves no half pack behind.
    Never called by the tests (it needs the internet).
    """
    import zipfile

    from insightface.utils.storage import model_zoo_download_url

    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise BadInput(f"bad model pack name {name!r}", field="pack")
    root = resolve_models_dir(models_dir) / "models"
    target = root / name
    if pack_is_present(target):
        return target
    root.mkdir(parents=True, exist_ok=True)
    url = model_zoo_download_url(f"{name}.zip")
    with tempfile.TemporaryDirectory(dir=root, prefix=f".{name}-") as work:
        zip_path = Path(work) / f"{name}.zip"
        if progress_callback is None:
            from insightface.utils.download import download_file

            download_file(url, path=str(zip_path), overwrite=True)
        else:
            import requests

            with requests.get(url, stream=True, timeout=60) as response:
                if response.status_code != 200:
                    raise NodeFailure(f"downloading {url} failed: HTTP {response.status_code}")
                total = int(response.headers.get("content-length") or 0) or None
                done = 0
                with open(zip_path, "wb") as handle:
                    for chunk in response.iter_content(chunk_size=1 << 20):
                        handle.write(chunk)
                        done += len(chunk)
                        progress_callback(done, total)
        extracted = Path(work) / "pack"
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(extracted)  # zipfile drops absolute and '..' parts
        source = extracted
        if not any(source.glob("*.onnx")):
            nested = [child for child in source.iterdir() if child.is_dir() and any(child.glob("*.onnx"))]
            if len(nested) == 1:  # antelopev2.zip holds antelopev2/*.onnx
                source = nested[0]
        if not any(source.glob("*.onnx")):
            raise NodeFailure(f"the downloaded {name}.zip holds no .onnx model")
        if target.exists():
            shutil.rmtree(target)
        os.replace(source, target)
    return target
