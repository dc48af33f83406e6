"""numpy frames to QImages, in one place."""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def qimage_from_array(array) -> QImage:
    """An HxWx3 (RGB) or HxWx4 (RGBA) uint8 array as a QImage that owns its
    pixels (copied), so the array may be freed or changed afterwards."""
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"expected an HxWx3 or HxWx4 uint8 array, got {array.dtype} {array.shape}")
    height, width, channels = array.shape
    kind = QImage.Format_RGB888 if channels == 3 else QImage.Format_RGBA8888
    return QImage(array.data, width, height, channels * width, kind).copy()
