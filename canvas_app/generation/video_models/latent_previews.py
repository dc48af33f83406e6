"""Step previews for the flow-matching pipelines, and Stop through their interrupt.

A preview is the current latent projected to RGB with a fixed linear map per
latent space (no VAE decode), so it costs well under a millisecond. The maps
are the least-squares fits ComfyUI publishes in comfy/latent_formats.py:
`Wan21` (the 16-channel Wan 2.1 VAE, which Wan 2.2 I2V-A14B also uses), `Wan22`
(the 48-channel Wan 2.2 VAE of TI2V-5B) and `Flux2` (32 VAE channels, seen by the
transformer as 128 = 32 x 2 x 2 patches).

LTX-2 has no factors here: ComfyUI's `LTXV` table was fitted on the LTX-Video 0.9
VAE, not LTX-2's new one, and ComfyUI disabled LTX-2 ("LTXAV") previews until a
table fitted on LTX-2 landed (Comfy-Org/ComfyUI pull 15196, Aug 2026), whose full
rows were not available to copy when this was written. LTX-2's packed tokens are
unpacked to their last latent frame (`ltx2_grid`) and, like the tiny test models
with fewer channels than a map has rows, fall back to the first three channels,
each stretched to its own range: a rough picture of where things are and how they
move, not of their colours.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from canvas_app.engine.context import Cancelled, RunContext

# Rows: latent channels; columns: R, G, B (decoded RGB in -1..1). Source: ComfyUI
# comfy/latent_formats.py, classes Wan21 and Flux2.
WAN21_RGB = np.array([
    [-0.1299, -0.1692, 0.2932], [0.0671, 0.0406, 0.0442], [0.3568, 0.2548, 0.1747],
    [0.0372, 0.2344, 0.1420], [0.0313, 0.0189, -0.0328], [0.0296, -0.0956, -0.0665],
    [-0.3477, -0.4059, -0.2925], [0.0166, 0.1902, 0.1975], [-0.0412, 0.0267, -0.1364],
    [-0.1293, 0.0740, 0.1636], [0.0680, 0.3019, 0.1128], [0.0032, 0.0581, 0.0639],
    [-0.1251, 0.0927, 0.1699], [0.0060, -0.0633, 0.0005], [0.3477, 0.2275, 0.2950],
    [0.1984, 0.0913, 0.1861]], dtype=np.float32)
WAN21_BIAS = np.array([-0.1835, -0.0868, -0.3360], dtype=np.float32)
FLUX2_RGB = np.array([
    [0.0058, 0.0113, 0.0073], [0.0495, 0.0443, 0.0836], [-0.0099, 0.0096, 0.0644],
    [0.2144, 0.3009, 0.3652], [0.0166, -0.0039, -0.0054], [0.0157, 0.0103, -0.0160],
    [-0.0398, 0.0902, -0.0235], [-0.0052, 0.0095, 0.0109], [-0.3527, -0.2712, -0.1666],
    [-0.0301, -0.0356, -0.0180], [-0.0107, 0.0078, 0.0013], [0.0746, 0.0090, -0.0941],
    [0.0156, 0.0169, 0.0070], [-0.0034, -0.0040, -0.0114], [0.0032, 0.0181, 0.0080],
    [-0.0939, -0.0008, 0.0186], [0.0018, 0.0043, 0.0104], [0.0284, 0.0056, -0.0127],
    [-0.0024, -0.0022, -0.0030], [0.1207, -0.0026, 0.0065], [0.0128, 0.0101, 0.0142],
    [0.0137, -0.0072, -0.0007], [0.0095, 0.0092, -0.0059], [0.0000, -0.0077, -0.0049],
    [-0.0465, -0.0204, -0.0312], [0.0095, 0.0012, -0.0066], [0.0290, -0.0034, 0.0025],
    [0.0220, 0.0169, -0.0048], [-0.0332, -0.0457, -0.0468], [-0.0085, 0.0389, 0.0609],
    [-0.0076, 0.0003, -0.0043], [-0.0111, -0.0460, -0.0614]], dtype=np.float32)
FLUX2_BIAS = np.array([-0.0329, -0.0718, -0.0851], dtype=np.float32)
# Source: ComfyUI comfy/latent_formats.py, class Wan22 (the Wan 2.2 TI2V-5B VAE, z_dim 48).
WAN22_RGB = np.array([
    [0.0119, 0.0103, 0.0046], [-0.1062, -0.0504, 0.0165], [0.0140, 0.0409, 0.0491],
    [-0.0813, -0.0677, 0.0607], [0.0656, 0.0851, 0.0808], [0.0264, 0.0463, 0.0912],
    [0.0295, 0.0326, 0.0590], [-0.0244, -0.0270, 0.0025], [0.0443, -0.0102, 0.0288],
    [-0.0465, -0.0090, -0.0205], [0.0359, 0.0236, 0.0082], [-0.0776, 0.0854, 0.1048],
    [0.0564, 0.0264, 0.0561], [0.0006, 0.0594, 0.0418], [-0.0319, -0.0542, -0.0637],
    [-0.0268, 0.0024, 0.0260], [0.0539, 0.0265, 0.0358], [-0.0359, -0.0312, -0.0287],
    [-0.0285, -0.1032, -0.1237], [0.1041, 0.0537, 0.0622], [-0.0086, -0.0374, -0.0051],
    [0.0390, 0.0670, 0.2863], [0.0069, 0.0144, 0.0082], [0.0006, -0.0167, 0.0079],
    [0.0313, -0.0574, -0.0232], [-0.1454, -0.0902, -0.0481], [0.0714, 0.0827, 0.0447],
    [-0.0304, -0.0574, -0.0196], [0.0401, 0.0384, 0.0204], [-0.0758, -0.0297, -0.0014],
    [0.0568, 0.1307, 0.1372], [-0.0055, -0.0310, -0.0380], [0.0239, -0.0305, 0.0325],
    [-0.0663, -0.0673, -0.0140], [-0.0416, -0.0047, -0.0023], [0.0166, 0.0112, -0.0093],
    [-0.0211, 0.0011, 0.0331], [0.1833, 0.1466, 0.2250], [-0.0368, 0.0370, 0.0295],
    [-0.3441, -0.3543, -0.2008], [-0.0479, -0.0489, -0.0420], [-0.0660, -0.0153, 0.0800],
    [-0.0101, 0.0068, 0.0156], [-0.0690, -0.0452, -0.0927], [-0.0145, 0.0041, 0.0015],
    [0.0421, 0.0451, 0.0373], [0.0504, -0.0483, -0.0356], [-0.0837, 0.0168, 0.0055]],
    dtype=np.float32)
WAN22_BIAS = np.array([0.0317, -0.0878, -0.1388], dtype=np.float32)
FACTORS = {"wan21": (WAN21_RGB, WAN21_BIAS), "wan22": (WAN22_RGB, WAN22_BIAS),
           "flux2": (FLUX2_RGB, FLUX2_BIAS)}


def _to_numpy(latents: Any) -> np.ndarray:
    if hasattr(latents, "detach"):
        return latents.detach().float().cpu().numpy()
    return np.asarray(latents, dtype=np.float32)


def flux2_grid(tokens: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """FLUX.2's packed latents (B, h*w, 4c) -> (c, 2h, 2w) VAE-channel planes."""
    rows, cols = grid
    packed = tokens[0].reshape(rows, cols, -1)  # (h, w, 4c), channel = c*4 + 2*dy + dx
    channels = packed.shape[-1] // 4
    planes = packed.reshape(rows, cols, channels, 2, 2).transpose(2, 0, 3, 1, 4)
    return planes.reshape(channels, rows * 2, cols * 2)


def ltx2_grid(tokens: np.ndarray, grid: tuple[int, int, int]) -> np.ndarray:
    """LTX-2's packed latents (B, F*h*w, C), patch size 1 in space and time as the
    released model has it -> the (C, h, w) planes of the last latent frame."""
    frames, rows, cols = grid
    last = tokens[0].reshape(frames, rows, cols, -1)[-1]  # token order is (frame, row, col)
    return last.transpose(2, 0, 1)


def project(planes: np.ndarray, family: str) -> np.ndarray:
    """(C, h, w) latent planes -> (h, w, 3) uint8."""
    matrix, bias = FACTORS.get(family, (None, None))
    if matrix is not None and planes.shape[0] == matrix.shape[0]:
        rgb = np.einsum("chw,cr->hwr", planes, matrix) + bias
        return np.clip((rgb + 1.0) * 127.5, 0, 255).astype(np.uint8)
    picked = planes[:3] if planes.shape[0] >= 3 else np.repeat(planes[:1], 3, axis=0)
    low = picked.min(axis=(1, 2), keepdims=True)
    span = np.maximum(picked.max(axis=(1, 2), keepdims=True) - low, 1e-6)
    return ((picked - low) / span * 255).astype(np.uint8).transpose(1, 2, 0)


def latents_to_rgb(latents: Any, family: str, size: tuple[int, int],
                   grid: tuple[int, ...] | None = None) -> np.ndarray:
    """A preview of `size` (width, height) from a pipeline's step latents:
    video latents (B, C, F, h, w) show their last latent frame (where the shot
    is heading); packed tokens need their `grid`: FLUX.2's (h, w), LTX-2's (F, h, w)."""
    array = _to_numpy(latents)
    if array.ndim == 3 and grid is not None and len(grid) == 3:
        planes = ltx2_grid(array, grid)
    elif array.ndim == 3 and grid is not None:
        planes = flux2_grid(array, grid)
    elif array.ndim == 5:
        planes = array[0, :, -1]
    elif array.ndim == 4:
        planes = array[0]
    else:
        planes = array
    rgb = project(planes, family)
    from PIL import Image

    return np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).resize(size, Image.BILINEAR))


class FlowStepCallback:
    """`callback_on_step_end`: progress (the engine's cancel point), throttled
    previews, and Stop: the pipeline's `_interrupt` is set and `Cancelled`
    raised, so no further step and no VAE decode runs."""

    def __init__(self, ctx: RunContext, total_steps: int, *, family: str, size: tuple[int, int],
                 grid: tuple[int, ...] | None = None, progress_range=(0.1, 0.95),
                 min_interval: float = 0.25, clock: Callable[[], float] = time.perf_counter) -> None:
        self.ctx, self.total_steps, self.family = ctx, max(1, int(total_steps)), family
        self.size, self.grid, self.progress_range = size, grid, progress_range
        self.min_interval, self.clock = min_interval, clock
        self.steps_done = 0
        self.previews_sent = 0
        self._last_preview = float("-inf")

    def __call__(self, pipe: Any, step: int, timestep: Any, callback_kwargs: dict) -> dict:
        self.steps_done = step + 1
        low, high = self.progress_range
        try:
            self.ctx.progress(low + (high - low) * min(1.0, self.steps_done / self.total_steps),
                              f"step {self.steps_done}/{self.total_steps}")
        except Cancelled:
            pipe._interrupt = True  # diffusers skips every remaining step...
            raise  # ...and raising here skips the decode as well
        latents = callback_kwargs.get("latents")
        now = self.clock()
        if latents is not None and self.ctx.on_preview is not None and (
                self.steps_done >= self.total_steps or now - self._last_preview >= self.min_interval):
            self.ctx.preview(latents_to_rgb(latents, self.family, self.size, self.grid), "step")
            self._last_preview = now
            self.previews_sent += 1
        return callback_kwargs
