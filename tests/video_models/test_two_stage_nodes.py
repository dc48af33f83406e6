"""Keyframe then Motion on the CPU path: the second example project, end to end."""
from pathlib import Path

import numpy as np
import pytest

from canvas_app.engine import Executor
from canvas_app.project.io import load_project

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "resources" / "examples" / "two_stage" / "two_stage.canvas.json"


def project_copy(folder: Path) -> Path:
    """The example copied where a run may write beside it (keyframes/ for pins)."""
    import shutil

    shutil.copytree(EXAMPLE.parent, folder)
    return folder


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    project = project_copy(tmp_path_factory.mktemp("two_stage") / "project")
    out = project / "out"
    graph, issues = load_project(project / EXAMPLE.name)
    assert not issues
    executor = Executor()
    result = executor.run(graph, output_dir=out, project_dir=project)
    assert result.status == "done", result.failures
    return executor, graph, out, result


def test_each_shot_is_a_scored_keyframe_then_motion_that_starts_on_it(first_run):
    _executor, _graph, out, result = first_run
    for index in (1, 2):
        keyframe = result.outputs[f"keyframe{index}"]["keyframe"]
        assert len(keyframe.frames) == 1 and keyframe.frames[0].shape == (352, 640, 3)
        assert keyframe.metadata["identity_passed"] is True
        assert (out.parent / "keyframes" / f"keyframe{index}.png").is_file()  # what a pin keeps
        clip = result.outputs[f"motion{index}"]["clip"]
        assert len(clip.frames) == 32 and clip.fps == 16.0  # 2 s at 16 fps
        assert clip.metadata["identity_passed"] is True
        assert clip.metadata["keyframe"]["seed"] == keyframe.metadata["seed"]
    # Shot 1 starts on its keyframe (a push-in starts wide open)...
    first_clip = result.outputs["motion1"]["clip"]
    start = np.abs(first_clip.frames[0].astype(int) - result.outputs["keyframe1"]["keyframe"].frames[0])
    assert start.mean() < 2.0
    # ...and shot 2 starts exactly where shot 1 ended (continuity).
    second_clip = result.outputs["motion2"]["clip"]
    assert np.array_equal(second_clip.frames[0], first_clip.frames[-1])
    assert second_clip.metadata["continuity"] is True
    report = result.outputs["sequence1"]["sequence"].report
    assert report["summary"]["all_passed"] and len(report["shots"]) == 2
    # The report says which keyframe each shot moved from, and its score.
    kept = report["shots"][1]["generation"]["keyframe"]
    assert kept["seed"] == result.outputs["keyframe2"]["keyframe"].metadata["seed"]
    assert kept["identity_passed"] is True and kept["file"].startswith(str(out.parent))


def test_rerolling_the_motion_keeps_the_keyframe(first_run):
    executor, graph, out, _result = first_run
    graph.nodes["motion1"].params["seed"] = 999
    again = executor.run(graph, output_dir=out, project_dir=out.parent)
    assert again.status == "done"
    assert "motion1" in again.executed
    assert {"keyframe1", "keyframe2"} <= again.cached
    graph.nodes["motion1"].params["seed"] = 200


def test_a_pinned_keyframe_survives_a_prompt_edit_and_a_reroll(first_run, tmp_path):
    executor, graph, out, result = first_run
    kept = result.outputs["keyframe1"]["keyframe"].frames[0]
    keyframe = graph.nodes["keyframe1"]
    keyframe.params["pin"] = True
    graph.nodes["prompt1"].params["shot_size"] = "wide"  # would reframe an unpinned keyframe
    pinned = executor.run(graph, output_dir=out.parent / "elsewhere", project_dir=out.parent)
    assert pinned.status == "done", pinned.failures
    frame = pinned.outputs["keyframe1"]["keyframe"]
    assert np.array_equal(frame.frames[0], kept)
    assert frame.metadata["identity_passed"] is True  # a pinned still is still scored
    assert frame.metadata["seed"] == 100 and frame.metadata["model"] == "animatic-keyframe-v1"
    assert pinned.outputs["motion1"]["clip"].metadata["keyframe"]["pinned"] is True
    keyframe.params["seed"] = 12345  # rolling the keyframe's dice does nothing while pinned
    assert "keyframe1" in executor.run(graph, output_dir=out, project_dir=out.parent).cached
    keyframe.params.update(pin=False, seed=100)
    graph.nodes["prompt1"].params["shot_size"] = "close-up"


def test_pinning_before_any_keyframe_exists_says_what_to_do(tmp_path):
    graph, _ = load_project(EXAMPLE)
    graph.nodes["keyframe1"].params["pin"] = True
    result = Executor().run(graph, ["keyframe1"], output_dir=tmp_path, project_dir=tmp_path)
    assert result.status == "failed" and result.bad_input
    assert "render this node once" in result.failures["keyframe1"]


class _FlakyKeyframes:
    """A keyframe model whose first seed loses the face and whose next one keeps it."""

    name = "flaky"
    seed_changes_likeness = True

    def __init__(self):
        self.seeds = []

    def render(self, request, ctx):
        from canvas_app.generation.video_models.animatic_stages import AnimaticKeyframe

        self.seeds.append(request.seed)
        clip = AnimaticKeyframe().render(request, ctx)
        if len(self.seeds) == 1:
            clip.frames = [np.full_like(clip.frames[0], 90)]  # no face at all
        return clip


def test_a_keyframe_below_the_threshold_is_rerolled_before_motion(tmp_path, monkeypatch):
    from canvas_app.generation.video_models import stages

    flaky = _FlakyKeyframes()
    monkeypatch.setitem(stages._instances, "keyframe:animatic", flaky)
    graph, _ = load_project(EXAMPLE)
    result = Executor().run(graph, ["motion1"], output_dir=tmp_path, project_dir=tmp_path)
    assert result.status == "done", result.failures
    keyframe = result.outputs["keyframe1"]["keyframe"]
    assert len(flaky.seeds) == 2 and keyframe.metadata["tries"] == 2
    assert keyframe.metadata["seed"] == flaky.seeds[1] and keyframe.metadata["identity_passed"]
    assert result.outputs["motion1"]["clip"].metadata["keyframe"]["seed"] == flaky.seeds[1]


def test_on_the_farm_motion_goes_to_the_gpu_actors_and_keyframes_stay_home():
    from canvas_app.farm.placement import CPU, GPU, LOCAL, placement
    from nodes.keyframe import Keyframe
    from nodes.motion import Motion

    assert placement(Motion(), {"backend": "wan2.2-i2v"}) == GPU
    assert placement(Motion(), {"backend": "animatic"}) == CPU
    # A keyframe writes the still a pin keeps beside the project file: it runs where that is.
    assert placement(Keyframe(), {"backend": "flux2-klein"}) == LOCAL


def test_a_deleted_kept_keyframe_renders_again_so_it_can_be_pinned(tmp_path):
    project = project_copy(tmp_path / "project")
    graph, _ = load_project(project / EXAMPLE.name)
    executor = Executor()
    assert executor.run(graph, ["keyframe1"], output_dir=tmp_path / "out",
                        project_dir=project).status == "done"
    kept = project / "keyframes" / "keyframe1.png"
    kept.unlink()
    again = executor.run(graph, ["keyframe1"], output_dir=tmp_path / "out", project_dir=project)
    assert again.executed == ["keyframe1"] and kept.is_file()
