"""Is a reference face good enough to trust, and how much should it count?"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from canvas_app.errors import BadInput
from canvas_app.identity.faces import DetectedFace
from canvas_app.identity.geometry import estimate_yaw

MIN_FACE_PX = 40  # face box height below which an embedding is noise
GOOD_FACE_PX = 160  # at and above this size counts fully
MIN_SHARPNESS = 15.0  # variance of the Laplacian of the 112x112 aligned grey face
GOOD_SHARPNESS = 100.0
MAX_YAW = {"face": 45.0, "profile": 80.0}  # degrees; a profile reference may turn further


@dataclass(frozen=True)
class FaceQuality:
    face_px: float
    sharpness: float
    yaw: float  # degrees, approximate
    weight: float  # 0..1

    def describe(self) -> str:
        return (f"face {self.face_px:.0f} px, sharpness {self.sharpness:.0f}, "
                f"yaw {self.yaw:+.0f} deg, weight {self.weight:.2f}")


def sharpness(aligned: np.ndarray) -> float:
    """Variance of the Laplacian of the aligned face at a fixed 112x112 size."""
    import cv2

    grey = cv2.cvtColor(np.ascontiguousarray(aligned, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    grey = cv2.resize(grey, (112, 112), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def assess(face: DetectedFace, aligned: np.ndarray) -> FaceQuality:
    face_px = face.height
    sharp = sharpness(aligned)
    yaw = estimate_yaw(face.landmarks)
    size_term = min(1.0, max(0.0, (face_px - MIN_FACE_PX) / (GOOD_FACE_PX - MIN_FACE_PX)))
    sharp_term = min(1.0, max(0.0, (sharp - MIN_SHARPNESS) / (GOOD_SHARPNESS - MIN_SHARPNESS)))
    pose_term = max(0.0, math.cos(math.radians(min(abs(yaw), 90.0))))
    # Floors keep a usable-but-weak reference from counting for nothing.
    weight = (0.25 + 0.75 * size_term) * (0.25 + 0.75 * sharp_term) * (0.2 + 0.8 * pose_term)
    return FaceQuality(face_px=float(face_px), sharpness=sharp, yaw=float(yaw),
                       weight=float(round(min(1.0, max(0.01, weight)), 6)))


def check(quality: FaceQuality, role: str, *, file: str | None = None,
          node: str | None = None) -> None:
    """Raise BadInput when the face cannot be trusted as a reference of `role`."""
    if quality.face_px < MIN_FACE_PX:
        raise BadInput(
            f"the face is too small to trust ({quality.face_px:.0f} px tall; at least "
            f"{MIN_FACE_PX} px is needed): use a closer or larger photo", file=file, node=node)
    if quality.sharpness < MIN_SHARPNESS:
        raise BadInput(
            f"the face is too blurred (sharpness {quality.sharpness:.1f}, at least "
            f"{MIN_SHARPNESS:.0f} is needed): use a sharper photo", file=file, node=node)
    limit = MAX_YAW.get(role, MAX_YAW["face"])
    if abs(quality.yaw) > limit:
        hint = ("mark it as a profile reference, or use a photo facing the camera"
                if role == "face" else "use a photo where both eyes are visible")
        raise BadInput(
            f"the head is turned too far (about {abs(quality.yaw):.0f} degrees; a {role} "
            f"reference allows up to {limit:.0f}): {hint}", file=file, node=node)
