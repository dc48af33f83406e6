"""Reading reference images (the suffixes in media/formats.py), EXIF orientation applied."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from canvas_app.errors import BadInput
from canvas_app.values import ROLES, RefImage


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_rgb(path: str | Path, *, node: str | None = None, field: str | None = None) -> np.ndarray:
    """Decode an image file to an RGB uint8 array, upright per its EXIF tag."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise BadInput("image not found", file=str(path), node=node, field=field)
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise BadInput(f"not a readable image ({error.__class__.__name__})", file=str(path),
                       node=node, field=field) from None


def load_reference(path: str | Path, role: str, *, node: str | None = None,
                   field: str | None = None) -> RefImage:
    if role not in ROLES:
        raise BadInput(f"unknown role {role!r}; choose one of {', '.join(ROLES)}", file=str(path),
                       node=node, field=field)
    path = Path(path)
    pixels = load_rgb(path, node=node, field=field)
    return RefImage(path=path, role=role, pixels=pixels, sha256=file_sha256(path))


def save_png(frame: np.ndarray, path: str | Path, text: dict[str, str] | None = None) -> None:
    """Save a frame as PNG, with optional text chunks (seed, model, ...)."""
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, str(value))
    Image.fromarray(frame).save(path, pnginfo=info)
