"""Port types and the shared vocabulary of shot directions."""
from __future__ import annotations

# Port types. A link is only allowed between ports of the same type.
IMAGES = "images"  # ImageSet: reference images, each with a role
IDENTITY = "identity"  # Identity
PROMPT = "prompt"  # ShotPrompt
CLIP = "clip"  # Clip: frames + fps + metadata
SEQUENCE = "sequence"  # SequenceResult
# Used only by tests and benchmarks for trivial nodes.
NUMBER = "number"

PORT_TYPES = (IMAGES, IDENTITY, PROMPT, CLIP, SEQUENCE, NUMBER)

SHOT_SIZES = ("close-up", "medium", "wide")
CAMERA_MOVES = ("static", "push-in", "pull-out", "pan-left", "pan-right", "tilt-up", "tilt-down")
MOODS = ("neutral", "warm", "cool", "dramatic", "noir", "dreamy", "golden-hour")
