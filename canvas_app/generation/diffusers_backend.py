"""The diffusers generator: Stable Diffusion 1.5 / SDXL with IP-Adapter FaceID.

Identity is injected through IP-Adapter FaceID: the identity's insightface
(ArcFace, 512-d) embeddings of every included reference go to the adapter
together as `ip_adapter_image_embeds` of shape (batch, n_refs, 1, 512), with
the zero negative half first when classifier-free guidance is on. Outfit,
environment and product references feed a second, plain IP-Adapter (CLIP image
encoder) with its own scale. With `motion` on, an AnimateDiff motion adapter
turns the same components into a video pipeline; with `continuity_strength` a
shot starts from the previous shot's last frame (img2img / video-to-video).

Options (`request.options`, all optional; defaults in brackets):

- model ["stable-diffusion-v1-5/stable-diffusion-v1-5"]: hub id (``owner/name``,
  ``owner/name/file.safetensors``, optional ``@revision``), a local diffusers
  folder, or a single ``.safetensors``/``.ckpt`` checkpoint (`from_single_file`).
- model_config [""]: for single-file checkpoints, a diffusers folder or hub id
  whose configs/tokenizers to use (default: diffusers' own choice, which needs
  the hub or its cache).
- model_kind ["auto"]: auto | sd15 | sdxl (auto reads model_index.json or the
  checkpoint's keys).
- steps [30], guidance [7.0] (classifier-free guidance scale; <= 1 turns CFG off).
- identity_strength [0.8]: FaceID adapter scale (0 = identity off).
- reference_strength [0.5]: scale of the image adapter fed by the references.
- faceid_adapter ["auto"]: IP-Adapter FaceID weights (file, folder or hub path);
  auto = ``h94/IP-Adapter-FaceID/ip-adapter-faceid_sd15.bin`` (SDXL:
  ``.../ip-adapter-faceid_sdxl.bin``). Plain FaceID only (not Plus/PlusV2).
- image_adapter ["auto"]: plain IP-Adapter for the references. auto = loaded
  only when the shot has references (``h94/IP-Adapter/models/ip-adapter_sd15.safetensors``,
  SDXL ``h94/IP-Adapter/sdxl_models/ip-adapter_sdxl_vit-h.safetensors``); an
  explicit path is always loaded (scale 0 on shots without references);
  "none" never (references are then ignored, with a log line).
- image_encoder ["auto"]: CLIP image encoder folder for the image adapter;
  auto = ``h94/IP-Adapter/models/image_encoder`` (ViT-H).
- motion [False]: AnimateDiff clip instead of a held still.
- motion_adapter ["auto"]: ``guoyww/animatediff-motion-adapter-v1-5-2``
  (SDXL: ``guoyww/animatediff-motion-adapter-sdxl-beta``), a folder or a file.
- max_frames [16]: cap on motion frames rendered; a longer shot repeats frames
  evenly so that the clip still lasts the shot's duration.
- continuity_strength [0.0]: 0 = off; otherwise how much of the previous
  shot's last frame to keep (img2img denoising strength = 1 - this, capped at
  0.95 continuity).
- scheduler ["default"]: default (the model's own) | ddim | euler | euler_a |
  dpm++2m | dpm++2m_karras | unipc | pndm | lms | heun, or a diffusers scheduler class name.
- dtype ["auto"]: auto (fp16 on cuda, fp32 elsewhere) | fp16 | bf16 | fp32.
- attention_slicing [False]: sliced self-attention (works beside IP-Adapter).
- vae_tiling [False]: tiled VAE decode.
- cpu_offload [False]: `enable_model_cpu_offload` (CUDA; needs `accelerate`).
- preview_interval [0.25]: seconds between step previews.

Importing this module does not import torch, diffusers or transformers.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from canvas_app.engine.context import Cancelled, RunContext
from canvas_app.errors import BadInput, CanvasError, NodeFailure
from canvas_app.generation.base import ShotRequest
from canvas_app.generation.model_manager import (
    PIPELINE_ALLOW, PIPELINE_IGNORE, ModelManager, Source, fingerprint, get_model_manager,
    offline_mode, read_model_index, resolve_source)
from canvas_app.generation.previews import StepCallback
from canvas_app.values import FACE_ROLES, Clip, Identity, ShotPrompt

DEFAULT_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"

DEFAULT_ADAPTERS = {
    "sd15": {
        "faceid_adapter": "h94/IP-Adapter-FaceID/ip-adapter-faceid_sd15.bin",
        "image_adapter": "h94/IP-Adapter/models/ip-adapter_sd15.safetensors",
        "image_encoder": "h94/IP-Adapter/models/image_encoder",
        "motion_adapter": "guoyww/animatediff-motion-adapter-v1-5-2",
    },
    "sdxl": {
        "faceid_adapter": "h94/IP-Adapter-FaceID/ip-adapter-faceid_sdxl.bin",
        "image_adapter": "h94/IP-Adapter/sdxl_models/ip-adapter_sdxl_vit-h.safetensors",
        "image_encoder": "h94/IP-Adapter/models/image_encoder",
        "motion_adapter": "guoyww/animatediff-motion-adapter-sdxl-beta",
    },
}

DEFAULTS: dict[str, Any] = {
    "model": DEFAULT_MODEL, "model_config": "", "model_kind": "auto", "steps": 30, "guidance": 7.0,
    "identity_strength": 0.8, "reference_strength": 0.5, "faceid_adapter": "auto", "image_adapter": "auto",
    "image_encoder": "auto", "motion": False, "motion_adapter": "auto", "max_frames": 16,
    "continuity_strength": 0.0, "scheduler": "default", "dtype": "auto", "attention_slicing": False,
    "vae_tiling": False, "cpu_offload": False, "preview_interval": 0.25,
}

SCHEDULERS: dict[str, tuple[str, dict]] = {
    "ddim": ("DDIMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "dpm++2m": ("DPMSolverMultistepScheduler", {}),
    "dpm++2m_karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "unipc": ("UniPCMultistepScheduler", {}),
    "pndm": ("PNDMScheduler", {}),
    "lms": ("LMSDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
}

FACE_EMBED_DIM = 512


# ---------------------------------------------------------------------------
# Options


@dataclass(frozen=True)
class Options:
    model: str
    model_config: str
    model_kind: str
    steps: int
    guidance: float
    identity_strength: float
    reference_strength: float
    faceid_adapter: str
    image_adapter: str
    image_encoder: str
    motion: bool
    motion_adapter: str
    max_frames: int
    continuity_strength: float
    scheduler: str
    dtype: str
    attention_slicing: bool
    vae_tiling: bool
    cpu_offload: bool
    preview_interval: float


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise BadInput(f"{value!r} is not true or false", field=name)


def _as_number(value: Any, name: str, kind: type, low: float, high: float) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise BadInput(f"{value!r} is not a number", field=name) from None
    if isinstance(number, float) and math.isnan(number) or not low <= number <= high:
        raise BadInput(f"{number} is out of range ({low}..{high})", field=name)
    return number


def parse_options(options: dict[str, Any] | None) -> Options:
    """Fill in defaults and validate; a bad value is a BadInput naming the option."""
    raw = dict(DEFAULTS)
    for key, value in (options or {}).items():
        if value is not None:
            raw[key] = value
    kind = str(raw["model_kind"]).lower()
    if kind not in ("auto", "sd15", "sdxl"):
        raise BadInput(f"{kind!r}: choose auto, sd15 or sdxl", field="model_kind")
    dtype = str(raw["dtype"]).lower()
    if dtype not in ("auto", "fp16", "bf16", "fp32", "float16", "bfloat16", "float32"):
        raise BadInput(f"{dtype!r}: choose auto, fp16, bf16 or fp32", field="dtype")
    dtype = {"float16": "fp16", "bfloat16": "bf16", "float32": "fp32"}.get(dtype, dtype)
    scheduler = str(raw["scheduler"]).strip() or "default"
    if scheduler.lower() != "default" and scheduler.lower() not in SCHEDULERS and \
            not scheduler.endswith("Scheduler"):
        raise BadInput(f"unknown scheduler {scheduler!r}; choose default, {', '.join(SCHEDULERS)} "
                       "or a diffusers scheduler class name", field="scheduler")
    return Options(
        model=str(raw["model"]).strip() or DEFAULT_MODEL,
        model_config=str(raw["model_config"] or "").strip(),
        model_kind=kind,
        steps=_as_number(raw["steps"], "steps", int, 1, 500),
        guidance=_as_number(raw["guidance"], "guidance", float, 0.0, 50.0),
        identity_strength=_as_number(raw["identity_strength"], "identity_strength", float, 0.0, 5.0),
        reference_strength=_as_number(raw["reference_strength"], "reference_strength", float, 0.0, 5.0),
        faceid_adapter=str(raw["faceid_adapter"] or "auto").strip(),
        image_adapter=str(raw["image_adapter"] or "auto").strip(),
        image_encoder=str(raw["image_encoder"] or "auto").strip(),
        motion=_as_bool(raw["motion"], "motion"),
        motion_adapter=str(raw["motion_adapter"] or "auto").strip(),
        max_frames=_as_number(raw["max_frames"], "max_frames", int, 1, 512),
        continuity_strength=_as_number(raw["continuity_strength"], "continuity_strength", float, 0.0, 1.0),
        scheduler=scheduler,
        dtype=dtype,
        attention_slicing=_as_bool(raw["attention_slicing"], "attention_slicing"),
        vae_tiling=_as_bool(raw["vae_tiling"], "vae_tiling"),
        cpu_offload=_as_bool(raw["cpu_offload"], "cpu_offload"),
        preview_interval=_as_number(raw["preview_interval"], "preview_interval", float, 0.0, 60.0),
    )


# ---------------------------------------------------------------------------
# Small public helpers


def compose_prompt(prompt: ShotPrompt) -> tuple[str, str]:
    """The text prompt and negative prompt sent to the pipeline for a shot."""
    parts = [prompt.positive.strip()]
    size = {"close-up": "close-up shot", "medium": "medium shot", "wide": "wide shot"}.get(
        prompt.shot_size, f"{prompt.shot_size} shot" if prompt.shot_size else "")
    if size:
        parts.append(size)
    if prompt.mood and prompt.mood != "neutral":
        parts.append(f"{prompt.mood} mood")
    return ", ".join(p for p in parts if p), prompt.negative.strip()


def insightface_key(identity: Identity) -> str | None:
    for key, vector in identity.embeddings.items():
        if key.lower().startswith(("insightface", "arcface", "antelope", "buffalo")) and \
                np.asarray(vector).size == FACE_EMBED_DIM:
            return key
    for key, vector in identity.embeddings.items():
        if "insightface" in key.lower() and np.asarray(vector).size == FACE_EMBED_DIM:
            return key
    return None


def face_embeddings(identity: Identity) -> np.ndarray:
    """(n_refs, 512) float32: the insightface embedding of every included
    reference (all go to FaceID together), or the combined one if the identity
    keeps no per-reference samples."""
    key = insightface_key(identity)
    if key is None:
        have = ", ".join(identity.embeddings) or "none"
        raise BadInput("IP-Adapter FaceID needs ArcFace (insightface) embeddings, and this identity has "
                       f"only: {have}. Add an insightface encoder to the IdentityLock node and lock the "
                       "identity again.", field="identity")
    vectors = [np.asarray(sample.embeddings[key], dtype=np.float32).reshape(-1)
               for sample in identity.samples
               if sample.included and key in sample.embeddings]
    vectors = [v for v in vectors if v.size == FACE_EMBED_DIM and np.all(np.isfinite(v))]
    if not vectors:
        vectors = [np.asarray(identity.embeddings[key], dtype=np.float32).reshape(-1)]
    return np.stack(vectors).astype(np.float32)


def faceid_embeds(faces: np.ndarray, *, do_cfg: bool, dtype: Any = None, device: Any = None):
    """The FaceID `ip_adapter_image_embeds` entry: (1 or 2, n_refs, 1, 512),
    zeros (the negative half) first when doing classifier-free guidance."""
    import torch

    embeds = torch.from_numpy(np.ascontiguousarray(faces, dtype=np.float32)).reshape(1, -1, 1, faces.shape[-1])
    if do_cfg:
        embeds = torch.cat([torch.zeros_like(embeds), embeds], dim=0)
    return embeds.to(device=device, dtype=dtype)


def frame_png_text(metadata: dict[str, Any]) -> dict[str, str]:
    """PNG text chunks for a rendered frame: the full metadata as JSON, a few
    searchable keys, and an A1111-style "parameters" line that other tools read."""
    meta = {k: v for k, v in metadata.items() if k != "frames_meta"}
    text = {
        "canvas-app": json.dumps(meta, default=str, sort_keys=True),
        "Software": f"canvas-app ({meta.get('backend', 'diffusers')})",
    }
    for key in ("seed", "model", "model_revision", "scheduler", "steps", "guidance", "identity_id",
                "identity_strength", "reference_strength"):
        if meta.get(key) is not None:
            text[key] = str(meta[key])
    lines = [str(meta.get("prompt", ""))]
    if meta.get("negative_prompt"):
        lines.append(f"Negative prompt: {meta['negative_prompt']}")
    fields = [("Steps", meta.get("steps")), ("Sampler", meta.get("scheduler")),
              ("CFG scale", meta.get("guidance")), ("Seed", meta.get("seed")),
              ("Size", f"{meta['width']}x{meta['height']}" if "width" in meta and "height" in meta else None),
              ("Model", meta.get("model")), ("Model hash", meta.get("model_fingerprint")),
              ("FaceID scale", meta.get("identity_strength"))]
    lines.append(", ".join(f"{name}: {value}" for name, value in fields if value is not None))
    text["parameters"] = "\n".join(lines)
    return text


def resolve_device(device: str) -> str:
    device = (device or "auto").lower()
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BadInput("CUDA was asked for but no CUDA GPU is available; choose auto or cpu", field="device")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise BadInput("MPS was asked for but is not available; choose auto or cpu", field="device")
    if device not in ("cpu", "mps") and not device.startswith("cuda"):
        raise BadInput(f"unknown device {device!r}; choose auto, cpu, cuda or mps", field="device")
    return device


def resolve_dtype(dtype: str, device: str) -> str:
    if dtype == "auto":
        return "fp16" if device.startswith("cuda") else "fp32"
    if device == "cpu" and dtype == "fp16":
        return "fp32"  # half precision convolutions are not supported well on CPU
    return dtype


def _torch_dtype(name: str):
    import torch

    return {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[name]


def _is_oom(error: BaseException) -> bool:
    import torch

    oom_types = tuple(t for t in (getattr(torch, "OutOfMemoryError", None),
                                  getattr(torch.cuda, "OutOfMemoryError", None)) if t is not None)
    if oom_types and isinstance(error, oom_types):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def _accelerate_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("accelerate") is not None


# ---------------------------------------------------------------------------
# Loading


@dataclass
class Bundle:
    """A loaded pipeline plus what renders need to know about it."""

    pipe: Any  # StableDiffusion(XL)Pipeline or AnimateDiff(SDXL)Pipeline
    model_kind: str  # sd15 | sdxl
    motion: bool
    base_scheduler_config: Any
    base_scheduler_class: str
    model_meta: dict[str, Any]
    adapters: list[str]  # "faceid", "image" in load order
    adapter_meta: dict[str, Any]
    image_processor: Any = None  # CLIPImageProcessor for the image adapter
    image_adapter_hidden_states: bool = False  # IP-Adapter Plus takes penultimate hidden states
    device: str = "cpu"
    dtype: str = "fp32"
    offload: bool = False
    extras: dict[str, Any] = field(default_factory=dict)  # img2img / video2video via from_pipe


def _detect_kind_from_folder(folder: Path) -> str:
    index = read_model_index(folder)
    name = str(index.get("_class_name", ""))
    if "XL" in name or "text_encoder_2" in index or (folder / "text_encoder_2").is_dir():
        return "sdxl"
    return "sd15"


def _detect_kind_from_file(path: Path) -> str:
    if path.suffix == ".safetensors":
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                keys = handle.keys()
                if any(key.startswith("conditioner.embedders.1") for key in keys):
                    return "sdxl"
        except Exception:
            pass
    return "sd15"


def _load_adapter_state_dict(source: Source, field_name: str, prefer: tuple[str, ...]) -> tuple[dict, Path]:
    """{"image_proj": {...}, "ip_adapter": {...}} from a .bin or .safetensors
    IP-Adapter file (or the matching file in a folder)."""
    path = source.path
    if path.is_dir():
        candidates = [p for p in sorted(path.iterdir()) if p.suffix in (".safetensors", ".bin")]
        preferred = [p for p in candidates if any(word in p.name.lower() for word in prefer)]
        if not (preferred or candidates):
            raise BadInput(f"no .safetensors or .bin adapter weights in {path}", field=field_name)
        path = (preferred or candidates)[0]
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            state = {"image_proj": {}, "ip_adapter": {}}
            with safe_open(str(path), framework="pt", device="cpu") as handle:
                for key in handle.keys():
                    group, _, rest = key.partition(".")
                    if group in state:
                        state[group][rest] = handle.get_tensor(key)
        else:
            import torch

            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:
        raise BadInput(f"cannot read IP-Adapter weights {path.name}: {error}", field=field_name) from None
    if not isinstance(state, dict) or not state.get("image_proj") or not state.get("ip_adapter"):
        raise BadInput(f"{path.name} is not an IP-Adapter file (no image_proj / ip_adapter weights)",
                       field=field_name)
    return state, path


def _cross_attention_count(unet: Any) -> int:
    return sum(1 for name in unet.attn_processors
               if name.endswith("attn2.processor") and "motion_modules" not in name)


def _check_faceid(state: dict, unet: Any, path: Path) -> None:
    proj = state["image_proj"]
    name = path.name
    if "perceiver_resampler.proj_in.weight" in proj:
        raise BadInput(f"{name} is an IP-Adapter FaceID Plus adapter, which also needs CLIP face crops; "
                       "use the plain FaceID weights (ip-adapter-faceid_sd15.bin / _sdxl.bin)",
                       field="faceid_adapter")
    if not ("norm.weight" in proj and "proj.0.weight" in proj and "proj.2.weight" in proj) or "proj.weight" in proj:
        raise BadInput(f"{name} is not an IP-Adapter FaceID adapter (it has no FaceID projection)",
                       field="faceid_adapter")
    if proj["proj.0.weight"].shape[1] != FACE_EMBED_DIM:
        raise BadInput(f"{name} expects {proj['proj.0.weight'].shape[1]}-d face embeddings, not 512-d ArcFace",
                       field="faceid_adapter")
    _check_adapter_fits(state, unet, name, "faceid_adapter")


def _check_adapter_fits(state: dict, unet: Any, name: str, field_name: str) -> None:
    cross = unet.config.cross_attention_dim
    width = state["image_proj"]["norm.weight"].shape[0] if "norm.weight" in state["image_proj"] else None
    if "norm.weight" not in state["image_proj"] and "proj_out.weight" in state["image_proj"]:
        width = state["image_proj"]["proj_out.weight"].shape[0]
    needed = _cross_attention_count(unet)
    found = sum(1 for key in state["ip_adapter"] if key.endswith("to_k_ip.weight"))
    if (width is not None and width != cross) or found != needed:
        raise BadInput(f"{name} does not fit this model (adapter: {width}-wide, {found} attention layers; "
                       f"model: {cross}-wide, {needed} layers). SD 1.5 and SDXL adapters are not "
                       "interchangeable.", field=field_name)


class _Loader:
    """Builds a Bundle for one key; runs inside ModelManager.get."""

    def __init__(self, opts: Options, kind: str, device: str, dtype: str, use_image_adapter: bool,
                 sources: dict[str, Source], ctx: RunContext) -> None:
        self.opts = opts
        self.kind = kind
        self.device = device
        self.dtype = dtype
        self.use_image_adapter = use_image_adapter
        self.sources = sources
        self.ctx = ctx

    def __call__(self) -> Bundle:
        from diffusers.utils import logging as diffusers_logging

        verbosity = diffusers_logging.get_verbosity()
        diffusers_logging.set_verbosity_error()  # expected notices (no image encoder for FaceID, ...)
        try:
            return self._load()
        finally:
            diffusers_logging.set_verbosity(verbosity)

    def _load(self) -> Bundle:
        import diffusers

        ctx, opts, sources = self.ctx, self.opts, self.sources
        torch_dtype = _torch_dtype(self.dtype)
        model = sources["model"]
        ctx.progress(0.04, f"loading {opts.model}")
        base_cls = diffusers.StableDiffusionXLPipeline if self.kind == "sdxl" else diffusers.StableDiffusionPipeline
        try:
            if model.is_file:
                kwargs: dict[str, Any] = {"dtype": torch_dtype}
                if "model_config" in sources:
                    kwargs["config"] = str(sources["model_config"].path)
                    kwargs["local_files_only"] = True
                elif offline_mode():
                    kwargs["local_files_only"] = True
                pipe = base_cls.from_single_file(str(model.path), **kwargs)
            else:
                pipe = base_cls.from_pretrained(str(model.path), dtype=torch_dtype, local_files_only=True)
        except CanvasError:
            raise
        except (OSError, ValueError, EnvironmentError) as error:
            if model.is_file and "model_config" not in sources:
                raise BadInput(f"cannot load single-file checkpoint {model.path.name}: {error}. Set model_config "
                               "to a diffusers folder (or hub id) of the same architecture.",
                               field="model") from None
            raise BadInput(f"cannot load {opts.model}: {error}", field="model") from None
        if "safety_checker" in pipe.config and getattr(pipe, "safety_checker", None) is None:
            pipe.register_to_config(requires_safety_checker=False)

        adapter_meta: dict[str, Any] = {}
        if opts.motion:
            ctx.progress(0.06, "loading motion adapter")
            motion_source = sources["motion_adapter"]
            try:
                if motion_source.is_file:
                    adapter = diffusers.MotionAdapter.from_single_file(str(motion_source.path), dtype=torch_dtype)
                else:
                    adapter = diffusers.MotionAdapter.from_pretrained(str(motion_source.path), dtype=torch_dtype,
                                                                      local_files_only=True)
            except (OSError, ValueError) as error:
                raise BadInput(f"cannot load motion adapter {motion_source.spec}: {error}",
                               field="motion_adapter") from None
            video_cls = diffusers.AnimateDiffSDXLPipeline if self.kind == "sdxl" else diffusers.AnimateDiffPipeline
            try:
                pipe = video_cls.from_pipe(pipe, motion_adapter=adapter, dtype=torch_dtype)
            except ValueError as error:
                raise BadInput(f"motion adapter {motion_source.spec} does not fit this model: {error}",
                               field="motion_adapter") from None
            adapter_meta["motion_adapter"] = motion_source.spec
            adapter_meta["motion_adapter_revision"] = motion_source.revision

        # IP-Adapters: FaceID first, then the plain image adapter, in one
        # load_ip_adapter call (a second call would replace the first).
        ctx.progress(0.07, "loading IP-Adapter FaceID")
        faceid_state, faceid_path = _load_adapter_state_dict(sources["faceid_adapter"], "faceid_adapter",
                                                             ("faceid",))
        _check_faceid(faceid_state, pipe.unet, faceid_path)
        states, names = [faceid_state], ["faceid"]
        adapter_meta["faceid_adapter"] = sources["faceid_adapter"].spec
        adapter_meta["faceid_adapter_file"] = faceid_path.name
        adapter_meta["faceid_adapter_revision"] = sources["faceid_adapter"].revision
        image_processor = None
        hidden_states = False
        if self.use_image_adapter:
            ctx.progress(0.08, "loading image IP-Adapter")
            image_state, image_path = _load_adapter_state_dict(sources["image_adapter"], "image_adapter",
                                                               ("ip-adapter", "ip_adapter"))
            proj = image_state["image_proj"]
            if "proj.weight" not in proj and "latents" not in proj:
                raise BadInput(f"{image_path.name} is not a plain or Plus IP-Adapter (use FaceID weights in "
                               "faceid_adapter, and ip-adapter_sd15 / ip-adapter-plus_sd15 here)",
                               field="image_adapter")
            _check_adapter_fits(image_state, pipe.unet, image_path.name, "image_adapter")
            hidden_states = "latents" in proj
            image_processor = self._load_image_encoder(pipe, torch_dtype)
            states.append(image_state)
            names.append("image")
            adapter_meta["image_adapter"] = sources["image_adapter"].spec
            adapter_meta["image_adapter_file"] = image_path.name
            adapter_meta["image_encoder"] = sources["image_encoder"].spec
        pipe.load_ip_adapter(states, subfolder="", weight_name=[f"{n}.bin" for n in names],
                             image_encoder_folder=None, low_cpu_mem_usage=_accelerate_available())

        if self.opts.cpu_offload and self.device.startswith("cuda"):
            if not _accelerate_available():
                raise BadInput("cpu_offload needs the 'accelerate' package; install it or turn cpu_offload off",
                               field="cpu_offload")
            pipe.enable_model_cpu_offload(device=self.device)
        else:
            pipe.to(self.device)
        pipe.set_progress_bar_config(disable=True)

        model_meta = {
            "model": opts.model,
            "model_kind": self.kind,
            "model_source": model.origin,
            "model_revision": model.revision,
            "model_fingerprint": fingerprint(model),
            "diffusers_version": diffusers.__version__,
        }
        index = read_model_index(model.path) if not model.is_file else {}
        if index.get("_diffusers_version"):
            model_meta["model_diffusers_version"] = index["_diffusers_version"]
        return Bundle(pipe=pipe, model_kind=self.kind, motion=opts.motion,
                      base_scheduler_config=pipe.scheduler.config,
                      base_scheduler_class=type(pipe.scheduler).__name__, model_meta=model_meta, adapters=names,
                      adapter_meta=adapter_meta, image_processor=image_processor,
                      image_adapter_hidden_states=hidden_states, device=self.device, dtype=self.dtype,
                      offload=self.opts.cpu_offload and self.device.startswith("cuda"))

    def _load_image_encoder(self, pipe: Any, torch_dtype: Any) -> Any:
        from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

        source = self.sources["image_encoder"]
        if source.is_file:
            raise BadInput("image_encoder must be a folder (config.json + weights) or a hub folder",
                           field="image_encoder")
        try:
            encoder = CLIPVisionModelWithProjection.from_pretrained(str(source.path), dtype=torch_dtype,
                                                                    local_files_only=True)
        except (OSError, ValueError) as error:
            raise BadInput(f"cannot load CLIP image encoder {source.spec}: {error}", field="image_encoder") from None
        pipe.register_modules(image_encoder=encoder)
        size = encoder.config.image_size
        if (source.path / "preprocessor_config.json").is_file():
            return CLIPImageProcessor.from_pretrained(str(source.path))
        return CLIPImageProcessor(size=size, crop_size=size)


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


# ---------------------------------------------------------------------------
# The backend


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
                    clip = self._render(entry.value, opts, request, faces, ctx)
        except (CanvasError, Cancelled):
            raise
        except Exception as error:  # noqa: BLE001 - becomes a NodeFailure the user can read
            if _is_oom(error):
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

    # -- loading ------------------------------------------------------------
    def _entry(self, opts: Options, request: ShotRequest, device: str, dtype: str, ctx: RunContext):
        sources: dict[str, Source] = {}
        sources["model"] = resolve_source(opts.model, field="model", ctx=ctx, allow_patterns=PIPELINE_ALLOW,
                                          ignore_patterns=PIPELINE_IGNORE, progress_span=(0.0, 0.04))
        if opts.model_config:
            sources["model_config"] = resolve_source(opts.model_config, field="model_config", ctx=ctx,
                                                     want="folder", allow_patterns=["*.json", "*.txt", "*/*.json",
                                                                                    "*/*.txt"])
        kind = opts.model_kind
        if kind == "auto":
            model = sources["model"]
            kind = _detect_kind_from_file(model.path) if model.is_file else _detect_kind_from_folder(model.path)
        defaults = DEFAULT_ADAPTERS[kind]
        faceid = defaults["faceid_adapter"] if opts.faceid_adapter.lower() == "auto" else opts.faceid_adapter
        sources["faceid_adapter"] = resolve_source(faceid, field="faceid_adapter", ctx=ctx,
                                                   progress_span=(0.0, 0.04))
        references = [ref for ref in request.references if ref.role not in FACE_ROLES]
        image_option = opts.image_adapter.lower()
        use_image_adapter = image_option != "none" and (bool(references) or image_option != "auto")
        if use_image_adapter:
            image = defaults["image_adapter"] if image_option == "auto" else opts.image_adapter
            encoder = defaults["image_encoder"] if opts.image_encoder.lower() == "auto" else opts.image_encoder
            sources["image_adapter"] = resolve_source(image, field="image_adapter", ctx=ctx,
                                                      progress_span=(0.0, 0.04))
            sources["image_encoder"] = resolve_source(encoder, field="image_encoder", ctx=ctx, want="folder",
                                                      ignore_patterns=["*.bin", "*.msgpack", "*.h5"],
                                                      progress_span=(0.0, 0.04))
        elif references:
            ctx.log(f"{len(references)} reference image(s) ignored: image_adapter is 'none'")
        if opts.motion:
            motion = defaults["motion_adapter"] if opts.motion_adapter.lower() == "auto" else opts.motion_adapter
            sources["motion_adapter"] = resolve_source(motion, field="motion_adapter", ctx=ctx,
                                                       ignore_patterns=["*.bin", "*.fp16.*"],
                                                       progress_span=(0.0, 0.04))
        offload = opts.cpu_offload and device.startswith("cuda")
        adapters = tuple((name, str(sources[name].path)) for name in
                         ("faceid_adapter", "image_adapter", "image_encoder", "motion_adapter") if name in sources)
        key = ("diffusers", str(sources["model"].path),
               str(sources["model_config"].path) if "model_config" in sources else "",
               kind, dtype, device, offload, adapters)
        loader = _Loader(opts, kind, device, dtype, use_image_adapter, sources, ctx)
        return self.manager.get(key, loader, device=device)

    # -- rendering ----------------------------------------------------------
    def _render(self, bundle: Bundle, opts: Options, request: ShotRequest, faces: np.ndarray,
                ctx: RunContext) -> Clip:
        import torch

        pipe = bundle.pipe
        width, height = request.width, request.height
        render_w = int(math.ceil(width / 8) * 8)
        render_h = int(math.ceil(height / 8) * 8)
        n_frames = max(1, int(round(request.prompt.duration * request.fps)))
        prompt, negative = compose_prompt(request.prompt)

        unet = pipe.unet
        do_cfg = opts.guidance > 1.0 and getattr(unet.config, "time_cond_proj_dim", None) is None
        execution_device = pipe._execution_device if bundle.offload else torch.device(bundle.device)
        unet_dtype = unet.dtype

        # Identity + reference embeddings, one entry per loaded adapter.
        embeds = [faceid_embeds(faces, do_cfg=do_cfg, dtype=unet_dtype, device=execution_device)]
        references = [ref for ref in request.references if ref.role not in FACE_ROLES]
        reference_scale = opts.reference_strength
        if "image" in bundle.adapters:
            embeds.append(self._reference_embeds(bundle, references, do_cfg, execution_device))
            if not references:
                reference_scale = 0.0
        else:
            references = []
        scales = [opts.identity_strength] + ([reference_scale] if "image" in bundle.adapters else [])
        pipe.set_ip_adapter_scale(scales)

        # Per-render settings on the shared pipeline (we hold its lock).
        scheduler = self._scheduler(bundle, opts)
        _set_self_attention_slicing(unet, opts.attention_slicing)
        if opts.vae_tiling:
            pipe.vae.enable_tiling()
        else:
            pipe.vae.disable_tiling()

        generator_device = "cpu" if bundle.device in ("mps", "cpu") or bundle.offload else bundle.device
        generator = torch.Generator(device=generator_device).manual_seed(int(request.seed))

        previous = request.previous_clip
        continuity = opts.continuity_strength if previous is not None and previous.frames else 0.0
        continuity = min(continuity, 0.95)
        denoise = 1.0 - continuity
        steps = opts.steps
        if continuity > 0:
            steps = max(steps, int(math.ceil(1.0 / denoise)))  # at least one denoising step
        effective_steps = max(1, int(steps * denoise)) if continuity > 0 else steps

        rendered_frames = min(n_frames, opts.max_frames) if bundle.motion else 1
        callback = StepCallback(ctx, effective_steps, model_kind=bundle.model_kind, size=(width, height),
                                min_interval=opts.preview_interval,
                                message=f"denoising {rendered_frames} frames" if bundle.motion else "denoising")
        common = dict(prompt=prompt, negative_prompt=negative or None, height=render_h, width=render_w,
                      num_inference_steps=steps, guidance_scale=opts.guidance, generator=generator,
                      ip_adapter_image_embeds=embeds, output_type="np", callback_on_step_end=callback,
                      callback_on_step_end_tensor_inputs=["latents"])
        notes: list[str] = []
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
                runner = self._variant(bundle, "video2video")
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
            with torch.inference_mode():
                output = runner(**kwargs)
            video = np.asarray(output.frames[0])
            frames = [_fit(_to_uint8(frame), width, height) for frame in video]
            if len(frames) < n_frames:
                notes.append(f"{len(frames)} frames rendered (max_frames) and held to fill {n_frames}")
            frames = _stretch(frames, n_frames)
        else:
            runner = pipe
            kwargs = dict(common)
            if init_frame is not None:
                runner = self._variant(bundle, "img2img")
                kwargs.pop("height")
                kwargs.pop("width")
                kwargs.update(image=init_frame, strength=denoise)
            runner.scheduler = scheduler
            runner._interrupt = False
            with torch.inference_mode():
                output = runner(**kwargs)
            still = _fit(_to_uint8(output.images[0]), width, height)
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
            "frames_rendered": len(output.frames[0]) if bundle.motion else 1,
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

    def _reference_embeds(self, bundle: Bundle, references: list, do_cfg: bool, device: Any):
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

    def _scheduler(self, bundle: Bundle, opts: Options):
        import diffusers

        config = bundle.base_scheduler_config
        name = opts.scheduler
        if name.lower() == "default":
            cls_name, extra = bundle.base_scheduler_class, {}
        elif name.lower() in SCHEDULERS:
            cls_name, extra = SCHEDULERS[name.lower()]
        else:
            cls_name, extra = name, {}
        cls = getattr(diffusers, cls_name, None)
        if cls is None or not hasattr(cls, "from_config"):
            raise BadInput(f"unknown scheduler {name!r}", field="scheduler")
        return cls.from_config(config, **extra)

    def _variant(self, bundle: Bundle, which: str):
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
        variant = cls.from_pipe(pipe, dtype=_torch_dtype(bundle.dtype))
        variant.set_progress_bar_config(disable=True)
        bundle.extras[which] = variant
        return variant
