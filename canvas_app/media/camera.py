"""Camera moves, implemented once: how far a push-in zooms, how far a pan
travels and with what easing. The animatic renderer moves its virtual camera
along `camera_path`; generators that render one still move over it with
`frames_from_still`."""
from __future__ import annotations

import math

import numpy as np

from canvas_app.shot_directions import resolve_camera_move

ZOOM_RANGE = 0.3  # a push-in ends this much closer (1.3x)
PAN_TRAVEL = 0.16  # of the frame width, over the whole shot
TILT_TRAVEL = 0.12  # of the frame height


def ease_in_out(t: float) -> float:
    """Cosine ease: 0 -> 1 with zero velocity at both ends."""
    t = min(1.0, max(0.0, t))
    return 0.5 - 0.5 * math.cos(math.pi * t)


def camera_path(move: str, t: float) -> tuple[float, float, float]:
    """(zoom, dx, dy) at time `t` in [0, 1] of a shot: the zoom factor and how
    far the scene has slid, as fractions of the frame width and height
    (a pan left moves the view left, so the scene slides right)."""
    s = ease_in_out(t)
    if move == "push-in":
        return 1.0 + ZOOM_RANGE * s, 0.0, 0.0
    if move == "pull-out":
        return 1.0 + ZOOM_RANGE * (1.0 - s), 0.0, 0.0
    if move == "pan-left":
        return 1.0, PAN_TRAVEL * (s - 0.5), 0.0
    if move == "pan-right":
        return 1.0, -PAN_TRAVEL * (s - 0.5), 0.0
    if move == "tilt-up":
        return 1.0, 0.0, TILT_TRAVEL * (s - 0.5)
    if move == "tilt-down":
        return 1.0, 0.0, -TILT_TRAVEL * (s - 0.5)
    return 1.0, 0.0, 0.0


def frames_from_still(still: np.ndarray, count: int, move: str | None) -> list[np.ndarray]:
    """Hold a still for `count` frames, moved along the camera path. A still
    has no scene beyond its edges, so pans and tilts look through a window
    just large enough for their travel."""
    move, _known = resolve_camera_move(move)
    if count <= 1 or move == "static":
        return [still.copy() for _ in range(max(1, count))]
    from PIL import Image

    height, width = still.shape[:2]
    image = Image.fromarray(still)
    # the smallest zoom that keeps a pan's or tilt's window inside the still
    travel = PAN_TRAVEL if move.startswith("pan") else TILT_TRAVEL if move.startswith("tilt") else 0.0
    base = 1.0 + travel
    frames = []
    for index in range(count):
        zoom, dx, dy = camera_path(move, index / (count - 1))
        zoom *= base
        crop_w, crop_h = width / zoom, height / zoom
        # (clamped: at the end of its travel the window touches the edge, give or take rounding)
        cx = min(max(width / 2 - dx * width / zoom, crop_w / 2), width - crop_w / 2)
        cy = min(max(height / 2 - dy * height / zoom, crop_h / 2), height - crop_h / 2)
        box = (cx - crop_w / 2, cy - crop_h / 2, cx + crop_w / 2, cy + crop_h / 2)
        frames.append(np.asarray(image.resize((width, height), Image.BICUBIC, box=box)))
    return frames
