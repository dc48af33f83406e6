"""The file suffixes the program reads, in one place: images (PIL decodes
them all) and videos (PyAV)."""
from __future__ import annotations

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".gif")
IMAGE_FILTER = f"Images ({' '.join('*' + suffix for suffix in IMAGE_SUFFIXES)})"


def is_image_path(path: str) -> bool:
    return path.lower().endswith(IMAGE_SUFFIXES)
