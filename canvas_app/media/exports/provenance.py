"""The project graph inside what it made, and back out again.

Exported stills, frames and contact sheets carry the project (the same JSON
as a .canvas.json file, paths relative to the output folder so that a copied
folder still resolves them) in a PNG text chunk named `canvas_app_graph`; MP4
and MOV files carry it as a container metadata tag of the same name.
`graph_in_file(path)` reads it back from any of them, so `canvas-app open
shot.png` (or dropping the file on the canvas) opens the graph that made it,
as ComfyUI does with its PNGs.

A graph read from a file is untrusted input: its size is bounded, its chunks
are read without Pillow's text limits (which raised instead of saying so), and
the files it names are confined to its export folder (`export_root`) unless the
user agrees to more (see canvas_app/project/io.py).
"""
from __future__ import annotations

import json
import re
import struct
import zlib
from pathlib import Path
from typing import Any

from canvas_app.errors import BadInput

KEY = "canvas_app_graph"
MAX_GRAPH_BYTES = 16 * 1024 * 1024  # a 3-shot project is about 10 kB
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_SUFFIXES = (".png",)
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v")
MEDIA_SUFFIXES = PNG_SUFFIXES + VIDEO_SUFFIXES


def graph_json(graph, output_dir: str | Path | None = None) -> str:
    """The project graph as compact JSON, paths relative to `output_dir` (the
    export's folder; absolute without one)."""
    from canvas_app.project.format import graph_to_dict

    base = Path(output_dir).resolve() if output_dir is not None else None
    text = json.dumps(graph_to_dict(graph, base), separators=(",", ":"), ensure_ascii=False)
    # A lone surrogate (a title pasted from a broken file name) cannot be
    # written as UTF-8 into a PNG or an MP4 tag: escape it, as ensure_ascii
    # would, so the JSON stays exact and everything else stays readable.
    return _LONE_SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def export_root(path: str | Path) -> Path:
    """The export folder a PNG or video belongs to: the nearest folder, from its
    own up to two above (shots/, frames/<cut>/), that holds an export manifest
    (`.<cut>.export.json`); its own folder when none does (a file copied alone).
    Relative paths in its graph start there, and its graph may read files
    inside it without asking."""
    folder = Path(path).resolve().parent
    for candidate in (folder, folder.parent, folder.parent.parent):
        try:
            if any(candidate.glob(".*.export.json")):
                return candidate
        except OSError:
            continue
    return folder


def _png_text(path: Path) -> str | None:
    """The graph chunk of a PNG (tEXt, zTXt or iTXt), read chunk by chunk and
    bounded; None when there is none."""
    from canvas_app.fileio import open_regular

    with open_regular(path) as stream:
        if stream.read(8) != PNG_SIGNATURE:
            raise BadInput("not a readable PNG (no PNG signature)", file=str(path))
        prefix = KEY.encode("latin-1") + b"\0"
        while True:
            head = stream.read(8)
            if len(head) < 8:
                return None
            length, kind = struct.unpack(">I4s", head)
            if kind == b"IEND":
                return None
            if kind not in (b"tEXt", b"zTXt", b"iTXt") or length < len(prefix):
                stream.seek(length + 4, 1)  # the data and its CRC
                continue
            start = stream.read(len(prefix))
            if start != prefix:
                stream.seek(length - len(prefix) + 4, 1)
                continue
            if length > MAX_GRAPH_BYTES:
                raise BadInput(f"its canvas-app graph is larger than {MAX_GRAPH_BYTES // 2**20} MB",
                               file=str(path))
            data = stream.read(length - len(prefix))
            return _decode_text_chunk(kind, data, path)


def _inflate(data: bytes, path: Path) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, MAX_GRAPH_BYTES + 1)
    except zlib.error:
        raise BadInput("its canvas-app graph chunk is damaged (bad compression)",
                       file=str(path)) from None
    if len(out) > MAX_GRAPH_BYTES:
        raise BadInput(f"its canvas-app graph is larger than {MAX_GRAPH_BYTES // 2**20} MB "
                       "uncompressed", file=str(path))
    return out


def _decode_text_chunk(kind: bytes, data: bytes, path: Path) -> str:
    if kind == b"tEXt":
        return data.decode("latin-1")
    if kind == b"zTXt":
        return _inflate(data[1:], path).decode("latin-1")
    # iTXt: compression flag, method, language tag NUL, translated keyword NUL, text
    flag = data[:1] == b"\1"
    parts = data[2:].split(b"\0", 2)
    text = parts[2] if len(parts) == 3 else b""
    try:
        return (_inflate(text, path) if flag else text).decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput("its canvas-app graph is not valid UTF-8", file=str(path)) from None


def is_media(path: str | Path) -> bool:
    return Path(path).suffix.lower() in MEDIA_SUFFIXES


def read_text(path: str | Path) -> str | None:
    """The raw graph JSON stored in a PNG or video, or None when it has none."""
    path = Path(path)
    if not path.is_file():
        raise BadInput("file not found", file=str(path))
    if path.suffix.lower() in PNG_SUFFIXES:
        try:
            return _png_text(path)
        except OSError as error:
            raise BadInput(f"not a readable PNG ({error.strerror or error.__class__.__name__})",
                           file=str(path)) from None
    import av

    try:
        # Another program's tag in a foreign encoding must not stop the graph from opening.
        with av.open(str(path), metadata_errors="replace") as container:
            text = container.metadata.get(KEY)
    except (av.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise BadInput(f"not a readable video ({error.__class__.__name__})",
                       file=str(path)) from None
    if text is not None and len(text) > MAX_GRAPH_BYTES:
        raise BadInput(f"its canvas-app graph is larger than {MAX_GRAPH_BYTES // 2**20} MB",
                       file=str(path))
    return text


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
    except RecursionError:
        raise BadInput("its canvas-app graph is nested far too deep", file=str(path)) from None
    except ValueError as error:  # e.g. an integer of more than 4300 digits
        raise BadInput(f"its canvas-app graph is not valid JSON ({error})", file=str(path)) from None
    if not isinstance(data, dict):
        raise BadInput("its canvas-app graph is not a JSON object", file=str(path))
    return data


def has_graph(path: str | Path) -> bool:
    try:
        return is_media(path) and bool(read_text(path))
    except BadInput:
        return False
