"""Generate: renders one shot of the locked identity, then proves it with a score.

The identity guard: every clip is scored against the identity with a face
recogniser (a different one from the generator's conditioning encoder when
the identity has both). Below the threshold, the seed is re-rolled up to
`guard_tries` times and the best-scoring clip is kept.
"""
from __future__ import annotations

from dataclasses import replace

from canvas_app.graph import NodeSpec, NodeType, ParamSpec, PortSpec
from canvas_app.graph.spec import MemoryCost, Placement
from canvas_app.generation.diffusers.options import DIFFUSERS_OPTIONS, parse_loras
from canvas_app.graph.types import CLIP, IDENTITY, IMAGES, PROMPT

# Params passed to the backend as ShotRequest.options: declared once, with the backend.
_DIFFUSERS_NAMES = frozenset(option.name for option in DIFFUSERS_OPTIONS)
# On the node they apply only with the diffusers backend: with the animatic one the
# inspector shows them disabled (and they stay folded under "Advanced").
_ON_THE_NODE = tuple(replace(option, enabled_when=(("backend", ("diffusers",)),) + option.enabled_when)
                     for option in DIFFUSERS_OPTIONS)


def _default(what: str, fallback: str, choices: tuple[str, ...]) -> str:
    """The editor's Settings choose the backend and device new nodes start with."""
    import os

    value = os.environ.get(f"CANVAS_APP_DEFAULT_{what}", fallback)
    return value if value in choices else fallback


def summarize(params) -> list[str]:
    return [f"{params.get('backend')} · seed {params.get('seed')}",
            f"{params.get('width')}×{params.get('height')} @ {params.get('fps'):g} fps"]


def _identity_file(lock_params):
    """The identity an IdentityLock loads from its file, or None (built from
    references, from the library, or a file its own checks refuse)."""
    from pathlib import Path

    from canvas_app.errors import BadInput
    from canvas_app.identity import load_identity

    path = lock_params.get("identity_file")
    if lock_params.get("source") != "file" or not path or not Path(path).is_file():
        return None
    try:
        return load_identity(Path(path))
    except BadInput:
        return None


class Generate(NodeType):
    spec = NodeSpec(
        type_name="Generate", version=1, title="Generate", category="Shots",
        description="Renders a shot of the identity for the prompt, scores its likeness and "
                    "re-rolls the seed when the score is below the threshold.",
        inputs=(
            PortSpec("identity", IDENTITY, "Identity"),
            PortSpec("prompt", PROMPT, "Prompt"),
            PortSpec("references", IMAGES, "Look references", optional=True),
            PortSpec("previous", CLIP, "Previous shot", optional=True),
        ),
        outputs=(PortSpec("clip", CLIP, "Clip"),),
        params=(
            ParamSpec("backend", "choice", _default("BACKEND", "animatic", ("animatic", "diffusers")),
                      choices=("animatic", "diffusers"),
                      help="animatic: embedded CPU renderer. diffusers: Stable Diffusion with "
                           "IP-Adapter FaceID (GPU recommended)."),
            ParamSpec("device", "choice", _default("DEVICE", "auto", ("auto", "cpu", "cuda", "mps")),
                      choices=("auto", "cpu", "cuda", "mps")),
            ParamSpec("seed", "seed", 1, minimum=0, maximum=2**31 - 1),
            ParamSpec("width", "int", 640, minimum=64, maximum=4096, step=8),
            ParamSpec("height", "int", 360, minimum=64, maximum=4096, step=8),
            ParamSpec("fps", "float", 12.0, minimum=1.0, maximum=60.0),
            ParamSpec("identity_threshold", "float", 0.4, minimum=0.0, maximum=1.0, step=0.01,
                      help="Minimum mean similarity for the shot to pass."),
            ParamSpec("guard_tries", "int", 3, minimum=1, maximum=16,
                      help="Identity guard: render up to this many seeds and keep the best."),
        ) + _ON_THE_NODE,
        summary=summarize,
    )

    def placement(self, params):
        return Placement.GPU if params.get("backend") == "diffusers" else Placement.CPU

    def memory_cost(self, params, upstream):
        """The shot's frames, held in memory while it is scored and exported:
        width x height x 3 bytes x fps x the linked prompt's duration."""
        import math

        prompt = (upstream.get("prompt") or [None])[0]
        if prompt is None or not isinstance(prompt.get("duration"), (int, float)):
            return None
        frames = max(1, math.ceil(float(params["fps"]) * float(prompt["duration"])))
        return MemoryCost(int(params["width"]) * int(params["height"]) * 3 * frames, "width",
                          "lower its width, height or fps, or the prompt's duration",
                          seconds=float(prompt["duration"]),
                          clip=(max(1, int(round(float(prompt["duration"]) * float(params["fps"])))),
                                float(params["fps"])))  # as every backend counts them

    def check_content(self, params, upstream, project_dir, title=""):
        """IP-Adapter FaceID conditions on insightface's ArcFace embedding: an
        identity locked from references with dlib alone cannot drive it (the
        run refuses it before rendering; validate says so first)."""
        if params.get("backend") != "diffusers":
            return []
        from canvas_app.errors import BadInput
        from canvas_app.generation.diffusers.faces import face_embeddings, plus_v2_inputs

        for lock in upstream.get("identity", ()):
            if lock.get("source") == "references" and lock.get("encoders") == "dlib":
                return [("identity", "IP-Adapter FaceID needs ArcFace (insightface) embeddings, "
                                     "and this identity has only: dlib. Add an insightface "
                                     "encoder to the IdentityLock node and lock the identity "
                                     "again.")]
            identity = _identity_file(lock)
            try:  # the backend's own first checks, made before any model loads
                if identity is not None:
                    face_embeddings(identity)
                    if params.get("faceid_variant") == "plus_v2":
                        plus_v2_inputs(identity)
            except BadInput as error:
                return [("identity", error.args[0])]
        return []

    def run(self, inputs, params, ctx):
        from canvas_app.generation.base import ShotRequest, get_backend
        from canvas_app.generation.guard import render_with_guard
        from canvas_app.values import FACE_ROLES

        references = inputs.get("references")
        look = [image for image in references.images if image.role not in FACE_ROLES] \
            if references is not None else []
        request = ShotRequest(
            identity=inputs["identity"], prompt=inputs["prompt"], references=look,
            width=params["width"], height=params["height"], fps=params["fps"],
            seed=params["seed"], device=params["device"],
            options={option.name: params[option.name] for option in DIFFUSERS_OPTIONS},
            previous_clip=inputs.get("previous"),
        )
        clip = render_with_guard(get_backend(params["backend"]), request, ctx,
                                 threshold=params["identity_threshold"],
                                 tries=params["guard_tries"])
        clip.metadata.setdefault("shot", inputs["prompt"].name or ctx.node_title)
        clip.metadata["node"] = ctx.node_id
        from canvas_app.media.exports.shot_files import ShotFile
        from canvas_app.media.exports.shot_frames import wanted_by_sequences

        # encoded while the next shot renders, and coded for the ProRes / PNG frames asked for
        clip.shot_file = ShotFile.start(clip, wanted_by_sequences(ctx.graph, ctx.node_id))
        return {"clip": clip}

    def key_params(self, params):
        # Diffusers settings do not touch an animatic shot: editing them must not re-render it.
        if params["backend"] == "animatic":
            return {key: value for key, value in params.items() if key not in _DIFFUSERS_NAMES}
        return params

    def cache_key_extra(self, params, ctx):
        # Which recognizer scores the shot depends on the face models installed; a local
        # model file can be replaced under the same path.
        from canvas_app.errors import BadInput
        from canvas_app.fileio import file_stamp
        from canvas_app.identity.model_paths import installed_packs

        extra = ["packs=" + ",".join(installed_packs())]
        if params["backend"] == "diffusers":
            for name in ("model", "faceid_adapter", "image_adapter", "motion_adapter"):
                extra.append(str(file_stamp(params[name]) or params[name]))
            # A LoRA file retrained under the same name must re-render the shot.
            try:
                loras = parse_loras(params["loras"])
            except BadInput:  # the run reports it, naming the field
                loras = ()
                extra.append(f"loras={params['loras']}")
            for lora in loras:
                extra.append(f"lora={file_stamp(lora.path) or lora.path}@{lora.weight}")
        return ";".join(extra)

    def save_result(self, outputs, folder):
        from canvas_app.media.clip_files import save_clip

        return save_clip(outputs["clip"], folder)

    def load_result(self, folder):
        from canvas_app.media.clip_files import load_clip

        return {"clip": load_clip(folder)}
