"""Motion: the second stage of a two-stage shot, a clip made from a keyframe.

The clip starts on the keyframe; with a previous shot wired in, it starts on
that shot's last frame and ends on the keyframe (first-and-last-frame
continuity). Every frame is scored against the identity as Generate's are, and
a clip below the threshold is re-rolled. Re-rolling this node's seed re-renders
only the motion: the Keyframe node upstream keeps its result.
"""
from __future__ import annotations

from canvas_app.graph import NodeSpec, NodeType, ParamSpec, PortSpec
from canvas_app.graph.spec import MemoryCost, Placement
from canvas_app.graph.types import CLIP, IDENTITY, IMAGES, PROMPT
from nodes.keyframe import KEYFRAME, pipeline_memory_params

DIFFUSION_ONLY = ("model", "device", "steps", "guidance", "guidance_2", "dtype", "memory")
_WAN = (("backend", ("wan2.2-i2v", "wan-vace", "ltx2-i2v")),)


def summarize(params) -> list[str]:
    return [f"{params.get('backend')} · seed {params.get('seed')}",
            f"{params.get('fps'):g} fps"]


class Motion(NodeType):
    spec = NodeSpec(
        type_name="Motion", version=1, title="Motion", category="Shots",
        description="Stage two of a shot: moves the keyframe into a clip (from the previous "
                    "shot's last frame when one is wired in), scores every frame against the "
                    "identity and re-rolls below the threshold.",
        inputs=(
            PortSpec("identity", IDENTITY, "Identity"),
            PortSpec("prompt", PROMPT, "Prompt"),
            PortSpec("keyframe", KEYFRAME, "Keyframe"),
            PortSpec("previous", CLIP, "Previous shot", optional=True),
            PortSpec("references", IMAGES, "Look references", optional=True),
        ),
        outputs=(PortSpec("clip", CLIP, "Clip"),),
        params=(
            ParamSpec("backend", "choice", "animatic",
                      choices=("animatic", "wan2.2-i2v", "wan-vace", "ltx2-i2v"),
                      help="animatic: the keyframe moved along the camera path (CPU). "
                           "wan2.2-i2v: Wan 2.2 image-to-video, TI2V-5B or I2V-A14B (GPU). "
                           "wan-vace: Wan VACE with the identity's portrait and the look "
                           "references as reference images (model Wan-AI/Wan2.1-VACE-1.3B-diffusers "
                           "or -14B-diffusers). ltx2-i2v: LTX-2 image-to-video with the sound it "
                           "makes, which the Sequence lays under the cut (model Lightricks/LTX-2)."),
            ParamSpec("model", "str", "Wan-AI/Wan2.2-TI2V-5B-Diffusers", enabled_when=_WAN,
                      help="Hugging Face id or local diffusers folder: TI2V-5B fits a 24 GB "
                           "card; I2V-A14B (two experts) wants 48 GB or offloading."),
            ParamSpec("device", "choice", "auto", choices=("auto", "cpu", "cuda", "mps"),
                      enabled_when=_WAN),
            ParamSpec("seed", "seed", 1, minimum=0, maximum=2**31 - 1,
                      help="Roll the dice to re-roll the motion only."),
            ParamSpec("fps", "float", 24.0, minimum=1.0, maximum=60.0,
                      help="TI2V-5B is trained at 24 fps, I2V-A14B at 16, LTX-2 at 24-25."),
            ParamSpec("steps", "int", 30, minimum=1, maximum=100, enabled_when=_WAN),
            ParamSpec("guidance", "float", 5.0, minimum=0.0, maximum=20.0, step=0.5,
                      enabled_when=_WAN, help="Wan: about 5; LTX-2: 3 to 4 (its sound is "
                                              "guided at the pipeline's own audio scale)."),
            ParamSpec("guidance_2", "float", 0.0, minimum=0.0, maximum=20.0, step=0.5,
                      enabled_when=_WAN, advanced=True,
                      help="I2V-A14B's low-noise expert; 0 = the same as guidance."),
            *pipeline_memory_params(_WAN),
            ParamSpec("identity_threshold", "float", 0.4, minimum=0.0, maximum=1.0, step=0.01,
                      help="Minimum mean similarity over the clip's frames."),
            ParamSpec("guard_tries", "int", 2, minimum=1, maximum=16,
                      help="Identity guard: render up to this many clips and keep the best."),
        ),
        summary=summarize,
    )

    def placement(self, params):
        # No file access: on a farm, GPU actors keep Wan loaded between shots.
        return Placement.CPU if params.get("backend") == "animatic" else Placement.GPU

    def memory_cost(self, params, upstream):
        """The clip's frames, held while they are scored and exported: the
        keyframe's width x height x 3 bytes x fps x the prompt's duration."""
        import math

        keyframe = (upstream.get("keyframe") or [None])[0]
        prompt = (upstream.get("prompt") or [None])[0]
        if keyframe is None or prompt is None or not isinstance(prompt.get("duration"), (int, float)):
            return None
        frames = max(1, math.ceil(float(params["fps"]) * float(prompt["duration"])))
        return MemoryCost(int(keyframe["width"]) * int(keyframe["height"]) * 3 * frames, "fps",
                          "lower its fps, the keyframe's width or height, or the prompt's duration",
                          seconds=float(prompt["duration"]), clip=self._clip_shape(params, prompt),
                          sound=params.get("backend") == "ltx2-i2v")  # LTX-2 makes one

    @staticmethod
    def _clip_shape(params, prompt):
        """(frames, fps) of the clip: known before the run for the animatic backend;
        Wan's VAE rounds the count to its own temporal factor, known once loaded."""
        if params.get("backend") != "animatic":
            return None
        from canvas_app.generation.video_models.stages import frame_count

        return frame_count(prompt["duration"], params["fps"]), float(params["fps"])

    def run(self, inputs, params, ctx):
        from canvas_app.errors import BadInput
        from canvas_app.generation.guard import render_with_guard
        from canvas_app.generation.video_models.stages import MotionRequest, motion_backend
        from canvas_app.values import FACE_ROLES

        keyframe = inputs["keyframe"]
        if keyframe is None or not keyframe.frames:
            raise BadInput("connect a Keyframe node", node=ctx.node_title or ctx.node_id,
                           field="keyframe")
        previous = inputs.get("previous")
        references = inputs.get("references")
        request = MotionRequest(
            identity=inputs["identity"], prompt=inputs["prompt"], keyframe=keyframe.frames[0],
            first_frame=previous.frames[-1] if previous is not None and previous.frames else None,
            fps=params["fps"], seed=params["seed"], device=params["device"],
            options={name: params[name] for name in ("model", "steps", "guidance", "guidance_2",
                                                     "dtype", "memory")},
            keyframe_metadata=dict(keyframe.metadata),
            references=[image for image in references.images if image.role not in FACE_ROLES]
            if references is not None else [])
        clip = render_with_guard(motion_backend(params["backend"]), request, ctx,
                                 threshold=params["identity_threshold"],
                                 tries=params["guard_tries"])
        kf = keyframe.metadata
        clip.metadata["keyframe"] = {
            "backend": kf.get("backend"), "model": kf.get("model"), "seed": kf.get("seed"),
            "pinned": bool(kf.get("pinned")), "file": kf.get("keyframe_file"),
            "identity_mean": (kf.get("identity_score") or {}).get("effective_mean"),
            "identity_passed": kf.get("identity_passed")}
        clip.metadata["shot"] = kf.get("shot") or inputs["prompt"].name or ctx.node_title
        clip.metadata["node"] = ctx.node_id
        return {"clip": clip}

    def key_params(self, params):
        if params["backend"] == "animatic":
            return {k: v for k, v in params.items() if k not in DIFFUSION_ONLY}
        return params

    def cache_key_extra(self, params, ctx):
        from canvas_app.fileio import file_stamp
        from canvas_app.identity.model_paths import installed_packs

        extra = "packs=" + ",".join(installed_packs())  # which recogniser scores the clip
        if params["backend"] != "animatic":
            extra += ";" + str(file_stamp(params["model"]) or params["model"])
        return extra

    def save_result(self, outputs, folder):
        from canvas_app.media.clip_files import save_clip

        return save_clip(outputs["clip"], folder)

    def load_result(self, folder):
        from canvas_app.media.clip_files import load_clip

        return {"clip": load_clip(folder)}
