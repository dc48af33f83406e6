"""What checking a disk cache entry's digest costs: loading a cached render with
the digest verified (DiskCache.load: hashed on first use in a session, then
only while the files keep their size and time) against reading the files unchecked.

Prints one JSON line per clip size.

    python benchmarks/disk_cache.py [--megabytes 30 300] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from canvas_app.engine.disk_cache import DiskCache  # noqa: E402
from canvas_app.values import Clip  # noqa: E402
from nodes.generate import Generate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, nargs="+", default=[30, 300])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    node = Generate()
    for megabytes in args.megabytes:
        frames = max(1, megabytes * 2 ** 20 // (640 * 360 * 3))
        clip = Clip(frames=[np.full((360, 640, 3), i % 255, np.uint8) for i in range(frames)],
                    fps=12.0, metadata={"shot": "bench"})
        with tempfile.TemporaryDirectory() as folder:
            cache = DiskCache(Path(folder), max_bytes=2 ** 40)
            key = "be" + "0" * 62
            started = time.perf_counter()
            cache.save(key, node, {"clip": clip})
            save_seconds = time.perf_counter() - started
            checked, unchecked = [], []
            for _ in range(args.repeats):
                started = time.perf_counter()
                assert cache.load(key, node) is not None
                checked.append(time.perf_counter() - started)
                started = time.perf_counter()
                node.load_result(cache._entry(key))
                unchecked.append(time.perf_counter() - started)
        print(json.dumps({"clip_mb": megabytes, "frames": frames,
                          "save_with_digest_s": round(save_seconds, 3),
                          "first_load_verified_s": round(checked[0], 3),
                          "later_loads_s": round(statistics.median(checked[1:] or checked), 3),
                          "load_unverified_s": round(statistics.median(unchecked), 3)}))


if __name__ == "__main__":
    main()
