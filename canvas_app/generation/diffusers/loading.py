"""Loading: resolve the model and adapter sources, build the pipeline with its
IP-Adapters, motion adapter and the FaceID LoRA, and describe it as a Bundle.

The FaceID LoRA is split out of the adapter file and loaded by processor *name*
under the adapter name "faceid": diffusers numbers the file's LoRA keys over
`unet.attn_processors`, which in a UNetMotionModel includes the motion modules,
so loading by index puts key N on the wrong layer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from canvas_app.engine.context import RunContext
from canvas_app.errors import BadInput, CanvasError
from canvas_app.generation.diffusers.faces import FACE_EMBED_DIM
from canvas_app.generation.diffusers.options import DEFAULT_ADAPTERS, Options
from canvas_app.generation.model_manager import (
    PIPELINE_ALLOW, PIPELINE_IGNORE, Source, fingerprint, offline_mode, read_model_index, resolve_source,
    weight_format)
from canvas_app.values import FACE_ROLES

FACEID_LORA = "faceid"
LORA_PARTS = ("to_q_lora", "to_k_lora", "to_v_lora", "to_out_lora")
ADAPTER_FIELDS = ("faceid_adapter", "image_adapter", "image_encoder", "motion_adapter")


def needed_models(opts: Options, kind: str, has_references: bool) -> dict[str, str]:
    """field -> the spec (hub path, folder or file) a shot with these options loads,
    before anything is resolved: what a run needs, and what `doctor` checks."""
    defaults = DEFAULT_ADAPTERS[kind]
    needed = {"model": opts.model}
    if opts.model_config:
        needed["model_config"] = opts.model_config
    faceid_default = defaults["faceid_plus_v2_adapter" if opts.faceid_variant == "plus_v2" else "faceid_adapter"]
    needed["faceid_adapter"] = faceid_default if opts.faceid_adapter.lower() == "auto" else opts.faceid_adapter
    image_option = opts.image_adapter.lower()
    use_image_adapter = image_option != "none" and (has_references or image_option != "auto")
    if use_image_adapter:
        needed["image_adapter"] = defaults["image_adapter"] if image_option == "auto" else opts.image_adapter
    if use_image_adapter or opts.faceid_variant == "plus_v2":
        needed["image_encoder"] = (defaults["image_encoder"] if opts.image_encoder.lower() == "auto"
                                   else opts.image_encoder)
    if opts.motion:
        needed["motion_adapter"] = (defaults["motion_adapter"] if opts.motion_adapter.lower() == "auto"
                                    else opts.motion_adapter)
    return needed


RESOLVE_ARGS: dict[str, dict[str, Any]] = {
    "model": {"allow_patterns": PIPELINE_ALLOW, "ignore_patterns": PIPELINE_IGNORE},
    "model_config": {"want": "folder", "allow_patterns": ["*.json", "*.txt", "*/*.json", "*/*.txt"]},
    "faceid_adapter": {},
    "image_adapter": {},
    "image_encoder": {"want": "folder", "ignore_patterns": ["*.bin", "*.msgpack", "*.h5"]},
    "motion_adapter": {"ignore_patterns": ["*.bin", "*.fp16.*"]},
}


def resolve_sources(opts: Options, request: Any, ctx: RunContext) -> tuple[dict[str, Source], str, bool]:
    """(sources by field, model kind, whether the image adapter loads); downloads
    what is missing unless the hub is offline."""
    sources: dict[str, Source] = {}
    for name in ("model", "model_config"):
        spec = opts.model if name == "model" else opts.model_config
        if spec:
            sources[name] = resolve_source(spec, field=name, ctx=ctx, progress_span=(0.0, 0.04),
                                           **RESOLVE_ARGS[name])
    kind = opts.model_kind
    if kind == "auto":
        model = sources["model"]
        kind = detect_kind_from_file(model.path) if model.is_file else detect_kind_from_folder(model.path)
    references = [ref for ref in request.references if ref.role not in FACE_ROLES]
    needed = needed_models(opts, kind, bool(references))
    for name in ADAPTER_FIELDS:
        if name in needed:
            sources[name] = resolve_source(needed[name], field=name, ctx=ctx, progress_span=(0.0, 0.04),
                                           **RESOLVE_ARGS[name])
    use_image_adapter = "image_adapter" in needed
    if references and not use_image_adapter:
        ctx.log(f"{len(references)} reference image(s) ignored: image_adapter is 'none'")
    return sources, kind, use_image_adapter


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


def torch_dtype_of(name: str):
    import torch

    return {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[name]


def is_oom(error: BaseException) -> bool:
    import torch

    oom_types = tuple(t for t in (getattr(torch, "OutOfMemoryError", None),
                                  getattr(torch.cuda, "OutOfMemoryError", None)) if t is not None)
    if oom_types and isinstance(error, oom_types):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


_FLOAT_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1}
_VARIANT_WORDS = (".fp16.", ".non_ema.", ".ema.")


def _safetensors_load_bytes(path: Path, float_bytes: int) -> int:
    """What a .safetensors file's tensors take once loaded with floats in
    `float_bytes` per value, from its header alone (nothing is read beyond it)."""
    import json
    import math

    try:
        with open(path, "rb") as handle:
            header_len = int.from_bytes(handle.read(8), "little")
            if not 0 < header_len <= (1 << 26):
                return path.stat().st_size
            header = json.loads(handle.read(header_len))
    except (OSError, ValueError):
        return 0
    total = 0
    for name, info in header.items():
        if name == "__metadata__" or not isinstance(info, dict):
            continue
        start, end = info.get("data_offsets", (0, 0))
        if info.get("dtype") in _FLOAT_BYTES:
            total += math.prod(info.get("shape") or [1]) * float_bytes
        else:
            total += int(end) - int(start)
    return total


def estimate_load_bytes(sources: dict[str, Source], dtype: str) -> int:
    """Roughly what loading these sources in `dtype` puts on the device: the
    weights a pipeline load reads (component safetensors; not single-file
    checkpoints lying beside a diffusers folder, nor fp16/EMA variants). What
    the model manager frees room for before a load."""
    float_bytes = {"fp16": 2, "bf16": 2}.get(dtype, 4)
    total = 0
    for name, source in sources.items():
        if name == "model_config":
            continue  # configs only
        path = source.path
        if path.is_file():
            files = [path]
        elif path.is_dir():
            top_level_ok = not (path / "model_index.json").is_file()
            files = [f for f in path.rglob("*") if f.is_file()
                     and weight_format(f) is not None
                     and not any(word in f.name for word in _VARIANT_WORDS)
                     and (top_level_ok or f.parent != path)]
        else:
            continue
        for file in files:
            if weight_format(file) == "pickle" and any(weight_format(other) == "safetensors"
                                                       for other in file.parent.iterdir() if other.is_file()):
                continue  # the same weights as .bin and .safetensors: only one is loaded
            if weight_format(file) == "safetensors":
                total += _safetensors_load_bytes(file, float_bytes)
            else:
                total += file.stat().st_size
    return total


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
    faceid_variant: str = "faceid"  # faceid | plus_v2
    faceid_lora: bool = False  # the FaceID file's LoRA is loaded as adapter "faceid"
    motion_max_frames: int = 0  # the motion adapter's motion_max_seq_length
    extras: dict[str, Any] = field(default_factory=dict)  # img2img / video2video via from_pipe


def detect_kind_from_folder(folder: Path) -> str:
    index = read_model_index(folder)
    name = str(index.get("_class_name", ""))
    if "XL" in name or "text_encoder_2" in index or (folder / "text_encoder_2").is_dir():
        return "sdxl"
    return "sd15"


def detect_kind_from_file(path: Path) -> str:
    """sdxl or sd15 from a single-file checkpoint's tensor names (SDXL has a
    second text encoder under conditioner.embedders.1)."""
    if weight_format(path) == "safetensors":
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                keys = handle.keys()
                if any(key.startswith("conditioner.embedders.1") for key in keys):
                    return "sdxl"
        except Exception:
            pass
    return "sd15"


def load_adapter_state_dict(source: Source, field_name: str, prefer: tuple[str, ...]) -> tuple[dict, Path]:
    """{"image_proj": {...}, "ip_adapter": {...}} from a .bin or .safetensors
    IP-Adapter file (or the matching file in a folder)."""
    path = source.path
    if path.is_dir():
        candidates = [p for p in sorted(path.iterdir()) if p.suffix in (".safetensors", ".bin") and p.is_file()]
        preferred = [p for p in candidates if any(word in p.name.lower() for word in prefer)]
        if not (preferred or candidates):
            raise BadInput(f"no .safetensors or .bin adapter weights in {path}", field=field_name)
        path = (preferred or candidates)[0]
    file_format = weight_format(path)
    try:
        if file_format == "safetensors":
            from safetensors import safe_open

            state = {"image_proj": {}, "ip_adapter": {}}
            with safe_open(str(path), framework="pt", device="cpu") as handle:
                for key in handle.keys():
                    group, _, rest = key.partition(".")
                    if group in state:
                        state[group][rest] = handle.get_tensor(key)
        elif file_format == "pickle":
            import torch

            state = torch.load(str(path), map_location="cpu", weights_only=True)
        else:
            raise ValueError("neither a .safetensors nor a torch (.bin) file")
    except Exception as error:
        raise BadInput(f"cannot read IP-Adapter weights {path.name}: {error}", field=field_name) from None
    if not isinstance(state, dict) or not state.get("image_proj") or not state.get("ip_adapter"):
        raise BadInput(f"{path.name} is not an IP-Adapter file (no image_proj / ip_adapter weights)",
                       field=field_name)
    return state, path


def _cross_attention_count(unet: Any) -> int:
    return sum(1 for name in unet.attn_processors
               if name.endswith("attn2.processor") and "motion_modules" not in name)


def _check_faceid(state: dict, unet: Any, path: Path, variant: str) -> None:
    proj = state["image_proj"]
    name = path.name
    is_plus = "perceiver_resampler.proj_in.weight" in proj
    if is_plus and variant != "plus_v2":
        raise BadInput(f"{name} is an IP-Adapter FaceID Plus adapter: set faceid_variant to plus_v2, or use "
                       "the plain FaceID weights (ip-adapter-faceid_sd15.bin / _sdxl.bin)", field="faceid_adapter")
    if variant == "plus_v2" and not is_plus:
        raise BadInput(f"{name} is not an IP-Adapter FaceID Plus v2 adapter; faceid_variant plus_v2 needs "
                       "ip-adapter-faceid-plusv2_sd15.bin / _sdxl.bin (or set faceid_variant to faceid)",
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
    if "perceiver_resampler.proj_out.weight" in state["image_proj"]:  # FaceID Plus: norm is the inner width
        width = state["image_proj"]["perceiver_resampler.proj_out.weight"].shape[0]
    if "norm.weight" not in state["image_proj"] and "proj_out.weight" in state["image_proj"]:
        width = state["image_proj"]["proj_out.weight"].shape[0]
    needed = _cross_attention_count(unet)
    found = sum(1 for key in state["ip_adapter"] if key.endswith("to_k_ip.weight"))
    if (width is not None and width != cross) or found != needed:
        raise BadInput(f"{name} does not fit this model (adapter: {width}-wide, {found} attention layers; "
                       f"model: {cross}-wide, {needed} layers). SD 1.5 and SDXL adapters are not "
                       "interchangeable.", field=field_name)


def split_faceid_lora(state: dict, unet: Any, path: Path) -> dict[str, Any]:
    """Take the LoRA out of a FaceID state dict (keys ``N.to_q_lora.down.weight``
    ...) and name each layer by its attention processor. N counts the UNet's
    attention processors as the file was trained (SD 1.5 / SDXL: attn1, attn2,
    ...); the motion modules of an AnimateDiff UNet are not in that count."""
    ip_adapter = state["ip_adapter"]
    lora_keys = [key for key in ip_adapter if key.partition(".")[2].startswith(LORA_PARTS)]
    if not lora_keys:
        return {}
    names = [name for name in unet.attn_processors if "motion_modules" not in name]
    lora: dict[str, Any] = {}
    for key in lora_keys:
        index, _, rest = key.partition(".")
        if not index.isdigit() or int(index) >= len(names):
            raise BadInput(f"{path.name}: LoRA key {key} has no attention layer {index} in this model "
                           f"({len(names)} layers)", field="faceid_adapter")
        lora[f"unet.{names[int(index)]}.{rest}"] = ip_adapter.pop(key)
    return lora


def load_lora(pipe: Any, state: dict, adapter_name: str, dtype: Any, *, field_name: str) -> None:
    """`load_lora_weights` under an adapter name (needs PEFT), in the UNet's dtype."""
    from diffusers.utils import USE_PEFT_BACKEND

    if not USE_PEFT_BACKEND:
        raise BadInput("LoRA weights need the 'peft' package: pip install peft", field=field_name)
    state = {key: value.to(dtype) if hasattr(value, "to") and value.is_floating_point() else value
             for key, value in state.items()}
    try:
        pipe.load_lora_weights(state, adapter_name=adapter_name)
    except (ValueError, KeyError, RuntimeError, IndexError, TypeError) as error:  # wrong keys
        raise BadInput(f"cannot load LoRA {adapter_name!r} ({error.__class__.__name__}: {error}); "
                       "is it a LoRA for this model?", field=field_name) from None


class Loader:
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
        torch_dtype = torch_dtype_of(self.dtype)
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
            if model.is_file and model.path.suffix.lower() != ".safetensors":  # a pickle
                raise BadInput(f"cannot load {model.path.name}: {error}. Checkpoints other than "
                               ".safetensors are read as weights only, never unpickled; convert "
                               "it to .safetensors", field="model") from None
            if model.is_file and "model_config" not in sources:
                raise BadInput(f"cannot load single-file checkpoint {model.path.name}: {error}. Set model_config "
                               "to a diffusers folder (or hub id) of the same architecture.",
                               field="model") from None
            raise BadInput(f"cannot load {opts.model}: {error}", field="model") from None
        if "safety_checker" in pipe.config and getattr(pipe, "safety_checker", None) is None:
            pipe.register_to_config(requires_safety_checker=False)

        adapter_meta: dict[str, Any] = {}
        motion_max_frames = 0
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
            motion_max_frames = int(adapter.config.get("motion_max_seq_length") or 32)

        # IP-Adapters: FaceID first, then the plain image adapter, in one
        # load_ip_adapter call (a second call would replace the first).
        ctx.progress(0.07, "loading IP-Adapter FaceID")
        faceid_state, faceid_path = load_adapter_state_dict(sources["faceid_adapter"], "faceid_adapter",
                                                             ("faceid",))
        _check_faceid(faceid_state, pipe.unet, faceid_path, opts.faceid_variant)
        faceid_lora = split_faceid_lora(faceid_state, pipe.unet, faceid_path)
        states, names = [faceid_state], ["faceid"]
        adapter_meta["faceid_adapter"] = sources["faceid_adapter"].spec
        adapter_meta["faceid_adapter_file"] = faceid_path.name
        adapter_meta["faceid_adapter_revision"] = sources["faceid_adapter"].revision
        image_processor = None
        hidden_states = False
        if self.use_image_adapter:
            ctx.progress(0.08, "loading image IP-Adapter")
            image_state, image_path = load_adapter_state_dict(sources["image_adapter"], "image_adapter",
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
        if opts.faceid_variant == "plus_v2" and image_processor is None:
            ctx.progress(0.08, "loading the CLIP image encoder for FaceID Plus v2")
            image_processor = self._load_image_encoder(pipe, torch_dtype)
            adapter_meta["image_encoder"] = sources["image_encoder"].spec
        adapter_meta["faceid_variant"] = opts.faceid_variant
        pipe.load_ip_adapter(states, subfolder="", weight_name=[f"{n}.bin" for n in names],
                             image_encoder_folder=None, low_cpu_mem_usage=_accelerate_available())
        if faceid_lora:
            ctx.progress(0.09, "loading the FaceID LoRA")
            load_lora(pipe, faceid_lora, FACEID_LORA, torch_dtype, field_name="faceid_adapter")
            adapter_meta["faceid_lora_layers"] = len(faceid_lora) // 8

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
                      offload=self.opts.cpu_offload and self.device.startswith("cuda"),
                      faceid_variant=opts.faceid_variant, faceid_lora=bool(faceid_lora), motion_max_frames=motion_max_frames)

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

