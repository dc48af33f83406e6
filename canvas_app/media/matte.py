"""A soft matte of the person in a head-and-shoulders portrait.

`subject_matte(portrait, face_box)` returns a float32 (H, W) alpha in 0..1:
cv2.grabCut seeded from the face box (face core = certain subject, the head
and a shoulders/chest region = probable subject, the top corners = probable
background), cleaned up (largest region touching the face, holes filled),
then feathered (inside the outline, so no rim of the old background shows).
Where the person is cut by the portrait's left and right borders the matte
fades out. `extend_body` continues the person below the portrait's bottom
edge (a soft, slightly darkening column from the last rows), so a small
subject in a wide shot stands in the frame instead of floating as a bust.

The result is cached per portrait (content hash + face box), so a sequence of
shots of the same identity pays for grabCut once. grabCut's k-means start is
seeded, so the matte is the same in every run.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import cv2
import numpy as np

_CACHE: OrderedDict[str, np.ndarray] = OrderedDict()
_CACHE_SIZE = 8
_LOCK = threading.Lock()
_WORK_SIDE = 320  # grabCut runs on a copy scaled to at most this many pixels per side


def _key(portrait: np.ndarray, face_box) -> str:
    digest = hashlib.sha1(np.ascontiguousarray(portrait).tobytes())
    digest.update(repr((portrait.shape, tuple(round(float(v), 2) for v in face_box))).encode())
    return digest.hexdigest()


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()


def subject_matte(portrait: np.ndarray, face_box) -> np.ndarray:
    """Soft alpha (float32, 0..1, portrait size) of the person around `face_box`."""
    key = _key(portrait, face_box)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    matte = _compute(portrait, face_box)
    matte.setflags(write=False)
    with _LOCK:
        _CACHE[key] = matte
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return matte


def _ellipse(mask: np.ndarray, centre, axes, value: int) -> None:
    cv2.ellipse(mask, (int(round(centre[0])), int(round(centre[1]))),
                (max(1, int(round(axes[0]))), max(1, int(round(axes[1])))), 0, 0, 360, value, -1)


def _seed_mask(shape, box) -> np.ndarray:
    """grabCut labels from the face box: where the person surely/probably is."""
    h, w = shape
    x0, y0, x1, y1 = box
    fw, fh = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    mask = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    # Head (hair included) and neck: probable subject.
    _ellipse(mask, (cx, y0 + 0.45 * fh), (0.85 * fw, 1.0 * fh), cv2.GC_PR_FGD)
    # Shoulders and chest: a trapezoid from the chin down to the bottom edge.
    top = y1 + 0.15 * fh
    shoulders = np.array([[cx - 0.55 * fw, top], [cx + 0.55 * fw, top],
                          [cx + 2.2 * fw, y1 + 1.3 * fh], [cx + 2.4 * fw, h],
                          [cx - 2.4 * fw, h], [cx - 2.2 * fw, y1 + 1.3 * fh]], np.float32)
    cv2.fillPoly(mask, [np.round(shoulders).astype(np.int32)], cv2.GC_PR_FGD)
    # Certain subject: the inner face and the chest just under the chin.
    _ellipse(mask, (cx, (y0 + y1) / 2), (0.33 * fw, 0.42 * fh), cv2.GC_FGD)
    chest_top = int(round(y1 + 0.45 * fh))
    chest_bottom = int(round(min(h, y1 + 1.4 * fh)))
    if chest_bottom > chest_top:
        mask[chest_top:chest_bottom, max(0, int(cx - 0.35 * fw)):int(cx + 0.35 * fw)] = cv2.GC_FGD
    # The top corners beside the head are background in any head-and-shoulders crop.
    side = 1.35 * fw
    band_bottom = int(round(max(0, y1 - 0.1 * fh)))
    if band_bottom > 0:
        left = int(round(max(0, cx - side)))
        right = int(round(min(w, cx + side)))
        mask[:band_bottom, :left][mask[:band_bottom, :left] == cv2.GC_PR_BGD] = cv2.GC_BGD
        mask[:band_bottom, right:][mask[:band_bottom, right:] == cv2.GC_PR_BGD] = cv2.GC_BGD
    return mask


def _fallback(shape, box) -> np.ndarray:
    """A head ellipse plus shoulders, when grabCut cannot separate anything."""
    mask = _seed_mask(shape, box)
    return ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)


def _clean(binary: np.ndarray, box) -> np.ndarray:
    """Keep the region holding the face, fill its holes, smooth ragged edges."""
    h, w = binary.shape
    x0, y0, x1, y1 = box
    k = max(3, int(round((x1 - x0) * 0.06)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    binary = cv2.morphologyEx(binary, cv2.MORPH_OPEN, kernel)
    binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, kernel)
    count, labels = cv2.connectedComponents(binary, connectivity=8)
    if count > 2:
        cx = int(np.clip((x0 + x1) / 2, 0, w - 1))
        cy = int(np.clip((y0 + y1) / 2, 0, h - 1))
        label = labels[cy, cx]
        if label == 0:
            sizes = np.bincount(labels.ravel())
            sizes[0] = 0
            label = int(np.argmax(sizes))
        binary = (labels == label).astype(np.uint8)
    # Fill holes: flood the background from a padded border; what it cannot reach is inside.
    padded = np.pad(binary, 1, constant_values=0)
    flood = padded.copy()
    cv2.floodFill(flood, np.zeros((h + 4, w + 4), np.uint8), (0, 0), 1)
    holes = flood[1:-1, 1:-1] == 0
    binary[holes] = 1
    return binary


def _compute(portrait: np.ndarray, face_box) -> np.ndarray:
    h, w = portrait.shape[:2]
    scale = min(1.0, _WORK_SIDE / max(h, w))
    if scale < 1.0:
        small = cv2.resize(portrait, (max(1, round(w * scale)), max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA)
    else:
        small = np.ascontiguousarray(portrait)
    sh, sw = small.shape[:2]
    sx, sy = sw / w, sh / h
    box = (face_box[0] * sx, face_box[1] * sy, face_box[2] * sx, face_box[3] * sy)

    mask = _seed_mask((sh, sw), box)
    try:
        cv2.setRNGSeed(20240607)  # grabCut's GMM start uses k-means with OpenCV's RNG
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.grabCut(small, mask, None, bgd, fgd, 4, cv2.GC_INIT_WITH_MASK)
        binary = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
        # grabCut occasionally gives up on flat images; a near-empty result is useless.
        if binary.sum() < 0.25 * (box[2] - box[0]) * (box[3] - box[1]):
            binary = _fallback((sh, sw), box)
    except cv2.error:
        binary = _fallback((sh, sw), box)
    binary = _clean(binary, box)

    full = cv2.resize(binary.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    full = (full >= 0.5).astype(np.uint8)
    face_h = max(1.0, face_box[3] - face_box[1])
    # Pull the edge in (no rim of the old background around the hair), then feather:
    # the blurred edge fades out inside the person's outline, not outside it.
    shrink = max(1, int(round(0.03 * face_h)))
    full = cv2.erode(full, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * shrink + 1,) * 2))
    alpha = cv2.GaussianBlur(full.astype(np.float32), (0, 0), max(0.7, 0.02 * face_h))

    # Fade where the person leaves the portrait at the sides. The bottom edge is
    # left hard: renderers extend the body below it (see `extend_body`).
    ramp_x = max(2, int(round(0.04 * w)))
    fade_x = np.ones(w, np.float32)
    edge = (np.arange(ramp_x, dtype=np.float32) + 0.5) / ramp_x
    fade_x[:ramp_x] = edge
    fade_x[w - ramp_x:] = edge[::-1]
    alpha *= fade_x[None, :]
    return np.clip(alpha, 0, 1).astype(np.float32)


def extend_body(rgba: np.ndarray, rows: int, face_width: float) -> np.ndarray:
    """Continue a premultiplied RGBA float32 subject `rows` pixels below its bottom edge.

    The last few rows are averaged, softened sideways (so the clothes' last row
    does not streak) and repeated, darkening gently downwards like a body
    falling out of the key light."""
    if rows <= 0:
        return rgba
    h, w = rgba.shape[:2]
    # Colour: the alpha-weighted mean of the bottom rows, heavily softened sideways,
    # so that what the crop cut through (a collar, a zip) does not streak down.
    k = max(1, min(h, int(round(0.08 * h))))
    bottom = rgba[h - k:]
    alpha_sum = bottom[:, :, 3].sum(axis=0)  # (W,)
    colour = bottom[:, :, :3].sum(axis=0) / np.maximum(alpha_sum, 1e-3)[:, None]  # unpremultiplied
    sigma = max(1.0, 0.5 * face_width)
    colour = cv2.GaussianBlur(colour[None].astype(np.float32), (0, 0), sigmaX=sigma, sigmaY=0.1)[0]
    last_alpha = rgba[h - 1, :, 3]
    # Slight roundness: darker towards the silhouette's sides.
    xs = np.arange(w, dtype=np.float32)
    if last_alpha.sum() > 1e-3:
        centre = float((last_alpha * xs).sum() / last_alpha.sum())
        half = max(1.0, float(last_alpha.sum()) / 2)
    else:
        centre, half = w / 2, w / 2
    rounding = 1.0 - 0.25 * np.clip(np.abs(xs - centre) / half, 0, 1) ** 2
    soft = np.empty((1, w, 4), np.float32)
    soft[0, :, 3] = last_alpha
    soft[0, :, :3] = colour * rounding[:, None] * last_alpha[:, None]
    # Blend from the true last row into the soft one over the first rows, darken downwards.
    t = np.linspace(0.0, 1.0, rows, dtype=np.float32)[:, None, None]
    depth = np.arange(rows, dtype=np.float32)[:, None, None]
    blend = np.clip(depth / max(1.0, 0.4 * face_width), 0, 1)
    blend = blend * blend * (3 - 2 * blend)
    column = (1 - blend) * rgba[h - 1:h] + blend * soft
    column[:, :, :3] *= 1.0 - 0.25 * t
    # Taper towards the waist: narrow about the centre of the matte's last row.
    narrowing = 1.0 - 0.18 * np.clip(depth[:, 0, 0] / max(1.0, 2.0 * face_width), 0, 1)
    map_x = (centre + (np.arange(w, dtype=np.float32)[None, :] - centre) / narrowing[:, None])
    map_y = np.repeat(np.arange(rows, dtype=np.float32)[:, None], w, axis=1)
    column = cv2.remap(np.ascontiguousarray(column, dtype=np.float32), map_x.astype(np.float32),
                       map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.concatenate([rgba, column], axis=0)
