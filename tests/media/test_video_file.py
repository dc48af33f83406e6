"""MP4 export and import: what a player or an editor will see in the file."""
from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction

import numpy as np
import pytest

from canvas_app.engine.context import Cancelled, RunContext
from canvas_app.errors import BadInput
from canvas_app.media.video import conform, fps_fraction, probe, read_video, write_video


def gradient_frames(n, width=320, height=180):
    """Smooth, moving frames (compress well, so decoded pixels stay close)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for i in range(n):
        r = (xs / width * 255 + i * 4) % 256
        g = ys / height * 255
        b = np.full_like(xs, (i * 20) % 256)
        frames.append(np.stack([r, g, b], axis=-1).astype(np.uint8))
    return frames


def test_written_mp4_has_the_right_frames_duration_and_codec(tmp_path):
    frames = gradient_frames(36)
    path = write_video(frames, 12, tmp_path / "shot.mp4")
    info = probe(path)
    assert info["frames"] == 36
    assert info["fps"] == pytest.approx(12.0)
    assert info["duration"] == pytest.approx(3.0, abs=1e-3)
    assert (info["width"], info["height"]) == (320, 180)
    assert info["codec"] == "h264"
    decoded, fps = read_video(path)
    assert fps == pytest.approx(12.0) and len(decoded) == 36
    # Same pictures, in the same order (H.264 at crf 20 is close to lossless on smooth frames).
    for original, back in zip(frames, decoded):
        assert np.abs(original.astype(int) - back.astype(int)).mean() < 3.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shot.mp4"]  # no temp file left


def test_ntsc_rate_from_a_generator_and_odd_size(tmp_path):
    frames = gradient_frames(10, width=201, height=101)
    path = write_video((f for f in frames), 23.976, tmp_path / "odd.mp4")
    info = probe(path)
    assert info["frames"] == 10
    assert info["fps"] == pytest.approx(24000 / 1001)
    assert info["duration"] == pytest.approx(10 * 1001 / 24000, abs=1e-3)
    assert info["width"] % 2 == 0 and info["height"] % 2 == 0  # yuv420p needs even sizes
    assert (info["width"], info["height"]) == (202, 102)
    decoded, _ = read_video(path)
    assert np.abs(decoded[0][:101, :201].astype(int) - frames[0].astype(int)).mean() < 3.0
    assert fps_fraction(29.97) == Fraction(30000, 1001) and fps_fraction(12) == 12


def test_frames_of_another_size_are_letterboxed(tmp_path):
    frames = gradient_frames(3) + [np.full((400, 400, 3), 200, np.uint8)]
    path = write_video(frames, 24, tmp_path / "mixed.mp4")
    decoded, _ = read_video(path)
    assert len(decoded) == 4 and decoded[3].shape == (180, 320, 3)
    assert decoded[3][:, :60].mean() < 10 and decoded[3][:, 140:180].mean() > 180  # pillarbox


def test_failed_or_cancelled_export_leaves_the_old_file(tmp_path):
    target = tmp_path / "cut.mp4"
    write_video(gradient_frames(5), 12, target)
    before = target.read_bytes()

    def broken():
        yield from gradient_frames(3)
        raise RuntimeError("render failed")

    with pytest.raises(RuntimeError):
        write_video(broken(), 12, target)
    ctx = RunContext()
    ctx.on_progress = lambda fraction, message: ctx.cancel_token.cancel() if fraction > 0.3 else None
    with pytest.raises(Cancelled):
        write_video(gradient_frames(20), 12, target, ctx=ctx)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["cut.mp4"]


def test_progress_is_reported_for_lists(tmp_path):
    seen = []
    write_video(gradient_frames(8), 12, tmp_path / "p.mp4", ctx=RunContext(on_progress=lambda f, m: seen.append(f)))
    assert seen[-1] == 1.0 and len(seen) == 8


def test_read_video_sample_and_max_frames(tmp_path):
    frames = gradient_frames(30)
    path = write_video(frames, 10, tmp_path / "s.mp4")
    first, _ = read_video(path, max_frames=4)
    assert len(first) == 4
    sampled, _ = read_video(path, sample=4)
    assert len(sampled) == 4
    # Evenly spread, first and last included: frames 0, 10, 19, 29 (blue channel = i * 20 % 256).
    expected = [int(frames[i][0, 0, 2]) for i in (0, 10, 19, 29)]
    assert [int(f[5, 5, 2]) for f in sampled] == pytest.approx(expected, abs=6)


def test_unreadable_files_are_bad_input(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(BadInput):
        probe(junk)
    with pytest.raises(BadInput):
        read_video(tmp_path / "missing.mp4")


def test_conform_fit_and_cover():
    tall = np.full((200, 100, 3), 255, np.uint8)
    fit = conform(tall, 320, 180)
    assert fit.shape == (180, 320, 3)
    assert fit[:, :100].max() == 0 and fit[:, 120:200].min() == 255  # black bars at the sides
    cover = conform(tall, 320, 180, mode="cover")
    assert cover.shape == (180, 320, 3) and cover.min() == 255
    same = np.zeros((180, 320, 3), np.uint8)
    assert conform(same, 320, 180) is same


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")
def test_ffprobe_agrees(tmp_path):
    path = write_video(gradient_frames(25), 25, tmp_path / "f.mp4")
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                          "-show_entries", "stream=nb_read_frames,avg_frame_rate,duration,pix_fmt",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True)
    stream = json.loads(out.stdout)["streams"][0]
    assert int(stream["nb_read_frames"]) == 25
    assert stream["avg_frame_rate"] == "25/1"
    assert float(stream["duration"]) == pytest.approx(1.0, abs=1e-3)
    assert stream["pix_fmt"] == "yuv420p"
