"""Cheap step previews and cancel for diffusion pipelines.

A step preview is the current latent projected to RGB with a fixed 4x3 linear
map (no VAE decode), upsampled to the output size. That costs well under a
millisecond per preview at 64x64 latents, and previews are throttled to at most
one per `min_interval` seconds, so they stay a small fraction of a step.

`StepCallback` is what the backend passes as `callback_on_step_end`: it reports
progress (which is the engine's cancel point), sends throttled previews and, on
cancel, sets `pipe._interrupt` and raises `Cancelled`, so the run stops at the
next step boundary.

No torch import at module level: latents are converted with their own methods.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from canvas_app.engine.context import Cancelled, RunContext

# Rows: latent channels 0..3; columns: R, G, B. Least-squares fits of decoded
# RGB (in -1..1) on the VAE latents, as used by ComfyUI and A1111 previews.
SD15_LATENT_RGB = np.array([
    [0.3512, 0.2297, 0.3227],
    [0.3250, 0.4974, 0.2350],
    [-0.2829, 0.1762, 0.2721],
    [-0.2120, -0.2616, -0.7177],
], dtype=np.float32)
SD15_LATENT_RGB_BIAS = np.zeros(3, dtype=np.float32)

SDXL_LATENT_RGB = np.array([
    [0.3651, 0.4232, 0.4341],
    [-0.2533, -0.0042, 0.1068],
    [0.1076, 0.1111, -0.0362],
    [-0.3165, -0.2492, -0.2188],
], dtype=np.float32)
SDXL_LATENT_RGB_BIAS = np.array([0.1084, -0.0175, -0.0011], dtype=np.float32)


def latent_rgb_matrix(model_kind: str) -> tuple[np.ndarray, np.ndarray]:
    if model_kind == "sdxl":
        return SDXL_LATENT_RGB, SDXL_LATENT_RGB_BIAS
    return SD15_LATENT_RGB, SD15_LATENT_RGB_BIAS


def latents_to_rgb(latents: Any, model_kind: str = "sd15", size: tuple[int, int] | None = None) -> np.ndarray:
    """Project latents to an RGB uint8 preview.

    `latents` is a torch tensor or array of shape (C, h, w), (B, C, h, w) or,
    for video pipelines, (B, C, F, h, w); the first batch item (and the middle
    frame) is shown. `size` is the (width, height) to upsample to.
    """
    if hasattr(latents, "detach"):
        latents = latents.detach()
        if latents.ndim == 5:
            latents = latents[0, :, latents.shape[2] // 2]
        elif latents.ndim == 4:
            latents = latents[0]
        array = latents[:4].float().cpu().numpy()
    else:
        array = np.asarray(latents, dtype=np.float32)
        if array.ndim == 5:
            array = array[0, :, array.shape[2] // 2]
        elif array.ndim == 4:
            array = array[0]
        array = array[:4]
    matrix, bias = latent_rgb_matrix(model_kind)
    rgb = np.einsum("chw,cr->hwr", array, matrix[: array.shape[0]]) + bias
    rgb = np.clip((rgb + 1.0) * 127.5, 0, 255).astype(np.uint8)
    if size is not None:
        width, height = size
        if (rgb.shape[1], rgb.shape[0]) != (width, height):
            factor_y = max(1, height // rgb.shape[0])
            factor_x = max(1, width // rgb.shape[1])
            rgb = np.repeat(np.repeat(rgb, factor_y, axis=0), factor_x, axis=1)
            if (rgb.shape[1], rgb.shape[0]) != (width, height):
                from PIL import Image

                rgb = np.asarray(Image.fromarray(rgb).resize((width, height), Image.NEAREST))
    return np.ascontiguousarray(rgb)


class StepCallback:
    """`callback_on_step_end` for diffusers pipelines.

    progress_range maps step fractions into the node's overall progress
    (loading and decoding take the rest). Previews go out at most every
    `min_interval` seconds (and always on the last step).
    """

    def __init__(self, ctx: RunContext, total_steps: int, *, model_kind: str = "sd15",
                 size: tuple[int, int] | None = None, progress_range: tuple[float, float] = (0.1, 0.95),
                 min_interval: float = 0.25, message: str = "denoising",
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.ctx = ctx
        self.total_steps = max(1, int(total_steps))
        self.model_kind = model_kind
        self.size = size
        self.progress_range = progress_range
        self.min_interval = min_interval
        self.message = message
        self.clock = clock
        self.steps_done = 0
        self.previews_sent = 0
        self.preview_seconds = 0.0
        self._last_preview = float("-inf")

    def __call__(self, pipe: Any, step: int, timestep: Any, callback_kwargs: dict) -> dict:
        self.steps_done = step + 1
        if self.ctx.cancel_token.cancelled:
            self._interrupt(pipe)
        low, high = self.progress_range
        fraction = low + (high - low) * min(1.0, self.steps_done / self.total_steps)
        try:
            self.ctx.progress(fraction, f"{self.message} {self.steps_done}/{self.total_steps}")
        except Cancelled:
            self._interrupt(pipe)
        now = self.clock()
        last = self.steps_done >= self.total_steps
        latents = callback_kwargs.get("latents")
        if latents is not None and self.ctx.on_preview is not None and (
                last or now - self._last_preview >= self.min_interval):
            started = self.clock()
            self.ctx.preview(latents_to_rgb(latents, self.model_kind, self.size), "step")
            self._last_preview = now
            self.previews_sent += 1
            self.preview_seconds += self.clock() - started
        return callback_kwargs

    @staticmethod
    def _interrupt(pipe: Any) -> None:
        # `_interrupt` makes diffusers skip the remaining steps; raising stops
        # the run here and now, before the VAE decode.
        try:
            pipe._interrupt = True
        except Exception:  # pragma: no cover - a pipeline without the flag
            pass
        raise Cancelled()
