"""Timeline export: an OpenTimelineIO (.otio) file of the cut.

`write_timeline(path, name, shots, fps)` writes one video track with one clip
per shot, in order. Each clip references the shot's media file (an
ExternalReference whose available range is the whole file) and is trimmed to
the shot's in/out frames (source_range). What made the shot - identity score,
seed, backend, prompt - goes under `metadata["canvas_app"]` of the clip.

Media paths are written relative to the .otio file's folder when the media is
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from canvas_app.fileio import replacing

METADATA_KEY = "canvas_app"


@dataclass
class TimelineShot:
    name: str
    media_path: Path | str
    available_frames: int  # frames in the media file
    in_frame: int = 0  # first frame used
    out_frame: int | None = None  # one past the last frame used; None = available_frames
    metadata: dict[str, Any] = field(default_factory=dict)
    dissolve: int = 0  # frames of dissolve from the previous shot into this one (0 = a cut)

    def trim(self) -> tuple[int, int]:
        out_frame = self.available_frames if self.out_frame is None else int(self.out_frame)
        return int(self.in_frame), out_frame


def _plain(value: Any) -> Any:
    """Metadata OTIO can store: str, bool, int, float, None, lists and dicts of them."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
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
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Path):
        return value.as_posix()
    return str(value)


def _from_otio(value: Any) -> Any:
    """otio's AnyDictionary / AnyVector back to plain dicts and lists."""
    if hasattr(value, "items"):
        return {str(k): _from_otio(v) for k, v in value.items()}
    if isinstance(value, (str, bytes)):
        return value
    if hasattr(value, "__iter__"):
        return [_from_otio(v) for v in value]
    return value


def media_url(media_path: Path | str, timeline_dir: Path) -> str:
    """The target_url for a media file: relative if it lies inside `timeline_dir`.

    Media elsewhere (a sibling folder, another drive) gets an absolute file://
    URL: a "../" link breaks as soon as the .otio is moved on its own, for
    instance out of the staging folder it was written in."""
    import opentimelineio as otio

    media = Path(media_path).resolve()  # both sides resolved: symlinked folders agree
    root = Path(timeline_dir).resolve()
    try:
        relative = media.relative_to(root)
    except ValueError:
        return otio.url_utils.url_from_filepath(str(media))
    return urllib.parse.quote(relative.as_posix())


def media_path(timeline_path: str | Path, clip) -> Path:
    """Resolve an otio clip's ExternalReference to a local file path."""
    import opentimelineio as otio

    url = clip.media_reference.target_url
    path = Path(otio.url_utils.filepath_from_url(url))
    if urllib.parse.urlparse(url).scheme in ("", "file") and not path.is_absolute():
        path = Path(timeline_path).resolve().parent / path
    return path


def timecode_rate(fps: float) -> float:
    """A rate SMPTE timecode can count (what an EDL needs): fps itself, or the
    smallest whole multiple of it that is one (12 -> 24, 15 -> 30)."""
    import opentimelineio as otio

    valid = otio.opentime.RationalTime.is_valid_timecode_rate
    if valid(fps):
        return fps
    for multiple in range(2, 11):
        if valid(fps * multiple):
            return fps * multiple
    raise ValueError(f"no timecode rate is a whole multiple of {fps} fps")


def build_timeline(name: str, shots: Iterable[TimelineShot], fps: float, timeline_dir: Path,
                   metadata: dict[str, Any] | None = None, rate: float | None = None):
    """The otio Timeline for `shots`, with media URLs relative to `timeline_dir`.

    Frame numbers count at `fps`; `rate` (a whole multiple of fps) writes them
    at another rate, for formats that only know timecode rates."""
    import opentimelineio as otio

    fps = float(fps)
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    rate = float(rate or fps)
    factor = round(rate / fps)

    def at(frames: int):
        return otio.opentime.RationalTime(frames * factor, rate)

    timeline = otio.schema.Timeline(name=name)
    timeline.global_start_time = at(0)
    timeline.metadata[METADATA_KEY] = _plain({"fps": fps, **(metadata or {})})
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    shots = list(shots)
    for index, shot in enumerate(shots):
        in_frame, out_frame = shot.trim()
        # A dissolve of L frames sits on the cut point: it starts L//2 frames
        # before it (in_offset) and ends L - L//2 after (out_offset). The clips
        # end and start at the cut point; the media beyond is their handle.
        dissolve = shot.dissolve if index > 0 else 0
        head = dissolve // 2
        following = shots[index + 1].dissolve if index + 1 < len(shots) else 0
        tail = following - following // 2
        available = int(shot.available_frames)
        if available <= 0:
            raise ValueError(f"shot {shot.name!r}: the media has no frames")
        if not 0 <= in_frame < out_frame <= available:
            raise ValueError(f"shot {shot.name!r}: trim {in_frame}..{out_frame} is outside "
                             f"the media's 0..{available} frames")
        reference = otio.schema.ExternalReference(
            target_url=media_url(shot.media_path, timeline_dir),
            available_range=otio.opentime.TimeRange(
                start_time=at(0),
                duration=at(available)),
        )
        clip = otio.schema.Clip(
            name=shot.name or f"shot {index + 1}",
            media_reference=reference,
            source_range=otio.opentime.TimeRange(
                start_time=at(in_frame + head),
                duration=at(out_frame - in_frame - head - tail)),
        )
        clip.metadata[METADATA_KEY] = _plain(shot.metadata)
        # An EDL names media by reel (8 characters): one per shot, or all shots look alike.
        clip.metadata["cmx_3600"] = {"reel": f"SHOT{index + 1:03d}"}
        if dissolve > 0:
            track.append(otio.schema.Transition(
                name=f"Dissolve into {clip.name}",
                transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                in_offset=at(shot.dissolve // 2),
                out_offset=at(dissolve - dissolve // 2)))
        track.append(clip)
    return timeline


def write_timeline(path: str | Path, name: str, shots: Iterable[TimelineShot], fps: float, *,
                   metadata: dict[str, Any] | None = None, media_root: str | Path | None = None,
                   adapter_name: str = "otio_json") -> Path:
    """Write the cut as an .otio file (atomically: fileio.replacing).

    Media paths are made relative to `media_root`, by default the .otio's own
    folder. When writing into a staging folder that is moved into place later,
    pass the final folder, so that the links hold where the file ends up.
    `adapter_name` picks the format: otio_json, or through the adapter plugins
    cmx_3600 (EDL), fcp_xml (Final Cut Pro 7 XML) and fcpx_xml (FCPXML)."""
    import opentimelineio as otio

    path = Path(path)
    root = Path(media_root) if media_root is not None else (path.parent if str(path.parent) else Path("."))
    interchange = adapter_name != "otio_json"
    # EDL and the XMLs count in timecode, which knows only some rates, and
    # editors want absolute media paths in them (a project there lives elsewhere).
    rate = timecode_rate(float(fps)) if interchange else None
    timeline = build_timeline(name, list(shots), fps, Path("/nonexistent-root") if interchange
                              else root, metadata, rate=rate)
    with replacing(path, ".otio") as temp:
        otio.adapters.write_to_file(timeline, str(temp), adapter_name=adapter_name)
        if adapter_name == "fcpx_xml":  # that adapter leaves transitions out
            from canvas_app.media.exports.fcpxml_transitions import add_transitions

            add_transitions(temp, timeline)
    return path


def read_timeline(path: str | Path) -> list[TimelineShot]:
    """The shots of an .otio written by `write_timeline` (first video track)."""
    import opentimelineio as otio

    timeline = otio.adapters.read_from_file(str(path))
    shots = []
    for clip in timeline.video_tracks()[0].find_clips():
        fps = clip.source_range.duration.rate
        available = clip.media_reference.available_range
        start = int(round(clip.source_range.start_time.to_frames(fps)))
        shots.append(TimelineShot(
            name=clip.name,
            media_path=media_path(path, clip),
            available_frames=int(round(available.duration.to_frames(fps))) if available else 0,
            in_frame=start,
            out_frame=start + int(round(clip.source_range.duration.to_frames(fps))),
            metadata=_from_otio(clip.metadata.get(METADATA_KEY, {})),
        ))
    return shots
