"""Motion with Wan VACE: reference-to-video with the identity's pictures.

`WanVACEPipeline` takes `reference_images` (here the identity's portrait and the
shot's look references) that condition every frame, plus a control `video` and
`mask`: the keyframe is given as the first frame and kept (mask 0), the other
frames are made (mask 1). With a previous shot wired in, its last frame is kept
as the first frame and the keyframe as the last: first-and-last-frame
continuity, with the references holding the identity in between.
"""
from __future__ import annotations

import numpy as np

from canvas_app.generation.video_models.latent_previews import FlowStepCallback
from canvas_app.generation.video_models.pipelines import (DiffusersStage, shot_text, to_pil,
                                                          to_uint8_frames)
from canvas_app.generation.video_models.stages import frame_count
from canvas_app.generation.video_models.wan_i2v import model_size
from canvas_app.values import Clip

MAX_REFERENCES = 3
GREY = 127  # VACE's "nothing given here" pixel value in the control video


def control_video(first: np.ndarray, last: np.ndarray | None, count: int, size) -> tuple[list, list]:
    """(frames, masks) as PIL images: given frames kept (mask 0), the rest made (mask 255)."""
    from PIL import Image

    width, height = size
    grey = Image.new("RGB", size, (GREY, GREY, GREY))
    keep, make = Image.new("L", size, 0), Image.new("L", size, 255)
    frames = [grey] * count
    masks = [make] * count
    frames[0], masks[0] = to_pil(first).resize(size, Image.LANCZOS), keep
    if last is not None:
        frames[-1], masks[-1] = to_pil(last).resize(size, Image.LANCZOS), keep
    return frames, masks


class WanVACEMotion(DiffusersStage):
    name = "wan-vace"
    seed_changes_likeness = True
    pipeline_class = "WanVACEPipeline"
    label = "Wan VACE"

    def _render(self, pipe, source, request, ctx, device, dtype, started, plan) -> Clip:
        import torch

        options = request.options
        steps = int(options.get("steps", 30))
        multiple = pipe.vae_scale_factor_spatial * pipe.transformer.config.patch_size[1]
        size = model_size(*request.size, multiple)
        count = frame_count(request.prompt.duration, request.fps,
                            temporal_factor=pipe.vae_scale_factor_temporal)
        continuity = request.first_frame is not None
        frames, masks = control_video(request.first_frame if continuity else request.keyframe,
                                      request.keyframe if continuity else None, count, size)
        pictures = ([request.identity.portrait] if request.identity.portrait is not None else []) + \
            [image.pixels for image in request.references]
        references = [to_pil(picture) for picture in pictures[:MAX_REFERENCES]]
        callback = FlowStepCallback(ctx, steps, family="wan21", size=size)
        output = pipe(video=frames, mask=masks, reference_images=references or None,
                      prompt=shot_text(request.prompt), negative_prompt=request.prompt.negative,
                      width=size[0], height=size[1], num_frames=count, num_inference_steps=steps,
                      guidance_scale=float(options.get("guidance", 5.0)),
                      generator=torch.Generator("cpu").manual_seed(int(request.seed)),
                      output_type="np", callback_on_step_end=callback,
                      callback_on_step_end_tensor_inputs=["latents"])
        clip_frames = to_uint8_frames(output.frames[0])
        ctx.preview(clip_frames[-1])
        metadata = self.made_with(
            "motion", source, request, steps=steps, size=size, device=device, dtype=dtype,
            plan=plan, callback=callback, started=started, fps=float(request.fps),
            frames=len(clip_frames), reference_images=len(references), continuity=continuity)
        return Clip(frames=clip_frames, fps=float(request.fps), metadata=metadata)
