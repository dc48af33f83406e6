"""The cut as a CMX 3600 EDL, written here rather than by the otio-cmx3600
adapter, whose dissolve length lands in the wrong columns (`D 012    `, read
as a cut by pycmx and Avid) and which writes no `FCM:` line.

Columns as CMX 3600 lays them out: event (3), reel (8), channels, transition
(`C`, or `D` and its length in frames right-aligned in its own 3 columns),
then source in/out and record in/out timecode, non-drop frame. A dissolve is
the usual two-line event: a zero-length line on the outgoing reel, then the
incoming reel with `D nnn`; the outgoing event ends where the dissolve starts.
Each shot's reel is the name its media file carries (`reel_name` tag) and the
`* FROM CLIP NAME:` / `* SOURCE FILE:` comments name the clip and its file
(relative to the EDL), which Resolve and Premiere use to find the media. The
sound is one stereo event (`AA`) under the whole cut.

Timecode counts at `timecode_fraction(fps)` (a 12 fps cut as 24 fps
timecode, each frame two timecode frames); source timecode counts the media's
seconds at that rate from 00:00:00:00, where the shot files' timecode tracks
start.
"""
from __future__ import annotations

import re
import urllib.parse
from fractions import Fraction
from pathlib import Path

from canvas_app.media.timeline_layout import (Placement, TimelineSound, media_url, reel_name,
                                       timecode_fraction)

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")


def timecode(frames: int, rate: Fraction) -> str:
    """Non-drop-frame SMPTE timecode of a frame count (29.97 counts as 30)."""
    per_second = round(rate)
    seconds, frame = divmod(int(frames), per_second)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours:02d}:{minute:02d}:{second:02d}:{frame:02d}"


def _line_text(text) -> str:
    """One line of an EDL: no control characters (a newline would start a
    statement of its own), nothing UTF-8 cannot hold."""
    text = _UNPRINTABLE.sub(" ", str(text))
    return text.encode("utf-8", "replace").decode("utf-8")


def _event(number: int, reel: str, channels: str, transition: str, length: str,
           source: tuple[str, str], record: tuple[str, str]) -> str:
    return (f"{number:03d}  {reel:<8} {channels:<4}  {transition:<4} {length:>3} "
            f"{source[0]} {source[1]} {record[0]} {record[1]}")


def _file_comment(media, root: Path) -> str:
    return f"* SOURCE FILE: {_line_text(urllib.parse.unquote(media_url(media, root)))}"


def edl_text(name: str, laid: list[Placement], fps: float, root: Path, *,
             sound: TimelineSound | None = None, size=None) -> str:
    from canvas_app.media.video import fps_fraction

    cut_rate = fps_fraction(fps)
    rate = timecode_fraction(fps)
    factor = int(rate / cut_rate)

    def record(frame: int) -> str:
        return timecode(frame * factor, rate)

    def source(placed: Placement, frame: int) -> str:
        return timecode(round(placed.source_at(frame, cut_rate) * rate), rate)

    lines = [f"TITLE: {_line_text(name)[:70]}", "FCM: NON-DROP FRAME", ""]
    number = 0
    for index, placed in enumerate(laid):
        number += 1
        # The EDL plays a whole dissolve in the incoming event: each event runs
        # from the start of its dissolve to the start of the next one.
        begin = placed.start if placed.dissolve else placed.record_in
        following = laid[index + 1] if index + 1 < len(laid) else None
        end = following.start if following and following.dissolve else placed.record_out
        take = (source(placed, begin), source(placed, end))
        if placed.dissolve:
            previous = laid[index - 1]
            held = source(previous, begin)
            lines.append(_event(number, previous.reel, "V", "C", "", (held, held),
                                (record(begin), record(begin))))
            lines.append(_event(number, placed.reel, "V", "D", f"{placed.dissolve * factor:03d}",
                                take, (record(begin), record(end))))
            lines.append("* EFFECT NAME: CROSS DISSOLVE")
            lines.append(f"* FROM CLIP NAME: {_line_text(previous.shot.name)}")
            lines.append(f"* TO CLIP NAME: {_line_text(placed.shot.name)}")
            lines.append(_file_comment(previous.shot.media_path, root))
        else:
            lines.append(_event(number, placed.reel, "V", "C", "", take,
                                (record(begin), record(end))))
            lines.append(f"* FROM CLIP NAME: {_line_text(placed.shot.name)}")
        lines.append(_file_comment(placed.shot.media_path, root))
        lines.append("")
    if sound is not None and laid:
        number += 1
        length = (record(0), record(laid[-1].record_out))
        lines.append(_event(number, sound_reel(name), "AA", "C", "", length, length))
        lines.append(f"* FROM CLIP NAME: {_line_text(Path(sound.media_path).name)}")
        lines.append(_file_comment(sound.media_path, root))
        lines.append("")
    return "\n".join(lines)


def sound_reel(cut_name: str) -> str:
    """The sound's reel: the shots' prefix and SND (FILMSND)."""
    return reel_name(cut_name, 0)[:-3] + "SND"
