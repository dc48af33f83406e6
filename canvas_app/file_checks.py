"""Checks of input files that any layer may make before a run, without
decoding anything: a file's content digest (cache keys) and an image's
header (its size). The graph's default `NodeType.check_inputs` and the
engine's cache keys use them, so they sit below both (docs/architecture.md)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from canvas_app.errors import BadInput
from canvas_app.fileio import open_regular

# Bounds on a decoded reference image. Generation and face detection work on
# far smaller images; these only stop a tiny file that claims a huge (or a
# needle-thin) image from taking all the memory when decoded or resized.
MAX_IMAGE_SIDE = 12000
MAX_IMAGE_PIXELS = 64_000_000
MAX_ASPECT_RATIO = 16.0


def file_sha256(path: Path) -> str:
    """sha256 of a regular file's bytes (NotRegularFile, an OSError, otherwise)."""
    digest = hashlib.sha256()
    with open_regular(path) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def image_problem(path: str | Path) -> str | None:
    """Why an image file cannot be used as a reference (read from its header
    only, without decoding it), or None. A missing file is left to the node,
    which names it when it runs."""
    try:
        if not os.path.lexists(path):
            return None
        load_rgb_header(Path(path))
    except BadInput as error:
        return super(BadInput, error).__str__()
    return None


def load_rgb_header(path: Path) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        regular = path.is_file()
    except (OSError, ValueError):
        regular = False
    if not regular:
        raise BadInput("not found or not a regular file", file=str(path))
    try:
        with open_regular(path) as handle, Image.open(handle) as image:
            check_image_size(image.size, path, None, None)
            return image.size
    except Image.DecompressionBombError:
        raise BadInput("the image is too large", file=str(path)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise BadInput(f"not a readable image ({error.__class__.__name__})",
                       file=str(path)) from None


def check_image_size(size: tuple[int, int], path: Path, node, field) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise BadInput("the image is empty", file=str(path), node=node, field=field)
    if max(width, height) > MAX_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS:
        raise BadInput(f"the image is too large ({width}x{height}; at most {MAX_IMAGE_SIDE} "
                       f"pixels a side and {MAX_IMAGE_PIXELS // 1_000_000} megapixels)",
                       file=str(path), node=node, field=field)
    if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
        raise BadInput(f"the image is {width}x{height}: too thin to use (at most "
                       f"{MAX_ASPECT_RATIO:g}:1)", file=str(path), node=node, field=field)
