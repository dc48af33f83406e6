"""Timeline export: the cut as an OpenTimelineIO (.otio) file, a CMX 3600 EDL,
Final Cut Pro 7 XML or FCPXML.

`write_timeline(path, name, shots, fps)` writes one video track with one clip
per shot, in order, and with `sound=` an audio track holding the sound file
under the whole cut. The .otio goes through OpenTimelineIO; the EDL and the
two XMLs are written by this program's own writers (media/exports/edl.py,
xmeml.py, fcpxml.py) from the same `placements`, because the adapter
plugins' output did not conform (see docs/export.md). Each clip references
the shot's media file (an ExternalReference whose available range is the
whole file, at the media's own rate) and is trimmed to the shot's in/out
frames (source_range). What made the shot - identity score, seed, backend,
prompt - goes under `metadata["canvas_app"]` of the clip.

Media paths are written relative to the timeline file's folder when the media is
inside it (as percent-encoded relative URL references, e.g.
"shots/shot%2001.mp4"), so an export folder can be moved or shared as a
whole; otherwise as absolute file:// URLs. An .otio written in a staging
folder and moved into place afterwards should pass `media_root=` (the final
folder) to keep relative links. `otio.url_utils.filepath_from_url`
decodes both; `media_path(timeline_path, clip)` resolves them to a local path.

Frame numbers: `in_frame` is the first frame used, `out_frame` is one past
the last (so the clip lasts `out_frame - in_frame` frames), both counted from
the first frame of the media file.
"""
from __future__ import annotations

import math
import urllib.parse
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from canvas_app.fileio import replacing
from canvas_app.media.timeline_layout import (  # noqa: F401  (some re-exported for callers)
    TimelineShot, TimelineSound, media_url, placements, reel_name, timecode_fraction,
    timecode_rate, utf8_text)

METADATA_KEY = "canvas_app"


def _plain(value: Any) -> Any:
    """Metadata OTIO can store: str, bool, int, float, None, lists and dicts of them."""
    if isinstance(value, dict):
        return {utf8_text(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        # float32 scores print as 0.9, not 0.8999999761581421.
        value = float(str(value)) if isinstance(value, np.floating) else float(value)
        return value if math.isfinite(value) else None
    if value is None:
        return value
    if isinstance(value, Path):
        return utf8_text(value.as_posix())
    return utf8_text(value)


def _from_otio(value: Any) -> Any:
    """otio's AnyDictionary / AnyVector back to plain dicts and lists."""
    if hasattr(value, "items"):
        return {str(k): _from_otio(v) for k, v in value.items()}
    if isinstance(value, (str, bytes)):
        return value
    if hasattr(value, "__iter__"):
        return [_from_otio(v) for v in value]
    return value


def media_path(timeline_path: str | Path, clip) -> Path:
    """Resolve an otio clip's ExternalReference to a local file path."""
    import opentimelineio as otio

    url = clip.media_reference.target_url
    path = Path(otio.url_utils.filepath_from_url(url))
    if urllib.parse.urlparse(url).scheme in ("", "file") and not path.is_absolute():
        path = Path(timeline_path).resolve().parent / path
    return path


def build_timeline(name: str, shots: Iterable[TimelineShot], fps: float, timeline_dir: Path,
                   metadata: dict[str, Any] | None = None, sound: TimelineSound | None = None):
    """The otio Timeline for `shots`, media URLs relative to `timeline_dir`;
    frames count at `fps`, and a shot's media at its own rate (media_fps)."""
    import opentimelineio as otio

    fps = float(fps)
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")

    def at(frames, rate=fps):
        return otio.opentime.RationalTime(frames, rate)

    timeline = otio.schema.Timeline(name=utf8_text(name))
    timeline.global_start_time = at(0)
    timeline.metadata[METADATA_KEY] = _plain({"fps": fps, **(metadata or {})})
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    laid = placements(list(shots), fps, name)
    for index, placed in enumerate(laid):
        shot, media_rate = placed.shot, float(placed.media_fps)
        # The clip runs from cut point to cut point; a dissolve of L frames is
        # centred on the cut: L//2 frames before it (in_offset), the rest after.
        reference = otio.schema.ExternalReference(
            target_url=media_url(shot.media_path, timeline_dir),
            available_range=otio.opentime.TimeRange(
                start_time=at(0, media_rate), duration=at(int(shot.available_frames), media_rate)))
        clip = otio.schema.Clip(
            name=utf8_text(shot.name or f"shot {index + 1}"), media_reference=reference,
            source_range=otio.opentime.TimeRange(
                start_time=at(float(placed.source_in * placed.media_fps), media_rate),
                duration=at(placed.record_out - placed.record_in)))
        clip.metadata[METADATA_KEY] = _plain(shot.metadata)
        clip.metadata["cmx_3600"] = {"reel": placed.reel}  # the reel its media file is tagged with
        if placed.dissolve > 0:
            track.append(otio.schema.Transition(
                name=f"Dissolve into {clip.name}",
                transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                in_offset=at(placed.dissolve // 2),
                out_offset=at(placed.dissolve - placed.dissolve // 2)))
        track.append(clip)
    if sound is not None:
        audio = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
        length = at(laid[-1].record_out if laid else 0)
        audio.append(otio.schema.Clip(
            name=Path(sound.media_path).name,
            media_reference=otio.schema.ExternalReference(
                target_url=media_url(sound.media_path, timeline_dir),
                available_range=otio.opentime.TimeRange(at(0), length)),
            source_range=otio.opentime.TimeRange(at(0), length)))
        timeline.tracks.append(audio)
    return timeline


def _writers() -> dict:
    from canvas_app.media.exports import edl, fcpxml, xmeml

    return {"cmx_3600": edl.edl_text, "fcp_xml": xmeml.xmeml_text, "fcpx_xml": fcpxml.fcpxml_text}


def write_timeline(path: str | Path, name: str, shots: Iterable[TimelineShot], fps: float, *,
                   metadata: dict[str, Any] | None = None, media_root: str | Path | None = None,
                   adapter_name: str = "otio_json", sound: TimelineSound | None = None,
                   size: tuple[int, int] | None = None) -> Path:
    """Write the cut as a timeline file (atomically: fileio.replacing).

    Media paths are made relative to `media_root`, by default the file's own
    folder. When writing into a staging folder that is moved into place later,
    pass the final folder, so that the links hold where the file ends up.
    `adapter_name` picks the format: otio_json (.otio), cmx_3600 (EDL),
    fcp_xml (Final Cut Pro 7 XML) or fcpx_xml (FCPXML 1.8). `sound` adds an
    audio track; `size` is the cut's frame size (the XMLs' sequence format)."""
    import opentimelineio as otio

    path = Path(path)
    root = Path(media_root) if media_root is not None else (path.parent if str(path.parent) else Path("."))
    shots = list(shots)
    if adapter_name == "otio_json":
        timeline = build_timeline(name, shots, fps, root, metadata, sound=sound)
        with replacing(path, ".otio") as temp:
            otio.adapters.write_to_file(timeline, str(temp), adapter_name=adapter_name)
        return path
    writers = _writers()
    if adapter_name not in writers:
        raise ValueError(f"unknown timeline format {adapter_name!r}; choose otio_json, "
                         f"{', '.join(writers)}")
    laid = placements(shots, fps, name)
    if size is None:
        size = shots[0].size if shots and shots[0].size else (1920, 1080)
    text = writers[adapter_name](name, laid, float(fps), root, sound=sound, size=size)
    with replacing(path, path.suffix or ".timeline") as temp:
        Path(temp).write_text(text, encoding="utf-8")
    return path


def read_timeline(path: str | Path) -> list[TimelineShot]:
    """The shots of an .otio written by `write_timeline` (first video track)."""
    import opentimelineio as otio

    timeline = otio.adapters.read_from_file(str(path))
    shots = []
    for clip in timeline.video_tracks()[0].find_clips():
        available = clip.media_reference.available_range
        media_rate = available.duration.rate if available else clip.source_range.duration.rate
        start = int(round(clip.source_range.start_time.to_frames(media_rate)))
        shots.append(TimelineShot(
            name=clip.name,
            media_path=media_path(path, clip),
            available_frames=int(round(available.duration.to_frames(media_rate))) if available else 0,
            in_frame=start,
            out_frame=start + int(round(clip.source_range.duration.to_seconds() * media_rate)),
            metadata=_from_otio(clip.metadata.get(METADATA_KEY, {})),
            media_fps=float(media_rate),
        ))
    return shots
