"""How quickly the editor stops a run: Stop pressed -> job finished, and window
close mid-run -> engine thread joined. The unit tests check that these happen;
this measures how long they take.

Prints JSON lines, one per engine mode. Goals: stop < 1 s, close < 2 s.

    python benchmarks/cancel.py [--engine process|thread|both]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def wait_until(app, condition, timeout: float = 30.0) -> None:
    end = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > end:
            raise TimeoutError("the run did not reach the expected state")
        app.processEvents()


def measure(app, mode: str, folder: Path) -> None:
    os.environ["CANVAS_APP_ENGINE"] = mode
    from canvas_app.graph.model import Link
    from canvas_app.ui.app import create_window
    from tests import fake_nodes

    window = create_window(registry=fake_nodes.registry())
    window.document.save(folder / f"{mode}.canvas.json")
    doc = window.document
    source = doc.add_node("Source", (0, 0)).id
    slow = doc.add_node("Slow", (300, 0), params={"steps": 2000, "delay": 0.01}).id
    doc.connect(Link(source, "value", slow, "value"))
    finished = []
    window.execution.job_finished.connect(lambda _job, status: finished.append(status))

    window.act_run.trigger()
    wait_until(app, lambda: window.run_states.get(slow).state == "running")
    started = time.perf_counter()
    window.act_stop.trigger()
    wait_until(app, lambda: bool(finished))
    stop_seconds = time.perf_counter() - started

    window.act_run.trigger()
    wait_until(app, lambda: window.run_states.get(slow).state == "running")
    doc.undo_stack.setClean()
    started = time.perf_counter()
    window.close()
    close_seconds = time.perf_counter() - started
    print(json.dumps({"metric": "cancel", "engine": mode, "status": finished[0],
                      "stop_to_finished_s": round(stop_seconds, 3),
                      "close_while_running_s": round(close_seconds, 3),
                      "joined": window.execution.worker.isFinished(),
                      "goal_stop_s": 1.0, "goal_close_s": 2.0}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=("process", "thread", "both"), default="both")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="canvas-cancel-"))
    os.environ.setdefault("CANVAS_APP_CONFIG_DIR", str(tmp / "config"))
    os.environ.setdefault("CANVAS_APP_RECOVERY_DIR", str(tmp / "recovery"))
    os.environ.setdefault("CANVAS_APP_CACHE_DIR", str(tmp / "cache"))
    os.environ.setdefault("CANVAS_APP_RECOVER", "no")
    from canvas_app.ui.app import create_app

    app = create_app()
    for mode in ("process", "thread") if args.engine == "both" else (args.engine,):
        measure(app, mode, tmp)


if __name__ == "__main__":
    main()
