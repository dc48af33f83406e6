"""The CPU path of a two-stage shot: no weights, no GPU, deterministic.

Keyframe: the animatic renderer's framing of the identity's portrait (one
still, camera at rest), so the guard scores exactly what motion will start from.
Motion: the keyframe moved along the shot's camera path
(`canvas_app.media.camera.frames_from_still`); with a previous shot wired in,
the clip starts on that shot's last frame and dissolves into the moving
keyframe over its first third, the animatic's stand-in for a first-and-last-frame
video model. Neither stage's seed changes the likeness, so the guard does not
re-roll them.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from canvas_app.engine.context import RunContext
from canvas_app.generation.video_models.stages import KeyframeRequest, MotionRequest, frame_count
from canvas_app.values import Clip

KEYFRAME_MODEL = "animatic-keyframe-v1"
MOTION_MODEL = "animatic-motion-v1"
CONTINUITY_SHARE = 1 / 3  # of the clip spent leaving the previous shot's last frame


class AnimaticKeyframe:
    name = "animatic"
    seed_changes_likeness = False  # the seed only moves the film grain

    def render(self, request: KeyframeRequest, ctx: RunContext) -> Clip:
        from canvas_app.generation.animatic import AnimaticBackend
        from canvas_app.generation.base import ShotRequest

        # One frame at 1 fps, camera at rest: the shot's framing before it moves.
        prompt = dataclasses.replace(request.prompt, duration=1.0, camera_move="static")
        look = [image for image in request.references if image.role not in ("face", "profile")]
        shot = ShotRequest(identity=request.identity, prompt=prompt, references=look,
                           width=request.width, height=request.height, fps=1.0,
                           seed=request.seed, device="cpu", options={"inset_cards": False})
        clip = AnimaticBackend().render(shot, ctx)
        clip.metadata.update(model=KEYFRAME_MODEL, stage="keyframe")
        return clip


class AnimaticMotion:
    name = "animatic"
    seed_changes_likeness = False

    def render(self, request: MotionRequest, ctx: RunContext) -> Clip:
        from canvas_app.media.camera import frames_from_still
        from canvas_app.shot_directions import resolve_camera_move

        move, _known = resolve_camera_move(request.prompt.camera_move)
        count = frame_count(request.prompt.duration, request.fps)
        ctx.progress(0.0, "moving the keyframe")
        frames = frames_from_still(np.ascontiguousarray(request.keyframe), count, move)
        if request.first_frame is not None:
            frames = _leave_previous(request.first_frame, frames)
        for index, frame in enumerate(frames):
            ctx.progress((index + 1) / len(frames), f"frame {index + 1}/{len(frames)}")
        ctx.preview(frames[-1])
        width, height = request.size
        metadata = {
            "backend": "animatic", "model": MOTION_MODEL, "stage": "motion",
            "seed": int(request.seed), "camera_move": move, "width": width, "height": height,
            "fps": float(request.fps), "frames": len(frames),
            "identity": request.identity.name, "identity_id": request.identity.identity_id,
            "continuity": request.first_frame is not None,
        }
        return Clip(frames=frames, fps=float(request.fps), metadata=metadata)


def _leave_previous(first: np.ndarray, frames: list[np.ndarray]) -> list[np.ndarray]:
    """Start exactly on `first` and ease into `frames` over the first third."""
    height, width = frames[0].shape[:2]
    if first.shape[:2] != (height, width):
        from PIL import Image

        first = np.asarray(Image.fromarray(np.ascontiguousarray(first[:, :, :3]))
                           .resize((width, height), Image.BICUBIC))
    span = max(1, int(round(len(frames) * CONTINUITY_SHARE)))
    out = []
    start = first.astype(np.float32)
    for index, frame in enumerate(frames):
        if index >= span:
            out.append(frame)
            continue
        weight = 0.5 - 0.5 * np.cos(np.pi * index / span)  # 0 on frame 0, eased
        mixed = (1.0 - weight) * start + weight * frame.astype(np.float32)
        out.append(np.clip(mixed + 0.5, 0, 255).astype(np.uint8))
    return out
