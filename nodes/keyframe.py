"""Keyframe: the first stage of a two-stage shot, one still of the locked identity.

A keyframe costs seconds where a clip costs minutes, so it is scored against the
identity by the guard and re-rolled before any motion is spent on it. The node
shows the keyframe as its picture, with its likeness. "Pin keyframe" keeps the
last keyframe the node made (saved as keyframes/<node id>.png beside the
project file): the node then neither renders nor re-rolls, so editing the prompt or
re-rolling the Motion node downstream keeps the same still.
"""
from __future__ import annotations

from pathlib import Path

from canvas_app.graph import NodeSpec, NodeType, ParamSpec, PortSpec
from canvas_app.graph.types import IDENTITY, IMAGES, PROMPT, register_port_type

KEYFRAME = register_port_type("keyframe", "#d9d46a")  # a one-frame Clip with its score
DIFFUSION_ONLY = ("model", "device", "steps", "guidance", "dtype", "memory",
                  "qwen_model", "qwen_steps", "qwen_guidance")
QWEN_ONLY = ("qwen_model", "qwen_steps", "qwen_guidance")
FLUX_ONLY = ("model", "steps", "guidance")
_FLUX = (("backend", ("flux2-klein",)),)
_QWEN = (("backend", ("qwen-image-edit",)),)
_DIFFUSERS = (("backend", ("flux2-klein", "qwen-image-edit")),)


def summarize(params) -> list[str]:
    pinned = " · pinned" if params.get("pin") else ""
    return [f"{params.get('backend')} · seed {params.get('seed')}{pinned}",
            f"{params.get('width')}×{params.get('height')}"]


def keyframe_dir(ctx) -> Path | None:
    """Where a node's latest keyframe is kept for pinning: beside the project file,
    so a pin survives a change of output folder and results served from the cache
    (else the run's output folder, for a graph run without a project)."""
    base = ctx.project_dir or ctx.output_dir
    return Path(base) / "keyframes" if base is not None else None


class _Pinned:
    """A 'backend' that hands back the pinned still, so the guard scores it."""

    name = "pinned"
    seed_changes_likeness = False

    def __init__(self, path: Path) -> None:
        self.path = path

    def render(self, request, ctx):
        from canvas_app.media.images import load_rgb
        from canvas_app.values import Clip

        from PIL import Image

        frame = load_rgb(self.path, node=ctx.node_title or ctx.node_id, field="pin")
        with Image.open(self.path) as image:  # how the kept still was made (its PNG text)
            made = dict(image.info)
        seed = str(made.get("seed", ""))
        return Clip(frames=[frame], fps=1.0,
                    metadata={"backend": "pinned", "model": str(made.get("model", "unknown")),
                              "seed": int(seed) if seed.isdigit() else None, "stage": "keyframe",
                              "identity": request.identity.name, "pinned": True})


def pipeline_memory_params(enabled_when) -> tuple[ParamSpec, ...]:
    """The weights' dtype and the memory plan of a stage on a diffusers pipeline
    (Keyframe and Motion alike; canvas_app/generation/video_models/memory_plans.py)."""
    return (
        ParamSpec("dtype", "choice", "auto", choices=("auto", "bf16", "fp16", "fp32"),
                  enabled_when=enabled_when, advanced=True),
        ParamSpec("memory", "choice", "auto",
                  choices=("auto", "full", "offload", "group-offload", "quantized"),
                  enabled_when=enabled_when, advanced=True,
                  help="auto: chosen from the card's memory (docs/models.md). offload: model "
                       "offload + fp8 weights (24 GB cards); group-offload: blocks moved as they "
                       "run; quantized: group offload + int8 transformer (12-16 GB cards, "
                       "needs torchao)."),
    )

def stage_options(params) -> dict:
    """The backend's model, steps and guidance (FLUX.2 and Qwen each keep their own), dtype
    and memory plan."""
    qwen = params.get("backend") == "qwen-image-edit"
    return {"model": params["qwen_model" if qwen else "model"],
            "steps": params["qwen_steps" if qwen else "steps"],
            "guidance": params["qwen_guidance" if qwen else "guidance"],
            "dtype": params["dtype"], "memory": params["memory"]}


class Keyframe(NodeType):
    spec = NodeSpec(
        type_name="Keyframe", version=1, title="Keyframe", category="Shots",
        description="Stage one of a shot: a still of the identity in the shot's framing, scored "
                    "against the identity and re-rolled before any motion is spent on it. Wire it "
                    "into a Motion node.",
        inputs=(
            PortSpec("identity", IDENTITY, "Identity"),
            PortSpec("prompt", PROMPT, "Prompt"),
            PortSpec("references", IMAGES, "References", optional=True),
        ),
        outputs=(PortSpec("keyframe", KEYFRAME, "Keyframe"),),
        params=(
            ParamSpec("backend", "choice", "animatic",
                      choices=("animatic", "flux2-klein", "qwen-image-edit"),
                      help="animatic: the CPU renderer (no download). flux2-klein: FLUX.2 klein "
                           "with the identity's portrait and the connected references as its "
                           "reference images (GPU). qwen-image-edit: Qwen-Image-Edit 2509 with "
                           "the portrait and up to two references as its input images (GPU)."),
            ParamSpec("model", "str", "black-forest-labs/FLUX.2-klein-4B", enabled_when=_FLUX,
                      help="Hugging Face id or local diffusers folder (4B: ~16 GB card; 9B: ~29 GB)."),
            ParamSpec("qwen_model", "str", "Qwen/Qwen-Image-Edit-2509", enabled_when=_QWEN,
                      label="Qwen model",
                      help="Hugging Face id or local diffusers folder (58 GB of bf16 weights: "
                           "80 GB card, or an offload plan)."),
            ParamSpec("device", "choice", "auto", choices=("auto", "cpu", "cuda", "mps"),
                      enabled_when=_DIFFUSERS),
            ParamSpec("seed", "seed", 1, minimum=0, maximum=2**31 - 1,
                      help="Roll the dice for another keyframe."),
            ParamSpec("width", "int", 832, minimum=64, maximum=4096, step=16),
            ParamSpec("height", "int", 480, minimum=64, maximum=4096, step=16),
            ParamSpec("steps", "int", 4, minimum=1, maximum=100, enabled_when=_FLUX,
                      help="klein is step-distilled: 4 steps."),
            ParamSpec("guidance", "float", 1.0, minimum=0.0, maximum=20.0, step=0.5,
                      enabled_when=_FLUX, advanced=True),
            ParamSpec("qwen_steps", "int", 40, minimum=1, maximum=100, enabled_when=_QWEN,
                      label="Qwen steps", help="The model card's 40 steps."),
            ParamSpec("qwen_guidance", "float", 4.0, minimum=1.0, maximum=20.0, step=0.5,
                      enabled_when=_QWEN, advanced=True, label="Qwen guidance",
                      help="True classifier-free guidance (the card's 4.0); 1 turns it off "
                           "and halves the time."),
            *pipeline_memory_params(_DIFFUSERS),
            ParamSpec("identity_threshold", "float", 0.4, minimum=0.0, maximum=1.0, step=0.01,
                      help="Minimum similarity for the keyframe to pass."),
            ParamSpec("guard_tries", "int", 4, minimum=1, maximum=16,
                      help="Identity guard: render up to this many keyframes and keep the best."),
            ParamSpec("pin", "bool", False, label="Pin keyframe",
                      help="Keep the last keyframe this node made: no re-render, no re-roll. "
                           "Re-roll the Motion node's seed to try other motion on it."),
        ),
        summary=summarize,
    )

    def run(self, inputs, params, ctx):
        from canvas_app.errors import BadInput
        from canvas_app.fileio import replacing
        from canvas_app.generation.guard import render_with_guard
        from canvas_app.generation.video_models.stages import KeyframeRequest, keyframe_backend
        from canvas_app.media.images import save_png

        node = ctx.node_title or ctx.node_id
        references = inputs.get("references")
        request = KeyframeRequest(
            identity=inputs["identity"], prompt=inputs["prompt"],
            references=list(references.images) if references is not None else [],
            width=params["width"], height=params["height"], seed=params["seed"],
            device=params["device"],
            options=stage_options(params))
        folder = keyframe_dir(ctx)
        path = folder / f"{ctx.node_id or 'keyframe'}.png" if folder is not None else None
        if params["pin"]:
            if path is None or not path.is_file():
                raise BadInput("there is no keyframe to pin yet: render this node once with "
                               "'Pin keyframe' off", node=node, field="pin")
            backend, tries = _Pinned(path), 1
        else:
            backend, tries = keyframe_backend(params["backend"]), params["guard_tries"]
        clip = render_with_guard(backend, request, ctx, threshold=params["identity_threshold"],
                                 tries=tries)
        if not params["pin"] and path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with replacing(path) as temp:
                    save_png(clip.frames[0], temp, {"seed": clip.metadata.get("seed"),
                                                    "model": clip.metadata.get("model")})
            except OSError as error:  # a read-only project folder: render on, without a pin
                ctx.log(f"could not keep the keyframe for pinning in {path.parent}: {error}")
                path = None
        clip.metadata.setdefault("shot", inputs["prompt"].name or ctx.node_title)
        clip.metadata["node"] = ctx.node_id
        if path is not None:
            clip.metadata["keyframe_file"] = str(path)
        return {"keyframe": clip}

    def key_params(self, params):
        if params["pin"]:  # a pinned keyframe depends on its file alone (cache_key_extra)
            return {"pin": True, "identity_threshold": params["identity_threshold"]}
        if params["backend"] == "animatic":
            return {k: v for k, v in params.items() if k not in DIFFUSION_ONLY}
        unused = FLUX_ONLY if params["backend"] == "qwen-image-edit" else QWEN_ONLY
        return {k: v for k, v in params.items() if k not in unused}

    def cache_key_extra(self, params, ctx):
        from canvas_app.fileio import file_stamp
        from canvas_app.identity.model_paths import installed_packs

        packs = "packs=" + ",".join(installed_packs())  # which recogniser scores the keyframe
        if params["pin"]:
            folder = keyframe_dir(ctx)
            path = folder / f"{ctx.node_id or 'keyframe'}.png" if folder is not None else None
            stamp = file_stamp(path) if path is not None else None
            return f"{packs};pinned={stamp[1:] if stamp else 'missing'}"
        if params["backend"] != "animatic":
            model = stage_options(params)["model"]
            return f"{packs};{file_stamp(model) or model}"
        return packs

    def is_result_valid(self, outputs):
        """A cached keyframe whose kept file was deleted renders again, so a pin finds it."""
        kept = outputs["keyframe"].metadata.get("keyframe_file")
        return kept is None or Path(kept).is_file()

    def save_result(self, outputs, folder):
        from canvas_app.media.clip_files import save_clip

        return save_clip(outputs["keyframe"], folder)

    def load_result(self, folder):
        from canvas_app.media.clip_files import load_clip

        return {"keyframe": load_clip(folder)}
