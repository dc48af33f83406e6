"""How a cut lies on a timeline, shared by every timeline writer.

`placements(shots, fps)` lays the shots end to end as the cut plays them
(dissolves overlapping, centred on the cut points); `timecode_fraction` is the
rate the EDL and the NLE timelines count at; `media_url` makes a media path
relative to the timeline's folder; `reel_name`, `xml_text` and `utf8_text`
keep names to what each format can hold. media/timeline.py (the .otio and
the dispatch) and media/exports/edl.py, xmeml.py, fcpxml.py (the writers)
build on it.
"""
from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

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


TIMECODE_RATES = tuple(Fraction(rate) for rate in (24, 25, 30, 48, 50, 60)) + tuple(
    Fraction(base * 1000, 1001) for base in (24, 30, 48, 60))


def timecode_fraction(fps: float) -> Fraction:
    """A rate SMPTE timecode counts (what an EDL and the NLEs' timelines need):
    fps itself, or the smallest whole multiple of it that is one (1 -> 24,
    12 -> 24, 15 -> 30). ValueError for a rate that has none (7, 9, 11 ...)."""
    from canvas_app.media.video import fps_fraction

    rate = fps_fraction(fps)
    if rate <= 0:  # a rate too small to write as a fraction of a thousandth
        raise ValueError(f"no timecode rate is a whole multiple of {float(fps):g} fps")
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
