"""Reading reference images (the suffixes in media/formats.py), EXIF orientation applied."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from canvas_app.errors import BadInput
from canvas_app.file_checks import MAX_IMAGE_PIXELS, check_image_size, file_sha256
from canvas_app.fileio import open_regular
from canvas_app.values import ROLES, RefImage


def load_rgb(path: str | Path, *, node: str | None = None, field: str | None = None) -> np.ndarray:
    """Decode an image file to an RGB uint8 array, upright per its EXIF tag."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        exists, regular = path.exists(), path.is_file()
    except (OSError, ValueError):
        exists = regular = False
    if not exists:
        raise BadInput("image not found", file=str(path), node=node, field=field)
    if not regular:
        raise BadInput("not a regular file (a folder, a device or a pipe)", file=str(path),
                       node=node, field=field)
    try:
        with open_regular(path) as handle, Image.open(handle) as image:
            check_image_size(image.size, path, node, field)
            image = ImageOps.exif_transpose(image)
            return _to_rgb(image)
    except Image.DecompressionBombError:
        raise BadInput(f"the image is too large (over {MAX_IMAGE_PIXELS // 1_000_000} "
                       f"megapixels)", file=str(path), node=node, field=field) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, MemoryError) as error:
        raise BadInput(f"not a readable image ({error.__class__.__name__})", file=str(path),
                       node=node, field=field) from None


def _to_rgb(image) -> np.ndarray:
    """RGB uint8. 16-bit and 32-bit grayscale are scaled to 8 bits: PIL's own
    conversion clips them, which turns any image brighter than 1/256 white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") else max(1.0, float(values.max()))
        if image.mode == "I" and values.max() <= 65535:
            top = 65535.0 if values.max() > 255 else 255.0
        gray = np.clip(np.round(values * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def load_reference(path: str | Path, role: str, *, node: str | None = None,
                   field: str | None = None) -> RefImage:
    if role not in ROLES:
        raise BadInput(f"unknown role {role!r}; choose one of {', '.join(ROLES)}", file=str(path),
                       node=node, field=field)
    path = Path(path)
    pixels = load_rgb(path, node=node, field=field)
    return RefImage(path=path, role=role, pixels=pixels, sha256=file_sha256(path))


def save_png(frame: np.ndarray, path: str | Path, text: dict[str, str] | None = None,
             level: int = 3) -> None:
    """Save a frame as PNG, with optional text chunks (seed, model, ...);
    `level`: zlib's compression level (lossless at any level)."""
    _write_png(frame, path, text, level)


def png_bytes(frame: np.ndarray, text: dict[str, str] | None = None, level: int = 3) -> bytes:
    """The bytes `save_png` writes (a shot's frames coded ahead, exports/shot_frames.py)."""
    import io

    buffer = io.BytesIO()
    _write_png(frame, buffer, text, level)
    return buffer.getvalue()


def _write_png(frame: np.ndarray, path, text: dict[str, str] | None, level: int) -> None:
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    # sRGB chunk (rendering intent 0, perceptual): the pixels are sRGB, said so
    # rather than left for each viewer to guess.
    info.add(b"sRGB", b"\x00")
    for key, value in (text or {}).items():
        # A lone surrogate (from a file name) cannot be stored: "?" in its place.
        info.add_text(key, str(value).encode("utf-8", "replace").decode("utf-8"))
    # Level 3 is about twice as fast as the default 6 for a few percent more bytes.
    Image.fromarray(frame).save(path, format="PNG", pnginfo=info, compress_level=level)
