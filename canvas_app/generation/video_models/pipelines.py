"""Loading the new families' diffusers pipelines through the model manager.

A model is a Hugging Face id or a local folder in the hub's diffusers layout
(model_index.json plus one subfolder per component), found by the model
manager's `resolve_source` (hub cache, offline rules, download progress) and
kept loaded by its `get` (shared between shots, evicted least recently used).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from canvas_app.engine.context import Cancelled, RunContext
from canvas_app.errors import BadInput, CanvasError, NodeFailure


def resolve_dtype(name: str, device: str) -> str:
    """bf16 on CUDA (the dtype these models are released in); fp32 elsewhere,
    since half precision on the CPU is slow or unsupported."""
    if name == "auto":
        return "bf16" if device.startswith("cuda") else "fp32"
    if device == "cpu" and name == "fp16":
        return "fp32"
    return name


@contextmanager
def loaded_pipeline(class_name: str, spec: str, *, device: str, dtype: str, ctx: RunContext,
                    manager=None, memory: str = "auto",
                    extra_components=None, allow_patterns: list[str] | None = None
                    ) -> Iterator[tuple[Any, Any, Any]]:
    """Yields (pipeline, source, memory plan) with the manager's lock held for the render.
    `extra_components(folder)` gives components the backend loads itself (passed to
    from_pretrained, which then skips them). `allow_patterns` limits a hub download to
    those files (None: the whole repository)."""
    from canvas_app.generation.model_manager import get_model_manager, resolve_source
    from canvas_app.generation.video_models.memory_plans import (apply_plan, plan_load_kwargs,
                                                                 resolve_plan)

    node = ctx.node_title or ctx.node_id or None
    manager = manager or get_model_manager()
    source = resolve_source(spec, field="model", ctx=ctx, want="folder", node=node,
                            allow_patterns=allow_patterns)
    if not (source.path / "model_index.json").is_file():
        raise BadInput(f"{source.path} is not a diffusers model folder (no model_index.json)",
                       field="model", node=node)
    plan = resolve_plan(memory, spec, device, node=node)
    key = ("video_models", class_name, str(source.path), source.revision, device, dtype, plan.name)

    def load():
        import diffusers
        import torch

        torch_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[dtype]
        ctx.progress(0.05, f"loading {spec} ({plan.name}: {plan.reason})")
        components = extra_components(source.path) if extra_components is not None else {}
        pipe = getattr(diffusers, class_name).from_pretrained(
            str(source.path), dtype=torch_dtype, **components,
            **plan_load_kwargs(plan, source.path, torch_dtype))
        apply_plan(pipe, plan, device, torch_dtype)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    while True:
        entry = manager.get(key, load, device=device)
        with entry.lock:
            if entry.value is None:  # evicted between get and lock: load again
                continue
            yield entry.value, source, plan
            return


def run_guarded(what: str, work, ctx: RunContext):
    """Run `work()`, turning library errors into a NodeFailure the user can read."""
    try:
        return work()
    except (CanvasError, Cancelled):
        raise
    except Exception as error:  # noqa: BLE001 - shown to the user, named
        from canvas_app.generation.diffusers.loading import is_oom

        node = ctx.node_title or ctx.node_id or None
        if is_oom(error):
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise NodeFailure(f"out of GPU memory in {what}: try a smaller size or fewer frames, "
                              "or a smaller model", node=node) from error
        raise NodeFailure(f"{what} failed: {type(error).__name__}: {error}", node=node) from error


class DiffusersStage:
    """A keyframe or motion backend on one diffusers pipeline class: loads it
    through the model manager (with the request's memory plan), holds it for
    the render and names library errors. Subclasses give `pipeline_class`,
    `label` and `_render(pipe, source, request, ctx, device, dtype, started, plan)`."""

    pipeline_class = ""
    label = ""
    download_patterns: tuple[str, ...] | None = None  # None: the whole hub repository

    def __init__(self, manager=None) -> None:
        self.manager = manager

    def render(self, request, ctx: RunContext):
        import time

        from canvas_app.generation.diffusers.loading import resolve_device

        options = request.options
        device = resolve_device(request.device)
        dtype = resolve_dtype(options.get("dtype", "auto"), device)
        started = time.perf_counter()
        with loaded_pipeline(self.pipeline_class, options["model"], device=device, dtype=dtype,
                             ctx=ctx, manager=self.manager,
                             memory=options.get("memory", "auto"),
                             extra_components=self.extra_components,
                             allow_patterns=list(self.download_patterns or ()) or None
                             ) as (pipe, source, plan):
            return run_guarded(self.label, lambda: self._render(
                pipe, source, request, ctx, device, dtype, started, plan), ctx)

    extra_components = None  # or a method: folder -> {component name: loaded component}

    def _render(self, pipe, source, request, ctx, device, dtype, started, plan):
        raise NotImplementedError

    def made_with(self, stage, source, request, *, steps, size, device, dtype, plan, callback,
                  started, **details) -> dict:
        """The metadata every keyframe or clip of these backends carries (how it was
        made, for the report and the kept keyframe's PNG), plus the backend's `details`."""
        import time

        return {"backend": self.name, "model": source.spec, "model_revision": source.revision,
                "stage": stage, "seed": int(request.seed), "steps": steps, "width": size[0],
                "height": size[1], "device": device, "dtype": dtype, "memory_plan": plan.name,
                "identity": request.identity.name, "identity_id": request.identity.identity_id,
                "previews": callback.previews_sent, **details,
                "seconds": round(time.perf_counter() - started, 3)}


def shot_text(prompt) -> str:
    """The prompt with the shot directions spelled out, as these models read them."""
    parts = [prompt.positive.strip(), f"{prompt.shot_size} shot"]
    if prompt.camera_move and prompt.camera_move != "static":
        parts.append(f"camera {prompt.camera_move.replace('-', ' ')}")
    if prompt.mood and prompt.mood != "neutral":
        parts.append(f"{prompt.mood} light")
    return ", ".join(part for part in parts if part)


def at_least(image, side: int):
    """A PIL image enlarged so that its short side is `side` at least: the pipelines
    refuse (FLUX.2) or cannot use (Qwen) pictures smaller than that."""
    short = min(image.size)
    if short >= side:
        return image
    from PIL import Image

    scale = side / short
    return image.resize((max(side, round(image.width * scale)), max(side, round(image.height * scale))),
                        Image.LANCZOS)


def to_pil(frame):
    from PIL import Image
    import numpy as np

    return Image.fromarray(np.ascontiguousarray(frame[:, :, :3]))


def to_uint8_frames(array) -> list:
    """Pipeline output in 0..1 floats, (F, H, W, 3) or (H, W, 3) -> RGB uint8 frames."""
    import numpy as np

    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 3:
        array = array[None]
    return [np.clip(frame * 255 + 0.5, 0, 255).astype(np.uint8) for frame in array]
