"""Motion with LTX-2 image-to-video (`LTX2ImageToVideoPipeline`), sound included.

LTX-2 makes the picture and its sound in one pass: one transformer with a
video stream and an audio stream that attend to each other, so footsteps,
breathing or a line of dialogue land on the frames that show them. The clip
starts on the keyframe (the pipeline's one conditioning image); its sound
(the vocoder's waveform, at the vocoder's own rate) rides with the clip as
`Clip.sound`, and the Sequence lays it under the cut at the shot's place.

LTX-2 has no last-frame input: with a previous shot wired in, the clip still
starts on the keyframe and the metadata says continuity was not applied (as
Wan 2.2 TI2V-5B does).
"""
from __future__ import annotations

import numpy as np

from canvas_app.errors import BadInput
from canvas_app.generation.video_models.latent_previews import FlowStepCallback
from canvas_app.generation.video_models.pipelines import (DiffusersStage, shot_text, to_pil,
                                                          to_uint8_frames)
from canvas_app.generation.video_models.requirements import DOWNLOAD_PATTERNS
from canvas_app.generation.video_models.stages import frame_count
from canvas_app.generation.video_models.wan_i2v import model_size
from canvas_app.values import Clip, Sound

NO_CONTINUITY = ("LTX-2 image-to-video has no last-frame input: the clip starts on the keyframe, "
                 "not on the previous shot's last frame")


def waveform(audio) -> np.ndarray:
    """The pipeline's audio output for one clip -> float32 samples (channels, n) in -1..1."""
    if hasattr(audio, "detach"):
        audio = audio.detach().float().cpu().numpy()
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim == 3:  # (batch, channels, n): one clip per call here
        samples = samples[0]
    if samples.ndim == 1:
        samples = samples[None]
    # The vocoder's output is not clamped; a sample past full scale would wrap in 16-bit PCM.
    return np.clip(np.nan_to_num(samples), -1.0, 1.0)


def other_family(model: str) -> str | None:
    """The pipeline a local model folder was saved for, when it is not an LTX-2 one
    (a Wan folder left in `model` after switching the backend), else None."""
    import json
    from pathlib import Path

    index = Path(model).expanduser() / "model_index.json"
    try:
        name = str(json.loads(index.read_text(encoding="utf-8")).get("_class_name", ""))
    except (OSError, ValueError, AttributeError):
        return None  # not a local folder, or unreadable: the loader names that itself
    return None if name.startswith("LTX2") else name


class LTX2ImageToVideo(DiffusersStage):
    name = "ltx2-i2v"
    seed_changes_likeness = True
    pipeline_class = "LTX2ImageToVideoPipeline"
    label = "LTX-2 image-to-video"
    # Only the diffusers folders of the hub repository (see requirements.DOWNLOAD_PATTERNS).
    download_patterns = DOWNLOAD_PATTERNS["Lightricks/LTX-2"]

    def render(self, request, ctx):
        found = other_family(str(request.options.get("model", "")))
        if found:
            raise BadInput(f"{request.options['model']} holds a {found} model, not an LTX-2 one: "
                           "set model to Lightricks/LTX-2 or a local copy of it", field="model",
                           node=ctx.node_title or ctx.node_id or None)
        return super().render(request, ctx)

    def _render(self, pipe, source, request, ctx, device, dtype, started, plan) -> Clip:
        import torch

        options = request.options
        steps = int(options.get("steps", 30))
        patch = int(pipe.transformer.config.patch_size)
        multiple = pipe.vae_spatial_compression_ratio * patch
        width, height = model_size(*request.size, multiple)
        temporal = pipe.vae_temporal_compression_ratio
        frames = frame_count(request.prompt.duration, request.fps, temporal_factor=temporal)
        latent_grid = ((frames - 1) // temporal + 1, height // multiple, width // multiple)
        callback = FlowStepCallback(ctx, steps, family="ltx2", size=(width, height),
                                    grid=latent_grid)
        image = to_pil(request.keyframe)
        if image.size != (width, height):
            from PIL import Image

            image = image.resize((width, height), Image.LANCZOS)
        output = pipe(image=image, prompt=shot_text(request.prompt),
                      negative_prompt=request.prompt.negative or None, height=height, width=width,
                      num_frames=frames, frame_rate=float(request.fps), num_inference_steps=steps,
                      guidance_scale=float(options.get("guidance", 3.0)),
                      generator=torch.Generator("cpu").manual_seed(int(request.seed)),
                      output_type="np", callback_on_step_end=callback,
                      callback_on_step_end_tensor_inputs=["latents"])
        clip_frames = to_uint8_frames(output.frames[0])
        rate = int(pipe.vocoder.config.output_sampling_rate)
        sound = Sound(samples=waveform(output.audio), sample_rate=rate)
        ctx.preview(clip_frames[-1])
        notes = [NO_CONTINUITY] if request.first_frame is not None else []
        metadata = self.made_with(
            "motion", source, request, steps=steps, size=(width, height), device=device,
            dtype=dtype, plan=plan, callback=callback, started=started, fps=float(request.fps),
            frames=len(clip_frames), continuity=False,
            sound={"sample_rate": rate, "channels": int(sound.samples.shape[0]),
                   "seconds": round(sound.duration, 3)}, notes=notes)
        return Clip(frames=clip_frames, fps=float(request.fps), metadata=metadata, sound=sound)
