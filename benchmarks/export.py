"""Export speed: 1080p H.264 through PyAV (what a Sequence writes) against the
`ffmpeg` command encoding the same frames with the same settings, in one run.

The frames are real renders: an animatic shot at 1920x1080. ffmpeg reads them
as raw RGB from a file written (untimed) beforehand, so both sides start from
frames in memory or the page cache. Prints JSON lines; the last one has
`ratio` = our fps / ffmpeg's fps. Goal: ratio >= 0.9.

    python benchmarks/export.py [--seconds 2] [--fps 24] [--repeat 2]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from animatic import astronaut  # noqa: E402

from canvas_app.engine.context import RunContext  # noqa: E402
from canvas_app.generation.animatic import AnimaticBackend  # noqa: E402
from canvas_app.generation.base import ShotRequest  # noqa: E402
from canvas_app.media.exports.encode import KINDS, encode_video  # noqa: E402
from canvas_app.media.video import probe  # noqa: E402
from canvas_app.values import ShotPrompt  # noqa: E402


def emit(**row) -> None:
    print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--fps", type=float, default=24.0)
    parser.add_argument("--repeat", type=int, default=2, help="best of N for each side")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("benchmarks/export.py needs the ffmpeg command (Debian: apt-get install ffmpeg)")

    identity, environment = astronaut()
    started = time.perf_counter()
    clip = AnimaticBackend().render(ShotRequest(
        identity=identity, references=[environment], width=1920, height=1080, fps=args.fps,
        seed=1, prompt=ShotPrompt(shot_size="medium", camera_move="push-in", mood="dramatic",
                                  duration=args.seconds)), RunContext())
    frames = clip.frames
    emit(benchmark="render_1080p_frames", frames=len(frames),
         seconds=round(time.perf_counter() - started, 3))

    h264 = KINDS["h264"]
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        raw = folder / "frames.rgb"
        with open(raw, "wb") as handle:
            for frame in frames:
                handle.write(frame.tobytes())
        command = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                   "-s", "1920x1080", "-r", str(args.fps), "-i", str(raw), "-c:v", "libx264",
                   "-preset", h264.options["preset"], "-crf", h264.options["crf"],
                   "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(folder / "ffmpeg.mp4")]
        ours, theirs = [], []
        for _ in range(args.repeat):  # alternate, so both see the same machine load
            started = time.perf_counter()
            encode_video(frames, args.fps, folder / "ours.mp4", kind="h264")
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            subprocess.run(command, check=True)
            theirs.append(time.perf_counter() - started)
        for name, times, path in (("pyav_h264_1080p", ours, "ours.mp4"),
                                  ("ffmpeg_cli_h264_1080p", theirs, "ffmpeg.mp4")):
            info = probe(folder / path)
            emit(benchmark=name, frames=info["frames"], seconds=round(min(times), 3),
                 fps=round(len(frames) / min(times), 2), bytes=(folder / path).stat().st_size)
        emit(benchmark="h264_1080p_vs_ffmpeg", ratio=round(min(theirs) / min(ours), 3),
             goal=0.9, frames=len(frames))
        started = time.perf_counter()
        encode_video(frames, args.fps, folder / "ours.mov", kind="prores")
        elapsed = time.perf_counter() - started
        emit(benchmark="pyav_prores_hq_1080p", frames=len(frames), seconds=round(elapsed, 3),
             fps=round(len(frames) / elapsed, 2))


if __name__ == "__main__":
    main()
