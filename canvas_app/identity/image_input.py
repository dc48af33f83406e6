"""Images as the face encoders take them: RGB uint8, contiguous."""
from __future__ import annotations

from typing import Any

import numpy as np

from canvas_app.errors import BadInput


def as_rgb_uint8(image: Any, *, file: str | None = None) -> np.ndarray:
    """Grey, RGBA and float images become RGB uint8; a clear error for anything else."""
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or array.shape[0] < 8 or array.shape[1] < 8:
        raise BadInput(f"expected an RGB image, got an array of shape {array.shape}", file=file)
    if array.shape[2] == 4:
        array = array[:, :, :3]
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and np.nanmax(array) <= 1.0:
            array = np.clip(np.nan_to_num(array) * 255.0 + 0.5, 0, 255)
        array = np.clip(array, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(array)
