"""A PNG sequence per shot: frames/<cut>_NN_<shot>/00001.png ..., as cut (trimmed).

Every frame carries how its shot was made (seed, model, score) and the
project graph in its PNG text chunks.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable


def write_frame_sequences(plan, folder: Path, shot_names: list[str], texts: list[dict],
                          on_frame: Callable[[int], None] | None = None) -> list[Path]:
    """One folder per shot under `folder`; returns the folders. A shot whose
    frames were coded as PNGs when it was rendered (shot_frames.py) gets those
    bytes with its text added: the same files, written without coding again."""
    from canvas_app.media.exports.shot_frames import (FRAME_PNG_LEVEL, png_frames, png_with_text,
                                                      text_chunks)
    from canvas_app.media.images import save_png

    folders, count = [], 0
    for index, shot in enumerate(plan.shots):
        shot_dir = folder / shot_names[index]
        shot_dir.mkdir(parents=True, exist_ok=True)
        coded = png_frames(shot.clip)
        chunks = text_chunks(texts[index]) if coded is not None else b""
        for number, frame_index in enumerate(range(shot.first, shot.last), start=1):
            path = shot_dir / f"{number:05d}.png"
            if coded is not None and coded[frame_index] is not None:
                path.write_bytes(png_with_text(coded[frame_index], chunks))
            else:
                save_png(shot.clip.frames[frame_index], path, texts[index], FRAME_PNG_LEVEL)
            count += 1
            if on_frame is not None:
                on_frame(count)
        folders.append(shot_dir)
    return folders
