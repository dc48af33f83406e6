"""Running graphs from the editor: the worker thread, states, previews,
cancel, the queue, the cache and failures."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PySide6.QtWidgets import QToolButton

from canvas_app.graph.model import Link
from tests import fake_nodes

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True, params=["process", "thread"])
def engine_mode(request, monkeypatch):
    """Every test runs with the engine in a child process (the default) and
    in a thread of the editor's process."""
    monkeypatch.setenv("CANVAS_APP_ENGINE", request.param)
    return request.param


@pytest.fixture
def fake_window(make_window, tmp_path):
    """An editor on the fake node types, saved in tmp_path (outputs in tmp_path/output)."""
    window = make_window(registry=fake_nodes.registry())
    window.document.save(tmp_path / "fake.canvas.json")
    return window


def chain(window, steps=5, delay=0.01):
    doc = window.document
    source = doc.add_node("Source", (0, 0)).id
    slow = doc.add_node("Slow", (300, 0), params={"steps": steps, "delay": delay}).id
    sink = doc.add_node("Sink", (600, 0)).id
    doc.connect(Link(source, "value", slow, "value"))
    doc.connect(Link(slow, "value", sink, "values"))
    return source, slow, sink


def run_and_wait(qtbot, window, action=None, timeout=20000):
    controller = window.execution
    with qtbot.waitSignal(controller.job_finished, timeout=timeout) as blocker:
        (action or window.act_run).trigger()
    return blocker.args


def ran(window, job_id=None):
    """Node ids that really ran (not from the cache) in a run, in order."""
    runs = window.run_states.runs
    return runs[job_id if job_id is not None else max(runs)].executed


def states(window):
    return {node_id: window.run_states.get(node_id).state for node_id in window.document.graph.nodes}


def real_shot(make_window, tmp_path, name, prompt_params, generate_params):
    """A window with the real Reference -> IdentityLock -> Generate chain (and the
    Prompt) on the example's face, rendered with the animatic backend.
    Returns the window and the node ids (ref, lock, prompt, gen)."""
    refs = ROOT / "resources" / "examples" / "spokesperson" / "refs"
    face = next(iter(sorted(refs.glob("astronaut*"))), None)
    if face is None:
        pytest.skip("the example reference image is not available")
    shutil.copy(face, tmp_path / face.name)
    window = make_window()
    window.document.save(tmp_path / f"{name}.canvas.json")
    doc = window.document
    ref = doc.add_node("Reference", (0, 0), params={"images": [{"path": str(tmp_path / face.name),
                                                                  "role": "face"}]}).id
    lock = doc.add_node("IdentityLock", (300, 0)).id
    prompt = doc.add_node("Prompt", (300, 200), params={"positive": "hello", **prompt_params}).id
    gen = doc.add_node("Generate", (600, 0), params=generate_params).id
    for link in (Link(ref, "images", lock, "references"), Link(lock, "identity", gen, "identity"),
                 Link(prompt, "prompt", gen, "prompt")):
        assert doc.connect(link) is None
    return window, (ref, lock, prompt, gen)

def test_run_from_the_gui_shows_states_previews_and_writes_logs(fake_window, qtbot, tmp_path):
    window = fake_window
    source, slow, sink = chain(window, steps=8, delay=0.02)
    window.scene.select_nodes([slow])  # the preview panel follows the selected node
    job_id, status = run_and_wait(qtbot, window)
    assert status == "done"
    assert states(window) == {source: "done", slow: "done", sink: "done"}
    assert window.run_states.outputs(sink) == {"total": 2}
    preview = window.preview
    assert preview.live_count >= 3  # frames arrived while the node ran
    assert window.run_states.get(slow).elapsed >= 0.1  # "done in ..." on the node
    events = [e for _, e, _ in window.log_panel.events(job_id)]
    assert events.count("start") == 3 and events.count("end") == 3 and events[-1] == "done"
    out = tmp_path / "output"
    log = json.loads((out / "run.json").read_text())
    assert log["status"] == "done" and any(e.get("event") == "end" for e in log["events"])
    assert "Slow" in (out / "run.log").read_text()
    assert not window.act_stop.isEnabled()


def test_second_run_is_served_from_cache_and_edits_rerun_only_downstream(fake_window, qtbot):
    window = fake_window
    source, slow, sink = chain(window)
    run_and_wait(qtbot, window)
    run_and_wait(qtbot, window)
    assert ran(window) == []
    assert set(states(window).values()) == {"cached"}
    assert window.run_states.get(sink).state == "cached"  # the canvas says so
    window.document.set_param(slow, "label", "take 2")
    assert window.run_states.get(slow).stale and window.run_states.get(sink).stale
    run_and_wait(qtbot, window)
    assert ran(window) == [slow, sink]
    assert states(window) == {source: "cached", slow: "done", sink: "done"}


def test_stop_cancels_quickly_and_leaves_cache_consistent(fake_window, qtbot):
    window = fake_window
    source, slow, sink = chain(window, steps=400, delay=0.01)
    controller = window.execution
    window.act_run.trigger()
    qtbot.waitUntil(lambda: window.run_states.get(slow).state == "running", timeout=5000)
    assert window.act_stop.isEnabled()
    # (how quickly: benchmarks/cancel.py; the node would run for 4 s)
    with qtbot.waitSignal(controller.job_finished, timeout=5000) as blocker:
        window.act_stop.trigger()
    assert blocker.args[1] == "cancelled"
    assert states(window) == {source: "done", slow: "cancelled", sink: "idle"}
    assert window.run_states.outputs(slow) is None
    window.document.set_param(slow, "steps", 2)
    assert run_and_wait(qtbot, window)[1] == "done"
    assert ran(window) == [slow, sink]  # the source's result survived the cancel in the cache


def test_run_again_while_running_queues_and_queued_runs_cancel_on_their_own(fake_window, qtbot):
    window = fake_window
    _, slow, _ = chain(window, steps=60, delay=0.01)
    controller = window.execution
    first = controller.run()
    second = controller.run()
    third = controller.run()
    panel = window.queue_panel
    assert panel.job_ids == [first.id, second.id, third.id]
    assert controller.current is first and controller.queue == [second, third]
    button = panel.findChild(QToolButton, f"cancel_job_{second.id}")
    button.click()
    assert window.run_states.run(second.id).status == "cancelled" and controller.queue == [third]
    finished = []
    controller.job_finished.connect(lambda job_id, status: finished.append((job_id, status)))
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=20000)
    assert finished == [(first.id, "done"), (third.id, "done")]
    assert panel.job_ids == []


def test_editing_while_running_keeps_the_snapshot_and_marks_stale(fake_window, qtbot):
    window = fake_window
    source, slow, sink = chain(window, steps=40, delay=0.01)
    controller = window.execution
    with qtbot.waitSignal(controller.job_finished, timeout=20000):
        window.act_run.trigger()
        qtbot.waitUntil(lambda: window.run_states.get(slow).state == "running", timeout=5000)
        window.document.set_param(source, "value", 10)  # the running job does not see this
    assert window.run_states.outputs(sink) == {"total": 2}
    runs = window.run_states
    assert runs.get(slow).state == "done" and runs.get(slow).stale and runs.get(sink).stale
    run_and_wait(qtbot, window)
    assert window.run_states.outputs(sink) == {"total": 11} and not runs.get(sink).stale


def test_failing_node_shows_its_error_and_the_rest_stays_usable(fake_window, qtbot):
    window = fake_window
    doc = window.document
    source, slow, sink = chain(window)
    fail = doc.add_node("Fail", (300, 200)).id
    doc.connect(Link(source, "value", fail, "value"))
    doc.connect(Link(fail, "value", sink, "values"))
    job_id, status = run_and_wait(qtbot, window)
    assert status == "failed"
    item = window.scene.node_items[fail]
    assert window.run_states.get(fail).state == "failed" and "not acceptable" in item.toolTip()
    assert states(window)[slow] == "done" and states(window)[sink] == "skipped"
    window.scene.select_nodes([fail])
    assert "not acceptable" in window.inspector.run_label.text()
    assert "not acceptable" in window.statusBar().currentMessage()
    # still usable: edit, undo, and run just the healthy branch
    doc.set_param(fail, "bad_input", False)
    doc.undo_stack.undo()
    window.scene.select_nodes([slow])
    assert run_and_wait(qtbot, window, window.act_run_here)[1] == "done"
    assert states(window)[slow] == "cached"


def test_finished_runs_leave_the_queue_and_the_failing_node_comes_from_the_event(fake_window, qtbot):
    window = fake_window
    slow = window.document.add_node("Slow", (0, 0)).id  # its input is not connected
    window.document.add_node("Source", (0, 300))
    job_id, status = run_and_wait(qtbot, window)
    assert status == "failed" and window.run_states.get(slow).state == "failed"
    assert len(window.execution.runs) == 0 and window.execution.runs.job(job_id) is None


def test_run_to_here_evaluates_only_what_the_node_needs(fake_window, qtbot):
    window = fake_window
    source, slow, sink = chain(window)
    window.scene.select_nodes([slow])
    run_and_wait(qtbot, window, window.act_run_here)
    assert ran(window) == [source, slow]
    assert states(window)[sink] == "idle"


def test_graph_that_cannot_run_reports_why(fake_window, qtbot):
    window = fake_window
    slow = window.document.add_node("Slow", (0, 0)).id  # its input is not connected
    assert run_and_wait(qtbot, window)[1] == "failed"
    assert "Cannot run" in window.statusBar().currentMessage()
    assert window.run_states.get(slow).state == "failed"


def test_closing_while_running_joins_the_thread(make_window, qtbot, tmp_path):
    window = make_window(registry=fake_nodes.registry())
    window.document.save(tmp_path / "close.canvas.json")
    _, slow, _ = chain(window, steps=1000, delay=0.01)
    window.act_run.trigger()
    qtbot.waitUntil(lambda: window.run_states.get(slow).state == "running", timeout=5000)
    window.document.undo_stack.setClean()
    assert window.close()  # cancels the run (10 s of work) and joins the engine thread
    assert window.execution.worker.isFinished()


def test_real_nodes_with_the_animatic_backend(make_window, qtbot, tmp_path, monkeypatch):
    """Reference -> IdentityLock -> Generate with the real nodes: frames arrive
    while the shot renders, and the preview shows the clip and its likeness."""
    # The other engine mode rendered the same shot: without this it would come from disk.
    monkeypatch.setenv("CANVAS_APP_NO_DISK_CACHE", "1")
    window, (ref, lock, prompt, gen) = real_shot(
        make_window, tmp_path, "real", {"duration": 1.0}, {"width": 192, "height": 112, "fps": 8.0})
    doc = window.document
    window.scene.select_nodes([gen])
    job_id, status = run_and_wait(qtbot, window, window.act_run_here, timeout=60000)
    assert status == "done", window.log_panel.events(job_id)
    preview = window.preview
    assert preview.live_count >= 1
    clip = window.run_states.outputs(gen)["clip"]
    assert len(clip.frames) == 8
    assert preview.clip is clip and "identity" in preview.details.text()
    run = window.run_states.get(gen)
    assert run.likeness > 0.6 and run.likeness_passed  # shown on the node
    window.scene.select_nodes([lock])
    assert preview.thumbs.count() >= 1  # the aligned face thumbnails
    # A new prompt: only the prompt and the shot run again; the identity comes from the cache.
    doc.set_param(prompt, "positive", "goodbye")
    window.scene.select_nodes([gen])
    assert run_and_wait(qtbot, window, window.act_run_here, timeout=60000)[1] == "done"
    assert ran(window) == [prompt, gen]
    assert states(window)[lock] == "cached" and states(window)[gen] == "done"


def test_script_that_exits_mid_run_joins_the_engine_thread(tmp_path):
    """No 'QThread: Destroyed while thread is still running' even when a
    script never closes its window."""
    import os
    import subprocess
    import sys

    code = (
        "import sys, time\n"
        "from canvas_app.ui.app import create_window\n"
        "from canvas_app.graph.model import Link\n"
        "from tests import fake_nodes\n"
        "from PySide6.QtWidgets import QApplication\n"
        "w = create_window(registry=fake_nodes.registry())\n"
        "w.document.save(sys.argv[1])\n"
        "d = w.document\n"
        "a = d.add_node('Source', (0, 0)).id\n"
        "b = d.add_node('Slow', (300, 0), params={'steps': 1000, 'delay': 0.01}).id\n"
        "d.connect(Link(a, 'value', b, 'value'))\n"
        "w.act_run.trigger()\n"
        "end = time.time() + 30\n"  # a guard only: the loop ends when the node runs
        "while w.run_states.get(b).state != 'running' and time.time() < end:\n"
        "    QApplication.processEvents()\n"
        "print('EXITING', flush=True)\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CANVAS_APP_RECOVER="no", PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "p.canvas.json")], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=60)
    assert "EXITING" in result.stdout, result.stderr
    assert result.returncode == 0, result.stderr
    assert "QThread" not in result.stderr, result.stderr


def test_engine_process_crash_is_reported_and_the_next_run_works(make_window, qtbot, tmp_path,
                                                                 engine_mode):
    if engine_mode != "process":
        pytest.skip("a crashing node would take the editor down with it in thread mode")
    window = make_window(registry=fake_nodes.crash_registry())
    window.document.save(tmp_path / "crash.canvas.json")
    doc = window.document
    source = doc.add_node("Source", (0, 0)).id
    crash = doc.add_node("Crash", (300, 0)).id
    doc.connect(Link(source, "value", crash, "value"))
    assert run_and_wait(qtbot, window)[1] == "failed"
    assert "engine process stopped unexpectedly" in window.statusBar().currentMessage()
    assert states(window) == {source: "done", crash: "failed"}  # the node that was running
    doc.remove([crash])
    assert run_and_wait(qtbot, window)[1] == "done"  # a fresh engine process
    assert states(window)[source] == "done"


def test_step_previews_are_labelled_and_the_output_folder_is_a_project_setting(fake_window, qtbot,
                                                                              tmp_path):
    window = fake_window
    _, slow, _ = chain(window, steps=6, delay=0.02)
    window.document.set_param(slow, "step_previews", True)
    window.document.set_metadata("output_dir", "renders", "Set output folder")
    assert window.execution.output_dir() == tmp_path / "renders"
    run_and_wait(qtbot, window)
    assert (tmp_path / "renders" / "run.log").is_file()
    assert "step" in window.preview.frame_view.caption  # diffusion-style step preview
    window.document.undo_stack.undo()  # the setting is an undoable edit
    assert window.execution.output_dir() == tmp_path / "output"


def test_opening_another_project_mid_run_ignores_the_old_runs_late_events(fake_window, qtbot):
    """The cancelled run's late events (progress, previews, its result) must not
    land on the new project's nodes that happen to have the same ids."""
    window = fake_window
    old_ids = chain(window, steps=400, delay=0.01)
    controller = window.execution
    old_job = controller.run()
    slow = old_ids[1]
    qtbot.waitUntil(lambda: window.run_states.live(slow) is not None, timeout=5000)  # previews are arriving
    finished = []
    controller.job_finished.connect(lambda job_id, status: finished.append((job_id, status)))
    window.new_project()  # no event processing in between: the old job's events are in flight
    assert chain(window) == old_ids  # the new project's nodes share the old ids
    # run_finished is the last signal a job sends: nothing of the old job is still queued
    qtbot.waitUntil(lambda: (old_job.id, "cancelled") in finished, timeout=5000)
    assert states(window) == dict.fromkeys(old_ids, "idle")
    assert all(window.run_states.get(n).picture is None for n in old_ids)
    assert not window.run_states.items() and all(window.run_states.live(n) is None for n in old_ids)
    assert not controller.running and not window.act_stop.isEnabled()
    window.scene.select_nodes([slow])
    assert window.preview.clip is None
    # the new project runs normally afterwards
    assert run_and_wait(qtbot, window)[1] == "done"
    assert window.run_states.outputs(old_ids[2]) == {"total": 2}


def test_a_project_cannot_send_editor_runs_outside_its_folder(make_window, tmp_path):
    from canvas_app.project import save_project
    from canvas_app.graph import Graph

    graph = Graph()
    graph.add_node("Prompt")
    graph.metadata["output_dir"] = str(tmp_path.parent / "somewhere-else")
    save_project(graph, tmp_path / "p.canvas.json")
    window = make_window(str(tmp_path / "p.canvas.json"))
    assert window.execution.output_dir() == tmp_path / "output"
    graph.metadata["output_dir"] = "renders/today"
    save_project(graph, tmp_path / "p.canvas.json")
    window = make_window(str(tmp_path / "p.canvas.json"))
    assert window.execution.output_dir() == tmp_path / "renders" / "today"


def test_a_render_below_the_identity_threshold_is_flagged_on_its_node(make_window):
    """The verdict is the node type's answer, applied when the node's result
    arrives; a later run keeps it while it waits and works, and a new result
    replaces it."""
    from canvas_app.engine.events import NodeFinished, NodeResult, NodeStarted, RunStarted
    from canvas_app.values import Clip
    import numpy as np

    clip = Clip([np.zeros((4, 4, 3), np.uint8)], 12.0,
                {"identity_score": {"mean": 0.62, "effective_mean": 0.21},
                 "identity_passed": False, "identity_threshold": 0.5})
    window = make_window()
    node = window.document.add_node("Generate", (0, 0))
    verdict = node.spec and window.document.graph.registry.get("Generate")().identity_verdict(
        {"clip": clip})
    assert (verdict.score, verdict.passed, verdict.threshold) == (0.21, False, 0.5)
    runs = window.run_states
    job = runs.add_run(_job(window)).job_id
    runs.apply(job, RunStarted((node.id,)))
    runs.apply(job, NodeStarted(node.id))
    runs.apply(job, NodeResult(node.id, "k1", {"clip": clip}))
    runs.apply(job, NodeFinished(node.id, cached=False, elapsed=1.0, key="k1"))
    item = window.scene.node_items[node.id]
    assert item.run.likeness == 0.21 and item.run.below_threshold and item.alarmed  # on the node
    assert item.run.picture is not None  # the type's picture of the result
    second = runs.add_run(_job(window)).job_id
    runs.apply(second, RunStarted((node.id,)))
    runs.apply(second, NodeStarted(node.id))
    assert runs.get(node.id).below_threshold  # red until the new render gives a new verdict
    passed = Clip(clip.frames, 12.0, {"identity_score": {"mean": 0.9}, "identity_passed": True,
                                      "identity_threshold": 0.5})
    runs.apply(second, NodeResult(node.id, "k2", {"clip": passed}))
    assert not runs.get(node.id).below_threshold and runs.get(node.id).likeness == 0.9


def _job(window):
    from canvas_app.ui.execution.worker import RunJob

    return RunJob(window.document.graph.snapshot(), None, Path("."), None, "test")


def test_a_shots_verdict_shows_when_the_shot_ends_before_the_sequence_starts(make_window, qtbot,
                                                                             tmp_path, monkeypatch):
    """Issue 21.2: a shot below its threshold is red on the canvas as soon as
    the shot ends, not when the Sequence's export ends."""
    from canvas_app.engine.events import NodeStarted

    monkeypatch.setenv("CANVAS_APP_NO_DISK_CACHE", "1")
    window, (*_, gen) = real_shot(
        make_window, tmp_path, "verdict", {"duration": 0.5},
        {"width": 128, "height": 72, "fps": 8.0, "guard_tries": 1, "identity_threshold": 0.99})
    doc = window.document
    cut = doc.add_node("Sequence", (900, 0)).id
    assert doc.connect(Link(gen, "clip", cut, "clips")) is None
    seen_when_the_cut_started = []

    def on_event(_job_id, event):
        if isinstance(event, NodeStarted) and event.node_id == cut:
            run = window.run_states.get(gen)
            seen_when_the_cut_started.append((run.state, run.below_threshold,
                                              window.scene.node_items[gen].alarmed))

    window.run_states.applied.connect(on_event)
    assert run_and_wait(qtbot, window, timeout=90000)[1] == "done"
    assert seen_when_the_cut_started == [("done", True, True)]


def test_withdrawing_a_queued_run_leaves_the_running_ones_nodes_alone(fake_window, qtbot):
    window = fake_window
    _, slow, _ = chain(window, steps=300, delay=0.01)
    controller = window.execution
    first, second = controller.run(), controller.run()
    qtbot.waitUntil(lambda: window.run_states.get(slow).state == "running", timeout=5000)
    controller.cancel_job(second.id)
    assert window.run_states.get(slow).state == "running"  # still the first run's, still going
    assert window.run_states.run(second.id).status == "cancelled"
    with qtbot.waitSignal(controller.job_finished, timeout=10000):
        controller.stop()
    assert window.run_states.get(slow).state == "cancelled"
