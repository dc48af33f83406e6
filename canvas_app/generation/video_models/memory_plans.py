"""Memory plans for the new families, chosen from the card's memory.

full           everything on the card in bf16: the fastest, when the weights fit with room
               for the activations.
offload        model offload (each component moves to the card only while it runs) plus fp8
               layerwise casting of the transformer(s): weights stored in fp8, computed in
               bf16, so the largest component takes half the memory. For a 24 GB card.
group-offload  group offloading (blocks of every component move to the card as they run) plus
               fp8 layerwise casting: the least memory on the card, the slowest.
quantized      group offloading plus transformer(s) quantized to int8 weights at load time
               (torchao's int8 weight-only, through diffusers' TorchAoConfig): per-channel
               scales keep the weights closer to bf16 than a plain fp8 cast, and half the
               bytes cross the bus. For 12-16 GB cards; needs the optional torchao
               (pip install 'canvas-app[quantized]'), and says so when it is missing.
Every plan but full also tiles the VAE, so long clips decode in pieces.

`plan_options` is the one table the choice, `doctor` and the Models panel all read. On the
CPU there is nothing to offload to: the offload plan keeps its fp8 casting and tiling
there, the group plans offload from the CPU to the CPU; that is what the tests exercise.
"""
from __future__ import annotations

import functools
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from canvas_app.errors import BadInput

PLANS = ("full", "offload", "group-offload", "quantized")
GB = 1024 ** 3
HEADROOM = 1.2  # activations and the VAE decode on top of the weights
TRANSFORMER_SHARE = 0.6  # of the weights, the largest piece model offload holds at once
QUANTIZED_UP_TO_GB = 16  # the cards the quantized plan is for (12-16 GB)
QUANTIZED_LIBRARY = "torchao"
INSTALL_QUANTIZED = "pip install 'canvas-app[quantized]'"


@dataclass(frozen=True)
class MemoryPlan:
    name: str
    reason: str


@dataclass(frozen=True)
class PlanOption:
    """One plan a model can run under: the cards it is for and whether it can run here."""

    name: str
    cards: str  # e.g. "70 GB or more"
    available: bool = True
    missing: str = ""  # what to install when not available


def weights_gb(model: str) -> float | None:
    """The model's bf16 weights in GB: the published model's (one table with the
    Models panel's download sizes), or a local folder's size."""
    from canvas_app.generation.video_models.requirements import DOWNLOAD_BYTES

    for repo, size in DOWNLOAD_BYTES.items():
        if repo.split("/")[-1].lower() in model.lower():
            return size / 10**9
    local = Path(model).expanduser()
    if local.is_dir():
        files = [p for p in local.rglob("*") if p.is_file() and p.suffix in (".safetensors", ".bin")]
        return sum(p.stat().st_size for p in files) / GB
    return None


def quantization_missing() -> str:
    """'' when the quantized plan can run here, else what is missing and how to get it."""
    if importlib.util.find_spec(QUANTIZED_LIBRARY) is None:
        return f"{QUANTIZED_LIBRARY} is not installed ({INSTALL_QUANTIZED})"
    return ""


def _gb(value: float) -> str:
    return f"{value:.0f} GB" if value >= 10 else f"{value:.1f} GB"


def plan_options(model: str) -> list[PlanOption]:
    """Every plan `model` can run under, with the cards each is for (the thresholds
    choose_plan uses)."""
    missing = quantization_missing()
    quantized = PlanOption("quantized", f"{QUANTIZED_UP_TO_GB} GB or less", not missing, missing)
    weights = weights_gb(model)
    if weights is None:
        return [PlanOption("full", "when the weights fit"), PlanOption("offload", "size unknown"),
                PlanOption("group-offload", "any card"), quantized]
    full, offload = weights * HEADROOM, weights * TRANSFORMER_SHARE
    return [PlanOption("full", f"{_gb(full)} or more"),
            PlanOption("offload", f"{_gb(offload)} to {_gb(full)}"),
            PlanOption("group-offload", f"under {_gb(offload)}"), quantized]


def describe_plans(model: str) -> str:
    """One line for doctor and the Models panel: each plan and its cards."""
    return "; ".join(f"{option.name}: {option.cards}"
                     + ("" if option.available else f" (unavailable: {option.missing})")
                     for option in plan_options(model))


def _small_card(vram_gb: float, why: str) -> MemoryPlan:
    missing = quantization_missing()
    if missing:
        return MemoryPlan("group-offload", f"{why}; the quantized plan for {QUANTIZED_UP_TO_GB} GB "
                                           f"cards would suit it, but {missing}: group offload "
                                           "with fp8 weights instead")
    return MemoryPlan("quantized", f"{why}: its blocks move to the card as they run, with the "
                                   "transformer stored as int8 weights (torchao): half the bytes "
                                   "to move, and closer to the original than fp8")


def choose_plan(model: str, vram_gb: float | None) -> MemoryPlan:
    """The plan for `model` on a card of `vram_gb` (None: no GPU, runs in RAM)."""
    if vram_gb is None:
        return MemoryPlan("full", "no GPU: the model runs in system memory")
    weights = weights_gb(model)
    if weights is None:
        why = f"size of {model} unknown"
        if vram_gb <= QUANTIZED_UP_TO_GB:
            return _small_card(vram_gb, f"{why} and a {vram_gb:g} GB card")
        return MemoryPlan("offload", f"{why}: model offload is the safe choice "
                                     f"on a {vram_gb:g} GB card")
    if vram_gb >= weights * HEADROOM:
        return MemoryPlan("full", f"{weights:g} GB of weights fit a {vram_gb:g} GB card")
    if vram_gb >= weights * TRANSFORMER_SHARE:
        return MemoryPlan("offload", f"{weights:g} GB of weights do not fit {vram_gb:g} GB at "
                                     "once; one component at a time, fp8-stored, does")
    if vram_gb <= QUANTIZED_UP_TO_GB:
        return _small_card(vram_gb, f"even one component of {weights:g} GB does not fit a "
                                    f"{vram_gb:g} GB card")
    return MemoryPlan("group-offload", f"even one component of {weights:g} GB does not fit "
                                       f"{vram_gb:g} GB: blocks move to the card as they run")


def card_memory_gb(device: str) -> float | None:
    """The CUDA card's memory in GB, or None off CUDA."""
    if not device.startswith("cuda"):
        return None
    import torch

    return torch.cuda.get_device_properties(torch.device(device)).total_memory / GB


@functools.cache
def machine_card_gb() -> float | None:
    """This machine's first CUDA card in GB, or None (no torch, no CUDA); asked once."""
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    return card_memory_gb("cuda:0") if torch.cuda.is_available() else None


def resolve_plan(setting: str, model: str, device: str, node: str | None = None) -> MemoryPlan:
    if setting == "quantized" and quantization_missing():
        raise BadInput(f"the quantized memory plan needs {quantization_missing()}; or choose "
                       "memory 'group-offload'", field="memory", node=node)
    if setting in PLANS:
        return MemoryPlan(setting, "chosen on the node")
    return choose_plan(model, card_memory_gb(device))


def transformers_of(pipe) -> list:
    return [module for module in (getattr(pipe, "transformer", None),
                                  getattr(pipe, "transformer_2", None)) if module is not None]


def transformer_components(folder: Path) -> list[str]:
    """The denoiser components of a diffusers folder (transformer, and transformer_2 for
    Wan 2.2's second expert), from its model_index.json."""
    index = json.loads((Path(folder) / "model_index.json").read_text(encoding="utf-8"))
    return [name for name, value in index.items() if name.startswith("transformer")
            and isinstance(value, list) and value[0] is not None]


def plan_load_kwargs(plan: MemoryPlan, folder: Path, compute_dtype) -> dict:
    """Keyword arguments for from_pretrained: the quantized plan's quantisation config."""
    if plan.name != "quantized":
        return {}
    from diffusers import PipelineQuantizationConfig, TorchAoConfig
    from torchao.quantization import Int8WeightOnlyConfig

    return {"quantization_config": PipelineQuantizationConfig(quant_mapping={
        name: TorchAoConfig(Int8WeightOnlyConfig()) for name in transformer_components(folder)})}


def apply_plan(pipe, plan: MemoryPlan, device: str, compute_dtype) -> None:
    """Put a freshly loaded pipeline on `device` the way `plan` says."""
    import torch

    if plan.name == "full":
        pipe.to(device)
        return
    if plan.name != "quantized":  # quantized transformers are already int8
        for transformer in transformers_of(pipe):
            # fp8 storage, bf16 compute; norms and embeddings stay in the compute dtype.
            transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn,
                                                 compute_dtype=compute_dtype)
    vae = getattr(pipe, "vae", None)
    if vae is not None and hasattr(vae, "enable_tiling"):
        vae.enable_tiling()
    on_card = not device == "cpu"
    if plan.name == "offload":
        if on_card:
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.to(device)
    else:
        pipe.enable_group_offload(onload_device=torch.device(device),
                                  offload_device=torch.device("cpu"), offload_type="block_level",
                                  num_blocks_per_group=1)
