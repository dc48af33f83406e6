"""Whatever a title holds and whatever frame rate the params accept, every
export is written and reads back - or `validate` refuses the rate first."""
from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from canvas_app.errors import BadInput
from canvas_app.media.exports.options import EXPORTS, param_name
from canvas_app.project import load_project
from canvas_app.values import Clip
from nodes.sequence import Sequence
from test_exports import EXAMPLE, export, sequence_params, write_wav

ALL = {param_name(key): True for key in EXPORTS}
DTD = Path(__file__).with_name("FCPXMLv1_8.dtd")
TITLES = ["Shot 1 - don't stop", "Shot 2 \x1b[31mred\x1b[0m", 'Shot 3 "q" & <b> \udc80 é']


def tiny_clip(title: str, fps: float, frames: int = 6) -> Clip:
    shades = [np.full((16, 24, 3), 40 * (number % 6), np.uint8) for number in range(frames)]
    return Clip(frames=shades, fps=fps, metadata={"shot": title, "seed": 1})


def read_every_timeline(out: Path, name: str) -> dict[str, list[str]]:
    """Clip names as an independent reader sees them, per timeline format."""
    import opentimelineio as otio
    import pycmx

    names = {}
    with open(out / f"{name}.edl", encoding="utf-8") as handle:
        names["edl"] = [edit.clip_name for event in pycmx.parse_cmx3600(handle).events
                        for edit in event.edits if edit.channels.video]
    timeline = otio.adapters.read_from_file(str(out / f"{name}.otio"))
    names["otio"] = [clip.name for clip in timeline.video_tracks()[0].find_clips()]
    for suffix, shots in ((".fcpxml", "./library/event/project/sequence/spine/asset-clip"),
                          (".fcp7.xml", "./sequence/media/video/track/clipitem")):
        path = out / f"{name}{suffix}"
        if shutil.which("xmllint"):  # a reader that is not Python's; the FCPXML against the DTD
            dtd = ["--dtdvalid", str(DTD)] if suffix == ".fcpxml" else []
            subprocess.run(["xmllint", "--noout", *dtd, str(path)], check=True)
        names[suffix] = [element.get("name") or element.findtext("name")
                         for element in ET.parse(path).getroot().findall(shots)]
    return names


def test_titles_with_quotes_escapes_and_surrogates_export_everywhere(tmp_path):
    graph, _ = load_project(EXAMPLE)
    for node in graph.nodes.values():
        if node.type_name == "Prompt":
            node.title = "don't \x1b[1m \udc80"  # into the graph every PNG and MP4 carries
    params = sequence_params(name="it's", audio=str(write_wav(tmp_path / "tone.wav", 0.5)),
                             **ALL)
    export(tmp_path / "out", params, [tiny_clip(title, 12.0) for title in TITLES], graph)
    names = read_every_timeline(tmp_path / "out", "it_s")
    assert names["otio"][0] == names[".fcpxml"][0] == "Shot 1 - don't stop"
    assert names["edl"][0] == "Shot 1 - don't stop"
    # An ANSI escape or a lone surrogate cannot be written in XML: U+FFFD in its place.
    assert names[".fcpxml"][1] == "Shot 2 \ufffd[31mred\ufffd[0m"
    assert names[".fcp7.xml"][2] == 'Shot 3 "q" & <b> \ufffd é'
    reopened, _ = load_project(tmp_path / "out/it_s.mp4")  # the graph travelled whole
    assert all(node.title.startswith("don't \x1b[1m ") for node in reopened.nodes.values()
               if node.type_name == "Prompt")


@pytest.mark.parametrize("shot_fps, cut_fps, expected_cut_fps", [
    (1.0, 0.0, 1.0),    # Generate's minimum: timecode counts it at 24
    (2.0, 0.0, 2.0),
    (7.0, 0.0, 24.0),   # no timecode rate is a multiple of 7: the cut runs at 24
    (9.0, 0.0, 24.0),
    (7.0, 24.0, 24.0),
    (23.976, 0.0, 23.976),  # NTSC: 24000/1001 timecode, written as such
    (29.97, 0.0, 29.97),
])
def test_every_rate_the_params_accept_exports_everything(tmp_path, shot_fps, cut_fps,
                                                         expected_cut_fps):
    import opentimelineio as otio
    from PIL import Image

    clips = [tiny_clip(f"Shot {index}", shot_fps, frames=4) for index in (1, 2)]
    export(tmp_path, sequence_params(name="cut", fps=cut_fps, **ALL), clips)
    seconds = 2 * 4 / shot_fps
    timeline = otio.adapters.read_from_file(str(tmp_path / "cut.otio"))
    assert timeline.duration().to_seconds() == pytest.approx(seconds, abs=1.5 / expected_cut_fps)
    from canvas_app.media.timeline import timecode_rate

    edl = otio.adapters.read_from_file(str(tmp_path / "cut.edl"),
                                       rate=timecode_rate(expected_cut_fps))
    assert edl.duration().to_seconds() == pytest.approx(seconds, abs=1.5 / expected_cut_fps)
    assert read_every_timeline(tmp_path, "cut")["edl"] == ["Shot 1", "Shot 2"]
    with Image.open(tmp_path / "cut.gif") as gif:
        assert gif.is_animated or gif.n_frames == 1
        total = sum(gif.seek(index) or gif.info["duration"] for index in range(gif.n_frames))
    assert total / 1000 == pytest.approx(seconds, rel=0.1, abs=0.05)


def test_a_120_fps_cut_exports_its_videos_and_gif(tmp_path):
    from PIL import Image

    chosen = {param_name(key): key not in ("edl", "fcp7", "fcpxml") for key in EXPORTS}
    export(tmp_path, sequence_params(name="cut", fps=120.0, **chosen),
           [tiny_clip("Shot 1", 12.0, frames=6)])
    with Image.open(tmp_path / "cut.gif") as gif:  # GIF delays are whole 1/100 s: 40 fps
        assert gif.n_frames == 20
        total = sum(gif.seek(index) or gif.info["duration"] for index in range(gif.n_frames))
    assert total == pytest.approx(500, abs=10)  # as long as the shot: 6 frames at 12 fps
    # the EDL and XMLs count timecode, which SMPTE 12M does not at 120 fps: refused up front
    problems = Sequence().check_inputs(sequence_params(fps=120.0, export_edl=True))
    assert [field for field, _ in problems] == ["fps"]


def test_validate_refuses_a_cut_rate_no_timecode_counts(tmp_path):
    problems = Sequence().check_inputs(sequence_params(fps=7.0, export_edl=True))
    assert [field for field, _ in problems] == ["fps"]
    assert "no timecode rate" in problems[0][1] and "CMX 3600 EDL" in problems[0][1]
    assert Sequence().check_inputs(sequence_params(fps=7.0)) == []  # no EDL/XML: the .otio can
    with pytest.raises(BadInput, match="no timecode rate") as error:
        export(tmp_path, sequence_params(fps=7.0, export_fcpxml=True), [tiny_clip("a", 12.0)])
    assert error.value.field == "fps"
