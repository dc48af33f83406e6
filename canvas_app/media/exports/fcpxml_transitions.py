"""Dissolves in an FCPXML file.

The fcpx_xml adapter of OpenTimelineIO writes clips but drops transitions;
this puts a `<transition>` (Final Cut's default Cross Dissolve) into the
spine at each of the timeline's OTIO transitions: centred on the cut as the
OTIO in/out offsets say, lasting their sum. Final Cut lets the clips run on
into their handles under it, as OTIO does.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path


def _seconds(value: Fraction) -> str:
    return "0s" if value == 0 else f"{value.numerator}/{value.denominator}s"


def _fraction(time) -> Fraction:
    return Fraction(int(round(time.value)), 1) / Fraction(time.rate).limit_denominator(1001)


def add_transitions(path: Path, timeline) -> int:
    """Insert the transitions of `timeline`'s first video track; returns how many."""
    import xml.etree.ElementTree as ET

    import opentimelineio as otio

    tree = ET.parse(path)
    spine = tree.getroot().find("./project/sequence/spine")
    if spine is None:
        return 0
    clips = [child for child in spine if child.tag in ("clip", "asset-clip")]
    track = timeline.video_tracks()[0]
    position, clip_index, added = Fraction(0), 0, 0
    for item in track:
        if isinstance(item, otio.schema.Transition):
            in_offset, out_offset = _fraction(item.in_offset), _fraction(item.out_offset)
            element = ET.Element("transition", {
                "name": "Cross Dissolve", "offset": _seconds(position - in_offset),
                "duration": _seconds(in_offset + out_offset)})
            spine.insert(list(spine).index(clips[clip_index]), element)
            added += 1
        else:
            position += _fraction(item.source_range.duration)
            clip_index += 1
    if added:
        ET.indent(tree, space="    ")
        body = ET.tostring(tree.getroot(), encoding="unicode")
        path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n\n' + body +
                        "\n", encoding="utf-8")
    return added
