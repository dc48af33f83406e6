"""A clip on disk, exactly: frames as one raw .npy array plus JSON metadata.

Used by the result cache; lossless, so a clip read back scores and exports
exactly like the one rendered. A clip's own sound, when it has one, is kept as
`sound.npy` (float32 samples) with its rate in clip.json. Read with
allow_pickle=False.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from canvas_app.values import Clip, Sound


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
    data = {"fps": clip.fps, "metadata": clip.metadata}
    if clip.sound is not None:
        data["sound_rate"] = int(clip.sound.sample_rate)
    try:
        meta = json.dumps(data, default=_plain)
    except (TypeError, ValueError):
        return False
    np.save(folder / "frames.npy", np.stack(clip.frames), allow_pickle=False)
    if clip.sound is not None:
        np.save(folder / "sound.npy", np.asarray(clip.sound.samples, np.float32),
                allow_pickle=False)
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
    return Clip(frames=list(frames), fps=float(fps), metadata=data["metadata"],
                sound=_load_sound(folder, data.get("sound_rate")))


def _load_sound(folder: Path, rate) -> Sound | None:
    """The clip's sound, or None for a silent clip (and for caches written before
    clips carried sound)."""
    if rate is None:
        return None
    if not isinstance(rate, int) or isinstance(rate, bool) or not 0 < rate <= 384000:
        raise ValueError("clip.json has no usable sound rate")
    samples = np.load(folder / "sound.npy", allow_pickle=False)
    if samples.ndim != 2 or samples.dtype != np.float32 or not 0 < samples.shape[0] <= 8:
        raise ValueError("sound.npy does not hold float32 samples shaped (channels, n)")
    return Sound(samples=samples, sample_rate=rate)
