"""Face geometry with numpy only: similarity transforms, pose, crops."""
from __future__ import annotations

import math

import numpy as np

# ArcFace 112x112 template (insightface.utils.face_align.arcface_dst), copied so
# that geometry code does not need to import insightface.
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
     [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 matrix of the least-squares similarity transform taking src to dst (Umeyama)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(covariance)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1
    rotation = u @ np.diag(d) @ vt
    variance = (src_c ** 2).sum() / len(src)
    scale = float((s * d).sum() / variance) if variance > 0 else 1.0
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def apply_transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def five_points_from_eyes_nose(left_eye, right_eye, nose) -> np.ndarray:
    """The 5-point landmarks when only eyes and nose are known: mouth corners
    are placed where the ArcFace template puts them relative to eyes and nose."""
    known = np.array([left_eye, right_eye, nose], dtype=np.float64)
    matrix = similarity_transform(ARCFACE_TEMPLATE[:3], known)
    mouth = apply_transform(matrix, ARCFACE_TEMPLATE[3:])
    return np.vstack([known, mouth]).astype(np.float32)


def estimate_yaw(landmarks: np.ndarray) -> float:
    """Approximate head yaw in degrees (0 = facing the camera, +-90 = profile).

    From how far the nose sits sideways from the midpoint of the eyes, in
    units of half the eye distance, measured along the eye line (so head roll
    does not count). A nose above one eye is roughly 45 degrees.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    left, right, nose = points[0], points[1], points[2]
    eye_vector = right - left
    half = float(np.linalg.norm(eye_vector)) / 2.0
    if half < 1e-6:
        return 90.0
    axis = eye_vector / (2.0 * half)
    ratio = float(np.dot(nose - (left + right) / 2.0, axis)) / half
    return float(math.degrees(math.atan(ratio)))


FACEID_CROP_SIZE = 224  # IP-Adapter FaceID Plus v2's face crops (its model card and reference code)


def faceid_crop(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
    """`face_align.norm_crop(image, landmark=kps, image_size=224)`: the face
    warped onto insightface's ArcFace template at 224 px, as IP-Adapter FaceID
    Plus v2 was trained. None without five finite landmarks."""
    points = np.asarray(landmarks, dtype=np.float32)
    if points.shape != (5, 2) or not np.isfinite(points).all():
        return None
    import warnings

    try:
        from insightface.utils import face_align
    except ImportError:  # a dlib-only install still locks identities; Plus v2 then says what is missing
        return None

    with warnings.catch_warnings():  # scikit-image deprecates the estimate() call it uses
        warnings.simplefilter("ignore", FutureWarning)
        crop = face_align.norm_crop(np.ascontiguousarray(image, dtype=np.uint8), landmark=points,
                                    image_size=FACEID_CROP_SIZE)
    return np.ascontiguousarray(crop, dtype=np.uint8)


def portrait_crop(image: np.ndarray, box, landmarks: np.ndarray, *, factor: float = 3.0,
                  max_side: int = 768):
    """Head-and-shoulders square crop around a face.

    The square is `factor` x the face height, with the face centred left to
    right and in the upper part; where it leaves the image the edge is
    mirrored (reflection padding). Returns (crop, landmarks, box) with the
    landmarks and box moved into the crop's pixel coordinates (after any
    downscaling to `max_side`).
    """
    import cv2

    x0, y0, x1, y1 = (float(v) for v in box)
    face_h = max(y1 - y0, x1 - x0, 1.0)
    side = max(8, int(round(face_h * factor)))
    cx = (x0 + x1) / 2.0
    cy = (y0 + y1) / 2.0 + 0.25 * face_h  # leave room for the shoulders below
    left = int(round(cx - side / 2.0))
    top = int(round(cy - side / 2.0))
    height, width = image.shape[:2]
    pad_left, pad_top = max(0, -left), max(0, -top)
    pad_right, pad_bottom = max(0, left + side - width), max(0, top + side - height)
    if pad_left or pad_top or pad_right or pad_bottom:
        padded = np.pad(image, ((pad_top, pad_bottom), (pad_left, pad_right), (0, 0)),
                        mode="reflect")
    else:
        padded = image
    crop_left, crop_top = left + pad_left, top + pad_top
    crop = padded[crop_top:crop_top + side, crop_left:crop_left + side]
    scale = 1.0
    if side > max_side:
        scale = max_side / side
        crop = cv2.resize(crop, (max_side, max_side), interpolation=cv2.INTER_AREA)
    crop = np.ascontiguousarray(crop, dtype=np.uint8)
    points = ((np.asarray(landmarks, dtype=np.float64) - [left, top]) * scale).astype(np.float32)
    new_box = tuple(float(v) for v in ((x0 - left) * scale, (y0 - top) * scale,
                                        (x1 - left) * scale, (y1 - top) * scale))
    return crop, points, new_box
