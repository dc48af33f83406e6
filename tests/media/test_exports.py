"""Every export of a Sequence, read back by a reader that did not write it:
ffprobe for the videos, Pillow for WebP/GIF/PNG, OpenTimelineIO for the
timelines, the project loader for the graph inside the PNGs and videos."""
from __future__ import annotations

import json
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from canvas_app.engine.context import CancelToken, Cancelled, RunContext
from canvas_app.graph import default_registry
from canvas_app.media.exports.options import EXPORTS, param_name, parse_exports
from canvas_app.project import load_project
from canvas_app.values import Clip
from nodes.sequence import Sequence

EXAMPLE = Path(__file__).resolve().parents[2] / "resources/examples/spokesperson/spokesperson.canvas.json"
W, H, FPS, SHOT_FRAMES = 64, 48, 12.0, 12
DISSOLVE = 5  # frames into shot 2: the middle frame is an even blend
COLOURS = [(200, 30, 30), (30, 30, 200), (30, 200, 30)]

needs_ffprobe = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")


def make_clip(index: int, passed: bool = True) -> Clip:
    frames = []
    for number in range(SHOT_FRAMES):
        frame = np.zeros((H, W, 3), np.uint8)
        frame[:] = COLOURS[index]
        frame[:4, number * 4:(number + 1) * 4] = 255  # a moving mark: no two frames alike
        frames.append(frame)
    return Clip(frames=frames, fps=FPS, metadata={
        "shot": f"Shot {index + 1}", "seed": 100 + index,
        "identity_score": {"mean": 0.9 if passed else 0.3}, "identity_passed": passed})


def write_wav(path: Path, seconds: float) -> Path:
    rate = 44100
    tone = (np.sin(np.arange(int(rate * seconds)) * 2 * np.pi * 440 / rate) * 8000).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(tone.tobytes())
    return path


def sequence_params(**changes) -> dict:
    params = {spec.name: spec.default for spec in Sequence.spec.params}
    params.update(changes)
    return params


def export(out_dir: Path, params: dict, clips: list[Clip], graph=None, token=None):
    ctx = RunContext(node_id="sequence1", node_title="Sequence", output_dir=out_dir,
                     cancel_token=token or CancelToken())
    ctx.graph = graph
    return Sequence().run({"clips": clips}, params, ctx)["sequence"]


@pytest.fixture(scope="module")
def full_export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    graph, _ = load_project(EXAMPLE)
    params = sequence_params(
        name="film", audio=str(write_wav(folder / "tone.wav", 1.0)), audio_fade=0.5,
        trims=[{"in": 0.0, "out": None}, {"in": 0.0, "out": None, "dissolve": DISSOLVE / FPS},
               {"in": 2 / FPS, "out": None}],
        **{param_name(key): True for key in EXPORTS})
    clips = [make_clip(0), make_clip(1), make_clip(2, passed=False)]
    result = export(folder / "out", params, clips, graph)
    return folder / "out", result, graph


CUT_FRAMES = 3 * SHOT_FRAMES - DISSOLVE - 2  # shot 3 trimmed by 2 frames


def ffprobe(path: Path) -> dict:
    output = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-show_format",
         "-of", "json", str(path)], check=True, capture_output=True, text=True).stdout
    return json.loads(output)


@needs_ffprobe
@pytest.mark.parametrize("suffix, codec, pix_fmt, audio_codec, profile", [
    (".mp4", "h264", "yuv420p", "aac", None),
    (".mov", "prores", "yuv422p10le", "pcm_s16le", "HQ"),
])
def test_video_exports_read_back_with_ffprobe(full_export, suffix, codec, pix_fmt, audio_codec,
                                              profile):
    out, _, _ = full_export
    info = ffprobe(out / f"film{suffix}")
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    audio = next(s for s in info["streams"] if s["codec_type"] == "audio")
    assert video["codec_name"] == codec and video["pix_fmt"] == pix_fmt
    assert (video["width"], video["height"]) == (W, H)
    assert int(video["nb_read_frames"]) == CUT_FRAMES
    assert video["r_frame_rate"] == "12/1"
    assert audio["codec_name"] == audio_codec
    assert float(audio["duration"]) == pytest.approx(CUT_FRAMES / FPS, abs=0.05)
    assert float(info["format"]["duration"]) == pytest.approx(CUT_FRAMES / FPS, abs=0.05)
    if profile:
        assert video["profile"] == profile
    assert info["format"]["tags"]["canvas_app_graph"].startswith("{")


def test_mp4_is_faststart(full_export):
    data = (full_export[0] / "film.mp4").read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # plays before it has fully downloaded


def test_sound_fades_out_at_the_end(full_export):
    import av

    with av.open(str(full_export[0] / "film.mp4")) as container:
        samples = np.concatenate([frame.to_ndarray() for frame in
                                  container.decode(container.streams.audio[0])], axis=1)
    rate = 48000
    middle = np.abs(samples[:, rate // 4: rate // 2]).max()
    # The tone (1 s) is shorter than the cut (2.4 s): padded with silence, then faded.
    assert middle > 0.1
    assert np.abs(samples[:, -rate // 10:]).max() < 0.01


@pytest.mark.parametrize("suffix", [".webp", ".gif"])
def test_sharing_exports_are_animated(full_export, suffix):
    from PIL import Image

    with Image.open(full_export[0] / f"film{suffix}") as image:
        assert image.is_animated
        assert image.n_frames == CUT_FRAMES
        assert image.size == (W, H)


def test_dissolve_middle_frame_is_a_blend_of_its_shots(full_export):
    from canvas_app.media.video import read_video

    frames, fps = read_video(full_export[0] / "film.mp4")
    assert len(frames) == CUT_FRAMES and fps == FPS
    middle = frames[SHOT_FRAMES - DISSOLVE + DISSOLVE // 2][H // 2:, :].reshape(-1, 3).mean(0)
    expected = (np.array(COLOURS[0]) + np.array(COLOURS[1])) / 2
    assert np.abs(middle - expected).max() < 12
    before = frames[SHOT_FRAMES - DISSOLVE - 1][H // 2:, :].reshape(-1, 3).mean(0)
    after = frames[SHOT_FRAMES][H // 2:, :].reshape(-1, 3).mean(0)
    assert np.abs(before - COLOURS[0]).max() < 12 and np.abs(after - COLOURS[1]).max() < 12


def test_png_frames_per_shot_as_cut(full_export):
    folders = sorted((full_export[0] / "frames").iterdir())
    assert [f.name for f in folders] == ["film_01_Shot_1", "film_02_Shot_2", "film_03_Shot_3"]
    assert [len(list(f.glob("*.png"))) for f in folders] == [12, 12, 10]


@pytest.mark.parametrize("suffix", [".otio", ".edl", ".fcp7.xml", ".fcpxml"])
def test_timelines_read_back_with_opentimelineio(full_export, suffix):
    import opentimelineio as otio

    path = full_export[0] / f"film{suffix}"
    from canvas_app.media.timeline import timecode_rate

    timeline = otio.adapters.read_from_file(str(path), rate=timecode_rate(FPS)) \
        if suffix == ".edl" else otio.adapters.read_from_file(str(path))
    if isinstance(timeline, otio.schema.SerializableCollection):  # FCPXML: library > event
        timeline = next(iter(timeline.find_children(descended_from_type=otio.schema.Timeline)))
    # (the fcpx adapter reads the sound, anchored on lane -1, as a video track of its own)
    track = [track for track in timeline.video_tracks() if track.name != "-1"][0]
    clips = list(track.find_clips())
    transitions = [item for item in track if isinstance(item, otio.schema.Transition)]

    def frames(time):  # an EDL counts at a timecode rate (24 for this 12 fps cut)
        return round(time.to_seconds() * FPS)

    assert len(clips) == 3
    if suffix == ".fcpxml":  # the adapter reads no transitions back: read the XML itself
        import xml.etree.ElementTree as ET

        spine = ET.parse(path).getroot().find("./library/event/project/sequence/spine")
        assert [child.tag for child in spine] == ["asset-clip", "transition", "asset-clip",
                                                  "asset-clip"]
        assert spine[1].get("duration") == f"{DISSOLVE}/{int(FPS)}s"
    else:
        assert len(transitions) == 1
        length = transitions[0].in_offset + transitions[0].out_offset
        assert frames(length) == DISSOLVE
    # Trims as source ranges; the dissolve takes its halves off the clips at the cut point.
    durations = [frames(clip.source_range.duration) for clip in clips]
    assert durations[2] == SHOT_FRAMES - 2
    if suffix in (".otio", ".fcpxml"):
        assert durations == [SHOT_FRAMES - 3, SHOT_FRAMES - 2, SHOT_FRAMES - 2]
    # (an EDL puts the whole dissolve in the incoming event, FCP7 XML centres it)
    assert frames(track.duration()) == CUT_FRAMES
    if suffix == ".otio":
        assert frames(clips[2].source_range.start_time) == 2  # trimmed in by 2 frames
        meta = clips[0].metadata["canvas_app"]
        assert meta["seed"] == 100 and meta["identity_mean"] == pytest.approx(0.9)


def test_contact_sheet_marks_the_failed_shot_red(full_export):
    from PIL import Image

    with Image.open(full_export[0] / "film.contact.png") as image:
        sheet = np.asarray(image.convert("RGB")).astype(int)
        assert "canvas_app_graph" in image.text
    labels = sheet[:, :200]  # the label column: the frames of shot 1 are red themselves
    red = (labels[:, :, 0] > 200) & (labels[:, :, 1] < 90) & (labels[:, :, 2] < 90)
    rows = np.nonzero(red.any(axis=1))[0]
    assert rows.size and rows.min() > sheet.shape[0] * 2 // 3  # only the last of three rows


@pytest.mark.parametrize("relative", ["shots/film_01_Shot_1.png", "frames/film_02_Shot_2/00003.png",
                                      "film.contact.png", "film.mp4", "film.mov"])
def test_exports_reopen_the_graph_that_made_them(full_export, relative):
    _, _, graph = full_export
    # The project's files lie outside the export folder: read only once the user agrees.
    reopened, issues = load_project(full_export[0] / relative, trust_paths=True)
    assert not [issue for issue in issues if issue.severity == "error"]
    assert set(reopened.nodes) == set(graph.nodes)
    for node_id, node in graph.nodes.items():
        twin = reopened.nodes[node_id]
        assert (twin.type_name, twin.title, twin.params) == (node.type_name, node.title,
                                                             node.params)
    assert {str(link) for link in reopened.links} == {str(link) for link in graph.links}


def test_report_lists_transitions_audio_and_exports(full_export):
    report = json.loads((full_export[0] / "film.report.json").read_text())
    assert report["frames"] == CUT_FRAMES
    assert report["transitions"] == [{"into_shot": 2, "dissolve_frames": DISSOLVE}]
    assert report["audio"].endswith("tone.wav")
    assert "film.mov" in report["exports"] and "film.fcpxml" in report["exports"]


def test_progress_counts_frames_with_an_eta(tmp_path):
    messages = []
    ctx = RunContext(output_dir=tmp_path, on_progress=lambda f, m: messages.append((f, m)))
    Sequence().run({"clips": [make_clip(0)]}, sequence_params(export_gif=True), ctx)
    assert messages[-1][0] == pytest.approx(1.0)
    assert "frame 36/36" in messages[-1][1] and "ETA" in messages[-1][1]


def test_cancelled_export_leaves_the_previous_one_intact(tmp_path):
    export(tmp_path, sequence_params(export_prores=True), [make_clip(0), make_clip(1)])
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    token = CancelToken()
    calls = []

    def cancel_midway(fraction, message):
        calls.append(fraction)
        if len(calls) == 30:
            token.cancel()

    ctx = RunContext(output_dir=tmp_path, cancel_token=token, on_progress=cancel_midway)
    with pytest.raises(Cancelled):
        Sequence().run({"clips": [make_clip(2), make_clip(1)]},
                       sequence_params(export_prores=True), ctx)
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before


def test_a_dissolve_longer_than_its_shots_is_bad_input(tmp_path):
    from canvas_app.errors import BadInput

    with pytest.raises(BadInput, match="dissolve into shot 2") as error:
        export(tmp_path, sequence_params(trims=[{}, {"in": 0, "out": None, "dissolve": 5.0}]),
               [make_clip(0), make_clip(1)])
    assert error.value.field == "trims"


def test_missing_audio_file_is_bad_input_naming_it(tmp_path):
    from canvas_app.errors import BadInput

    with pytest.raises(BadInput, match="audio file not found") as error:
        export(tmp_path, sequence_params(audio=str(tmp_path / "nope.wav")), [make_clip(0)])
    assert error.value.field == "audio"


def test_export_option_parsing():
    assert parse_exports("all") == {key: True for key in EXPORTS}
    assert parse_exports("prores, edl")["edl"] and not parse_exports("prores,edl")["gif"]
    with pytest.raises(ValueError, match="unknown export avi"):
        parse_exports("avi")


def test_png_without_a_graph_is_bad_input(tmp_path):
    from canvas_app.errors import BadInput
    from canvas_app.media.images import save_png

    save_png(np.zeros((8, 8, 3), np.uint8), tmp_path / "plain.png")
    with pytest.raises(BadInput, match="holds no canvas-app graph"):
        load_project(tmp_path / "plain.png")


def test_a_deleted_export_makes_the_cached_result_invalid(tmp_path):
    result = export(tmp_path, sequence_params(export_gif=True), [make_clip(0)])
    outputs = {"sequence": result}
    assert Sequence().is_result_valid(outputs)
    (tmp_path / "cut.gif").unlink()
    assert not Sequence().is_result_valid(outputs)
