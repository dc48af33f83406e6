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
from canvas_app.generation.diffusers.faces import face_embeddings, plus_v2_inputs
from canvas_app.generation.diffusers.loading import (Loader, estimate_load_bytes, is_oom, resolve_device,
                                                     resolve_dtype, resolve_sources)
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
        if opts.faceid_variant == "plus_v2":
            plus_v2_inputs(request.identity)
        if request.width < 8 or request.height < 8:
            raise BadInput("width and height must be at least 8 pixels", field="size")
        started = time.perf_counter()
        ctx.progress(0.0, "preparing diffusers")
        import torch

        device = resolve_device(request.device)
        dtype = resolve_dtype(opts.dtype, device)
        retried_after_oom = False
        attempt: dict = {}  # the cache key this render uses: kept when an OOM retry unloads the others
        while True:
            try:
                clip = self._render_once(opts, request, faces, device, dtype, ctx, attempt)
                break
            except (CanvasError, Cancelled):
                raise
            except Exception as error:  # noqa: BLE001 - becomes a NodeFailure the user can read
                node = ctx.node_title or ctx.node_id or None
                if not is_oom(error):
                    raise NodeFailure(f"diffusers failed: {type(error).__name__}: {error}", node=node) from error
                # Other cached pipelines may hold the memory this shot needs: unload
                # them and try once more before failing the node.
                freed = [] if retried_after_oom else self.manager.unload_others(attempt.get("key"), device)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                if retried_after_oom:
                    raise NodeFailure(
                        f"out of GPU memory rendering {request.width}x{request.height}"
                        f"{' x %d frames' % opts.max_frames if opts.motion else ''}, even after unloading the "
                        "other cached pipelines. Try attention_slicing, vae_tiling or cpu_offload, a smaller "
                        "size, fewer frames, or dtype fp16.", node=node) from error
                retried_after_oom = True
                ctx.log(f"out of memory: unloaded {len(freed)} other cached pipeline(s) and trying once more")
        if retried_after_oom:
            clip.metadata.setdefault("notes", []).append("retried once after running out of memory")
        clip.metadata["seconds"] = round(time.perf_counter() - started, 3)
        ctx.progress(1.0, "done")
        return clip

    def _render_once(self, opts: Options, request: ShotRequest, faces, device: str, dtype: str,
                     ctx: RunContext, attempt: dict) -> Clip:
        while True:
            entry = self._entry(opts, request, device, dtype, ctx, attempt)
            with entry.lock:
                if entry.value is None:  # evicted between get and lock: load again
                    continue
                return render_bundle(entry.value, opts, request, faces, ctx)

    def _entry(self, opts: Options, request: ShotRequest, device: str, dtype: str, ctx: RunContext,
               attempt: dict | None = None):
        sources, kind, use_image_adapter = resolve_sources(opts, request, ctx)
        offload = opts.cpu_offload and device.startswith("cuda")
        adapters = tuple((name, str(sources[name].path)) for name in
                         ("faceid_adapter", "image_adapter", "image_encoder", "motion_adapter") if name in sources)
        key = ("diffusers", str(sources["model"].path),
               str(sources["model_config"].path) if "model_config" in sources else "",
               kind, opts.faceid_variant, dtype, device, offload, adapters)
        loader = Loader(opts, kind, device, dtype, use_image_adapter, sources, ctx)
        if attempt is not None:
            attempt["key"] = key
        expected = 0 if offload else estimate_load_bytes(sources, dtype)
        return self.manager.get(key, loader, device=device, expected_bytes=expected)
