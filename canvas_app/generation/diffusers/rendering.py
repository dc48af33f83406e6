"""Rendering one shot on a loaded Bundle: embeddings, scheduler, character
LoRAs, the pipeline call (still, img2img, motion, video-to-video, FreeNoise
for long SD 1.5 clips) and the frames and metadata that come out."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from canvas_app.engine.context import RunContext
from canvas_app.errors import BadInput
from canvas_app.generation.base import ShotRequest
from canvas_app.generation.diffusers.faces import faceid_embeds, insightface_key, plus_v2_inputs
from canvas_app.generation.diffusers.loading import FACEID_LORA, Bundle, load_lora, torch_dtype_of
from canvas_app.generation.diffusers.metadata import compose_prompt
from canvas_app.generation.diffusers.options import MOTION_SCHEDULER, SCHEDULERS, Options
from canvas_app.generation.previews import StepCallback
from canvas_app.values import FACE_ROLES, Clip

# ---------------------------------------------------------------------------
# Frames


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(image, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def _fit(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    if frame.shape[1] == width and frame.shape[0] == height:
        return np.ascontiguousarray(frame)
    from PIL import Image

    return np.asarray(Image.fromarray(frame).resize((width, height), Image.LANCZOS))


def camera_frames(still: np.ndarray, count: int, move: str) -> list[np.ndarray]:
    """Hold a still for `count` frames, moved as the animatic's camera moves."""
    from canvas_app.media.camera import frames_from_still

    return frames_from_still(still, count, move)


def _stretch(frames: list[np.ndarray], count: int) -> list[np.ndarray]:
    """Repeat frames evenly so that `frames` lasts `count` frames."""
    if len(frames) >= count:
        return frames[:count]
    return [frames[min(len(frames) - 1, int(i * len(frames) / count))] for i in range(count)]


def _set_self_attention_slicing(unet: Any, enabled: bool) -> None:
    """Slice self-attention only: diffusers' enable_attention_slicing would
    replace the IP-Adapter cross-attention processors and drop the identity."""
    from diffusers.models.attention_processor import AttnProcessor2_0, SlicedAttnProcessor

    processors = dict(unet.attn_processors)
    changed = False
    for name, processor in processors.items():
        if not name.endswith("attn1.processor") or "motion_modules" in name:
            continue
        if enabled and not isinstance(processor, SlicedAttnProcessor):
            module = unet
            for part in name.split(".")[:-1]:
                module = getattr(module, part) if not part.isdigit() else module[int(part)]
            processors[name] = SlicedAttnProcessor(max(1, module.heads // 2))
            changed = True
        elif not enabled and isinstance(processor, SlicedAttnProcessor):
            processors[name] = AttnProcessor2_0()
            changed = True
    if changed:
        unet.set_attn_processor(processors)


def free_noise_context(bundle: Bundle) -> int:
    """FreeNoise window: 16 frames (what AnimateDiff v1.5 was trained on) or the
    adapter's own maximum when that is shorter."""
    return min(16, bundle.motion_max_frames)


def _set_free_noise(runner: Any, bundle: Bundle, enabled: bool) -> None:
    """Turn FreeNoise on or off for this render. The text-to-video and
    video-to-video pipelines share one UNet, whose motion blocks FreeNoise
    replaces: turn it off on the other one first."""
    for other in [bundle.pipe, *bundle.extras.values()]:
        if other is not runner and getattr(other, "free_noise_enabled", False):
            other.disable_free_noise()
    if enabled:
        runner.enable_free_noise(context_length=free_noise_context(bundle), context_stride=4)
    elif getattr(runner, "free_noise_enabled", False):
        runner.disable_free_noise()


def generator_device(bundle: Bundle, long_clip: str | None) -> str:
    """Where the seed's generator lives. On the CPU for CPU/MPS renders and
    under offload, and whenever FreeNoise runs: its frame shuffling calls
    `torch.randperm(..., generator=generator)` with no device, i.e. on the CPU,
    and torch refuses a CUDA generator there (diffusers' FreeNoise docs pass a
    CPU generator). Otherwise on the GPU, where the initial noise is drawn."""
    if bundle.device in ("mps", "cpu") or bundle.offload or long_clip == "free_noise":
        return "cpu"
    return bundle.device


VAE_DECODE_CHUNK = 8  # frames decoded at once: a 1024-px SDXL frame takes ~1 GB in the decoder


def decode_video_latents(pipe: Any, latents: Any) -> np.ndarray:
    """(batch, channels, frames, h, w) latents -> (batch, frames, H, W, 3) floats in 0..1.

    For SDXL motion: upstream's AnimateDiffSDXLPipeline upcasts only part of a
    `force_upcast` VAE in fp16 (post_quant_conv, conv_in and the mid block stay
    half) while the decoder no longer casts between its blocks, so decoding
    fails ("Input type (c10::Half) and bias type (float)"). Here the whole VAE
    decodes in float32 when it must upcast, and in its own dtype otherwise,
    a few frames at a time; the VAE goes back to its dtype afterwards."""
    import torch

    vae = pipe.vae
    original = vae.dtype
    upcast = original == torch.float16 and bool(getattr(vae.config, "force_upcast", False))
    decode_dtype = torch.float32 if upcast else original
    from diffusers.utils import logging as diffusers_logging

    verbosity = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()  # casting with to() warns about modules kept in fp32: none here
    if upcast:
        vae.to(dtype=decode_dtype)
    try:
        latents = latents.to(device=pipe._execution_device, dtype=decode_dtype) / vae.config.scaling_factor
        batch, channels, count, height, width = latents.shape
        flat = latents.permute(0, 2, 1, 3, 4).reshape(batch * count, channels, height, width)
        images = torch.cat([vae.decode(flat[start:start + VAE_DECODE_CHUNK]).sample
                            for start in range(0, flat.shape[0], VAE_DECODE_CHUNK)])
        video = images.reshape((batch, count) + images.shape[1:]).permute(0, 2, 1, 3, 4).float()
        frames = pipe.video_processor.postprocess_video(video=video, output_type="np")
    finally:
        if upcast:
            vae.to(dtype=original)
        diffusers_logging.set_verbosity(verbosity)
        pipe.maybe_free_model_hooks()  # under offload the VAE goes back to the CPU
    return np.asarray(frames)


def faceid_lora_weight(opts: Options) -> float:
    """The FaceID LoRA goes with the adapter: full weight, or off with identity off."""
    return 1.0 if opts.identity_strength > 0 else 0.0


def load_character_loras(bundle: Bundle, opts: Options, ctx: RunContext) -> list[dict]:
    """Load the shot's character LoRAs under adapter names of their own."""
    if not opts.loras:
        return []
    from safetensors.torch import load_file

    from canvas_app.generation.model_manager import resolve_source, weight_format

    loaded: list[dict] = []
    try:
        for index, lora in enumerate(opts.loras):
            source = resolve_source(lora.path, field="loras", ctx=ctx)
            path = source.path
            if path.is_dir():
                files = [f for f in sorted(path.glob("*.safetensors")) if f.is_file()]  # no FIFO
                if not files:
                    raise BadInput(f"no .safetensors LoRA in {path}", field="loras")
                path = files[0]
            if weight_format(path) != "safetensors":
                raise BadInput(f"{path.name}: LoRAs load from .safetensors files only", field="loras")
            try:
                state = load_file(str(path))
            except Exception as error:  # noqa: BLE001 - a corrupt file is the user's input
                raise BadInput(f"cannot read LoRA {path.name}: {error}", field="loras") from None
            name = f"character_{index}"
            ctx.progress(0.0, f"loading LoRA {path.name}")
            load_lora(bundle.pipe, state, name, bundle.pipe.unet.dtype, field_name="loras")
            loaded.append({"name": name, "file": path.name, "weight": lora.weight})
    except BaseException:
        unload_character_loras(bundle, opts, loaded)
        raise
    return loaded


def set_lora_weights(bundle: Bundle, opts: Options, loras: list[dict]) -> None:
    names = ([FACEID_LORA] if bundle.faceid_lora else []) + [lora["name"] for lora in loras]
    weights = ([faceid_lora_weight(opts)] if bundle.faceid_lora else []) + [lora["weight"] for lora in loras]
    if names:
        bundle.pipe.set_adapters(names, adapter_weights=weights)


def unload_character_loras(bundle: Bundle, opts: Options, loras: list[dict]) -> None:
    """Delete this shot's LoRAs so that the next shot renders without them."""
    if loras:
        bundle.pipe.delete_adapters([lora["name"] for lora in loras])
        if bundle.faceid_lora:
            bundle.pipe.set_adapters([FACEID_LORA], adapter_weights=[faceid_lora_weight(opts)])


def render_bundle(bundle: Bundle, opts: Options, request: ShotRequest, faces: np.ndarray,
                  ctx: RunContext) -> Clip:
    """Render one shot on a loaded bundle (the caller holds the bundle's lock)."""
    loras = load_character_loras(bundle, opts, ctx)
    try:
        set_lora_weights(bundle, opts, loras)
        return _render(bundle, opts, request, faces, ctx, loras)
    finally:
        unload_character_loras(bundle, opts, loras)


def _render(bundle: Bundle, opts: Options, request: ShotRequest, faces: np.ndarray,
        ctx: RunContext, loras: list[dict]) -> Clip:
    import torch

    pipe = bundle.pipe
    width, height = request.width, request.height
    render_w = int(math.ceil(width / 8) * 8)
    render_h = int(math.ceil(height / 8) * 8)
    n_frames = max(1, int(round(request.prompt.duration * request.fps)))
    prompt, negative = compose_prompt(request.prompt)

    unet = pipe.unet
    do_cfg = opts.guidance > 1.0 and getattr(unet.config, "time_cond_proj_dim", None) is None
    execution_device = pipe._execution_device  # where the modules run (the GPU under offload too)
    unet_dtype = unet.dtype

    # Identity + reference embeddings, one entry per loaded adapter. Plus v2 takes
    # an embedding and a face crop per reference: both lists come from the same samples.
    face_crops = 0
    if bundle.faceid_variant == "plus_v2":
        faces, crops = plus_v2_inputs(request.identity)
        face_crops = _set_face_structure(bundle, crops, opts, do_cfg, execution_device)
    embeds = [faceid_embeds(faces, do_cfg=do_cfg, dtype=unet_dtype, device=execution_device)]
    references = [ref for ref in request.references if ref.role not in FACE_ROLES]
    reference_scale = opts.reference_strength
    if "image" in bundle.adapters:
        embeds.append(_reference_embeds(bundle, references, do_cfg, execution_device))
        if not references:
            reference_scale = 0.0
    else:
        references = []
    scales = [opts.identity_strength] + ([reference_scale] if "image" in bundle.adapters else [])
    pipe.set_ip_adapter_scale(scales)

    # Per-render settings on the shared pipeline (we hold its lock).
    scheduler = _scheduler(bundle, opts)
    _set_self_attention_slicing(unet, opts.attention_slicing)
    if opts.vae_tiling:
        pipe.vae.enable_tiling()
    else:
        pipe.vae.disable_tiling()


    previous = request.previous_clip
    continuity = opts.continuity_strength if previous is not None and previous.frames else 0.0
    continuity = min(continuity, 0.95)
    denoise = 1.0 - continuity
    steps = opts.steps
    if continuity > 0:
        steps = max(steps, int(math.ceil(1.0 / denoise)))  # at least one denoising step
    effective_steps = max(1, int(steps * denoise)) if continuity > 0 else steps

    rendered_frames = min(n_frames, opts.max_frames) if bundle.motion else 1
    long_clip = None
    if bundle.motion and rendered_frames > bundle.motion_max_frames:
        if bundle.model_kind == "sd15":
            long_clip = "free_noise"  # sliding windows of the adapter's length (FreeNoise)
        else:
            notes_cap = (f"{rendered_frames} motion frames capped at the motion adapter's "
                         f"{bundle.motion_max_frames}")
            rendered_frames = bundle.motion_max_frames
            long_clip = "capped"
    generator = torch.Generator(device=generator_device(bundle, long_clip)).manual_seed(int(request.seed))
    callback = StepCallback(ctx, effective_steps, model_kind=bundle.model_kind, size=(width, height),
                            min_interval=opts.preview_interval,
                            message=f"denoising {rendered_frames} frames" if bundle.motion else "denoising")
    common = dict(prompt=prompt, negative_prompt=negative or None, height=render_h, width=render_w,
                  num_inference_steps=steps, guidance_scale=opts.guidance, generator=generator,
                  ip_adapter_image_embeds=embeds, output_type="np", callback_on_step_end=callback,
                  callback_on_step_end_tensor_inputs=["latents"])
    notes: list[str] = [notes_cap] if long_clip == "capped" else []
    init_frame = None
    if continuity > 0:
        from PIL import Image

        init_frame = Image.fromarray(previous.frames[-1]).convert("RGB").resize((render_w, render_h),
                                                                               Image.LANCZOS)
    pipe._interrupt = False
    if bundle.motion:
        runner = pipe
        kwargs = dict(common, num_frames=rendered_frames)
        if init_frame is not None:
            runner = _variant(bundle, "video2video")
            if runner is None:
                notes.append("continuity is not available for SDXL motion clips; rendered without it")
                runner, init_frame, continuity = pipe, None, 0.0
                kwargs["num_inference_steps"] = opts.steps
                callback.total_steps = opts.steps
            else:
                kwargs.pop("num_frames")
                kwargs.pop("height")
                kwargs.pop("width")
                kwargs.update(video=[init_frame] * rendered_frames, strength=denoise)
        runner.scheduler = scheduler
        runner._interrupt = False
        _set_free_noise(runner, bundle, long_clip == "free_noise")
        decode_ourselves = bundle.model_kind == "sdxl"
        if decode_ourselves:
            kwargs["output_type"] = "latent"
        with torch.inference_mode():
            output = runner(**kwargs)
            if decode_ourselves:
                video = decode_video_latents(runner, output.frames)[0]
            else:
                video = np.asarray(output.frames[0])
        frames_rendered = len(video)
        frames = [_fit(_to_uint8(frame), width, height) for frame in video]
        if len(frames) < n_frames:
            notes.append(f"{len(frames)} frames rendered (max_frames) and held to fill {n_frames}")
        frames = _stretch(frames, n_frames)
    else:
        runner = pipe
        kwargs = dict(common)
        if init_frame is not None:
            runner = _variant(bundle, "img2img")
            kwargs.pop("height")
            kwargs.pop("width")
            kwargs.update(image=init_frame, strength=denoise)
        runner.scheduler = scheduler
        runner._interrupt = False
        with torch.inference_mode():
            output = runner(**kwargs)
        still = _fit(_to_uint8(output.images[0]), width, height)
        frames_rendered = 1
        frames = camera_frames(still, n_frames, request.prompt.camera_move)
    nsfw = getattr(output, "nsfw_content_detected", None)
    ctx.progress(0.97, "finishing")
    ctx.preview(frames[-1], "frame")

    metadata: dict[str, Any] = {
        "backend": "diffusers",
        **bundle.model_meta,
        "pipeline": type(runner).__name__,
        "seed": int(request.seed),
        "scheduler": type(scheduler).__name__,
        "steps": opts.steps,
        "denoising_steps": callback.steps_done,
        "guidance": opts.guidance,
        "identity_strength": opts.identity_strength,
        "faceid_variant": bundle.faceid_variant,
        "face_structure": opts.face_structure if bundle.faceid_variant == "plus_v2" else None,
        "face_crops": face_crops,
        "reference_strength": reference_scale,
        "adapter_scales": scales,
        "identity_id": request.identity.identity_id,
        "identity_name": request.identity.name,
        "identity_encoder": insightface_key(request.identity),
        "identity_refs": int(faces.shape[0]),
        "references": [{"name": ref.name, "role": ref.role, "sha256": ref.sha256} for ref in references],
        "prompt": prompt,
        "negative_prompt": negative,
        "width": width, "height": height, "render_size": [render_w, render_h],
        "fps": request.fps,
        "motion": bundle.motion,
        "motion_long_clip": long_clip,
        "motion_context_frames": free_noise_context(bundle) if long_clip == "free_noise" else None,
        "loras": [{"name": lora["name"], "file": lora["file"], "weight": lora["weight"]} for lora in loras],
        "faceid_lora_weight": faceid_lora_weight(opts) if bundle.faceid_lora else None,
        "frames_rendered": frames_rendered,
        "continuity_strength": continuity,
        "img2img_strength": round(denoise, 4) if continuity > 0 else None,
        "camera_move": request.prompt.camera_move,
        "device": bundle.device,
        "dtype": bundle.dtype,
        "attention_slicing": opts.attention_slicing,
        "vae_tiling": opts.vae_tiling,
        "cpu_offload": bundle.offload,
        "torch_version": torch.__version__,
        "previews_sent": callback.previews_sent,
        "preview_seconds": round(callback.preview_seconds, 4),
        **bundle.adapter_meta,
    }
    if nsfw is not None and any(bool(flag) for flag in nsfw):
        notes.append("the model's safety checker blanked this image")
        metadata["nsfw_flagged"] = True
    if notes:
        metadata["notes"] = notes
        for note in notes:
            ctx.log(note)
    return Clip(frames=frames, fps=request.fps, metadata=metadata)

def _reference_embeds(bundle: Bundle, references: list, do_cfg: bool, device: Any):
    import torch
    from PIL import Image

    pipe = bundle.pipe
    if references:
        images = [Image.fromarray(ref.pixels).convert("RGB") for ref in references]
        pixels = bundle.image_processor(images=images, return_tensors="pt").pixel_values
    else:  # adapter loaded but nothing to show it: scale 0, shape-only input
        side = int(pipe.image_encoder.config.image_size)
        pixels = torch.zeros(1, 3, side, side)
    with torch.inference_mode():
        positive, negative = pipe.encode_image(pixels, device, 1, bundle.image_adapter_hidden_states)
    positive, negative = positive.unsqueeze(0), negative.unsqueeze(0)  # (1, n_refs, ...)
    return torch.cat([negative, positive], dim=0) if do_cfg else positive

def _set_face_structure(bundle: Bundle, crops: list[np.ndarray], opts: Options, do_cfg: bool,
                        device: Any) -> int:
    """FaceID Plus v2: CLIP hidden states of the identity's 224-px aligned face crops
    (`face_align.norm_crop`, as the model card) go to the adapter's projection as
    `clip_embeds`, with the shortcut on (v2), as in diffusers' IP-Adapter docs.
    Returns the number of crops."""
    import torch
    from PIL import Image

    pipe = bundle.pipe
    images = [Image.fromarray(np.asarray(crop, dtype=np.uint8)).convert("RGB") for crop in crops]
    pixels = bundle.image_processor(images=images, return_tensors="pt").pixel_values
    with torch.inference_mode():
        positive, negative = pipe.encode_image(pixels, device, 1, True)  # penultimate hidden states
    clip_embeds = positive.unsqueeze(0)
    if do_cfg:
        clip_embeds = torch.cat([negative.unsqueeze(0), clip_embeds], dim=0)
    projection = pipe.unet.encoder_hid_proj.image_projection_layers[0]
    projection.clip_embeds = clip_embeds.to(dtype=pipe.unet.dtype)
    projection.shortcut = True
    projection.shortcut_scale = opts.face_structure
    return len(crops)


def _scheduler(bundle: Bundle, opts: Options):
    import diffusers

    config = bundle.base_scheduler_config
    name = opts.scheduler
    if name.lower() == "default" and bundle.motion:
        cls_name, extra = MOTION_SCHEDULER
    elif name.lower() == "default":
        cls_name, extra = bundle.base_scheduler_class, {}
    elif name.lower() in SCHEDULERS:
        cls_name, extra = SCHEDULERS[name.lower()]
    else:
        cls_name, extra = name, {}
    cls = getattr(diffusers, cls_name, None)
    if cls is None or not hasattr(cls, "from_config"):
        raise BadInput(f"unknown scheduler {name!r}", field="scheduler")
    return cls.from_config(config, **extra)

def _variant(bundle: Bundle, which: str):
    """img2img / video2video pipelines sharing the loaded components."""
    if which in bundle.extras:
        return bundle.extras[which]
    import diffusers

    pipe = bundle.pipe
    if which == "img2img":
        cls = (diffusers.StableDiffusionXLImg2ImgPipeline if bundle.model_kind == "sdxl"
               else diffusers.StableDiffusionImg2ImgPipeline)
    elif bundle.model_kind == "sd15":
        cls = diffusers.AnimateDiffVideoToVideoPipeline
    else:
        return None
    # from_pipe casts the (shared) components to torch_dtype, float32 by default: pass ours.
    variant = cls.from_pipe(pipe, dtype=torch_dtype_of(bundle.dtype))
    variant.set_progress_bar_config(disable=True)
    bundle.extras[which] = variant
    return variant
