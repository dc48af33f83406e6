"""The render farm against this computer: one 6-shot project, both ways, in one run.

Renders the example extended to 6 animatic shots (the cut included) with the
local dispatcher, then on a local Ray cluster of 2 CPU workers, and prints JSON
lines: both wall times, the shots phase of each (from the identity being ready
to the last shot done), the exports phase (the Sequence node, start to end),
the speedup, whether the frames are identical, and the per-shot dispatch
overhead (the farm's round trip minus the time the shot ran on its worker,
shots sent one at a time so no queueing is counted). `cpu_s` is the CPU time of
this process and every process it started (the Ray cluster's too) during the
render: the farm run cannot take less than its CPU time spread over this
machine's cores, so with local workers the speedup cannot pass
local_wall / (farm cpu_s / cores) (printed as `bound`).
Goals on 2 cores: speedup >= 1.6x, overhead < 50 ms per shot.

    python benchmarks/farm.py [--workers 2]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from canvas_app.engine import Executor  # noqa: E402
from canvas_app.engine.events import NodeFinished, NodeStarted  # noqa: E402
from canvas_app.graph import Link  # noqa: E402
from canvas_app.project import load_project  # noqa: E402

EXAMPLE = ROOT / "resources" / "examples" / "spokesperson" / "spokesperson.canvas.json"


def emit(**row) -> None:
    print(json.dumps(row), flush=True)


def six_shots():
    """The example's 3 shots, plus 3 more with other seeds and prompts."""
    graph, _ = load_project(EXAMPLE)
    for index, source in enumerate(("1", "2", "3"), start=4):
        prompt, shot = graph.nodes[f"prompt{source}"], graph.nodes[f"generate{source}"]
        new_prompt = graph.add_node("Prompt", title=f"Shot {index}",
                                    params={**prompt.params, "positive":
                                            prompt.params["positive"] + ", another take"})
        new_shot = graph.add_node("Generate", title=f"Render Shot {index}",
                                  params={**shot.params, "seed": shot.params["seed"] + 10})
        for link in list(graph.links):
            if link.dst == shot.id and link.dst_port != "prompt":
                graph.connect(Link(link.src, link.src_port, new_shot.id, link.dst_port))
        graph.connect(Link(new_prompt.id, "prompt", new_shot.id, "prompt"))
        graph.connect(Link(new_shot.id, "clip", "sequence1", "clips"))
    return graph


def cpu_seconds() -> float:
    """CPU time of this process and of every process under it (the Ray cluster's)."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for process in [me, *me.children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.Error:  # gone meanwhile
            pass
    return total


def render(dispatcher, out: Path):
    graph = six_shots()
    shots = {node.id for node in graph.nodes.values() if node.type_name == "Generate"}
    marks: dict[str, float] = {}
    starts: dict[str, float] = {}

    def listener(event):
        if isinstance(event, NodeFinished):
            marks[event.node_id] = time.perf_counter()
        elif isinstance(event, NodeStarted):
            starts[event.node_id] = time.perf_counter()

    began, began_cpu = time.perf_counter(), cpu_seconds()
    result = Executor(dispatcher=dispatcher).run(graph, listener=listener, output_dir=out,
                                                 project_dir=EXAMPLE.parent)
    wall = time.perf_counter() - began
    cpu = cpu_seconds() - began_cpu
    assert result.status == "done", result.failures
    shots_phase = max(marks[shot] for shot in shots) - marks["identitylock1"]
    exports_phase = marks["sequence1"] - starts["sequence1"]
    frames = {shot: result.outputs[shot]["clip"].frames for shot in shots}
    return wall, shots_phase, exports_phase, frames, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray cluster")
    args = parser.parse_args()
    import ray

    from canvas_app.farm import ray_dispatcher

    emit(case="machine", cpus=os.cpu_count(), load_1min=round(os.getloadavg()[0], 2))
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        local_wall, local_shots, local_exports, local_frames, local_cpu = render(None, folder / "local")
        emit(case="local", shots=6, wall_s=round(local_wall, 2), shots_phase_s=round(local_shots, 2),
             exports_phase_s=round(local_exports, 2), cpu_s=round(local_cpu, 2),
             cores_busy=round(local_cpu / local_wall, 2))

        began = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
        farm = ray_dispatcher("ray")
        farm.warm_up()
        emit(case="cluster_start", workers=args.workers,
             seconds=round(time.perf_counter() - began, 2))
        try:
            farm_wall, farm_shots, farm_exports, farm_frames, farm_cpu = render(farm, folder / "farm")
            same = all(len(local_frames[shot]) == len(farm_frames[shot]) and
                       all((a == b).all() for a, b in zip(local_frames[shot], farm_frames[shot]))
                       for shot in local_frames)
            emit(case="farm", shots=6, workers=args.workers, wall_s=round(farm_wall, 2),
                 shots_phase_s=round(farm_shots, 2), exports_phase_s=round(farm_exports, 2),
                 cpu_s=round(farm_cpu, 2), cores_busy=round(farm_cpu / farm_wall, 2),
                 same_frames=same)
            # The farm run cannot take less than its CPU time spread over this machine's cores.
            emit(case="speedup", project=round(local_wall / farm_wall, 2),
                 shots_phase=round(local_shots / farm_shots, 2), goal=1.6,
                 bound=round(local_wall / (farm_cpu / (os.cpu_count() or 1)), 2))

            farm.max_inflight, farm.round_trips = 1, []  # one at a time: no queueing
            render(farm, folder / "overhead")
            overheads = [trip - ran for trip, ran in farm.round_trips]
            emit(case="dispatch_overhead", nodes=len(overheads),
                 mean_ms=round(statistics.mean(overheads) * 1000, 1),
                 median_ms=round(statistics.median(overheads) * 1000, 1),
                 max_ms=round(max(overheads) * 1000, 1),
                 node_s=round(statistics.mean(ran for _, ran in farm.round_trips), 2),
                 goal_ms=50)
        finally:
            farm.shutdown()
            ray.shutdown()


if __name__ == "__main__":
    main()
