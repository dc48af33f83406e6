"""GUI responsiveness while the engine works in its thread.

Runs the example project (animatic backend: identity build, three shots with
likeness scoring, the export) from the editor, while a 5 ms QTimer on the
GUI thread measures event-loop stalls (how late each tick fires), and the
preview panel records preview latency (frame produced in the engine -> frame
painted). Prints JSON lines. Goals: worst stall < 50 ms, preview latency < 50 ms.

    python benchmarks/responsiveness.py [--project PATH] [--engine process|thread|both]

Both engine modes are measured by default: "process" (the default in the
editor: the engine thread drives a child process) and "thread" (the engine
runs in a thread of the editor's process, where native code that holds the
GIL, such as dlib's face detector, stalls the GUI while it runs).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
TICK_MS = 5


def emit(**data) -> None:
    print(json.dumps(data), flush=True)


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))] if ordered else None


def measure(app, project: Path, mode: str, cache_dir: Path) -> None:
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer

    from canvas_app.ui.app import create_window

    os.environ["CANVAS_APP_ENGINE"] = mode
    os.environ["CANVAS_APP_CACHE_DIR"] = str(cache_dir)  # a cold cache for each mode
    window = create_window(project, offer_recovery=False)
    window.resize(1600, 1000)
    window.show()
    app.processEvents()
    controller = window.execution
    generators = [n.id for n in window.document.graph.nodes.values() if n.type_name == "Generate"]
    window.scene.clearSelection()  # the preview panel follows whatever is rendering

    gaps: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]

    def tick() -> None:
        now = clock.nsecsElapsed()
        gaps.append((now - last[0]) / 1e6)
        last[0] = now

    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)
    loop = QEventLoop()
    finished: list[str] = []
    controller.job_finished.connect(lambda _job, status: (finished.append(status), loop.quit()))
    started = time.perf_counter()
    timer.start()
    window.act_run.trigger()
    loop.exec()
    timer.stop()
    elapsed = time.perf_counter() - started
    stalls = [max(0.0, gap - TICK_MS) for gap in gaps[1:]]
    latencies = [value * 1000 for value in window.preview.frame_view.latencies]
    status = finished[-1] if finished else "unknown"
    emit(metric="run", engine=mode, status=status, seconds=round(elapsed, 2),
         generate_nodes=len(generators), previews_received=window.preview.live_count,
         previews_painted=len(latencies))
    emit(metric="event_loop_stall_ms", engine=mode, median=round(statistics.median(stalls), 2),
         p95=round(percentile(stalls, 0.95), 2), p99=round(percentile(stalls, 0.99), 2),
         worst=round(max(stalls), 2), over_50ms=sum(1 for s in stalls if s > 50),
         ticks=len(gaps), tick_ms=TICK_MS, goal_worst=50)
    if latencies:
        emit(metric="preview_latency_ms", engine=mode, median=round(statistics.median(latencies), 2),
             p95=round(percentile(latencies, 0.95), 2), worst=round(max(latencies), 2), goal=50)
    window.document.undo_stack.setClean()
    window.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", default=str(ROOT / "resources" / "examples" / "spokesperson"
                                                 / "spokesperson.canvas.json"))
    parser.add_argument("--engine", choices=("process", "thread", "both"), default="both")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="canvas-resp-"))
    os.environ.setdefault("CANVAS_APP_CONFIG_DIR", str(tmp / "config"))
    os.environ.setdefault("CANVAS_APP_RECOVERY_DIR", str(tmp / "recovery"))
    source = Path(args.project)
    from canvas_app.ui.app import create_app

    app = create_app()
    for mode in ("process", "thread") if args.engine == "both" else (args.engine,):
        folder = tmp / mode
        shutil.copytree(source.parent, folder)
        measure(app, folder / source.name, mode, tmp / f"cache-{mode}")


if __name__ == "__main__":
    main()
