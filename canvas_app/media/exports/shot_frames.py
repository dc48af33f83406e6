"""A shot's frames coded for the cut's frame-by-frame exports as soon as it is rendered.

ProRes codes every frame on its own, and so does a PNG: what a frame of the
cut becomes in the ProRes file or the PNG frames depends on that frame alone.
So when a Sequence downstream asks for them (`wanted_by_sequences`), a shot's
frames are coded in the background while the next shot renders (beside its
H.264 shot file, `shot_files.ShotFile`), and the Sequence only writes the
bytes: the ProRes job encodes just the dissolves' frames
(`encode.EncodedFrame`), the PNG frames get their text chunks added
(`png_with_text`). The bytes are exactly those the Sequence would have written
(the same encoder with the same settings, checked by the tests).

Only the frames the cut shows as they are are coded: the Sequence's trims of
the shot, and for ProRes its dissolves, are read from the graph when the shot
is done. Whatever is missing when the Sequence runs (its trims were changed
since, a frame rate or size the cut conforms: `prores_frames` says None) the
Sequence codes itself, so the files never depend on that guess being right.
"""
from __future__ import annotations

import struct

FRAME_EXPORTS = ("prores", "frames")  # the exports coded frame by frame
# The PNG frames' zlib level, 1: a third less CPU than the level 3 of stills for about 6 % more
# bytes (the pixels are the same: PNG is lossless), docs/export.md. Frames are the bulk of an export.
FRAME_PNG_LEVEL = 1


WHOLE = (0.0, None, 0.0, 0.0)  # a span: in, out (None: the end), dissolve in, dissolve out, seconds


def wanted_by_sequences(graph, node_id: str) -> dict[str, tuple]:
    """Which of FRAME_EXPORTS the Sequences downstream of `node_id` will write,
    each with the span of the shot they show as it is (`span_frames`): what
    its trims cut off, and for ProRes its dissolves too, is not coded ahead.
    A shot that reaches a Sequence through other nodes, or two, is coded whole."""
    from canvas_app.media.exports.options import param_name

    if graph is None or node_id not in graph.nodes:
        return {}
    wanted: dict[str, list[tuple]] = {}
    for other in graph.downstream_ids(node_id):
        node = graph.nodes.get(other)
        if node is None or node.type_name != "Sequence":
            continue
        trims = _sequence_span(graph, node, node_id)
        for key in FRAME_EXPORTS:
            if node.params.get(param_name(key)):
                span = trims if key == "prores" else trims[:2] + (0.0, 0.0)
                wanted.setdefault(key, []).append(span)
    return {key: spans[0] if len(spans) == 1 else WHOLE
            for key, spans in ((key, wanted[key]) for key in FRAME_EXPORTS if key in wanted)}


def _sequence_span(graph, sequence, node_id: str) -> tuple:
    """In, out, dissolve in and out of `node_id`'s shot in `sequence` (seconds)."""
    links = graph.links_into(sequence.id, "clips")
    places = [index for index, link in enumerate(links) if link.src == node_id]
    trims = sequence.params.get("trims") or []
    if len(places) != 1:
        return WHOLE
    index = places[0]

    def trim(at):
        value = trims[at] if 0 <= at < len(trims) else None
        return value if isinstance(value, dict) else {}

    try:
        here, after = trim(index), trim(index + 1)
        out = here.get("out")
        return (float(here.get("in") or 0.0), None if out is None else float(out),
                float(here.get("dissolve") or 0.0) if index else 0.0,
                float(after.get("dissolve") or 0.0) if index + 1 < len(links) else 0.0)
    except (TypeError, ValueError):  # the Sequence says what is wrong when it runs
        return WHOLE


def span_frames(span: tuple, count: int, fps: float) -> range:
    """The frames of a `count`-frame shot at `fps` that `span` shows as they are,
    counted as the Sequence counts them (Sequence._trim_frames, the cut's dissolves
    at the shot's own rate: the only rate at which its coded frames are used)."""
    start, end, dissolve_in, dissolve_out = span
    first = int(round(start * fps))
    last = count if end is None else min(count, int(round(end * fps)))
    first, last = first + int(round(dissolve_in * fps)), last - int(round(dissolve_out * fps))
    return range(max(0, first), min(count, last)) if first < last else range(0, count)


def code_frames(kind: str, frames: list, fps: float, span: tuple = WHOLE) -> list[bytes | None]:
    """A shot's frames coded for `kind` (run on the shot-encode threads): those
    `span` shows as they are; None for the others (the Sequence codes one of
    those itself if it needs it after all: its trims were changed)."""
    shown = span_frames(span, len(frames), fps)
    height, width = frames[0].shape[:2] if frames else (0, 0)
    if kind == "prores" and (width % 2 or height % 2):
        return [None] * len(frames)  # the cut pads it to even: it codes those frames itself
    if kind == "prores":
        from canvas_app.media.exports.encode import encode_frames

        coded = encode_frames([frames[index] for index in shown], fps, "prores")
    elif kind == "frames":
        from canvas_app.media.images import png_bytes

        coded = [png_bytes(frames[index], level=FRAME_PNG_LEVEL) for index in shown]
    else:
        raise ValueError(f"{kind} is not coded frame by frame")
    every: list[bytes | None] = [None] * len(frames)
    every[shown.start:shown.stop] = coded
    return every


def coded_ahead(clip, kind: str) -> bool:
    """Whether the clip's frames are coded (or being coded) for `kind` already."""
    shot_file = getattr(clip, "shot_file", None)
    return shot_file is not None and shot_file.matches(clip) and shot_file.coding(kind)


def release(clips) -> None:
    """The clips' coded frames are written: their memory is given back."""
    for clip in clips:
        shot_file = getattr(clip, "shot_file", None)
        if shot_file is not None:
            shot_file.release_coded()


def prores_frames(plan, index: int) -> list[bytes] | None:
    """Shot `index`'s frames as ProRes coded when it was rendered, when the cut
    shows them as they are (same size and rate); None otherwise."""
    shot = plan.shots[index]
    clip = shot.clip
    if abs(float(clip.fps) - plan.fps) > 1e-9 or tuple(clip.size) != tuple(plan.size) \
            or plan.size[0] % 2 or plan.size[1] % 2:
        return None
    return _coded(clip, "prores")


def png_frames(clip) -> list[bytes] | None:
    """The clip's frames as PNGs without text, coded when it was rendered (or None)."""
    return _coded(clip, "frames")


def _coded(clip, kind: str) -> list[bytes] | None:
    shot_file = getattr(clip, "shot_file", None)
    if shot_file is None or not shot_file.matches(clip):
        return None
    coded = shot_file.coded(kind)
    return coded if coded is not None and len(coded) == len(clip.frames) else None


def png_with_text(png: bytes, text_chunks: bytes) -> bytes:
    """A PNG with text chunks put where Pillow puts them: before the image data."""
    at = _first_chunk(png, b"IDAT")
    return png[:at] + text_chunks + png[at:]


def text_chunks(text: dict[str, str]) -> bytes:
    """The chunks `images.save_png` writes for `text` (taken from a 1x1 PNG it
    writes, so they are its own), without the sRGB chunk every PNG has."""
    import numpy as np

    from canvas_app.media.images import png_bytes

    tiny = png_bytes(np.zeros((1, 1, 3), np.uint8), text)
    start, end = _first_chunk(tiny, b"IHDR"), _first_chunk(tiny, b"IDAT")
    chunks, position = [], start
    while position < end:
        length, kind = struct.unpack(">I4s", tiny[position:position + 8])
        size = 12 + length
        if kind not in (b"IHDR", b"sRGB"):
            chunks.append(tiny[position:position + size])
        position += size
    return b"".join(chunks)


def _first_chunk(png: bytes, kind: bytes) -> int:
    position = 8  # after the signature
    while position + 8 <= len(png):
        length, found = struct.unpack(">I4s", png[position:position + 8])
        if found == kind:
            return position
        position += 12 + length
    raise ValueError(f"this PNG has no {kind.decode()} chunk")
