"""The diffusers generator backend, in parts: `options` (declared once, shared
with the Generate node), `loading`, `rendering`, `metadata`, `faces`, and
`backend` (the DiffusersBackend that ties them together).

Importing this package imports neither torch nor diffusers; the backend class
is looked up on first use.
"""
from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "DiffusersBackend":
        from canvas_app.generation.diffusers.backend import DiffusersBackend

        return DiffusersBackend
    raise AttributeError(name)
