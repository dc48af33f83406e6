"""What a rendered shot records about itself: the prompt sent, the clip's
metadata, and the PNG text chunks of its frames."""
from __future__ import annotations

import json
from typing import Any

from canvas_app.values import ShotPrompt


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
    loras = meta.get("loras") or []
    fields = [("Steps", meta.get("steps")), ("Sampler", meta.get("scheduler")),
              ("CFG scale", meta.get("guidance")), ("Seed", meta.get("seed")),
              ("Size", f"{meta['width']}x{meta['height']}" if "width" in meta and "height" in meta else None),
              ("Model", meta.get("model")), ("Model hash", meta.get("model_fingerprint")),
              ("FaceID scale", meta.get("identity_strength")),
              ("Lora hashes", ", ".join(f"{l['name']}: {l['weight']}" for l in loras) or None)]
    lines.append(", ".join(f"{name}: {value}" for name, value in fields if value is not None))
    text["parameters"] = "\n".join(lines)
    return text
