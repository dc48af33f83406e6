"""Port types and their colours. (Shot directions: canvas_app/shot_directions.py.)"""
from __future__ import annotations

# Port types. A link is only allowed between ports of the same type.
IMAGES = "images"  # ImageSet: reference images, each with a role
IDENTITY = "identity"  # Identity
PROMPT = "prompt"  # ShotPrompt
CLIP = "clip"  # Clip: frames + fps + metadata
SEQUENCE = "sequence"  # SequenceResult
# Used only by tests and benchmarks for trivial nodes.
NUMBER = "number"

# Each port type has the colour its ports and wires show on the canvas (distinct
# hues of similar brightness on the dark canvas). A node type that brings a
# new port type registers it here with `register_port_type`.
PORT_COLORS: dict[str, str] = {
    IMAGES: "#e0a64b",
    IDENTITY: "#c678dd",
    PROMPT: "#7aa7ff",
    CLIP: "#5fd08a",
    SEQUENCE: "#ef6f6c",
    NUMBER: "#b8c0cc",
}
PORT_TYPES = tuple(PORT_COLORS)
UNKNOWN_PORT_COLOR = "#7d8590"


def register_port_type(name: str, color: str) -> str:
    """Add a port type (idempotent for the same colour); returns its name."""
    global PORT_TYPES
    known = PORT_COLORS.get(name)
    if known is not None and known != color:
        raise ValueError(f"port type {name!r} already has the colour {known}")
    PORT_COLORS[name] = color
    PORT_TYPES = tuple(PORT_COLORS)
    return name


def port_color(port_type: str | None) -> str:
    """The hex colour of a port type's ports and wires."""
    return PORT_COLORS.get(port_type or "", UNKNOWN_PORT_COLOR)

