"""The Ray farm on a local cluster started once for this module (2 CPUs, no dashboard)."""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from canvas_app.cli import main  # noqa: E402
from canvas_app.engine import CancelToken, Executor  # noqa: E402
from canvas_app.engine.disk_cache import DiskCache  # noqa: E402
from canvas_app.engine.events import NodeProgress, NodeStarted  # noqa: E402
from canvas_app.graph import Graph  # noqa: E402
from canvas_app.project import load_project  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXAMPLE = ROOT / "resources" / "examples" / "spokesperson" / "spokesperson.canvas.json"
SHOTS = ("generate1", "generate2", "generate3")
sys.path.insert(0, str(HERE))  # farm_nodes, here and on the workers (see the fixture)


@pytest.fixture(scope="module")
def farm():
    # Workers are processes of their own: they find canvas_app and the test node types
    # through PYTHONPATH, which the local cluster's processes inherit.
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE), previous or ""])
    # One GPU as a logical resource (no card needed): the GPU actor path runs too.
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
    if previous is None:
        os.environ.pop("PYTHONPATH")
    else:
        os.environ["PYTHONPATH"] = previous
    from canvas_app.farm import ray_dispatcher

    dispatcher = ray_dispatcher("ray")
    yield dispatcher
    dispatcher.shutdown()
    ray.shutdown()


def load_example():
    graph, issues = load_project(EXAMPLE)
    assert not [issue for issue in issues if issue.severity == "error"]
    return graph


def run(graph, tmp_path, name, dispatcher=None, disk_cache=None, listener=None, token=None):
    out = tmp_path / name
    out.mkdir()
    result = Executor(disk_cache=disk_cache, dispatcher=dispatcher).run(
        graph, listener=listener, cancel_token=token, output_dir=out,
        project_dir=EXAMPLE.parent)
    return result, out


def scores(result):
    report = result.outputs["sequence1"]["sequence"].report
    return [(shot["name"], shot["identity_score"]) for shot in report["shots"]]


def test_farm_renders_the_same_frames_and_scores_as_this_computer(farm, tmp_path, monkeypatch):
    from canvas_app.media.exports import shot_frames

    monkeypatch.setattr(shot_frames, "release", lambda clips: None)  # kept, to be checked below
    local, _ = run(load_example(), tmp_path, "local")
    events = []
    cache = DiskCache(tmp_path / "cache")
    remote, out = run(load_example(), tmp_path, "farm", farm, cache, events.append)

    assert remote.status == local.status == "done"
    for shot in SHOTS:
        ours, theirs = local.outputs[shot]["clip"], remote.outputs[shot]["clip"]
        assert len(ours.frames) == len(theirs.frames)
        for mine, farmed in zip(ours.frames, theirs.frames):
            np.testing.assert_array_equal(mine, farmed)
    assert scores(remote) == scores(local)
    assert (out / "spokesperson.mp4").is_file()
    # Each shot's file was encoded on the worker that rendered it and came back with it.
    for shot in SHOTS:
        farmed = remote.outputs[shot]["clip"]
        assert farmed.shot_file.matches(farmed) and farmed.shot_file.data()[4:8] == b"ftyp"
        # and so were its ProRes and PNG frames, which the example's Sequence writes
        assert len(farmed.shot_file.coded("prores")) == len(farmed.frames)
        assert farmed.shot_file.coded("frames")[0][1:4] == b"PNG"
    # The shots ran on farm workers, which said where.
    hosts = {event.node_id: event.host for event in events if isinstance(event, NodeStarted)}
    assert all(hosts[shot] for shot in SHOTS)
    assert any(isinstance(event, NodeProgress) and event.node_id in SHOTS for event in events)

    # A second farm run comes from the cache: no shot is sent to the farm again.
    sent = len(farm.round_trips)
    again, _ = run(load_example(), tmp_path, "again", farm, DiskCache(tmp_path / "cache"))
    assert set(SHOTS) <= again.cached
    assert len(farm.round_trips) == sent
    assert scores(again) == scores(local)


def test_cancel_mid_run_stops_the_farm_and_leaves_no_outputs(farm, tmp_path):
    token = CancelToken()

    def cancel_on_first_shot_progress(event):
        if isinstance(event, NodeProgress) and event.node_id in SHOTS:
            token.cancel()

    result, out = run(load_example(), tmp_path, "out", farm,
                      listener=cancel_on_first_shot_progress, token=token)
    assert result.status == "cancelled"
    assert list(out.iterdir()) == []
    assert not set(SHOTS) & set(result.executed)


def test_cancel_interrupts_the_remote_task(farm, tmp_path):
    from farm_nodes import LongShot

    graph = Graph(registry_with(LongShot))
    marker = tmp_path / "finished"
    node = graph.add_node("LongShot", params={"finished_marker": str(marker), "steps": 500})
    token = CancelToken()
    started = threading.Event()

    def listener(event):
        if isinstance(event, NodeProgress) and event.node_id == node.id:
            started.set()
            token.cancel()

    result = Executor(dispatcher=farm).run(graph, listener=listener, cancel_token=token)
    assert started.is_set() and result.status == "cancelled"
    # The worker's CPU comes back (a bound for busy machines, not a timing assert); the
    # node would have run 10 s and then left its marker file.
    deadline = time.monotonic() + 20.0
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ray.available_resources().get("CPU", 0) == 2
    assert not marker.exists()


def test_a_worker_killed_mid_shot_is_retried_and_the_run_finishes(farm, tmp_path):
    from farm_nodes import DiesOnce

    graph = Graph(registry_with(DiesOnce))
    marker = tmp_path / "first-attempt"
    node = graph.add_node("DiesOnce", params={"marker": str(marker)})
    events = []
    result = Executor(dispatcher=farm).run(graph, listener=events.append)
    assert marker.exists()  # the first attempt really died
    assert result.status == "done"
    assert result.outputs[node.id]["value"] == 42.0
    starts = [event for event in events if isinstance(event, NodeStarted)]
    # The retry always says it started; the first attempt's word may die with its
    # process (the relay call is fire-and-forget), so it is not counted on.
    assert 1 <= len(starts) <= 2


def test_gpu_shots_share_one_long_lived_worker_and_cancel_reaches_it(farm, tmp_path):
    from farm_nodes import GpuShot

    graph = Graph(registry_with(GpuShot))
    takes = [graph.add_node("GpuShot", params={"take": take}) for take in range(3)]
    result = Executor(dispatcher=farm).run(graph)
    assert result.status == "done"
    pids = {result.outputs[node.id]["value"] for node in takes}
    assert len(pids) == 1 and os.getpid() not in pids  # one actor kept its models for all

    long = Graph(registry_with(GpuShot))
    node = long.add_node("GpuShot", params={"steps": 1000})
    token = CancelToken()

    def listener(event):
        if isinstance(event, NodeProgress) and event.node_id == node.id:
            token.cancel()

    assert Executor(dispatcher=farm).run(long, listener=listener,
                                         cancel_token=token).status == "cancelled"
    # The actor stopped the shot at a cancel point and is free for the next one at once.
    again = Executor(dispatcher=farm).run(graph)
    assert again.status == "done" and again.executed


def test_command_line_farm_run_writes_the_cut_here_and_logs_the_worker_hosts(farm, tmp_path):
    import json

    out = tmp_path / "out"
    code = main(["run", str(EXAMPLE), "--farm", "ray", "--out", str(out), "--quiet", "--no-cache"])
    assert code == 0
    assert (out / "spokesperson.mp4").is_file() and (out / "spokesperson.report.json").is_file()
    log = json.loads((out / "run.json").read_text())
    starts = {entry["node"]: entry.get("host") for entry in log if entry.get("event") == "start"}
    assert all(starts[shot] for shot in SHOTS)  # the run log names where each shot rendered
    assert ray.is_initialized()  # the cluster the command joined is left running


def test_an_unreachable_cluster_is_bad_input(farm, capsys):
    code = main(["run", str(EXAMPLE), "--farm", "ray://127.0.0.1:9", "--quiet"])
    assert code == 2
    assert "ray://127.0.0.1:9" in capsys.readouterr().err


def test_without_ray_the_farm_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails
    code = main(["run", str(EXAMPLE), "--farm", "ray", "--quiet"])
    assert code == 2
    assert 'pip install "canvas-app[farm]"' in capsys.readouterr().err


def registry_with(node_type):
    from canvas_app.graph import NodeRegistry

    registry = NodeRegistry()
    registry.register(node_type)
    return registry
