"""The cut as Final Cut Pro 7 XML (xmeml version 4), for Premiere Pro and Resolve.

Written here rather than by the otio-fcp adapter, which declared every file at
the sequence's rate, gave clipitems durations that were neither their media's
nor their span, wrote `<rate>` twice per clipitem, an empty `<format/>`, an
`<audio/>` placeholder on silent media and no DOCTYPE.

What each element means here (as Final Cut Pro 7 writes them):
- sequence `<rate>`: the timeline's timecode rate (`timecode_fraction`);
  `<start>`/`<end>` of clipitems and transitions count at it.
- clipitem and its `<file>`: one `<rate>` each, the media file's own, and
  `<duration>` the media's length in its frames; `<in>`/`<out>` count the
  media's frames too.
- a dissolve is a `<transitionitem>` centred on the cut (Cross Dissolve),
  the clipitems meeting at the cut point over their handles.
- the sound is a clipitem on the audio track, the whole cut long, its file
  in the output folder (stereo, 48 kHz).
Media are referenced by `<pathurl>` relative to the XML file's folder when
they lie inside it, so the folder can be moved or copied whole.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

from canvas_app.media.timeline_layout import (Placement, TimelineSound, media_url, timecode_fraction,
                                       xml_text)


def _sub(parent, tag: str, text=None, **attributes):
    element = ET.SubElement(parent, tag, {key: xml_text(value) for key, value in attributes.items()})
    if text is not None:
        element.text = xml_text(text)
    return element


def _rate(parent, rate: Fraction) -> None:
    """`<rate>`: a whole timebase, NTSC flagged (23.976 = 24 NTSC)."""
    element = _sub(parent, "rate")
    ntsc = rate.denominator == 1001
    _sub(element, "timebase", str(round(rate)))
    _sub(element, "ntsc", "TRUE" if ntsc else "FALSE")


def _timecode(parent, rate: Fraction) -> None:
    element = _sub(parent, "timecode")
    _rate(element, rate)
    _sub(element, "string", "00:00:00:00")
    _sub(element, "frame", "0")
    _sub(element, "displayformat", "NDF")


def _video_format(parent, rate: Fraction, size) -> None:
    _sample_characteristics(_sub(parent, "format"), rate, size)


def _sample_characteristics(parent, rate: Fraction, size) -> None:
    """Rate, frame size and square progressive pixels: a sequence's format and a file's video."""
    characteristics = _sub(parent, "samplecharacteristics")
    _rate(characteristics, rate)
    _sub(characteristics, "width", str(int(size[0])))
    _sub(characteristics, "height", str(int(size[1])))
    _sub(characteristics, "anamorphic", "FALSE")
    _sub(characteristics, "pixelaspectratio", "square")
    _sub(characteristics, "fielddominance", "none")


def _media_frames(placed: Placement) -> int:
    return int(placed.shot.available_frames)


def xmeml_text(name: str, laid: list[Placement], fps: float, root: Path, *,
               sound: TimelineSound | None = None, size=(1920, 1080)) -> str:
    from canvas_app.media.video import fps_fraction

    cut_rate = fps_fraction(fps)
    rate = timecode_fraction(fps)
    factor = int(rate / cut_rate)
    total = (laid[-1].record_out if laid else 0) * factor

    document = ET.Element("xmeml", {"version": "4"})
    sequence = _sub(document, "sequence", id="sequence-1")
    _sub(sequence, "name", name)
    _sub(sequence, "duration", str(total))
    _rate(sequence, rate)
    _timecode(sequence, rate)
    media = _sub(sequence, "media")
    video = _sub(media, "video")
    _video_format(video, rate, size)
    track = _sub(video, "track")
    for index, placed in enumerate(laid):
        if placed.dissolve:
            half = placed.dissolve // 2
            transition = _sub(track, "transitionitem")
            _sub(transition, "start", str((placed.record_in - half) * factor))
            _sub(transition, "end", str((placed.record_in - half + placed.dissolve) * factor))
            _sub(transition, "alignment", "center")
            _rate(transition, rate)
            effect = _sub(transition, "effect")
            for tag, text in (("name", "Cross Dissolve"), ("effectid", "Cross Dissolve"),
                              ("effectcategory", "Dissolve"), ("effecttype", "transition"),
                              ("mediatype", "video")):
                _sub(effect, tag, text)
        media_rate = placed.media_fps
        shot = placed.shot
        clip = _sub(track, "clipitem", id=f"clipitem-{index + 1}")
        _sub(clip, "name", shot.name)
        _sub(clip, "enabled", "TRUE")
        _sub(clip, "duration", str(_media_frames(placed)))
        _rate(clip, media_rate)
        _sub(clip, "start", str(placed.record_in * factor))
        _sub(clip, "end", str(placed.record_out * factor))
        source_in = round(placed.source_in * media_rate)
        source_out = round(placed.source_at(placed.record_out, cut_rate) * media_rate)
        _sub(clip, "in", str(source_in))
        _sub(clip, "out", str(source_out))
        _file(clip, f"file-{index + 1}", Path(shot.media_path), root, media_rate,
              _media_frames(placed), size=shot.size or size)
    audio = _sub(media, "audio")
    _sub(audio, "numOutputChannels", "2")
    characteristics = _sub(_sub(audio, "format"), "samplecharacteristics")
    _sub(characteristics, "depth", "16")
    _sub(characteristics, "samplerate", "48000")
    if sound is not None and laid:
        audio_track = _sub(audio, "track")
        clip = _sub(audio_track, "clipitem", id="clipitem-sound")
        _sub(clip, "name", Path(sound.media_path).name)
        _sub(clip, "enabled", "TRUE")
        _sub(clip, "duration", str(total))
        _rate(clip, rate)
        _sub(clip, "start", "0")
        _sub(clip, "end", str(total))
        _sub(clip, "in", "0")
        _sub(clip, "out", str(total))
        _file(clip, "file-sound", Path(sound.media_path), root, rate, total, sound=sound)
        source = _sub(clip, "sourcetrack")
        _sub(source, "mediatype", "audio")
        _sub(source, "trackindex", "1")
    ET.indent(document, space="  ")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xmeml>\n' +
            ET.tostring(document, encoding="unicode") + "\n")


def _file(parent, file_id: str, path: Path, root: Path, rate: Fraction, frames: int, *,
          size=None, sound: TimelineSound | None = None) -> None:
    """A `<file>`: its own rate and length, and only the media it really has
    (the shot files are silent: no audio element; the sound has no picture)."""
    element = _sub(parent, "file", id=file_id)
    _sub(element, "name", path.name)
    _sub(element, "pathurl", media_url(path, root))
    _rate(element, rate)
    _sub(element, "duration", str(frames))
    _timecode(element, rate)
    media = _sub(element, "media")
    if sound is None:
        _sample_characteristics(_sub(media, "video"), rate, size)
    else:
        audio = _sub(media, "audio")
        characteristics = _sub(audio, "samplecharacteristics")
        _sub(characteristics, "depth", "16")
        _sub(characteristics, "samplerate", str(int(sound.sample_rate)))
        _sub(audio, "channelcount", str(int(sound.channels)))
