"""Colour grades for moods: precomputed tone curves plus a few cheap per-frame ops.

A `Grade` is built once per shot (`Grade(mood, width, height)`) and then
applied to every frame with `grade.apply(frame)`. Everything expensive - the
per-channel tone curves (a 256-entry LUT), the colour matrix, the vignette map -
is computed in the constructor, so a frame costs one `cv2.transform`, one
`cv2.LUT`, and for some moods one multiply (vignette) and one small blur
(bloom).

Moods (`canvas_app.shot_directions.MOODS`): neutral, warm, cool, dramatic (contrast + vignette),
noir (monochrome, contrast, vignette), dreamy (soft bloom, lifted blacks,
softer contrast), golden-hour (strong warm, glowing highlights). Common
spellings are accepted ("Golden hour", "golden_hour", "b&w", ...); anything
else resolves to neutral, and `resolve_mood` says so, so the caller can put a
note in the clip's metadata.

Vignettes start outside an ellipse that covers the middle of the frame,
where the animatic puts the face (eyes on the upper third line), so they
darken corners but leave the face alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from canvas_app.shot_directions import resolve_mood

# Rec. 601 luma weights; noir uses a slightly red-heavy mix (as with a light
# red filter on black-and-white film), which is kind to skin.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_NOIR_MIX = np.array([0.40, 0.48, 0.12], dtype=np.float32)


@dataclass(frozen=True)
class _Look:
    saturation: float = 1.0
    mono: bool = False
    contrast: float = 0.0  # 0 = linear; S-curve steepness
    lift: tuple[float, float, float] = (0.0, 0.0, 0.0)  # output black level per channel, 0..1
    gain: tuple[float, float, float] = (1.0, 1.0, 1.0)  # output white level per channel
    gamma: tuple[float, float, float] = (1.0, 1.0, 1.0)  # >1 brightens mid-tones
    vignette: float = 0.0  # how much the corners darken, 0..1
    bloom: float = 0.0  # strength of the highlight glow, 0..1
    bloom_threshold: float = 0.55


_LOOKS: dict[str, _Look] = {
    "neutral": _Look(),
    "warm": _Look(saturation=1.1, lift=(0.03, 0.015, 0.0), gain=(1.0, 0.95, 0.8),
                  gamma=(1.06, 1.0, 0.94), contrast=1.5, vignette=0.12),
    "cool": _Look(saturation=0.92, lift=(0.0, 0.01, 0.03), gain=(0.88, 0.96, 1.0),
                  gamma=(0.94, 1.0, 1.07), contrast=1.5, vignette=0.12),
    "dramatic": _Look(saturation=0.82, contrast=7.0, lift=(0.0, 0.0, 0.01),
                      gain=(1.0, 0.98, 0.96), gamma=(0.92, 0.92, 0.92), vignette=0.55),
    "noir": _Look(mono=True, contrast=6.5, gamma=(0.95, 0.95, 0.95), vignette=0.45),
    "dreamy": _Look(saturation=0.86, contrast=-1.5, lift=(0.13, 0.11, 0.14),
                    gain=(1.0, 0.97, 1.0), gamma=(1.12, 1.1, 1.1), vignette=0.08,
                    bloom=0.45, bloom_threshold=0.45),
    "golden-hour": _Look(saturation=1.14, contrast=2.5, lift=(0.04, 0.02, 0.0),
                         gain=(1.0, 0.88, 0.66), gamma=(1.12, 1.0, 0.88), vignette=0.25,
                         bloom=0.2, bloom_threshold=0.6),
}


def _s_curve(x: np.ndarray, k: float) -> np.ndarray:
    """Contrast curve through (0,0), (0.5,0.5), (1,1). k>0 adds contrast, k<0 removes it."""
    if abs(k) < 1e-6:
        return x
    steep = abs(k)
    sig = lambda v: 1.0 / (1.0 + np.exp(-steep * (v - 0.5)))  # noqa: E731
    lo, hi = sig(0.0), sig(1.0)
    curve = (sig(x) - lo) / (hi - lo)
    if k > 0:
        return curve
    # Inverse of the S-curve: flattens contrast.
    y = np.clip(x * (hi - lo) + lo, 1e-6, 1 - 1e-6)
    return 0.5 + np.log(y / (1 - y)) / steep


def _vignette_map(width: int, height: int, strength: float) -> np.ndarray:
    """uint8 (H, W, 3) multiplier (255 = untouched), darkening outside a central ellipse."""
    ys = (np.arange(height, dtype=np.float32) + 0.5) / height * 2 - 1
    xs = (np.arange(width, dtype=np.float32) + 0.5) / width * 2 - 1
    radius = np.sqrt(xs[None, :] ** 2 + ys[:, None] ** 2)  # 0 centre, 1 edge middles, 1.41 corners
    t = np.clip((radius - 0.55) / (1.45 - 0.55), 0, 1)
    falloff = t * t * (3 - 2 * t)
    multiplier = 1.0 - strength * falloff
    single = np.clip(multiplier * 255 + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(single[:, :, None], 3, axis=2))


class Grade:
    """A mood's look, precomputed for one frame size."""

    def __init__(self, mood: str, width: int, height: int) -> None:
        self.mood, self.known = resolve_mood(mood)
        self.requested = mood
        self.width, self.height = int(width), int(height)
        look = _LOOKS[self.mood]
        self.look = look

        # Colour matrix: saturation or monochrome, applied to RGB uint8.
        if look.mono:
            self.matrix: np.ndarray | None = np.tile(_NOIR_MIX, (3, 1)).astype(np.float32)
        elif abs(look.saturation - 1.0) > 1e-6:
            s = look.saturation
            self.matrix = (s * np.eye(3, dtype=np.float32)
                           + (1 - s) * np.tile(_LUMA, (3, 1))).astype(np.float32)
        else:
            self.matrix = None

        # Tone curves: S-curve, then gamma, then lift/gain, per channel.
        x = np.linspace(0.0, 1.0, 256, dtype=np.float64)
        base = np.clip(_s_curve(x, look.contrast), 0, 1)
        channels = []
        for c in range(3):
            curve = base ** (1.0 / look.gamma[c])
            curve = look.lift[c] + (look.gain[c] - look.lift[c]) * curve
            channels.append(np.clip(np.rint(curve * 255), 0, 255).astype(np.uint8))
        self.lut = np.ascontiguousarray(np.stack(channels, axis=-1)[None, :, :])  # (1, 256, 3)
        self.identity_lut = bool(np.array_equal(self.lut[0, :, 0], np.arange(256))
                                 and np.array_equal(self.lut[0, :, 1], np.arange(256))
                                 and np.array_equal(self.lut[0, :, 2], np.arange(256)))

        self.vignette = (_vignette_map(self.width, self.height, look.vignette)
                         if look.vignette > 0 else None)

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """Grade one RGB uint8 frame of this grade's size; returns a new array."""
        if frame.shape[:2] != (self.height, self.width):
            raise ValueError(f"grade made for {self.width}x{self.height}, "
                             f"frame is {frame.shape[1]}x{frame.shape[0]}")
        out = frame
        if self.matrix is not None:
            out = cv2.transform(out, self.matrix)
        if not self.identity_lut:
            out = cv2.LUT(out, self.lut)
        if self.look.bloom > 0:
            out = self._bloom(out)
        if self.vignette is not None:
            out = cv2.multiply(out, self.vignette, scale=1.0 / 255.0)
        if out is frame:
            out = frame.copy()
        return out

    def _bloom(self, frame: np.ndarray) -> np.ndarray:
        """Soft glow of the highlights: threshold, blur at quarter size, screen back on."""
        h, w = frame.shape[:2]
        small = cv2.resize(frame, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
        threshold = int(self.look.bloom_threshold * 255)
        bright = cv2.subtract(small, np.full_like(small, threshold))
        bright = cv2.convertScaleAbs(bright, alpha=255.0 / max(1, 255 - threshold) * self.look.bloom)
        sigma = max(1.0, 0.02 * max(w, h) / 4)
        bright = cv2.GaussianBlur(bright, (0, 0), sigma)
        glow = cv2.resize(bright, (w, h), interpolation=cv2.INTER_LINEAR)
        # Screen blend: 255 - (255 - a) * (255 - b) / 255
        inverse = cv2.multiply(cv2.bitwise_not(frame), cv2.bitwise_not(glow), scale=1.0 / 255.0)
        return cv2.bitwise_not(inverse)

