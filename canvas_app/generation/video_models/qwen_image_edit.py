"""Keyframes with Qwen-Image-Edit 2509: the identity's pictures as the model's input images.

`QwenImageEditPlusPipeline(image=[...])` reads every input image twice: the
Qwen2.5-VL text encoder sees each one (at about 384 x 384) beside the prompt,
"Picture 1: ... Picture 2: ...", and the VAE encodes each (at about one
megapixel) into latents the transformer attends to while it makes the new
picture. The images are the identity's portrait (its best face crop) first,
then the connected references in role order (face, profile, outfit,
environment, product). Qwen's model card gives 1 to 3 input images as the
range the 2509 release works best with, so at most MAX_IMAGES go in; the ones
left out are named in the clip's metadata.

Its latent space is the Wan 2.1 VAE's (16 channels: Qwen-Image fine-tuned only
the decoder, its `latents_mean`/`latents_std` are Wan 2.1's), packed 2 x 2 like
FLUX's, so the step previews use the Wan 2.1 projection on the unpacked grid.

The processor: diffusers loads `Qwen2VLProcessor`, whose video half needs
torchvision (transformers 5), and PyPI has no CPU torchvision wheel that
matches a CPU torch. A keyframe passes still images only, so the backend loads
an image-only processor from the same `processor/` folder (the same image
processor and tokenizer files) and hands it to `from_pretrained`.
"""
from __future__ import annotations

from canvas_app.generation.video_models.latent_previews import FlowStepCallback
from canvas_app.generation.video_models.pipelines import (DiffusersStage, at_least, shot_text,
                                                          to_pil, to_uint8_frames)
from canvas_app.generation.video_models.stages import KeyframeRequest
from canvas_app.values import ROLES, Clip

MAX_IMAGES = 3  # Qwen-Image-Edit-2509's model card: best with 1 to 3 input images
MIN_IMAGE_SIDE = 28  # one vision patch after merging (14 px x 2): smaller crops are enlarged


# How the prompt names each picture: the pipeline numbers them "Picture 1: ...", and the
# model follows instructions that refer to them by number (Qwen's own multi-image examples).
ROLE_PHRASES = {"portrait": "the person in picture {n}", "face": "the same person as in picture {n}",
                "profile": "the same person, seen in profile in picture {n}",
                "outfit": "wearing the outfit from picture {n}",
                "environment": "in the place shown in picture {n}",
                "product": "with the product from picture {n}"}


def _pictures(request: KeyframeRequest) -> list[tuple[str, object]]:
    """(role, pixels): the portrait first, then the references in role order."""
    pictures = []
    if request.identity.portrait is not None:
        pictures.append(("portrait", request.identity.portrait))
    ordered = sorted(request.references, key=lambda image: ROLES.index(image.role))
    return pictures + [(image.role, image.pixels) for image in ordered]


def input_images(request: KeyframeRequest) -> tuple[list, list[str]]:
    """(the pipeline's images, the roles left out): the portrait first, then the
    references in role order, at most MAX_IMAGES."""
    pictures = _pictures(request)
    kept, dropped = pictures[:MAX_IMAGES], pictures[MAX_IMAGES:]
    return [at_least(to_pil(pixels), MIN_IMAGE_SIDE) for _, pixels in kept], [r for r, _ in dropped]


def edit_prompt(request: KeyframeRequest) -> str:
    """The shot's prompt, led by what each picture is for: "Picture 1" is whoever the
    model sees first, so it is told that picture 1 is the person to keep."""
    roles = [role for role, _ in _pictures(request)[:MAX_IMAGES]]
    guide = ", ".join(ROLE_PHRASES[role].format(n=index) for index, role in enumerate(roles, 1))
    shot = shot_text(request.prompt)
    return f"{guide[0].upper()}{guide[1:]}: {shot}" if guide else shot


def image_only_processor(folder):
    """Qwen2VLProcessor's image half, loaded from the model's `processor/` folder."""
    from transformers import AutoImageProcessor, AutoTokenizer
    from transformers.processing_utils import ProcessorMixin
    from transformers.models.qwen2_vl.processing_qwen2_vl import Qwen2VLProcessor

    class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
        # ProcessorMixin reads its sub-processors from __init__'s signature: no video_processor.
        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
            self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
            self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
            self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
            ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    image_processor = AutoImageProcessor.from_pretrained(str(folder), backend="pil")
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    return ImageOnlyQwen2VLProcessor(image_processor=image_processor, tokenizer=tokenizer)


class QwenImageEditKeyframe(DiffusersStage):
    name = "qwen-image-edit"
    seed_changes_likeness = True
    pipeline_class = "QwenImageEditPlusPipeline"
    label = "Qwen-Image-Edit 2509"

    def extra_components(self, folder) -> dict:
        return {"processor": image_only_processor(folder / "processor")}

    def _render(self, pipe, source, request, ctx, device, dtype, started, plan) -> Clip:
        import torch

        steps = int(request.options.get("steps", 40))
        multiple = pipe.vae_scale_factor * 2  # 8x VAE, 2x2 packing
        width = max(multiple, request.width // multiple * multiple)
        height = max(multiple, request.height // multiple * multiple)
        images, dropped = input_images(request)
        if not images:
            from canvas_app.errors import BadInput

            raise BadInput("Qwen-Image-Edit needs at least one picture: the identity has no portrait "
                           "and no references are connected", node=ctx.node_title or ctx.node_id,
                           field="references")
        if dropped:
            ctx.log(f"Qwen-Image-Edit takes {MAX_IMAGES} pictures at most: left out {', '.join(dropped)}")
        callback = FlowStepCallback(ctx, steps, family="wan21", size=(width, height),
                                    grid=(height // multiple, width // multiple))
        negative = request.prompt.negative.strip() or " "  # true CFG needs a negative prompt
        output = pipe(image=images, prompt=edit_prompt(request), negative_prompt=negative,
                      true_cfg_scale=float(request.options.get("guidance", 4.0)),
                      height=height, width=width, num_inference_steps=steps,
                      generator=torch.Generator("cpu").manual_seed(int(request.seed)),
                      output_type="np", callback_on_step_end=callback,
                      callback_on_step_end_tensor_inputs=["latents"])
        frame = to_uint8_frames(output.images[0])[0]
        ctx.preview(frame)
        metadata = self.made_with("keyframe", source, request, steps=steps, size=(width, height),
                                  device=device, dtype=dtype, plan=plan, callback=callback,
                                  started=started, reference_images=len(images),
                                  references_left_out=dropped)
        return Clip(frames=[frame], fps=1.0, metadata=metadata)
