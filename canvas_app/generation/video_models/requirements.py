"""Which models a project's Keyframe and Motion nodes need, for `doctor` and the Models panel."""
from __future__ import annotations

from typing import Any

# Licences of the published checkpoints (from their model cards).
LICENCES = {
    "black-forest-labs/FLUX.2-klein-4B": "Apache 2.0",
    "black-forest-labs/FLUX.2-klein-9B": "FLUX Non-Commercial License: no commercial use of the "
                                         "model or its outputs without a licence from Black Forest Labs",
    "Wan-AI/Wan2.2-TI2V-5B-Diffusers": "Apache 2.0",
    "Wan-AI/Wan2.2-I2V-A14B-Diffusers": "Apache 2.0",
    "Wan-AI/Wan2.1-VACE-1.3B-diffusers": "Apache 2.0",
    "Wan-AI/Wan2.1-VACE-14B-diffusers": "Apache 2.0",
    "Qwen/Qwen-Image-Edit-2509": "Apache 2.0",
    "Lightricks/LTX-2": "LTX-2 Community License: commercial use only for entities under "
                        "$10M annual revenue without a licence from Lightricks",
}
# Models whose licence restricts use: the Models panel asks for it to be accepted first.
RESTRICTED = {"black-forest-labs/FLUX.2-klein-9B", "Lightricks/LTX-2"}


def restricts_use(spec: str) -> bool:
    return spec.split("@")[0] in RESTRICTED


# Download sizes estimated from parameter counts at bf16 (2 bytes each), text encoder
# included; shown until the model is in the cache, where its real size replaces them.
DOWNLOAD_BYTES = {"black-forest-labs/FLUX.2-klein-4B": 16 * 10**9,
                  "black-forest-labs/FLUX.2-klein-9B": 34 * 10**9,
                  "Wan-AI/Wan2.2-TI2V-5B-Diffusers": 22 * 10**9,
                  "Wan-AI/Wan2.2-I2V-A14B-Diffusers": 67 * 10**9,
                  "Wan-AI/Wan2.1-VACE-1.3B-diffusers": 14 * 10**9,
                  "Wan-AI/Wan2.1-VACE-14B-diffusers": 40 * 10**9,
                  # 20.4B MMDiT + Qwen2.5-VL-7B text encoder (8.3B) + VAE (0.13B)
                  "Qwen/Qwen-Image-Edit-2509": 58 * 10**9,
                  # 19B transformer (14B video + 5B audio) and the Gemma 3 12B text encoder
                  "Lightricks/LTX-2": 64 * 10**9}
# Repositories of which only part is needed: Lightricks/LTX-2 also holds single-file checkpoints
# (dev, fp8, distilled, upscalers, LoRAs: well over 100 GB) beside its diffusers folders.
DOWNLOAD_PATTERNS = {"Lightricks/LTX-2": ("model_index.json", "*/*")}
STAGES = {"Keyframe": "keyframe_model", "Motion": "motion_model"}
# Backends whose model is in a param of its own (FLUX.2's stays in "model", as before).
MODEL_PARAM = {"qwen-image-edit": "qwen_model"}


def stage_models(graph) -> list[tuple[str, str, str, str]]:
    """(field, model spec, node label, licence) for each Keyframe or Motion node
    that uses a diffusers backend (the animatic needs no model)."""
    found = []
    for node in graph.nodes.values():
        if node.type_name not in STAGES or node.spec is None:
            continue
        params: dict[str, Any] = node.spec.default_params()
        params.update(node.params)
        model_param = MODEL_PARAM.get(params.get("backend"), "model")
        if params.get("backend") == "animatic" or not params.get(model_param):
            continue
        spec = str(params[model_param])
        found.append((STAGES[node.type_name], spec, node.title or node.id,
                      LICENCES.get(spec.split("@")[0], "")))
    return found
