"""The animatic backend: a deterministic CPU renderer for blocking out a cut.

It needs no model and no GPU. From the identity's portrait (a head-and-shoulders
crop with the face box and 5 landmarks in its own pixels) it renders a shot:

Framing
    The face is scaled to a fraction of the frame height that matches
    `prompt.shot_size`: close-up 45 %, medium 23 % (head and shoulders),
    wide 11.5 % but never smaller than 46 px, so a face recogniser still finds
    the person at 640x360. The eyes sit on the upper third line, centred
    horizontally (pans start a little to one side and end on the other).
    "Face height" is the portrait's face box height (as the detector that built
    the identity measured it); without a box it is estimated from the landmarks.

Background
    With an "environment" reference, the environment is cover-fitted behind the
    subject, magnified and defocused more for tighter shots (a longer lens), and
    the subject is composited over it with a soft grabCut matte (see
    `canvas_app.media.matte`, cached per portrait). Without one, a heavily
    blurred, darkened copy of the portrait with a soft pool of light behind the
    head serves as a studio backdrop.
    Outfit and product references are shown as small, ungraded inset cards in
    the lower right corner (a storyboard note: "this shot features that"),
    because an animatic cannot dress the person or place the product.
    `options={"inset_cards": False}` turns them off.

Camera
    static (truly still), push-in (zoom 1.0 -> 1.3 about the face), pull-out
    (1.3 -> 1.0), pan-left / pan-right (the framing window travels 16 % of the
    frame width), tilt-up / tilt-down (12 % of the height). Moves ease in and
    out (cosine), and the background moves about half as much as the subject
    (parallax). Each frame is a sub-pixel cv2.warpAffine of a pre-scaled
    subject and background, so motion is smooth. Unknown moves fall back to
    static, with a note in the metadata.

Grade
    `canvas_app.media.grading`: neutral, warm, cool, dramatic, noir, dreamy,
    golden-hour; unknown moods fall back to neutral with a note.

Determinism
    The same request and seed give bit-identical frames. The seed changes
    only the film-grain pattern (mild, and halved on the subject;
    `options={"grain": 0}` turns it off).

Metadata: backend, model ("animatic-v1"), seed, shot_size, camera_move, mood,
width, height, fps, frames, plus identity, environment, notes, and
"face_boxes": the face box (x0, y0, x1, y1) in frame pixels for every frame,
which the sequence's likeness scoring can use as a crop hint.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np

from canvas_app.engine.context import RunContext
from canvas_app.errors import BadInput
from canvas_app.generation.base import ShotRequest
from canvas_app.media.camera import PAN_TRAVEL, TILT_TRAVEL, ZOOM_RANGE, camera_path
from canvas_app.media.grading import Grade
from canvas_app.media.matte import extend_body, subject_matte
from canvas_app.shot_directions import resolve_camera_move, resolve_shot_size
from canvas_app.values import Clip, Identity, RefImage

MODEL = "animatic-v1"

# Face height as a fraction of the frame height.
FACE_FRACTION = {"close-up": 0.45, "medium": 0.23, "wide": 0.115}
MIN_FACE_PX = 46.0  # below this a recogniser starts to lose the person
# Background magnification and defocus (sigma as a fraction of the frame diagonal) per shot size.
BG_MAGNIFY = {"close-up": 1.35, "medium": 1.15, "wide": 1.0}
BG_DEFOCUS = {"close-up": 0.010, "medium": 0.004, "wide": 0.0012}

PARALLAX = 0.5  # background moves/zooms this much relative to the subject
GRAIN = 2.5  # film grain standard deviation in 8-bit levels
PREVIEW_INTERVAL = 1.0 / 15.0  # seconds of wall time between previews

# --------------------------------------------------------------------------- face geometry


@dataclass(frozen=True)
class FaceGeometry:
    eyes: tuple[float, float]  # midpoint between the eyes, portrait pixels
    height: float  # face height, portrait pixels
    box: tuple[float, float, float, float]  # x0, y0, x1, y1


def _eye_points(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(eye a, eye b, mouth centre or None) from 5 or 68 landmarks.

    5 points in the insightface order (eyes, nose, mouth corners) are told apart
    from dlib's 5-point order (two corners per eye, then the nose) by where the
    last two points are: below the nose for mouth corners."""
    if len(points) >= 68:
        return points[36:42].mean(0), points[42:48].mean(0), points[48:68].mean(0)
    if len(points) == 5:
        nose_y = points[2, 1]
        if points[3, 1] > nose_y and points[4, 1] > nose_y:
            return points[0], points[1], (points[3] + points[4]) / 2
        return (points[0] + points[1]) / 2, (points[2] + points[3]) / 2, None
    if len(points) >= 2:
        return points[0], points[1], None
    raise ValueError("too few landmarks")


def face_geometry(identity: Identity) -> FaceGeometry:
    portrait = identity.portrait
    assert portrait is not None
    ph, pw = portrait.shape[:2]
    box = identity.portrait_face_box
    points = None
    if identity.portrait_landmarks is not None:
        points = np.asarray(identity.portrait_landmarks, dtype=np.float64).reshape(-1, 2)
    eyes = None
    mouth = None
    if points is not None and len(points) >= 2:
        eye_a, eye_b, mouth = _eye_points(points)
        eyes = (eye_a + eye_b) / 2
        eye_distance = float(np.hypot(*(eye_b - eye_a)))
    if box is not None:
        x0, y0, x1, y1 = (float(v) for v in box)
        if x1 - x0 < 2 or y1 - y0 < 2:
            box = None
    if box is None:
        if eyes is None:
            raise BadInput("the identity's portrait has neither a face box nor landmarks, so the "
                           "animatic cannot find the face; rebuild the identity from a face reference",
                           field="identity")
        # Calibrated on detector boxes: box height ~2.4x eyes-to-mouth, ~2.1x eye distance.
        height = 2.4 * float(mouth[1] - eyes[1]) if mouth is not None else 2.1 * eye_distance
        height = max(height, 4.0)
        x0, x1 = eyes[0] - 0.5 * height, eyes[0] + 0.5 * height
        y0 = eyes[1] - 0.3 * height
        y1 = y0 + height
    if eyes is None:
        eyes = np.array([(x0 + x1) / 2, y0 + 0.32 * (y1 - y0)])
    return FaceGeometry(eyes=(float(eyes[0]), float(eyes[1])), height=float(y1 - y0),
                        box=(float(x0), float(y0), float(x1), float(y1)))


# --------------------------------------------------------------------------- helpers


def _rgb(pixels: np.ndarray) -> np.ndarray:
    """RGB uint8 from grey, RGB or RGBA pixels."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    return np.ascontiguousarray(pixels[:, :, :3], dtype=np.uint8)


def _resize(image: np.ndarray, scale_x: float, scale_y: float) -> tuple[np.ndarray, float, float]:
    """Resize by a factor; returns the image and the exact factors of the rounded size."""
    h, w = image.shape[:2]
    nw, nh = max(1, int(round(w * scale_x))), max(1, int(round(h * scale_y)))
    if (nw, nh) == (w, h):
        return image, 1.0, 1.0
    shrinking = nw < w and nh < h
    out = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
    return out, nw / w, nh / h


def _affine(scale_x: float, scale_y: float, src_anchor, dst_anchor) -> np.ndarray:
    """Matrix mapping pixel centres: dst = s * (src - src_anchor) + dst_anchor."""
    return np.array([[scale_x, 0.0, dst_anchor[0] - scale_x * src_anchor[0]],
                     [0.0, scale_y, dst_anchor[1] - scale_y * src_anchor[1]]], dtype=np.float64)


def _to_resized(point, fx: float, fy: float) -> tuple[float, float]:
    """Where an original pixel coordinate lands after cv2.resize by (fx, fy)."""
    return ((point[0] + 0.5) * fx - 0.5, (point[1] + 0.5) * fy - 0.5)


def _studio_backdrop(portrait: np.ndarray, width: int, height: int, light_xy) -> np.ndarray:
    """A blurred, darkened, desaturated portrait with a soft light pool behind the head."""
    ph, pw = portrait.shape[:2]
    cover = max(width / pw, height / ph)
    small_w, small_h = max(4, width // 16), max(4, height // 16)
    # Cover-fit at 1/16 scale, blur there (cheap), then scale up smoothly.
    crop_w, crop_h = width / cover, height / cover
    cx, cy = pw / 2, ph / 2
    matrix = _affine(small_w / crop_w, small_h / crop_h, (cx, cy), (small_w / 2 - 0.5, small_h / 2 - 0.5))
    small = cv2.warpAffine(portrait, matrix, (small_w, small_h), flags=cv2.INTER_AREA,
                           borderMode=cv2.BORDER_REFLECT101)
    small = cv2.GaussianBlur(small, (0, 0), max(1.0, small_w / 10))
    backdrop = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    grey = backdrop @ np.array([0.299, 0.587, 0.114], np.float32)
    backdrop = 0.55 * backdrop + 0.45 * grey[:, :, None]
    ys = (np.arange(height, dtype=np.float32) - light_xy[1]) / height
    xs = (np.arange(width, dtype=np.float32) - light_xy[0]) / height
    pool = np.exp(-(xs[None, :] ** 2 + ys[:, None] ** 2) / (2 * 0.45 ** 2))
    backdrop *= (0.30 + 0.35 * pool)[:, :, None]
    return np.clip(backdrop + 0.5, 0, 255).astype(np.uint8)


def _inset_cards(references: list[RefImage], width: int, height: int) -> list[tuple[np.ndarray, int, int]]:
    """Small bordered thumbnails of outfit/product references: (card, x, y) from the lower right."""
    cards = []
    card_h = max(24, int(round(height * 0.2)))
    margin = max(4, int(round(height * 0.03)))
    border = max(1, height // 240)
    x_right = width - margin
    for ref in references[:3]:
        pixels = _rgb(ref.pixels)
        ph, pw = pixels.shape[:2]
        inner_h = card_h - 2 * border
        inner_w = max(8, min(int(round(pw * inner_h / ph)), int(width * 0.25)))
        thumb = cv2.resize(pixels, (inner_w, inner_h), interpolation=cv2.INTER_AREA)
        card = cv2.copyMakeBorder(thumb, border, border, border, border, cv2.BORDER_CONSTANT,
                                  value=(240, 240, 240))
        x = x_right - card.shape[1]
        y = height - margin - card.shape[0]
        if x < margin:
            break
        cards.append((card, x, y))
        x_right = x - margin
    return cards


# --------------------------------------------------------------------------- the backend


class AnimaticBackend:
    name = "animatic"
    # The seed only moves the film grain: another seed cannot change the likeness,
    # so the identity guard does not re-roll this backend.
    seed_changes_likeness = False

    def render(self, request: ShotRequest, ctx: RunContext) -> Clip:
        plan = _Plan(request, ctx)
        n = plan.frame_count
        frames: list[np.ndarray] = []
        face_boxes: list[list[float]] = []
        last_preview = -math.inf
        for i in range(n):
            ctx.check_cancel()
            frame, box = plan.frame(i)
            frames.append(frame)
            face_boxes.append([round(v, 2) for v in box])
            now = time.monotonic()
            if now - last_preview >= PREVIEW_INTERVAL or i == n - 1:
                ctx.preview(frame)
                last_preview = now
            ctx.progress((i + 1) / n, f"frame {i + 1}/{n}")
        metadata = plan.metadata()
        metadata["face_boxes"] = face_boxes
        return Clip(frames=frames, fps=float(request.fps), metadata=metadata)


class _Plan:
    """Everything that is the same for every frame of one shot, computed once."""

    def __init__(self, request: ShotRequest, ctx: RunContext) -> None:
        identity = request.identity
        if identity is None or identity.portrait is None:
            raise BadInput("the animatic needs an identity built from a face reference (or loaded "
                           "from an identity file that includes a portrait); this identity has no "
                           "portrait to frame", field="identity")
        width, height = int(request.width), int(request.height)
        if width < 16 or height < 16 or width > 8192 or height > 8192:
            raise BadInput(f"frame size {width}x{height} is out of range (16..8192)", field="width")
        fps = float(request.fps)
        if not math.isfinite(fps) or fps <= 0 or fps > 240:
            raise BadInput(f"fps {request.fps} is out of range (0..240]", field="fps")
        prompt = request.prompt
        duration = float(prompt.duration)
        if not math.isfinite(duration) or duration <= 0 or duration > 600:
            raise BadInput(f"duration {prompt.duration} s is out of range (0..600]", field="duration")

        self.request = request
        self.width, self.height, self.fps = width, height, fps
        self.frame_count = max(1, int(round(duration * fps)))
        self.notes: list[str] = []
        options = request.options or {}

        self.shot_size, known = resolve_shot_size(prompt.shot_size)
        if not known:
            self.notes.append(f"unknown shot size {prompt.shot_size!r}; framed as medium")
        self.camera_move, known = resolve_camera_move(prompt.camera_move)
        if not known:
            self.notes.append(f"unknown camera move {prompt.camera_move!r}; rendered static")
        self.grade = Grade(prompt.mood, width, height)
        if not self.grade.known:
            self.notes.append(f"unknown mood {prompt.mood!r}; graded neutral")
        for note in self.notes:
            ctx.log(note)

        portrait = _rgb(identity.portrait)
        geometry = face_geometry(identity)
        self.geometry = geometry

        # Framing at zoom 1: portrait -> frame scale, and where the eyes go.
        face_px = max(FACE_FRACTION[self.shot_size] * height,
                      min(MIN_FACE_PX, 0.45 * height))
        self.base_scale = face_px / geometry.height
        self.eye_target = (width / 2.0 - 0.5, height / 3.0 - 0.5)
        # Zoom centre: the face box centre in the base framing.
        box = geometry.box
        face_centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
        self.zoom_centre = (self.eye_target[0] + self.base_scale * (face_centre[0] - geometry.eyes[0]),
                            self.eye_target[1] + self.base_scale * (face_centre[1] - geometry.eyes[1]))
        self.max_zoom = 1.0 + ZOOM_RANGE if self.camera_move in ("push-in", "pull-out") else 1.0

        ctx.check_cancel()
        # Subject: premultiplied RGBA float32, pre-scaled to the largest size any frame needs,
        # so every per-frame warp is a mild downscale (or none) at sub-pixel accuracy.
        alpha = subject_matte(portrait, geometry.box)
        ctx.check_cancel()
        rgba = np.empty(portrait.shape[:2] + (4,), np.float32)
        rgba[:, :, :3] = portrait
        rgba[:, :, :3] *= alpha[:, :, None]
        rgba[:, :, 3] = alpha
        # If the portrait ends above the bottom of the frame, continue the body down.
        lowest_eyes = self.eye_target[1] - 0.5 * TILT_TRAVEL * height
        needed = (height + 4 - lowest_eyes) / self.base_scale - (portrait.shape[0] - geometry.eyes[1])
        if needed > 0:
            rgba = extend_body(rgba, int(math.ceil(needed)), geometry.box[2] - geometry.box[0])
        pre = self.base_scale * self.max_zoom
        self.subject, fx, fy = _resize(rgba, pre, pre)
        self.subject_eyes = _to_resized(geometry.eyes, fx, fy)
        self.subject_scale = (fx, fy)

        # Background.
        environment = next((r for r in request.references if r.role == "environment"), None)
        self.environment_name = environment.name if environment is not None else None
        margin = 1.0 + PARALLAX * max(PAN_TRAVEL, TILT_TRAVEL) + 0.02
        if environment is not None:
            env = _rgb(environment.pixels)
            eh, ew = env.shape[:2]
            cover = max(width / ew, height / eh) * BG_MAGNIFY[self.shot_size] * margin
            self.background, bx, by = _resize(env, cover, cover)
            sigma = BG_DEFOCUS[self.shot_size] * math.hypot(width, height)
            if sigma >= 0.6:
                self.background = cv2.GaussianBlur(self.background, (0, 0), sigma)
            self.background_centre = _to_resized((ew / 2 - 0.5, eh / 2 - 0.5), bx, by)
        else:
            bw, bh = int(math.ceil(width * margin)), int(math.ceil(height * margin))
            light = (bw / 2, bh / 2 - height / 6 + face_px * 0.3)
            self.background = _studio_backdrop(portrait, bw, bh, light)
            self.background_centre = (bw / 2 - 0.5, bh / 2 - 0.5)
        ctx.check_cancel()

        # Film grain: one noise field; each frame reads a window at a seeded offset.
        self.grain_strength = float(options.get("grain", GRAIN))
        self.grain_field = None
        if self.grain_strength > 0:
            rng = np.random.default_rng([int(request.seed) & 0xFFFFFFFF, 0x6A1])
            pad = 64
            noise = rng.standard_normal((height + pad, width + pad)).astype(np.float32)
            noise = cv2.GaussianBlur(noise, (0, 0), 0.7)
            noise *= self.grain_strength / max(1e-6, float(noise.std()))
            self.grain_field = noise
            self.grain_offsets = rng.integers(0, pad, size=(self.frame_count, 2))

        cards = [r for r in request.references if r.role in ("outfit", "product")]
        self.cards = (_inset_cards(cards, width, height)
                      if cards and options.get("inset_cards", True) else [])
        self.card_names = [r.name for r in cards[:len(self.cards)]]

    # ------------------------------------------------------------------ per frame

    def camera(self, i: int) -> tuple[float, float, float]:
        """(zoom, offset x, offset y) of frame i, in frame pixels."""
        zoom, dx, dy = camera_path(self.camera_move, i / (self.frame_count - 1)
                                   if self.frame_count > 1 else 0.0)
        return zoom, dx * self.width, dy * self.height

    def _view(self, point, zoom: float, dx: float, dy: float):
        c = self.zoom_centre
        return (zoom * (point[0] - c[0]) + c[0] + dx, zoom * (point[1] - c[1]) + c[1] + dy)

    def frame(self, i: int) -> tuple[np.ndarray, tuple[float, float, float, float]]:
        w, h = self.width, self.height
        zoom, dx, dy = self.camera(i)

        # Subject: eyes land on the eye target, moved by the camera.
        eyes_dst = self._view(self.eye_target, zoom, dx, dy)
        scale = self.base_scale * zoom
        fx, fy = self.subject_scale
        m_subject = _affine(scale / fx, scale / fy, self.subject_eyes, eyes_dst)
        fg = cv2.warpAffine(self.subject, m_subject, (w, h), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))

        # Background: the same camera with half the zoom and travel (parallax).
        bg_zoom = 1.0 + PARALLAX * (zoom - 1.0)
        frame_centre = (w / 2 - 0.5, h / 2 - 0.5)
        c = self.zoom_centre
        bg_dst = (bg_zoom * (frame_centre[0] - c[0]) + c[0] + PARALLAX * dx,
                  bg_zoom * (frame_centre[1] - c[1]) + c[1] + PARALLAX * dy)
        m_bg = _affine(bg_zoom, bg_zoom, self.background_centre, bg_dst)
        bg = cv2.warpAffine(self.background, m_bg, (w, h), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT101)

        alpha = fg[:, :, 3]
        out = bg.astype(np.float32)
        out *= (1.0 - alpha)[:, :, None]
        out += fg[:, :, :3]
        if self.grain_field is not None:
            oy, ox = self.grain_offsets[i]
            grain = self.grain_field[oy:oy + h, ox:ox + w] * (1.0 - 0.5 * alpha)
            out += grain[:, :, None]
        np.clip(out, 0, 255, out=out)
        out += 0.5
        frame = self.grade.apply(out.astype(np.uint8))
        for card, x, y in self.cards:
            frame[y:y + card.shape[0], x:x + card.shape[1]] = card

        gx0, gy0, gx1, gy1 = self.geometry.box
        ex, ey = self.geometry.eyes
        box = (eyes_dst[0] + scale * (gx0 - ex), eyes_dst[1] + scale * (gy0 - ey),
               eyes_dst[0] + scale * (gx1 - ex), eyes_dst[1] + scale * (gy1 - ey))
        return frame, box

    def metadata(self) -> dict:
        request = self.request
        meta = {
            "backend": "animatic",
            "model": MODEL,
            "seed": int(request.seed),
            "shot_size": self.shot_size,
            "camera_move": self.camera_move,
            "mood": self.grade.mood,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "frames": self.frame_count,
            "identity": request.identity.name,
            "identity_id": request.identity.identity_id,
            "environment": self.environment_name,
            "inset_cards": self.card_names,
            "notes": list(self.notes),
        }
        if request.prompt.name:
            meta["shot"] = request.prompt.name
        return meta
