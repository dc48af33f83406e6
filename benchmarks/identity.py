"""Identity benchmarks: prints one JSON object per line.

    python benchmarks/identity.py [--repeat N]

- faces/second for detect + align + embed (the largest face) with each encoder
  that can run here, on a 512 x 512 photo and on a 1920 x 1080 frame;
  insightface runs on the tiny test pack exported from torch (labelled: it
  measures the plumbing, not the speed of a real buffalo_l pack), plus any
  real pack installed in the models folder;
- seconds to build an identity from 10 references with dlib (goal < 2 s on
  2 CPU cores), model loading excluded and reported separately.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "identity"))


def emit(**record) -> None:
    print(json.dumps(record), flush=True)


def photos():
    import cv2
    from skimage.data import astronaut

    small = np.ascontiguousarray(astronaut()[:, :, :3])
    frame = np.full((1080, 1920, 3), 60, np.uint8)
    big = cv2.resize(small, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    frame[28:1052, 700:1724] = big
    return {"512x512": small, "1920x1080": frame}


def faces_per_second(encoder, image, repeat: int) -> float:
    from canvas_app.identity import choose_face

    choice = choose_face(encoder, image)  # warm-up
    encoder.embed(encoder.align(image, choice.face))
    start = time.perf_counter()
    for _ in range(repeat):
        choice = choose_face(encoder, image)
        encoder.embed(encoder.align(image, choice.face))
    return repeat / (time.perf_counter() - start)


def bench_encoders(repeat: int) -> None:
    from canvas_app.identity import available_encoders, get_encoder

    images = photos()
    runs = [("dlib", None, "dlib")]
    with tempfile.TemporaryDirectory() as tmp:
        from tiny_insightface import build_pack

        build_pack(Path(tmp) / "models" / "tiny")
        runs.append(("insightface/tiny", tmp,
                     "insightface/tiny (tiny exported test models: plumbing, not real speed)"))
        runs += [(name, None, name) for name in available_encoders()
                 if name.startswith("insightface/")]
        for name, models_dir, label in runs:
            start = time.perf_counter()
            encoder = get_encoder(name, models_dir)
            load_s = time.perf_counter() - start
            for size, image in images.items():
                emit(benchmark="identity.faces_per_second", encoder=label, input=size,
                     faces_per_second=round(faces_per_second(encoder, image, repeat), 2),
                     model_load_s=round(load_s, 3), cpu_cores=os.cpu_count(),
                     providers=getattr(encoder, "providers", ["dlib CPU"]))


def bench_build(repeat: int) -> None:
    import cv2

    from canvas_app.identity import build_identity, get_encoder
    from canvas_app.media.images import load_reference
    from PIL import Image
    from skimage.data import astronaut

    base = np.ascontiguousarray(astronaut()[:, :, :3])
    height, width = base.shape[:2]
    variants = [
        base, base[:, ::-1], (base * 0.5).astype(np.uint8),
        np.clip(base * 1.3 + 10, 0, 255).astype(np.uint8), base[10:400, 60:420],
        cv2.resize(base, (384, 384), interpolation=cv2.INTER_AREA),
        cv2.resize(base, (640, 640), interpolation=cv2.INTER_CUBIC),
        cv2.GaussianBlur(base, (0, 0), 1.0),
        np.clip(base * np.linspace(0.6, 1.2, width)[None, :, None], 0, 255).astype(np.uint8),
        base[:, ::-1][20:480, 30:500],
    ]
    start = time.perf_counter()
    get_encoder("dlib")
    load_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        refs = []
        for index, pixels in enumerate(variants):
            path = Path(tmp) / f"ref{index}.jpg"
            Image.fromarray(np.ascontiguousarray(pixels)).save(path, quality=92)
            refs.append(load_reference(path, "face"))
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            identity = build_identity("bench", refs)
            times.append(time.perf_counter() - start)
    emit(benchmark="identity.build_10_references", encoder="dlib",
         seconds=round(min(times), 3), seconds_median=round(float(np.median(times)), 3),
         goal_seconds=2.0, met=min(times) < 2.0, included=sum(s.included for s in identity.samples),
         model_load_s=round(load_s, 3), cpu_cores=os.cpu_count())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    bench_encoders(args.repeat)
    bench_build(max(1, min(args.repeat, 3)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
