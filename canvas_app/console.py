"""Terminal progress for `canvas-app run`: an engine listener."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from canvas_app.engine.events import (NodeFailed, NodeFinished, NodeLog, NodeProgress,
                                      NodeSkipped, NodeStarted, RunFinished, RunStarted)


class ConsoleProgress:
    """Prints one line per node (and a live percentage on a terminal), and
    keeps a log of the run that is saved beside the outputs."""

    def __init__(self, graph, quiet: bool = False, stream=None) -> None:
        self.graph = graph
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.plan: tuple[str, ...] = ()
        self.log: list[dict] = []
        self._started: dict[str, float] = {}
        self._last_draw = 0.0

    def _name(self, node_id: str) -> str:
        node = self.graph.nodes[node_id]
        return f"{node.type_name} {node.title!r}" if node.title != node.type_name else node.type_name

    def _step(self, node_id: str) -> str:
        index = self.plan.index(node_id) + 1 if node_id in self.plan else 0
        return f"[{index}/{len(self.plan)}]"

    def _print(self, text: str) -> None:
        if self.quiet:
            return
        if self.live:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        self.stream.flush()

    def __call__(self, event) -> None:
        now = time.perf_counter()
        if isinstance(event, RunStarted):
            self.plan = event.plan
        elif isinstance(event, NodeStarted):
            self._started[event.node_id] = now
            self.log.append({"node": event.node_id, "event": "start", "time": time.time()}
                            | ({"host": event.host} if event.host else {}))
            where = f" on {event.host}" if event.host else ""  # a farm worker
            if not self.live:
                self._print(f"{self._step(event.node_id)} {self._name(event.node_id)}{where} ...")
        elif isinstance(event, NodeProgress):
            if self.live and not self.quiet and now - self._last_draw > 0.1:
                self._last_draw = now
                self.stream.write(f"\r\033[K{self._step(event.node_id)} "
                                  f"{self._name(event.node_id)} {event.fraction * 100:3.0f}% "
                                  f"{event.message}")
                self.stream.flush()
        elif isinstance(event, NodeFinished):
            self.log.append({"node": event.node_id, "event": "end", "cached": event.cached,
                             "seconds": round(event.elapsed, 4), "time": time.time()})
            how = "cached" if event.cached else f"{event.elapsed:.2f} s"
            self._print(f"{self._step(event.node_id)} {self._name(event.node_id)} done ({how})")
        elif isinstance(event, NodeFailed):
            self.log.append({"node": event.node_id, "event": "failed", "message": event.message,
                             "time": time.time()})
            self._print(f"{self._step(event.node_id)} {self._name(event.node_id)} FAILED: "
                        f"{event.message}")
        elif isinstance(event, NodeSkipped):
            self.log.append({"node": event.node_id, "event": "skipped", "reason": event.reason})
            self._print(f"{self._step(event.node_id)} {self._name(event.node_id)} skipped: "
                        f"{event.reason}")
        elif isinstance(event, NodeLog):
            self.log.append({"node": event.node_id, "event": "log", "message": event.message})
        elif isinstance(event, RunFinished):
            self.log.append({"event": "run_finished", "status": event.status,
                             "seconds": round(event.elapsed, 3)})

    def write_log(self, out_dir: Path | None) -> None:
        if out_dir is None:
            return
        from canvas_app.fileio import atomic_write_text

        atomic_write_text(Path(out_dir) / "run.json", json.dumps(self.log, indent=1) + "\n")

    def summary(self, result, out_dir: Path) -> None:
        """The cut's files and one identity line per shot, on stdout."""
        for outputs in result.outputs.values():
            sequence = outputs.get("sequence")
            if sequence is None:
                continue
            report = sequence.report
            print(f"video:    {sequence.video_path}")
            print(f"timeline: {sequence.timeline_path}")
            print(f"report:   {sequence.report_path}")
            for shot in report["shots"]:
                score = shot["identity_score"]
                mean = "n/a" if score["mean"] is None else f"{score['mean']:.3f}"
                worst = "n/a" if score["minimum"] is None else f"{score['minimum']:.3f}"
                print(f"  shot {shot['index']} {shot['name']!r}: identity {mean} (worst {worst}, "
                      f"{score['recognizer']}) {'PASS' if shot['passed'] else 'FAIL'}")
        print(f"finished in {result.elapsed:.1f} s ({len(result.executed)} nodes ran, "
              f"{len(result.cached)} from cache)")
