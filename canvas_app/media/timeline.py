"""Timeline export: the cut as an OpenTimelineIO (.otio) file, a CMX 3600 EDL,
Final Cut Pro 7 XML or FCPXML.

`write_timeline(path, name, shots, fps)` writes one video track with one clip
per shot, in order, and with `sound=` an audio track holding the sound file
under the whole cut. The .otio goes through OpenTimelineIO; the EDL and the
two XMLs are written by this program's own writers (media/exports/edl.py,
xmeml.py, fcpxml.py) from the same `placements`, because the adapter
plugins' output did not conform (see docs/export.md). Each clip references the shot's media file (an
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
import re
import urllib.parse
from dataclasses import dataclass, field
from fractions import Fraction
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
    reel: str = ""  # the EDL reel name, also tagged in the media file; "" = SHOT001, ...
    media_fps: float = 0.0  # the media file's frame rate; 0 = the cut's
    size: tuple[int, int] | None = None  # the media's width and height; None = the cut's

    def trim(self) -> tuple[int, int]:
        out_frame = self.available_frames if self.out_frame is None else int(self.out_frame)
        return int(self.in_frame), out_frame


@dataclass
class TimelineSound:
    """A sound file laid under the whole cut from its first frame; its length
    is the cut's, any fade already in it (Sequence writes such a copy)."""
    media_path: Path | str
    seconds: float
    sample_rate: int = 48000
    channels: int = 2


@dataclass
class Placement:
    """Where a shot sits in the cut, in cut frames: its clip runs from cut point
    to cut point (record_in..record_out); a dissolve of `dissolve` frames into
    it is centred on record_in, the clips' media beyond the cut point being
    the handles under it. `source_in` is the media time (s) shown at record_in."""
    shot: TimelineShot
    reel: str
    media_fps: Fraction
    start: int  # where the shot first shows: the start of its dissolve
    record_in: int
    record_out: int
    source_in: Fraction
    dissolve: int

    def source_at(self, record_frame: int, fps: Fraction) -> Fraction:
        """Media time (s) shown at a record frame (at the cut's rate)."""
        return self.source_in + Fraction(record_frame - self.record_in) / fps


def reel_name(cut_name: str, index: int) -> str:
    """An 8-character CMX 3600 reel for shot `index` (0-based) of a cut:
    up to 5 letters or digits of its name and a 3-digit number (FILM001)."""
    prefix = re.sub(r"[^A-Z0-9]", "", cut_name.upper())[:5] or "SHOT"
    return f"{prefix}{index + 1:03d}"


_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def utf8_text(text) -> str:
    """Text UTF-8 can hold (what OTIO stores): a lone surrogate becomes U+FFFD."""
    return _SURROGATE.sub("\ufffd", str(text))


def xml_text(text) -> str:
    """Text an XML 1.0 file can hold: control characters (an ANSI escape) and
    lone surrogates, which no XML reader accepts, become U+FFFD."""
    return _NOT_XML.sub("\ufffd", str(text))


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


TIMECODE_RATES = tuple(Fraction(rate) for rate in (24, 25, 30, 48, 50, 60)) + tuple(
    Fraction(base * 1000, 1001) for base in (24, 30, 48, 60))


def timecode_fraction(fps: float) -> Fraction:
    """A rate SMPTE timecode counts (what an EDL and the NLEs' timelines need):
    fps itself, or the smallest whole multiple of it that is one (1 -> 24,
    12 -> 24, 15 -> 30). ValueError for a rate that has none (7, 9, 11 ...)."""
    from canvas_app.media.video import fps_fraction

    rate = fps_fraction(fps)
    for candidate in sorted(TIMECODE_RATES):
        multiple = candidate / rate
        if multiple.denominator == 1:
            return candidate
    raise ValueError(f"no timecode rate (24, 25, 30, 48, 50 or 60 fps, or 23.976, 29.97, "
                     f"47.95, 59.94) is a whole multiple of {float(fps):g} fps")


def timecode_rate(fps: float) -> float:
    """`timecode_fraction` as a float (12 -> 24.0)."""
    return float(timecode_fraction(fps))


def placements(shots: list[TimelineShot], fps: float, cut_name: str = "") -> list[Placement]:
    """Lay the shots end to end, dissolves overlapping, as the cut plays them.
    A shot whose media runs at another rate than the cut lasts as many cut
    frames as its seconds (held or dropped frames, as the cut's encode does)."""
    from canvas_app.media.video import fps_fraction

    rate = fps_fraction(fps)
    lengths, laid = [], []
    for index, shot in enumerate(shots):
        in_frame, out_frame = shot.trim()
        available = int(shot.available_frames)
        if available <= 0:
            raise ValueError(f"shot {shot.name!r}: the media has no frames")
        if not 0 <= in_frame < out_frame <= available:
            raise ValueError(f"shot {shot.name!r}: trim {in_frame}..{out_frame} is outside "
                             f"the media's 0..{available} frames")
        media_rate = fps_fraction(shot.media_fps) if shot.media_fps else rate
        count = out_frame - in_frame
        lengths.append(count if media_rate == rate else max(1, round(count * rate / media_rate)))
    start = 0
    for index, shot in enumerate(shots):
        dissolve = int(shot.dissolve) if index > 0 else 0
        start -= dissolve
        media_rate = fps_fraction(shot.media_fps) if shot.media_fps else rate
        record_in = start + dissolve // 2
        laid.append(Placement(
            shot=shot, reel=shot.reel or reel_name(cut_name or "shot", index),
            media_fps=media_rate, start=start, record_in=record_in, record_out=0,
            source_in=Fraction(shot.trim()[0]) / media_rate + Fraction(dissolve // 2) / rate,
            dissolve=dissolve))
        start += lengths[index]
    for index, placed in enumerate(laid):
        following = laid[index + 1] if index + 1 < len(laid) else None
        placed.record_out = following.record_in if following else start
        if placed.record_out <= placed.record_in:
            raise ValueError(f"shot {placed.shot.name!r}: its dissolves leave it no frames")
    return laid


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
