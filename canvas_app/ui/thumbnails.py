"""Small previews of image files for the canvas and the inspector.

Read at reduced size (fast for large photos) and kept in a bounded cache
keyed by path, modification time and size, so an edited file is read again
and a long session does not keep every picture it ever showed."""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImageReader, QPixmap

CACHE_SIZE = 256  # pixmaps of at most ~100x100 px: a few MB at most


class ThumbnailCache:
    def __init__(self, capacity: int = CACHE_SIZE) -> None:
        self.capacity = capacity
        self._pixmaps: OrderedDict[tuple[str, float, int], QPixmap] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pixmaps)

    def get(self, path: str, size: int = 48) -> QPixmap | None:
        """The thumbnail of `path` fitting `size` px; None for a missing or unreadable file."""
        try:
            mtime = Path(path).stat().st_mtime
        except OSError:
            return None
        key = (path, mtime, size)
        pixmap = self._pixmaps.get(key)
        if pixmap is not None:
            self._pixmaps.move_to_end(key)
            return pixmap
        reader = QImageReader(path)
        reader.setAutoTransform(True)
        original = reader.size()
        if original.isValid():
            reader.setScaledSize(original.scaled(QSize(size, size), Qt.KeepAspectRatio))
        image = reader.read()
        if image.isNull():
            return None
        pixmap = QPixmap.fromImage(image)
        self._pixmaps[key] = pixmap
        while len(self._pixmaps) > self.capacity:
            self._pixmaps.popitem(last=False)
        return pixmap


_shared = ThumbnailCache()


def thumbnail(path: str, size: int = 48) -> QPixmap | None:
    """A thumbnail from the editor's shared cache."""
    return _shared.get(path, size)
