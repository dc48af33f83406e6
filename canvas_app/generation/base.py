"""The seam between the Generate node and the generator backends.

A backend turns a `ShotRequest` into a `Clip`. Backends are looked up by name
and imported lazily, so that the editor never imports torch or diffusers
until a diffusers shot is actually rendered.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from canvas_app.engine.context import RunContext
from canvas_app.values import Clip, Identity, RefImage, ShotPrompt


@dataclass
class ShotRequest:
    identity: Identity
    prompt: ShotPrompt
    references: list[RefImage] = field(default_factory=list)  # outfit/environment/product
    width: int = 640
    height: int = 360
    fps: float = 12.0
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | mps
    options: dict[str, Any] = field(default_factory=dict)  # backend-specific params
    previous_clip: Clip | None = None  # for shot continuity


class GeneratorBackend(Protocol):
    name: str
    # False for a backend whose seed cannot change how alike the person looks
    # (the animatic): then re-rolling the seed is pointless.
    seed_changes_likeness: bool

    def render(self, request: ShotRequest, ctx: RunContext) -> Clip:
        """Render the shot. Call ctx.progress() per frame/step (it is also
        the cancel point) and ctx.preview() with frames as they appear. Put
        at least "backend", "model" and "seed" into the clip's metadata."""
        ...


# name -> "module:attribute" of a zero-argument factory; imported on first use.
_BACKENDS: dict[str, str] = {
    "animatic": "canvas_app.generation.animatic:AnimaticBackend",
    "diffusers": "canvas_app.generation.diffusers.backend:DiffusersBackend",
}
_instances: dict[str, GeneratorBackend] = {}


def get_backend(name: str) -> GeneratorBackend:
    if name not in _BACKENDS:
        from canvas_app.errors import BadInput

        raise BadInput(f"unknown backend {name!r}; choose one of {', '.join(_BACKENDS)}",
                       field="backend")
    if name not in _instances:
        module_name, attribute = _BACKENDS[name].split(":")
        factory = getattr(importlib.import_module(module_name), attribute)
        _instances[name] = factory()
    return _instances[name]
