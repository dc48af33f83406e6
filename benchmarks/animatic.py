"""Animatic render speed and MP4 encode speed.

Prints JSON lines: frames/second of the animatic at 640x360 and 1280x720 for
every shot size and camera move (with an environment reference, "dramatic"
grade, grain on - the most work per frame), the one-off set-up cost per portrait
(the grabCut matte), and H.264 encode frames/second. Goal: a 3 s shot at
12 fps, 640x360, in well under a second on 2 cores.

    python benchmarks/animatic.py [--seconds 3] [--fps 12] [--quick]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from canvas_app.engine.context import RunContext  # noqa: E402
from canvas_app.generation.animatic import AnimaticBackend  # noqa: E402
from canvas_app.shot_directions import CAMERA_MOVES, SHOT_SIZES  # noqa: E402
from canvas_app.generation.base import ShotRequest  # noqa: E402
from canvas_app.media import matte  # noqa: E402
from canvas_app.media.video import write_video  # noqa: E402
from canvas_app.values import Identity, RefImage, ShotPrompt  # noqa: E402


def astronaut() -> tuple[Identity, RefImage]:
    from skimage import data

    image = data.astronaut()
    x, y, side = 85, 8, 270
    landmarks = np.array([[203.2, 101.5], [246.5, 104.2], [225, 127], [201, 139], [246, 141]],
                         np.float32) - [x, y]
    identity = Identity(name="astronaut", embeddings={"dlib": np.ones(128, np.float32)},
                        portrait=image[y:y + side, x:x + side].copy(),
                        portrait_landmarks=landmarks.astype(np.float32),
                        portrait_face_box=(175.0 - x, 76.0 - y, 265.0 - x, 166.0 - y))
    environment = RefImage(path=Path("rocket.png"), role="environment", pixels=data.rocket(),
                           sha256="0" * 64)
    return identity, environment


def emit(**row) -> None:
    print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--fps", type=float, default=12.0)
    parser.add_argument("--quick", action="store_true", help="static and push-in only")
    args = parser.parse_args()

    identity, environment = astronaut()
    backend = AnimaticBackend()

    def request(size, move, width, height):
        return ShotRequest(identity=identity, references=[environment], width=width, height=height,
                           fps=args.fps, seed=1,
                           prompt=ShotPrompt(shot_size=size, camera_move=move, mood="dramatic",
                                             duration=args.seconds))

    matte.clear_cache()
    started = time.perf_counter()
    one_frame = ShotRequest(identity=identity, prompt=ShotPrompt(duration=1 / args.fps), fps=args.fps)
    backend.render(one_frame, RunContext())
    emit(benchmark="animatic_setup_first_portrait", seconds=round(time.perf_counter() - started, 3))

    moves = ("static", "push-in") if args.quick else CAMERA_MOVES
    last_clip = None
    for width, height in ((640, 360), (1280, 720)):
        for size in SHOT_SIZES:
            for move in moves:
                started = time.perf_counter()
                clip = backend.render(request(size, move, width, height), RunContext())
                elapsed = time.perf_counter() - started
                emit(benchmark="animatic_render", width=width, height=height, shot_size=size,
                     camera_move=move, frames=len(clip.frames), seconds=round(elapsed, 3),
                     fps=round(len(clip.frames) / elapsed, 1))
                if (width, size, move) == (640, "medium", "push-in"):
                    last_clip = clip
        big = clip  # 1280x720, the last one rendered

    with tempfile.TemporaryDirectory() as folder:
        for clip in (last_clip, big):
            started = time.perf_counter()
            write_video(clip.frames, clip.fps, Path(folder) / "bench.mp4")
            elapsed = time.perf_counter() - started
            width, height = clip.size
            emit(benchmark="mp4_encode", width=width, height=height, frames=len(clip.frames),
                 seconds=round(elapsed, 3), fps=round(len(clip.frames) / elapsed, 1),
                 bytes=(Path(folder) / "bench.mp4").stat().st_size)


if __name__ == "__main__":
    main()
