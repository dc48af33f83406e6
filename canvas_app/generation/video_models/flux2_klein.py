"""Keyframes with FLUX.2 klein: the identity's pictures as the model's reference images.

`Flux2KleinPipeline(image=[...])` encodes every reference image and lets the
transformer attend to them while it makes the new picture: the model's own
multi-reference conditioning, with no adapter. The references are the
identity's portrait (its best face crop, head and shoulders) followed by the
connected references in role order (face, profile, outfit, environment,
product), at most MAX_REFERENCES in all. klein is step-distilled: 4 steps at
guidance 1.
"""
from __future__ import annotations

from canvas_app.generation.video_models.latent_previews import FlowStepCallback
from canvas_app.generation.video_models.pipelines import (DiffusersStage, at_least, shot_text,
                                                          to_pil, to_uint8_frames)
from canvas_app.generation.video_models.stages import KeyframeRequest
from canvas_app.values import ROLES, Clip

MIN_REFERENCE_SIDE = 64  # Flux2ImageProcessor.check_image_input's minimum
MAX_REFERENCES = 4  # more costs memory and attention time for little gain in likeness
TEXT_LAYERS = (9, 18, 27)  # the Qwen3 layers FLUX.2 klein reads (its pipeline's default)


def reference_images(request: KeyframeRequest) -> list:
    """The portrait first, then the references in role order."""
    pictures = []
    if request.identity.portrait is not None:
        pictures.append(request.identity.portrait)
    ordered = sorted(request.references, key=lambda image: ROLES.index(image.role))
    pictures += [image.pixels for image in ordered]
    return [at_least(to_pil(picture), MIN_REFERENCE_SIDE) for picture in pictures[:MAX_REFERENCES]]


def text_layers(text_encoder) -> tuple[int, ...]:
    """klein's layers, or the last one for a text encoder too shallow to have them."""
    depth = int(text_encoder.config.num_hidden_layers)
    return TEXT_LAYERS if depth >= max(TEXT_LAYERS) else (depth,)


class Flux2KleinKeyframe(DiffusersStage):
    name = "flux2-klein"
    seed_changes_likeness = True
    pipeline_class = "Flux2KleinPipeline"
    label = "FLUX.2 klein"

    def _render(self, pipe, source, request, ctx, device, dtype, started, plan) -> Clip:
        import torch

        steps = int(request.options.get("steps", 4))
        multiple = pipe.vae_scale_factor * 2
        width = max(multiple, request.width // multiple * multiple)
        height = max(multiple, request.height // multiple * multiple)
        references = reference_images(request)
        callback = FlowStepCallback(ctx, steps, family="flux2", size=(width, height),
                                    grid=(height // multiple, width // multiple))
        output = pipe(image=references or None, prompt=shot_text(request.prompt),
                      height=height, width=width, num_inference_steps=steps,
                      guidance_scale=float(request.options.get("guidance", 1.0)),
                      generator=torch.Generator("cpu").manual_seed(int(request.seed)),
                      output_type="np", callback_on_step_end=callback,
                      callback_on_step_end_tensor_inputs=["latents"],
                      text_encoder_out_layers=text_layers(pipe.text_encoder))
        frame = to_uint8_frames(output.images[0])[0]
        ctx.preview(frame)
        metadata = self.made_with("keyframe", source, request, steps=steps, size=(width, height),
                                  device=device, dtype=dtype, plan=plan, callback=callback,
                                  started=started, reference_images=len(references))
        return Clip(frames=[frame], fps=1.0, metadata=metadata)
