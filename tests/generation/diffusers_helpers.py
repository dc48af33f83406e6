"""Request helpers for the diffusers tests (tiny models, CPU, 2 steps)."""
from __future__ import annotations

import tiny_models as tm

from canvas_app.generation.base import ShotRequest
from canvas_app.values import ShotPrompt


def options(tiny, **extra):
    base = {"model": str(tiny["model"]), "faceid_adapter": str(tiny["faceid"]), "steps": 2,
            "identity_strength": 1.0, "preview_interval": 0.0}
    base.update(extra)
    return base


def request(tiny, *, seed=1, duration=0.25, fps=4.0, size=32, identity=None, references=(), previous=None,
            prompt="a portrait of a person", camera_move="static", **extra):
    return ShotRequest(identity=identity or tm.tiny_identity(0),
                       prompt=ShotPrompt(positive=prompt, duration=duration, camera_move=camera_move),
                       references=list(references), width=size, height=size, fps=fps, seed=seed,
                       device="cpu", options=options(tiny, **extra), previous_clip=previous)


def pipe_of(backend, **match):
    """The loaded pipeline (first key whose adapters/flags match)."""
    for key in backend.manager.keys():
        entry = backend.manager.peek(key)
        if all(getattr(entry.value, name) == value for name, value in match.items()):
            return entry.value.pipe
    raise AssertionError("pipeline not loaded")
