"""The cut as FCPXML 1.8, for Final Cut Pro 10/11 and Resolve.

Written here rather than by the otio-fcpx-xml adapter, which left `<format>`
without width, height or name, applied the sequence's frame duration to
assets of another rate, wrote no transitions, `uid=""`, and built XPath
queries from clip names (an apostrophe in a title broke the export).

- resources: the sequence's `<format>` (name, frameDuration at the timeline's
  timecode rate, width, height, colorSpace as the MP4s are tagged), one
  `<format>` per media frame rate and size, the Cross Dissolve `<effect>`,
  one `<asset>` per file (its own format, start and duration).
- the spine: an `<asset-clip>` per shot from cut point to cut point, and a
  `<transition>` (Cross Dissolve) centred on each dissolving cut.
- the sound: an `<asset-clip>` anchored below the first shot (lane -1) for
  the whole cut.
Times are rational seconds; media `src` is relative to the .fcpxml's folder
when the media lies inside it ("./shots/...", which Apple's FCPXML reference
allows: "a relative URL based on the location of the FCPXML document
itself"), so the folder can be moved or copied whole.
The file is valid against Apple's FCPXML 1.8 DTD (tests/media/FCPXMLv1_8.dtd).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

from canvas_app.media.colour import colour_for
from canvas_app.media.timeline_layout import (Placement, TimelineSound, media_url, timecode_fraction,
                                       xml_text)

# Final Cut Pro's built-in Cross Dissolve.
CROSS_DISSOLVE_UID = "FxPlug:4731E73A-8DAC-4113-9A30-AE85B1761265"


def seconds(value: Fraction) -> str:
    """An FCPXML time: "0s", "5s" or "1001/24000s"."""
    value = Fraction(value)
    if value.denominator == 1:
        return f"{value.numerator}s"
    return f"{value.numerator}/{value.denominator}s"


def _rate_name(rate: Fraction) -> str:
    """23.976 -> 2398, 29.97 -> 2997, 24 -> 24 (as in FFVideoFormat1080p2398)."""
    if rate.denominator == 1:
        return str(rate.numerator)
    return f"{round(float(rate) * 100):d}"


def format_name(width: int, height: int, rate: Fraction) -> str:
    """Final Cut's name for a video format: FFVideoFormat1080p24,
    FFVideoFormat720p2398, otherwise FFVideoFormat<W>x<H>p<rate>."""
    if (width, height) in ((1920, 1080), (1280, 720)):
        return f"FFVideoFormat{height}p{_rate_name(rate)}"
    return f"FFVideoFormat{width}x{height}p{_rate_name(rate)}"


def _colour_space(width: int, height: int) -> str:
    colour = colour_for(width, height)
    return f"{colour.primaries}-{colour.transfer}-{colour.colorspace} ({colour.name})"


def _src(media, root: Path) -> str:
    """An asset's URL: relative ones as Apple's reference writes them, "./shots/..."
    ("a relative URL based on the location of the FCPXML document itself")."""
    url = media_url(media, root)
    return url if "://" in url else f"./{url}"


class _Resources:
    def __init__(self, parent):
        self.element = ET.SubElement(parent, "resources")
        self.formats: dict[tuple, str] = {}
        self.count = 0

    def next_id(self) -> str:
        self.count += 1
        return f"r{self.count}"

    def video_format(self, rate: Fraction, size) -> str:
        key = (rate, int(size[0]), int(size[1]))
        if key not in self.formats:
            self.formats[key] = self.next_id()
            ET.SubElement(self.element, "format", {
                "id": self.formats[key], "name": format_name(key[1], key[2], rate),
                "frameDuration": seconds(1 / rate), "width": str(key[1]),
                "height": str(key[2]), "colorSpace": _colour_space(key[1], key[2])})
        return self.formats[key]


def fcpxml_text(name: str, laid: list[Placement], fps: float, root: Path, *,
                sound: TimelineSound | None = None, size=(1920, 1080)) -> str:
    from canvas_app.media.video import fps_fraction

    cut_rate = fps_fraction(fps)
    rate = timecode_fraction(fps)
    total = Fraction(laid[-1].record_out if laid else 0) / cut_rate
    document = ET.Element("fcpxml", {"version": "1.8"})
    resources = _Resources(document)
    sequence_format = resources.video_format(rate, size)
    dissolve_id = None
    if any(placed.dissolve for placed in laid):
        dissolve_id = resources.next_id()
        ET.SubElement(resources.element, "effect", {
            "id": dissolve_id, "name": "Cross Dissolve", "uid": CROSS_DISSOLVE_UID})
    assets = []
    for placed in laid:
        shot = placed.shot
        asset_format = resources.video_format(placed.media_fps, shot.size or size)
        asset_id = resources.next_id()
        ET.SubElement(resources.element, "asset", {
            "id": asset_id, "name": xml_text(Path(shot.media_path).stem),
            "src": _src(shot.media_path, root), "start": "0s",
            "duration": seconds(Fraction(int(shot.available_frames)) / placed.media_fps),
            "hasVideo": "1", "hasAudio": "0", "format": asset_format})
        assets.append((asset_id, asset_format))
    sound_id = None
    if sound is not None and laid:
        sound_id = resources.next_id()
        ET.SubElement(resources.element, "asset", {
            "id": sound_id, "name": xml_text(Path(sound.media_path).stem),
            "src": _src(sound.media_path, root), "start": "0s",
            "duration": seconds(total), "hasVideo": "0", "hasAudio": "1", "audioSources": "1",
            "audioChannels": str(int(sound.channels)), "audioRate": str(int(sound.sample_rate))})

    event = ET.SubElement(ET.SubElement(document, "library"), "event", {"name": xml_text(name)})
    project = ET.SubElement(event, "project", {"name": xml_text(name)})
    sequence = ET.SubElement(project, "sequence", {
        "format": sequence_format, "duration": seconds(total), "tcStart": "0s",
        "tcFormat": "NDF", "audioLayout": "stereo", "audioRate": "48k"})
    spine = ET.SubElement(sequence, "spine")
    for index, placed in enumerate(laid):
        offset = Fraction(placed.record_in) / cut_rate
        if placed.dissolve:
            before = Fraction(placed.dissolve // 2) / cut_rate
            transition = ET.SubElement(spine, "transition", {
                "name": "Cross Dissolve", "offset": seconds(offset - before),
                "duration": seconds(Fraction(placed.dissolve) / cut_rate)})
            ET.SubElement(transition, "filter-video", {"ref": dissolve_id,
                                                       "name": "Cross Dissolve"})
        asset_id, asset_format = assets[index]
        clip = ET.SubElement(spine, "asset-clip", {
            "ref": asset_id, "offset": seconds(offset), "name": xml_text(placed.shot.name),
            "start": seconds(placed.source_in),
            "duration": seconds(Fraction(placed.record_out - placed.record_in) / cut_rate),
            "format": asset_format, "tcFormat": "NDF"})
        if index == 0 and sound_id is not None:
            # Anchored items count in the parent's media time: at its start.
            ET.SubElement(clip, "asset-clip", {
                "ref": sound_id, "lane": "-1", "offset": seconds(placed.source_in),
                "name": xml_text(Path(sound.media_path).name), "start": "0s",
                "duration": seconds(total), "srcEnable": "audio"})
    ET.indent(document, space="    ")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n\n' +
            ET.tostring(document, encoding="unicode") + "\n")
