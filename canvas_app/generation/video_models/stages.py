"""Requests and backend registries for the two stages of a shot.

A *keyframe* is one still of the locked identity in the shot's framing; it is
cheap, so it is scored and re-rolled before any video is spent on it. *Motion*
turns the keyframe into a clip; with a previous shot wired in, the clip starts
on that shot's last frame and ends on the keyframe (first-and-last-frame
continuity), else it starts on the keyframe.

Both requests carry `identity` and `seed` fields, so the identity guard
(`canvas_app.generation.guard.render_with_guard`) re-rolls them as it does a
Generate shot.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from canvas_app.errors import BadInput
from canvas_app.values import Identity, RefImage, ShotPrompt


@dataclass
class KeyframeRequest:
    identity: Identity
    prompt: ShotPrompt
    references: list[RefImage] = field(default_factory=list)  # face/profile/outfit/environment
    width: int = 832
    height: int = 480
    seed: int = 0
    device: str = "auto"
    options: dict[str, Any] = field(default_factory=dict)  # model, steps, guidance, dtype


@dataclass
class MotionRequest:
    identity: Identity
    prompt: ShotPrompt
    keyframe: np.ndarray  # RGB uint8: the shot's identity-locked still
    first_frame: np.ndarray | None = None  # the previous shot's last frame (continuity)
    fps: float = 24.0
    seed: int = 0
    device: str = "auto"
    options: dict[str, Any] = field(default_factory=dict)
    keyframe_metadata: dict[str, Any] = field(default_factory=dict)
    references: list[RefImage] = field(default_factory=list)  # look references (Wan VACE)

    @property
    def size(self) -> tuple[int, int]:
        height, width = self.keyframe.shape[:2]
        return width, height


# backend name -> "module:factory"; imported on first use so the editor stays light.
KEYFRAME_BACKENDS: dict[str, str] = {
    "animatic": "canvas_app.generation.video_models.animatic_stages:AnimaticKeyframe",
    "flux2-klein": "canvas_app.generation.video_models.flux2_klein:Flux2KleinKeyframe",
    "qwen-image-edit": "canvas_app.generation.video_models.qwen_image_edit:QwenImageEditKeyframe",
}
MOTION_BACKENDS: dict[str, str] = {
    "animatic": "canvas_app.generation.video_models.animatic_stages:AnimaticMotion",
    "wan2.2-i2v": "canvas_app.generation.video_models.wan_i2v:WanImageToVideo",
    "wan-vace": "canvas_app.generation.video_models.wan_vace:WanVACEMotion",
    "ltx2-i2v": "canvas_app.generation.video_models.ltx2_i2v:LTX2ImageToVideo",
}
_instances: dict[str, Any] = {}


def _get(table: dict[str, str], name: str, what: str):
    if name not in table:
        raise BadInput(f"unknown {what} backend {name!r}; choose one of {', '.join(table)}",
                       field="backend")
    key = f"{what}:{name}"
    if key not in _instances:
        module_name, attribute = table[name].split(":")
        _instances[key] = getattr(importlib.import_module(module_name), attribute)()
    return _instances[key]


def keyframe_backend(name: str):
    return _get(KEYFRAME_BACKENDS, name, "keyframe")


def motion_backend(name: str):
    return _get(MOTION_BACKENDS, name, "motion")


def frame_count(duration: float, fps: float, *, temporal_factor: int = 1) -> int:
    """Frames for `duration` seconds; video VAEs that compress time by k frames
    need 1 + k*n frames (Wan and LTX-2: k = 4 and 8), rounded to the nearest."""
    frames = max(1, int(round(float(duration) * float(fps))))
    if temporal_factor > 1:
        frames = 1 + temporal_factor * max(1, int(round((frames - 1) / temporal_factor)))
    return frames
