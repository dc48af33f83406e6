"""A clip on disk, exactly: frames as one raw .npy array plus JSON metadata.

Used by the result cache; lossless, so a clip read back scores and exports
exactly like the one rendered. Read with allow_pickle=False.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from canvas_app.values import Clip


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, set)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def save_clip(clip: Clip, folder: Path) -> bool:
    """False when the clip's metadata cannot be written as JSON."""
    try:
        meta = json.dumps({"fps": clip.fps, "metadata": clip.metadata}, default=_plain)
    except (TypeError, ValueError):
        return False
    np.save(folder / "frames.npy", np.stack(clip.frames), allow_pickle=False)
    (folder / "clip.json").write_text(meta, encoding="utf-8")
    return True


def load_clip(folder: Path) -> Clip:
    data = json.loads((folder / "clip.json").read_text(encoding="utf-8"))
    frames = np.load(folder / "frames.npy", allow_pickle=False)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or not len(frames):
        raise ValueError("frames.npy does not hold RGB uint8 frames")
    fps = data.get("fps") if isinstance(data, dict) else None
    if not isinstance(fps, (int, float)) or isinstance(fps, bool) or not 0 < fps <= 1000:
        raise ValueError("clip.json has no usable frame rate")
    if not isinstance(data.get("metadata"), dict):
        raise ValueError("clip.json has no metadata")
    return Clip(frames=list(frames), fps=float(fps), metadata=data["metadata"])
