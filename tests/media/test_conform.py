"""The exports as an editor conforming the cut reads them, each with a reader
this program does not use: pycmx for the EDL, xmllint against Apple's FCPXML
1.8 DTD, ffprobe/ffmpeg for the colour tags, timecode tracks and reels of
the media, the XML itself for the FCP7 rates and durations.

FCPXMLv1_8.dtd beside this file is Apple's DTD as Final Cut Pro ships it
(copied from CommandPost's collection, src/extensions/cp/apple/fcpxml/dtd/,
commit b62c62cb; no PyPI package, the fcpx adapter included, ships it).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import wave
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from canvas_app.media.exports.options import EXPORTS, param_name
from test_exports import (COLOURS, DISSOLVE, FPS, SHOT_FRAMES, export, make_clip,
                          sequence_params, write_wav)

DTD = Path(__file__).with_name("FCPXMLv1_8.dtd")
CUT_FRAMES = 3 * SHOT_FRAMES - DISSOLVE - 2
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffprobe") is None or shutil.which("ffmpeg") is None,
                                  reason="ffmpeg not installed")
needs_xmllint = pytest.mark.skipif(shutil.which("xmllint") is None, reason="xmllint not installed")


@pytest.fixture(scope="module")
def cut(tmp_path_factory):
    """The test_exports cut (a dissolve into shot 2, shot 3 trimmed by 2
    frames, a 1 s tone faded over 0.5 s) with every timeline."""
    folder = tmp_path_factory.mktemp("conform")
    params = sequence_params(
        name="film", audio=str(write_wav(folder / "tone.wav", 1.0)), audio_fade=0.5,
        trims=[{"in": 0.0, "out": None}, {"in": 0.0, "out": None, "dissolve": DISSOLVE / FPS},
               {"in": 2 / FPS, "out": None}],
        **{param_name(key): key in ("edl", "fcp7", "fcpxml", "prores") for key in EXPORTS})
    export(folder / "out", params, [make_clip(0), make_clip(1), make_clip(2)])
    return folder / "out"


def probe(path: Path) -> dict:
    return json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        check=True, capture_output=True, text=True).stdout)


def shot_files(out: Path) -> list[Path]:
    return sorted((out / "shots").glob("film_0*.mp4"))


# --- EDL -------------------------------------------------------------------------------------

def read_edl(out: Path):
    import pycmx

    with open(out / "film.edl", encoding="utf-8") as handle:
        return pycmx.parse_cmx3600(handle)


def frames_24(timecode: str) -> int:
    hours, minutes, seconds, frames = (int(part) for part in timecode.split(":"))
    return ((hours * 60 + minutes) * 60 + seconds) * 24 + frames


def test_edl_has_a_frame_code_mode_line(cut):
    lines = (cut / "film.edl").read_text().splitlines()
    assert lines[0] == "TITLE: film" and lines[1] == "FCM: NON-DROP FRAME"


def test_pycmx_reads_the_dissolve_with_its_length(cut):
    edits = [edit for event in read_edl(cut).events for edit in event.edits]
    video = [edit for edit in edits if edit.channels.video]
    kinds = [(edit.transition.kind, edit.transition.cut, edit.transition.dissolve) for edit in video]
    # shot 1 (cut), the dissolve's from-line, shot 2 dissolving in, shot 3 (cut)
    assert [dissolve for _, _, dissolve in kinds] == [False, False, True, False]
    into = video[2]
    assert into.transition.dissolve and into.transition.kind == "D"
    # 5 frames at 12 fps = 10 frames of 24 fps timecode
    assert into.transition.operand == "010"
    assert frames_24(into.record_in) == (SHOT_FRAMES - DISSOLVE) * 2
    # Every video frame of the cut is covered once, as many as the MP4 has.
    assert frames_24(video[-1].record_out) == CUT_FRAMES * 2


@needs_ffmpeg
def test_edl_reels_are_the_reels_the_shot_files_carry(cut):
    video = [edit for event in read_edl(cut).events for edit in event.edits
             if edit.channels.video and edit.record_in != edit.record_out]
    tagged = []
    for path in shot_files(cut):
        info = probe(path)
        tagged.append(info["format"]["tags"]["reel_name"])
        timecode = [stream for stream in info["streams"] if stream["codec_tag_string"] == "tmcd"]
        assert timecode and timecode[0]["tags"]["timecode"] == "00:00:00:00"
    assert [edit.source for edit in video] == tagged == ["FILM001", "FILM002", "FILM003"]
    # each event also names its file, relative to the EDL
    assert [(cut / edit.source_file).is_file() for edit in video] == [True] * 3
    # shot 3 is trimmed in by 2 frames of 12 fps: 4 frames of 24 fps source timecode
    assert frames_24(video[2].source_in) == 4


def test_edl_carries_the_sound_on_both_audio_channels(cut):
    audio = [edit for event in read_edl(cut).events for edit in event.edits
             if edit.channels.get_audio_channel(1)]
    assert len(audio) == 1 and audio[0].channels.get_audio_channel(2)
    assert (cut / audio[0].source_file).is_file()
    assert frames_24(audio[0].record_out) == CUT_FRAMES * 2


# --- FCPXML ----------------------------------------------------------------------------------

@needs_xmllint
def test_fcpxml_is_valid_against_apples_dtd(cut):
    result = subprocess.run(["xmllint", "--noout", "--dtdvalid", str(DTD), str(cut / "film.fcpxml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@needs_ffmpeg
def test_fcpxml_formats_and_assets_say_what_the_media_is(cut):
    root = ET.parse(cut / "film.fcpxml").getroot()
    formats = {element.get("id"): element for element in root.iter("format")}
    sequence = root.find("./library/event/project/sequence")
    sequence_format = formats[sequence.get("format")]
    assert sequence_format.get("frameDuration") == "1/24s"  # 12 fps counts as 24 fps timecode
    assert (sequence_format.get("width"), sequence_format.get("height")) == ("64", "48")
    assert sequence_format.get("name") == "FFVideoFormat64x48p24"
    for asset in root.iter("asset"):
        assert asset.get("uid") is None  # never uid=""
        media = cut / urllib.parse.unquote(asset.get("src"))
        info = probe(media)
        if asset.get("hasVideo") == "1":
            stream = next(s for s in info["streams"] if s["codec_type"] == "video")
            duration = Fraction(formats[asset.get("format")].get("frameDuration").rstrip("s"))
            assert 1 / duration == Fraction(stream["r_frame_rate"])  # 12 fps assets, 12 fps files
        else:
            assert asset.get("hasAudio") == "1" and media.suffix == ".wav"
    for element in root.iter():
        assert "" not in element.attrib.values()


def test_fcpxml_dissolve_references_the_cross_dissolve_effect(cut):
    root = ET.parse(cut / "film.fcpxml").getroot()
    effects = {element.get("id"): element for element in root.iter("effect")}
    spine = root.find("./library/event/project/sequence/spine")
    assert [child.tag for child in spine] == ["asset-clip", "transition", "asset-clip", "asset-clip"]
    transition = spine[1]
    assert transition.get("duration") == f"{DISSOLVE}/{int(FPS)}s"
    effect = effects[transition.find("filter-video").get("ref")]
    assert effect.get("name") == "Cross Dissolve" and effect.get("uid").startswith("FxPlug:")
    sound = spine[0].find("asset-clip")
    assert sound.get("lane") == "-1"
    assert Fraction(sound.get("duration").rstrip("s")) == Fraction(CUT_FRAMES, int(FPS))


# --- FCP7 XML --------------------------------------------------------------------------------

def _rate(element) -> Fraction:
    rates = element.findall("rate")
    assert len(rates) == 1  # one <rate> per element, not two
    base = int(rates[0].findtext("timebase"))
    return Fraction(base * 1000, 1001) if rates[0].findtext("ntsc") == "TRUE" else Fraction(base)


@needs_ffmpeg
def test_fcp7_rates_and_durations_agree_with_the_media(cut):
    text = (cut / "film.fcp7.xml").read_text()
    assert "<!DOCTYPE xmeml>" in text
    root = ET.fromstring(text)
    sequence = root.find("sequence")
    sequence_rate = _rate(sequence)
    clipitems = sequence.findall("./media/video/track/clipitem")
    assert len(clipitems) == 3
    for clipitem in clipitems:
        file = clipitem.find("file")
        media = cut / urllib.parse.unquote(file.findtext("pathurl"))
        stream = next(s for s in probe(media)["streams"] if s["codec_type"] == "video")
        media_rate = Fraction(stream["r_frame_rate"])
        assert _rate(clipitem) == _rate(file) == media_rate == FPS
        assert int(clipitem.findtext("duration")) == int(file.findtext("duration")) == \
            int(stream["nb_frames"])
        # the span on the timeline (sequence rate) lasts what the source range does (media rate)
        span = Fraction(int(clipitem.findtext("end")) - int(clipitem.findtext("start")),
                        1) / sequence_rate
        used = Fraction(int(clipitem.findtext("out")) - int(clipitem.findtext("in")), 1) / media_rate
        assert span == used
        assert file.find("./media/audio") is None  # silent shot files: no audio placeholder
    assert all(list(element) for element in root.iter("format"))  # no empty <format/>
    sound = sequence.find("./media/audio/track/clipitem/file")
    assert (cut / urllib.parse.unquote(sound.findtext("pathurl"))).is_file()


# --- the sound, and a moved folder -----------------------------------------------------------

def test_sound_copy_in_the_output_folder_is_the_cut_long_and_faded(cut):
    with wave.open(str(cut / "film.wav")) as handle:
        rate, frames = handle.getframerate(), handle.getnframes()
        samples = np.frombuffer(handle.readframes(frames), "<i2").reshape(-1, 2)
    assert frames / rate == pytest.approx(CUT_FRAMES / FPS, abs=1e-3)
    assert np.abs(samples[rate // 4: rate // 2]).max() > 3000  # the tone
    assert np.abs(samples[-rate // 10:]).max() < 300  # faded out at the end


def _media_in(path: Path) -> list[str]:
    """Every media reference in a timeline file, as written."""
    if path.suffix == ".otio":
        import opentimelineio as otio

        timeline = otio.adapters.read_from_file(str(path))
        return [clip.media_reference.target_url for clip in timeline.find_clips()]
    root = ET.parse(path).getroot()
    if path.suffix == ".fcpxml":
        return [asset.get("src") for asset in root.iter("asset")]
    return [element.text for element in root.iter("pathurl")]


@pytest.mark.parametrize("suffix", [".otio", ".fcpxml", ".fcp7.xml"])
def test_moved_output_folder_keeps_its_media_online(cut, tmp_path, suffix):
    moved = tmp_path / "elsewhere" / "delivery"
    shutil.copytree(cut, moved)
    references = _media_in(moved / f"film{suffix}")
    assert len(references) == 4  # three shots and the sound
    for reference in references:
        assert "://" not in reference  # relative, not file:///...
        target = (moved / urllib.parse.unquote(reference)).resolve()
        assert target.is_file() and moved.resolve() in target.parents


# --- colour ----------------------------------------------------------------------------------

BARS_75 = [(191, 191, 191), (191, 191, 0), (0, 191, 191), (0, 191, 0), (191, 0, 191),
           (191, 0, 0), (0, 0, 191)]


def colour_bars(width: int, height: int) -> np.ndarray:
    frame = np.zeros((height, width, 3), np.uint8)
    edges = np.linspace(0, width, len(BARS_75) + 1).round().astype(int)
    for colour, left, right in zip(BARS_75, edges, edges[1:]):
        frame[:, left:right] = colour
    return frame


def decode_as_tagged(path: Path, width: int, height: int) -> np.ndarray:
    """ffmpeg decodes the first frame to RGB with the matrix and range the file is tagged with."""
    video = next(s for s in probe(path)["streams"] if s["codec_type"] == "video")
    matrix = {"bt709": "bt709", "smpte170m": "smpte170m", "bt470bg": "bt470bg"}[video["color_space"]]
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1", "-vf",
         f"scale=in_color_matrix={matrix}:in_range={video['color_range']}:flags=accurate_rnd"
         f"+full_chroma_int,format=rgb24", "-f", "rawvideo", "-"],
        check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(height, width, 3)


@needs_ffmpeg
@pytest.mark.parametrize("kind, suffix, size, tags", [
    ("h264", ".mp4", (1920, 1080), ("bt709", "bt709", "bt709")),
    ("prores", ".mov", (1920, 1080), ("bt709", "bt709", "bt709")),
    ("h264", ".mp4", (640, 480), ("smpte170m", "smpte170m", "smpte170m")),
    ("write_video", ".mp4", (1920, 1080), ("bt709", "bt709", "bt709")),
])
def test_colour_bars_decode_as_tagged_within_two_levels(tmp_path, kind, suffix, size, tags):
    from canvas_app.media.exports.encode import encode_video
    from canvas_app.media.video import write_video

    bars = colour_bars(*size)
    if kind == "write_video":  # the other H.264 writer (renders, benchmarks)
        path = write_video([bars, bars], 24, tmp_path / f"bars{suffix}")
    else:
        path = encode_video([bars, bars], 24, tmp_path / f"bars{suffix}", kind=kind)
    video = next(s for s in probe(path)["streams"] if s["codec_type"] == "video")
    assert (video["color_space"], video["color_primaries"], video["color_transfer"]) == tags
    assert video["color_range"] == "tv"
    assert (b"colrnclx" if suffix == ".mp4" else b"colrnclc") in path.read_bytes()  # container
    decoded = decode_as_tagged(path, *size).astype(int)
    edges = np.linspace(0, size[0], len(BARS_75) + 1).round().astype(int)
    for colour, left, right in zip(BARS_75, edges, edges[1:]):
        # the middle of each bar, away from the chroma blur at its edges
        patch = decoded[size[1] // 4: size[1] * 3 // 4, left + 16: right - 16].reshape(-1, 3)
        assert np.abs(patch.mean(0) - colour).max() <= 2, (colour, patch.mean(0))


def test_pngs_say_they_are_srgb(cut):
    from PIL import Image

    with Image.open(cut / "shots/film_01_Shot_1.png") as image:
        assert image.info.get("srgb") == 0  # sRGB chunk, perceptual intent
        assert np.abs(np.asarray(image.convert("RGB"))[40, 40].astype(int) - COLOURS[0]).max() == 0
