"""What a face recogniser gives and takes: the `FaceEncoder` protocol and
`DetectedFace`.

Landmarks always use one convention, whatever the encoder: five (x, y) points
in image pixels, ordered as insightface orders them: eye on the image's left,
eye on the image's right, nose, mouth corner on the image's left, mouth corner
on the image's right. (dlib's 5-point model has no mouth points; they are
estimated from the eyes and nose with the ArcFace template.)"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


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
