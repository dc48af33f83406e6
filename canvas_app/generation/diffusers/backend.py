"""The diffusers generator: Stable Diffusion 1.5 / SDXL with IP-Adapter FaceID.

Identity is injected through IP-Adapter FaceID (plain or Plus v2): the
identity's buffalo_l ArcFace embeddings of every included reference go to the
adapter together. Outfit, environment and product references feed a second,
plain IP-Adapter. Character LoRAs load per shot by adapter name. With `motion`
an AnimateDiff motion adapter makes a clip; `continuity_strength` starts a shot
from the previous shot's last frame. The options are declared once in
`options.py` (the Generate node shows the same specs).
"""
from __future__ import annotations

import time

from canvas_app.engine.context import Cancelled, RunContext
from canvas_app.errors import BadInput, CanvasError, NodeFailure
from canvas_app.generation.base import ShotRequest
from canvas_app.generation.diffusers.faces import face_embeddings
from canvas_app.generation.diffusers.loading import is_oom, resolve_device, resolve_dtype, resolve_sources, Loader
from canvas_app.generation.diffusers.options import Options, parse_options
from canvas_app.generation.diffusers.rendering import render_bundle
from canvas_app.generation.model_manager import ModelManager, get_model_manager
from canvas_app.values import Clip

class DiffusersBackend:
    """`render(request, ctx) -> Clip` with SD 1.5 / SDXL + IP-Adapter FaceID."""

    name = "diffusers"

    def __init__(self, manager: ModelManager | None = None) -> None:
        self.manager = manager or get_model_manager()

    # -- public -------------------------------------------------------------
    def render(self, request: ShotRequest, ctx: RunContext) -> Clip:
        opts = parse_options(request.options)
        faces = face_embeddings(request.identity)  # BadInput before anything heavy
        if request.width < 8 or request.height < 8:
            raise BadInput("width and height must be at least 8 pixels", field="size")
        started = time.perf_counter()
        ctx.progress(0.0, "preparing diffusers")
        import torch

        device = resolve_device(request.device)
        dtype = resolve_dtype(opts.dtype, device)
        try:
            clip = None
            while clip is None:
                entry = self._entry(opts, request, device, dtype, ctx)
                with entry.lock:
                    if entry.value is None:  # evicted between get and lock: load again
                        continue
                    clip = render_bundle(entry.value, opts, request, faces, ctx)
        except (CanvasError, Cancelled):
            raise
        except Exception as error:  # noqa: BLE001 - becomes a NodeFailure the user can read
            if is_oom(error):
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                raise NodeFailure(
                    f"out of GPU memory rendering {request.width}x{request.height}"
                    f"{' x %d frames' % opts.max_frames if opts.motion else ''}. Try attention_slicing, "
                    "vae_tiling or cpu_offload, a smaller size, fewer frames, or dtype fp16.",
                    node=ctx.node_title or ctx.node_id or None) from error
            raise NodeFailure(f"diffusers failed: {type(error).__name__}: {error}",
                              node=ctx.node_title or ctx.node_id or None) from error
        clip.metadata["seconds"] = round(time.perf_counter() - started, 3)
        ctx.progress(1.0, "done")
        return clip

    def _entry(self, opts: Options, request: ShotRequest, device: str, dtype: str, ctx: RunContext):
        sources, kind, use_image_adapter = resolve_sources(opts, request, ctx)
        offload = opts.cpu_offload and device.startswith("cuda")
        adapters = tuple((name, str(sources[name].path)) for name in
                         ("faceid_adapter", "image_adapter", "image_encoder", "motion_adapter") if name in sources)
        key = ("diffusers", str(sources["model"].path),
               str(sources["model_config"].path) if "model_config" in sources else "",
               kind, opts.faceid_variant, dtype, device, offload, adapters)
        loader = Loader(opts, kind, device, dtype, use_image_adapter, sources, ctx)
        return self.manager.get(key, loader, device=device)
