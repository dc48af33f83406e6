"""The two-stage example in the editor: the keyframe is the Keyframe node's picture, with its
likeness, and re-rolling the Motion node's seed runs only the motion."""
from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "resources" / "examples" / "two_stage"


def run_and_wait(qtbot, window, action, timeout=120000):
    with qtbot.waitSignal(window.execution.job_finished, timeout=timeout) as blocker:
        action.trigger()
    return blocker.args


def test_the_keyframe_shows_on_its_node_and_a_motion_reroll_keeps_it(make_window, qtbot,
                                                                       tmp_path, monkeypatch):
    monkeypatch.setenv("CANVAS_APP_NO_DISK_CACHE", "1")
    shutil.copytree(EXAMPLE, tmp_path / "two_stage")
    window = make_window(tmp_path / "two_stage" / "two_stage.canvas.json")
    window.scene.select_nodes(["motion1"])
    job_id, status = run_and_wait(qtbot, window, window.act_run_here)
    assert status == "done", window.log_panel.events(job_id)
    keyframe = window.run_states.get("keyframe1")
    assert keyframe.picture is not None and not keyframe.picture.isNull()  # the still, on the node
    assert keyframe.likeness > 0.6 and keyframe.likeness_passed
    assert window.scene.node_items["keyframe1"].result_image is not None
    window.document.set_param("motion1", "seed", 4242)  # the dice on the Motion node
    job_id, status = run_and_wait(qtbot, window, window.act_run_here)
    assert status == "done"
    assert window.run_states.runs[job_id].executed == ["motion1"]
    assert window.run_states.get("keyframe1").state == "cached"
