"""Memory plans for the new families, chosen from the card's memory.

full           everything on the card in bf16: the fastest, when the weights fit with room
               for the activations.
offload        model offload (each component moves to the card only while it runs) plus fp8
               layerwise casting of the transformer(s): weights stored in fp8, computed in
               bf16, so the largest component takes half the memory. For a 24 GB card.
group-offload  group offloading (blocks of every component move to the card as they run) plus
               fp8 layerwise casting: the least memory, the slowest. For 12-16 GB cards.
Every plan but full also tiles the VAE, so long clips decode in pieces.

A quantised transformer (torchao or GGUF through diffusers' quantisation configs) is not
wired yet. On the CPU there is nothing to offload to: offload plans keep only their fp8
casting and tiling there, which is what the tests exercise.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PLANS = ("full", "offload", "group-offload")
GB = 1024 ** 3
# bf16 weights of each published model in GB (parameters x 2 bytes, text encoder included).
WEIGHTS_GB = {"FLUX.2-klein-4B": 16, "FLUX.2-klein-9B": 34, "Wan2.2-TI2V-5B": 22,
              "Wan2.2-I2V-A14B": 67, "Wan2.1-VACE-1.3B": 14, "Wan2.1-VACE-14B": 40}
HEADROOM = 1.2  # activations and the VAE decode on top of the weights
TRANSFORMER_SHARE = 0.6  # of the weights, the largest piece model offload holds at once


@dataclass(frozen=True)
class MemoryPlan:
    name: str
    reason: str


def weights_gb(model: str) -> float | None:
    """The model's bf16 weights in GB: from the table, or a local folder's size."""
    for name, size in WEIGHTS_GB.items():
        if name.lower() in model.lower():
            return float(size)
    local = Path(model).expanduser()
    if local.is_dir():
        files = [p for p in local.rglob("*") if p.is_file() and p.suffix in (".safetensors", ".bin")]
        return sum(p.stat().st_size for p in files) / GB
    return None


def choose_plan(model: str, vram_gb: float | None) -> MemoryPlan:
    """The plan for `model` on a card of `vram_gb` (None: no GPU, runs in RAM)."""
    if vram_gb is None:
        return MemoryPlan("full", "no GPU: the model runs in system memory")
    weights = weights_gb(model)
    if weights is None:
        return MemoryPlan("offload", f"size of {model} unknown: model offload is the safe choice "
                                     f"on a {vram_gb:g} GB card")
    if vram_gb >= weights * HEADROOM:
        return MemoryPlan("full", f"{weights:g} GB of weights fit a {vram_gb:g} GB card")
    if vram_gb >= weights * TRANSFORMER_SHARE:
        return MemoryPlan("offload", f"{weights:g} GB of weights do not fit {vram_gb:g} GB at "
                                     "once; one component at a time, fp8-stored, does")
    return MemoryPlan("group-offload", f"even one component of {weights:g} GB does not fit "
                                       f"{vram_gb:g} GB: blocks move to the card as they run")


def card_memory_gb(device: str) -> float | None:
    """The CUDA card's memory in GB, or None off CUDA."""
    if not device.startswith("cuda"):
        return None
    import torch

    return torch.cuda.get_device_properties(torch.device(device)).total_memory / GB


def resolve_plan(setting: str, model: str, device: str) -> MemoryPlan:
    if setting in PLANS:
        return MemoryPlan(setting, "chosen on the node")
    return choose_plan(model, card_memory_gb(device))


def transformers_of(pipe) -> list:
    return [module for module in (getattr(pipe, "transformer", None),
                                  getattr(pipe, "transformer_2", None)) if module is not None]


def apply_plan(pipe, plan: MemoryPlan, device: str, compute_dtype) -> None:
    """Put a freshly loaded pipeline on `device` the way `plan` says."""
    import torch

    if plan.name == "full":
        pipe.to(device)
        return
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
