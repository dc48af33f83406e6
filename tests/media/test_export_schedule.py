"""A Sequence's exports side by side, and shot files encoded when the shot is rendered."""
from __future__ import annotations

import pickle
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from canvas_app.engine.context import CancelToken, RunContext
from canvas_app.media.exports.provenance import KEY
from canvas_app.media.exports.schedule import ExportJobs
from canvas_app.media.exports.shot_files import ShotFile
from canvas_app.media.exports.shot_frames import WHOLE
from canvas_app.values import Clip
from nodes.sequence import Sequence

EXAMPLE = Path(__file__).resolve().parents[2] / "resources/examples/spokesperson/spokesperson.canvas.json"
W, H, FPS, FRAMES = 64, 48, 12.0, 12
WAIT_S = 60  # generous: a loaded machine may start a thread late, never this late


def make_clip(colour) -> Clip:
    frames = []
    for number in range(FRAMES):
        frame = np.zeros((H, W, 3), np.uint8)
        frame[:] = colour
        frame[:4, number * 4:(number + 1) * 4] = 255
        frames.append(frame)
    return Clip(frames=frames, fps=FPS, metadata={"shot": "Hello", "seed": 7})


def sequence_params(**changes) -> dict:
    params = {spec.name: spec.default for spec in Sequence.spec.params}
    params.update(changes)
    return params


def decoded(path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def test_exports_run_at_the_same_time_and_progress_counts_them_all():
    """Each job waits for the other to have started: they only finish when they run at once."""
    started = {name: threading.Event() for name in ("prores", "webp")}
    messages = []

    def job(mine, other):
        def work(on_frame):
            started[mine].set()
            assert started[other].wait(WAIT_S), f"{other} never ran beside {mine}"
            for count in range(1, 11):
                on_frame(count)
        return work

    jobs = ExportJobs(RunContext(on_progress=lambda fraction, message:
                                 messages.append((fraction, message))))
    jobs.add("ProRes", 10, job("prores", "webp"))
    jobs.add("WebP", 10, job("webp", "prores"))
    jobs.run(workers=2)

    fractions = [fraction for fraction, _ in messages]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert "frame 20/20" in messages[-1][1]
    assert any("ProRes" in text and "WebP" in text for _, text in messages)


def test_a_failing_export_stops_the_others_and_its_error_is_raised():
    frames_written = []

    def fails(on_frame):
        on_frame(1)
        raise OSError("disk full")

    def long_export(on_frame):
        for count in range(1, 100_000):
            frames_written.append(count)
            on_frame(count)
            threading.Event().wait(0.001)

    jobs = ExportJobs(RunContext())
    jobs.add("long", 100_000, long_export)
    jobs.add("failing", 1, fails)
    with pytest.raises(OSError, match="disk full"):
        jobs.run(workers=2)
    assert len(frames_written) < 100_000  # it stopped instead of running to the end


def test_a_cancel_stops_every_export():
    from canvas_app.engine.context import Cancelled

    token = CancelToken()

    def export(on_frame):
        for count in range(1, 100_000):
            if count == 5:
                token.cancel()
            on_frame(count)

    jobs = ExportJobs(RunContext(cancel_token=token))
    jobs.add("one", 100_000, export)
    jobs.add("two", 100_000, export)
    with pytest.raises(Cancelled):
        jobs.run(workers=2)


def test_the_shot_file_encoded_at_render_time_is_exported_with_the_graph(tmp_path, monkeypatch):
    from canvas_app.media.exports import encode
    from canvas_app.project import load_project

    clip = make_clip((200, 30, 30))
    clip.shot_file = ShotFile.start(clip)
    clip.shot_file.data()  # encoded, as when the next shot is rendering
    encoded = []
    real = encode.encode_video
    monkeypatch.setattr(encode, "encode_video",
                        lambda frames, fps, path, **kw: encoded.append(path) or
                        real(frames, fps, path, **kw))
    graph, _ = load_project(EXAMPLE)
    ctx = RunContext(output_dir=tmp_path)
    ctx.graph = graph
    Sequence().run({"clips": [clip]}, sequence_params(name="film"), ctx)

    shot_path = tmp_path / "shots" / "film_01_Hello.mp4"
    assert not [path for path in encoded if "shots" in str(path)]  # copied, not encoded again
    frames = decoded(shot_path)
    assert len(frames) == FRAMES
    assert abs(frames[0].astype(int).mean(axis=(0, 1)) - (200, 30, 30)).max() < 25
    reopened, _ = load_project(shot_path)
    assert set(reopened.nodes) == set(graph.nodes)
    import av

    with av.open(str(shot_path)) as container:
        assert KEY in container.metadata


def test_a_clip_whose_frames_were_replaced_is_encoded_again(tmp_path):
    red = make_clip((200, 30, 30))
    red.shot_file = ShotFile.start(red)
    blue = replace(red, frames=make_clip((30, 30, 200)).frames)  # a node changed the frames
    assert blue.shot_file is red.shot_file and not blue.shot_file.matches(blue)
    Sequence().run({"clips": [blue]}, sequence_params(name="film"),
                   RunContext(output_dir=tmp_path))
    first = decoded(tmp_path / "shots" / "film_01_Hello.mp4")[0].astype(int)
    assert abs(first.mean(axis=(0, 1)) - (30, 30, 200)).max() < 25


def test_a_shot_file_travels_with_its_clip_once_encoded():
    clip = make_clip((30, 200, 30))
    clip.shot_file = ShotFile.start(clip)
    clip.shot_file.settle()
    copy = pickle.loads(pickle.dumps(clip))
    assert copy.shot_file.matches(copy)
    assert copy.shot_file.data() == clip.shot_file.data()


def test_copying_a_shot_file_keeps_what_its_writer_put_in_it(tmp_path):
    """A timecode, a reel name and colour tags written with the shot stay when
    the Sequence adds the graph (an editor relinks and grades by them)."""
    import av

    source = tmp_path / "tagged.mp4"
    frames = make_clip((30, 30, 200)).frames
    with av.open(str(source), "w", format="mp4",
                 options={"movflags": "+faststart+use_metadata_tags+write_colr"}) as container:
        container.metadata["reel_name"] = "CUT01"
        stream = container.add_stream("libx264", rate=int(FPS))
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.metadata["timecode"] = "00:00:00:00"
        context = stream.codec_context
        context.colorspace = context.color_primaries = context.color_trc = 6  # BT.601 (525)
        for number, frame in enumerate(frames):
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts = number
            container.mux(stream.encode(video_frame))
        container.mux(stream.encode(None))

    shot = ShotFile(frames, FPS, data=source.read_bytes())
    copy = shot.write(tmp_path / "copy.mp4", {KEY: "{}"})
    with av.open(str(copy)) as container:
        video = container.streams.video[0]
        assert container.metadata["reel_name"] == "CUT01" and KEY in container.metadata
        assert video.metadata.get("timecode") == "00:00:00:00"
        assert video.codec_context.color_primaries == 6
        assert len(container.streams) == 2  # the timecode track was made again
    assert len(decoded(copy)) == FRAMES


def _video_packets(path) -> list[bytes]:
    import av

    with av.open(str(path)) as container:
        return [bytes(packet) for packet in container.demux(video=0) if packet.size]


def _exported_files(folder) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*.png")) if "frames" in path.parts}


def test_prores_and_png_frames_coded_at_render_time_are_the_files_the_sequence_writes(
        tmp_path, monkeypatch):
    """A shot's ProRes and PNG frames, coded while the next shot renders, give
    the very files the Sequence would have coded itself; the Sequence codes only
    the dissolve's frames again."""
    from canvas_app.media.exports import encode, shot_frames

    params = sequence_params(name="film", export_prores=True, export_frames=True,
                             trims=[{"in": 0.0, "out": None},
                                    {"in": 0.25, "out": None, "dissolve": 0.25}])
    shots = [make_clip((200, 30, 30)), make_clip((30, 30, 200))]
    Sequence().run({"clips": shots}, params, RunContext(output_dir=tmp_path / "plain"))

    early = [replace(clip) for clip in shots]
    # shot 1 coded whole; shot 2 only what the cut shows as it is (0.25 s trimmed off its head,
    # then 0.25 s dissolved: PNG frames from 3, ProRes from 6), as a Generate node asks
    spans = [{kind: shot_frames.WHOLE for kind in shot_frames.FRAME_EXPORTS},
             {"prores": (0.25, None, 0.25, 0.0), "frames": (0.25, None, 0.0, 0.0)}]
    for clip, span in zip(early, spans):
        clip.shot_file = ShotFile.start(clip, span)
        clip.shot_file.settle()
    assert early[1].shot_file.coded("prores")[:6] == [None] * 6
    assert early[1].shot_file.coded("frames")[:3] == [None] * 3
    coded_here = []
    real = encode.encode_video

    def counting(frames, fps, path, **kw):
        frames = [frame for frame in frames]
        if kw.get("kind") == "prores":
            coded_here.append(sum(not isinstance(f, encode.EncodedFrame) for f in frames))
        return real(frames, fps, path, **kw)

    monkeypatch.setattr(encode, "encode_video", counting)
    monkeypatch.setattr(shot_frames, "code_frames", None)  # nothing may be coded late
    Sequence().run({"clips": early}, params, RunContext(output_dir=tmp_path / "early"))

    assert coded_here == [3]  # the dissolve (0.25 s at 12 fps), nothing else
    assert _video_packets(tmp_path / "early" / "film.mov") == \
        _video_packets(tmp_path / "plain" / "film.mov")
    plain, early_files = _exported_files(tmp_path / "plain"), _exported_files(tmp_path / "early")
    assert len(plain) == FRAMES + FRAMES - 3 and early_files == plain
    assert all(clip.shot_file.coded("frames") is None for clip in early)  # memory given back


def test_frames_are_coded_ahead_only_for_the_exports_a_sequence_downstream_writes():
    from canvas_app.media.exports.options import apply_exports, parse_exports
    from canvas_app.media.exports.shot_frames import span_frames, wanted_by_sequences
    from canvas_app.project import load_project

    graph, _ = load_project(EXAMPLE)
    shot = next(node.id for node in graph.nodes.values() if node.type_name == "Generate")
    assert tuple(wanted_by_sequences(graph, shot)) == ("prores", "frames")
    # the example's second shot: untrimmed, 0.5 s dissolves in and out, which ProRes codes in the cut
    assert wanted_by_sequences(graph, "generate2") == {"prores": (0.0, None, 0.5, 0.5),
                                                      "frames": (0.0, None, 0.0, 0.0)}
    assert span_frames((0.0, None, 0.5, 0.5), 36, 12.0) == range(6, 30)
    apply_exports(graph, parse_exports("prores,gif"))
    assert tuple(wanted_by_sequences(graph, shot)) == ("prores",)
    apply_exports(graph, parse_exports("none"))
    assert wanted_by_sequences(graph, shot) == {}


def test_frames_coded_ahead_travel_with_their_clip_from_a_farm_worker_only():
    clip = make_clip((30, 200, 30))
    clip.shot_file = ShotFile.start(clip, {"prores": WHOLE, "frames": WHOLE})
    clip.shot_file.coded("frames")  # done, but not settled: a shot sent to the editor's window
    assert pickle.loads(pickle.dumps(clip)).shot_file.coded("frames") is None  # MBs not sent
    clip.shot_file.settle()  # what a farm worker does before it returns the shot
    copy = pickle.loads(pickle.dumps(clip))
    assert copy.shot_file.coded("prores") == clip.shot_file.coded("prores")
    assert len(copy.shot_file.coded("frames")) == FRAMES
