"""numpy pixels -> QImage, the one place the editor does it (run previews,
result pictures, the preview panel, the identity library, the timeline).

QImage, unlike QPixmap, may be made off the GUI thread, so the engine bridge
converts live frames on its own thread."""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def qimage_from_array(array: np.ndarray) -> QImage:
    """An HxWx3 (RGB) or HxWx4 (RGBA) uint8 array, or an HxW grey one, as a
    QImage that owns its pixels (the array may change or go afterwards)."""
    array = np.asarray(array)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"expected an HxWx3 or HxWx4 image, got shape {array.shape}")
    array = np.ascontiguousarray(array, dtype=np.uint8)
    height, width, channels = array.shape
    image_format = QImage.Format_RGB888 if channels == 3 else QImage.Format_RGBA8888
    # The QImage only borrows the buffer; .copy() gives it pixels of its own.
    return QImage(array.data, width, height, array.strides[0], image_format).copy()
