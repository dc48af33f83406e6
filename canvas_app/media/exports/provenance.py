"""The project graph inside what it made, and back out again.

Exported stills, frames and contact sheets carry the project (the same JSON
as a .canvas.json file, paths absolute so it opens from anywhere) in a PNG
text chunk named `canvas_app_graph`; MP4 and MOV files carry it as a
container metadata tag of the same name. `graph_in_file(path)` reads it back
from any of them, so `canvas-app open shot.png` (or dropping the file on the
canvas) opens the graph that made it, as ComfyUI does with its PNGs.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from canvas_app.errors import BadInput

KEY = "canvas_app_graph"
PNG_SUFFIXES = (".png",)
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v")
MEDIA_SUFFIXES = PNG_SUFFIXES + VIDEO_SUFFIXES


def graph_json(graph) -> str:
    """The project graph as compact JSON, paths absolute."""
    from canvas_app.project.format import graph_to_dict

    text = json.dumps(graph_to_dict(graph, None), separators=(",", ":"), ensure_ascii=False)
    # A lone surrogate (a title pasted from a broken file name) cannot be
    # written as UTF-8 into a PNG or an MP4 tag: escape it, as ensure_ascii
    # would, so the JSON stays exact and everything else stays readable.
    return _LONE_SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def is_media(path: str | Path) -> bool:
    return Path(path).suffix.lower() in MEDIA_SUFFIXES


def read_text(path: str | Path) -> str | None:
    """The raw graph JSON stored in a PNG or video, or None when it has none."""
    path = Path(path)
    if not path.is_file():
        raise BadInput("file not found", file=str(path))
    if path.suffix.lower() in PNG_SUFFIXES:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as image:
                return getattr(image, "text", {}).get(KEY)
        except (UnidentifiedImageError, OSError) as error:
            raise BadInput(f"not a readable PNG ({error.__class__.__name__})",
                           file=str(path)) from None
    import av

    try:
        with av.open(str(path)) as container:
            return container.metadata.get(KEY)
    except (av.FFmpegError, OSError) as error:
        raise BadInput(f"not a readable video ({error.__class__.__name__})",
                       file=str(path)) from None


def graph_in_file(path: str | Path) -> dict[str, Any]:
    """The project dict stored in a PNG or video; BadInput when there is none."""
    text = read_text(path)
    if not text:
        raise BadInput("holds no canvas-app graph (only stills, frames, contact sheets and "
                       "videos exported by canvas-app do)", file=str(path))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadInput(f"its canvas-app graph is not valid JSON ({error.msg})",
                       file=str(path)) from None
    if not isinstance(data, dict):
        raise BadInput("its canvas-app graph is not a JSON object", file=str(path))
    return data


def has_graph(path: str | Path) -> bool:
    try:
        return is_media(path) and bool(read_text(path))
    except BadInput:
        return False
