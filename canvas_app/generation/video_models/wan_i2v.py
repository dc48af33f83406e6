"""Motion with Wan 2.2 image-to-video (`WanImageToVideoPipeline`).

The clip starts on the keyframe. With a previous shot wired in, it starts on
that shot's last frame and `last_image` makes it end on the keyframe: the
model interpolates between the two, so the cut is continuous and the shot
still lands on the scored, identity-locked still. Wan 2.2 TI2V-5B
(`expand_timesteps`) has no last-frame input: there the clip starts on the
keyframe and the metadata says continuity was not applied. I2V-A14B's two
experts (high noise, then low noise) take `guidance` and `guidance_2`.
"""
from __future__ import annotations

from canvas_app.generation.video_models.latent_previews import FlowStepCallback
from canvas_app.generation.video_models.pipelines import (DiffusersStage, shot_text, to_pil,
                                                          to_uint8_frames)
from canvas_app.generation.video_models.stages import frame_count
from canvas_app.values import Clip


def model_size(width: int, height: int, multiple: int) -> tuple[int, int]:
    """The keyframe's size rounded down to what the transformer's patches tile."""
    return max(multiple, width // multiple * multiple), max(multiple, height // multiple * multiple)


def _resized(frame, size):
    from PIL import Image

    image = to_pil(frame)
    return image if image.size == size else image.resize(size, Image.LANCZOS)


class WanImageToVideo(DiffusersStage):
    name = "wan2.2-i2v"
    seed_changes_likeness = True
    pipeline_class = "WanImageToVideoPipeline"
    label = "Wan 2.2 image-to-video"

    def _render(self, pipe, source, request, ctx, device, dtype, started, plan) -> Clip:
        import torch

        options = request.options
        steps = int(options.get("steps", 30))
        multiple = pipe.vae_scale_factor_spatial * pipe.transformer.config.patch_size[1]
        width, height = model_size(*request.size, multiple)
        frames = frame_count(request.prompt.duration, request.fps,
                             temporal_factor=pipe.vae_scale_factor_temporal)
        last_frame_input = not pipe.config.expand_timesteps
        continuity = request.first_frame is not None and last_frame_input
        first = request.first_frame if continuity else request.keyframe
        two_experts = pipe.config.boundary_ratio is not None and pipe.transformer_2 is not None
        guidance_2 = float(options.get("guidance_2") or 0.0) or None
        # TI2V-5B's 48-channel Wan 2.2 VAE has its own latent-to-RGB factors.
        family = "wan22" if int(pipe.vae.config.z_dim) == 48 else "wan21"
        callback = FlowStepCallback(ctx, steps, family=family, size=(width, height))
        output = pipe(image=_resized(first, (width, height)),
                      last_image=_resized(request.keyframe, (width, height)) if continuity else None,
                      prompt=shot_text(request.prompt), negative_prompt=request.prompt.negative,
                      height=height, width=width, num_frames=frames, num_inference_steps=steps,
                      guidance_scale=float(options.get("guidance", 5.0)),
                      guidance_scale_2=guidance_2 if two_experts else None,
                      generator=torch.Generator("cpu").manual_seed(int(request.seed)),
                      output_type="np", callback_on_step_end=callback,
                      callback_on_step_end_tensor_inputs=["latents"])
        clip_frames = to_uint8_frames(output.frames[0])
        ctx.preview(clip_frames[-1])
        notes = []
        if request.first_frame is not None and not continuity:
            notes.append("this Wan model has no last-frame input: the clip starts on the keyframe, "
                         "not on the previous shot's last frame")
        metadata = self.made_with(
            "motion", source, request, steps=steps, size=(width, height), device=device,
            dtype=dtype, plan=plan, callback=callback, started=started, fps=float(request.fps),
            frames=len(clip_frames), two_experts=two_experts, continuity=continuity, notes=notes)
        return Clip(frames=clip_frames, fps=float(request.fps), metadata=metadata)
