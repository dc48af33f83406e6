"""The diffusers options, declared once: the Generate node shows these params
and the backend validates `request.options` against the same specs.

Importing this module imports only the graph's ParamSpec (no numpy, no torch).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from canvas_app.errors import BadInput
from canvas_app.graph.spec import ParamSpec

DEFAULT_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"

DEFAULT_ADAPTERS = {
    "sd15": {
        "faceid_adapter": "h94/IP-Adapter-FaceID/ip-adapter-faceid_sd15.bin",
        "faceid_plus_v2_adapter": "h94/IP-Adapter-FaceID/ip-adapter-faceid-plusv2_sd15.bin",
        "image_adapter": "h94/IP-Adapter/models/ip-adapter_sd15.safetensors",
        "image_encoder": "h94/IP-Adapter/models/image_encoder",
        "motion_adapter": "guoyww/animatediff-motion-adapter-v1-5-2",
    },
    "sdxl": {
        "faceid_adapter": "h94/IP-Adapter-FaceID/ip-adapter-faceid_sdxl.bin",
        "faceid_plus_v2_adapter": "h94/IP-Adapter-FaceID/ip-adapter-faceid-plusv2_sdxl.bin",
        "image_adapter": "h94/IP-Adapter/sdxl_models/ip-adapter_sdxl_vit-h.safetensors",
        "image_encoder": "h94/IP-Adapter/models/image_encoder",
        "motion_adapter": "guoyww/animatediff-motion-adapter-sdxl-beta",
    },
}

# name -> (diffusers scheduler class, extra config)
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

# The AnimateDiff docs' recommendation for motion clips, used when scheduler is "default".
MOTION_SCHEDULER = ("DDIMScheduler", {"beta_schedule": "linear", "clip_sample": False,
                                      "timestep_spacing": "linspace", "steps_offset": 1})

DTYPE_ALIASES = {"float16": "fp16", "bfloat16": "bf16", "float32": "fp32"}

# The params Generate passes to the backend as ShotRequest.options.
DIFFUSERS_OPTIONS: tuple[ParamSpec, ...] = (
    ParamSpec("model", "str", DEFAULT_MODEL,
              help="diffusers: a hub id, a local diffusers folder or a single .safetensors file."),
    ParamSpec("model_config", "str", "",
              help="For a single-file checkpoint: a diffusers folder or hub id to take configs from."),
    ParamSpec("model_kind", "choice", "auto", choices=("auto", "sd15", "sdxl")),
    ParamSpec("steps", "int", 30, minimum=1, maximum=150),
    ParamSpec("guidance", "float", 7.0, minimum=0.0, maximum=30.0, step=0.5),
    ParamSpec("scheduler", "choice", "default", choices=("default",) + tuple(SCHEDULERS),
              help="default = the model's own (stills) or DDIM with a linear schedule (motion)."),
    ParamSpec("identity_strength", "float", 0.8, minimum=0.0, maximum=3.0, step=0.05,
              help="IP-Adapter FaceID scale: how strongly the face is imposed (0 = off, LoRA too)."),
    ParamSpec("faceid_variant", "choice", "faceid", choices=("faceid", "plus_v2"),
              help="faceid: the ArcFace embedding only. plus_v2: IP-Adapter FaceID Plus v2, ArcFace plus "
                   "CLIP embeddings of the aligned reference faces (stronger likeness; loads the image "
                   "encoder)."),
    ParamSpec("face_structure", "float", 1.0, minimum=0.0, maximum=3.0, step=0.1,
              help="FaceID Plus v2 only: weight of the CLIP face structure (the adapter's shortcut scale)."),
    ParamSpec("reference_strength", "float", 0.5, minimum=0.0, maximum=3.0, step=0.05,
              help="Image IP-Adapter scale for outfit / environment / product references."),
    ParamSpec("faceid_adapter", "str", "auto",
              help="FaceID adapter: hub path, folder or file; auto = h94/IP-Adapter-FaceID "
                   "(its Plus v2 file when faceid_variant is plus_v2)."),
    ParamSpec("image_adapter", "str", "auto",
              help="Image IP-Adapter for look references; auto = loaded when references are "
                   "connected; none = never."),
    ParamSpec("image_encoder", "str", "auto",
              help="CLIP image encoder (ViT-H) for the image adapter and FaceID Plus v2."),
    ParamSpec("loras", "str", "",
              help="Character LoRAs: 'file.safetensors=0.8; other.safetensors=0.5' "
                   "(weight 1 when left out). Loaded for this shot only."),
    ParamSpec("motion", "bool", False, help="AnimateDiff motion instead of a held still."),
    ParamSpec("motion_adapter", "str", "auto", enabled_when=(("motion", (True,)),),
              help="AnimateDiff motion adapter; auto = guoyww/animatediff-motion-adapter-v1-5-2."),
    ParamSpec("max_frames", "int", 16, minimum=1, maximum=256, enabled_when=(("motion", (True,)),),
              help="Motion frames rendered. Past the adapter's length SD 1.5 uses FreeNoise "
                   "windows; SDXL is capped. Longer shots repeat frames evenly."),
    ParamSpec("continuity_strength", "float", 0.0, minimum=0.0, maximum=0.95, step=0.05,
              help="How much of the previous shot's last frame to keep (0 = off)."),
    ParamSpec("dtype", "choice", "auto", choices=("auto", "fp32", "fp16", "bf16")),
    ParamSpec("attention_slicing", "bool", False),
    ParamSpec("vae_tiling", "bool", False),
    ParamSpec("cpu_offload", "bool", False, help="Model CPU offload (CUDA; needs accelerate)."),
)
# All of them sit in the inspector's folded "Advanced" group: Generate shows its
# own few fields first (the Advanced flag was lost in a merge once; tests/ui/test_inspector_look.py).
DIFFUSERS_OPTIONS = tuple(replace(option, advanced=True) for option in DIFFUSERS_OPTIONS)

# Backend-only knobs (not on the node).
EXTRA_DEFAULTS: dict[str, Any] = {"preview_interval": 0.25}

SPECS = {spec.name: spec for spec in DIFFUSERS_OPTIONS}
DEFAULTS: dict[str, Any] = {**{spec.name: spec.default for spec in DIFFUSERS_OPTIONS}, **EXTRA_DEFAULTS}


@dataclass(frozen=True)
class Lora:
    path: str
    weight: float


@dataclass(frozen=True)
class Options:
    model: str
    model_config: str
    model_kind: str
    steps: int
    guidance: float
    scheduler: str
    identity_strength: float
    faceid_variant: str
    face_structure: float
    reference_strength: float
    faceid_adapter: str
    image_adapter: str
    image_encoder: str
    loras: tuple[Lora, ...]
    motion: bool
    motion_adapter: str
    max_frames: int
    continuity_strength: float
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


def _as_number(value: Any, spec: ParamSpec) -> Any:
    kind = int if spec.kind in ("int", "seed") else float
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise BadInput(f"{value!r} is not a number", field=spec.name) from None
    low, high = spec.minimum, spec.maximum
    if isinstance(number, float) and math.isnan(number) or \
            (low is not None and number < low) or (high is not None and number > high):
        raise BadInput(f"{number} is out of range ({low}..{high})", field=spec.name)
    return number


def parse_loras(text: str) -> tuple[Lora, ...]:
    """'a.safetensors=0.8; b.safetensors' -> (Lora(a, 0.8), Lora(b, 1.0)).
    Entries are separated by ';' or new lines (paths may contain commas)."""
    loras = []
    for entry in str(text or "").replace("\n", ";").split(";"):
        entry = entry.strip()
        if not entry:
            continue
        path, weight = entry, 1.0
        if "=" in entry:
            path, _, raw = entry.rpartition("=")
            try:
                weight = float(raw)
            except ValueError:
                raise BadInput(f"LoRA weight {raw!r} in {entry!r} is not a number", field="loras") from None
            if math.isnan(weight) or not -4.0 <= weight <= 4.0:
                raise BadInput(f"LoRA weight {weight} in {entry!r} is out of range (-4..4)", field="loras")
        path = path.strip()
        if not path:
            raise BadInput(f"LoRA entry {entry!r} has no file", field="loras")
        loras.append(Lora(path, weight))
    return tuple(loras)


def parse_options(options: dict[str, Any] | None) -> Options:
    """Fill in defaults and validate against the specs; a bad value is a
    BadInput naming the option."""
    raw = dict(DEFAULTS)
    for key, value in (options or {}).items():
        if value is not None:
            raw[key] = value
    values: dict[str, Any] = {}
    for spec in DIFFUSERS_OPTIONS:
        value = raw[spec.name]
        if spec.kind in ("int", "float"):
            values[spec.name] = _as_number(value, spec)
        elif spec.kind == "bool":
            values[spec.name] = _as_bool(value, spec.name)
        elif spec.kind == "choice":
            text = str(value).strip()
            lowered = text.lower()
            if spec.name == "dtype":
                lowered = DTYPE_ALIASES.get(lowered, lowered)
            if lowered in spec.choices:
                values[spec.name] = lowered
            elif spec.name == "scheduler" and text.endswith("Scheduler"):
                values[spec.name] = text  # any diffusers scheduler class by name
            else:
                extra = " or a diffusers scheduler class name" if spec.name == "scheduler" else ""
                raise BadInput(f"{text!r}: choose {', '.join(spec.choices)}{extra}", field=spec.name)
        else:
            values[spec.name] = str(value or "").strip()
    values["model"] = values["model"] or DEFAULT_MODEL
    for name in ("faceid_adapter", "image_adapter", "image_encoder", "motion_adapter"):
        values[name] = values[name] or "auto"
    values["loras"] = parse_loras(values["loras"])
    preview = _as_number(raw["preview_interval"],
                         ParamSpec("preview_interval", "float", 0.25, minimum=0.0, maximum=60.0))
    return Options(**values, preview_interval=preview)
