"""A PNG sequence per shot: frames/<cut>_NN_<shot>/00001.png ..., as cut (trimmed).

Every frame carries how its shot was made (seed, model, score) and the
project graph in its PNG text chunks.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable


def write_frame_sequences(plan, folder: Path, shot_names: list[str], texts: list[dict],
                          on_frame: Callable[[int], None] | None = None) -> list[Path]:
    """One folder per shot under `folder`; returns the folders."""
    from canvas_app.media.images import save_png

    folders, count = [], 0
    for index, shot in enumerate(plan.shots):
        shot_dir = folder / shot_names[index]
        shot_dir.mkdir(parents=True, exist_ok=True)
        for number, frame_index in enumerate(range(shot.first, shot.last), start=1):
            save_png(shot.clip.frames[frame_index], shot_dir / f"{number:05d}.png", texts[index])
            count += 1
            if on_frame is not None:
                on_frame(count)
        folders.append(shot_dir)
    return folders
