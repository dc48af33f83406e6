"""`canvas-app` end to end, as a user runs it: the example, bad input, cancel."""
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from canvas_app.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "resources" / "examples" / "spokesperson" / "spokesperson.canvas.json"
ASTRONAUT = EXAMPLE.parent / "refs" / "astronaut.jpg"


def other_person_photo() -> Path:
    """A photo of someone else: a face image shipped inside the insightface package."""
    import importlib.util

    spec = importlib.util.find_spec("insightface")
    return Path(spec.submodule_search_locations[0]) / "data" / "images" / "Tom_Hanks_54745.png"


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("example") / "out"
    code = main(["run", str(EXAMPLE), "--out", str(out), "--quiet"])
    return code, out


def test_example_runs_and_exports_the_cut(example_run):
    import av
    import opentimelineio as otio

    code, out = example_run
    assert code == 0
    report = json.loads((out / "spokesperson.report.json").read_text())
    assert [shot["name"] for shot in report["shots"]] == [  # the Generate nodes' titles
        "Render Shot 1", "Render Shot 2", "Render Shot 3"]

    with av.open(str(out / "spokesperson.mp4")) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert stream.codec_context.name == "h264"
    # The example dissolves into shots 2 and 3: each overlaps the shot before it.
    dissolves = sum(t["dissolve_frames"] for t in report["transitions"])
    assert dissolves > 0
    assert frames == report["frames"] == sum(shot["frames"] for shot in report["shots"]) - dissolves

    timeline = otio.adapters.read_from_file(str(out / "spokesperson.otio"))
    clips = list(timeline.video_tracks()[0].find_clips())
    assert len(clips) == 3 and len(list(timeline.audio_tracks()[0].find_clips())) == 1  # the sound
    track = timeline.video_tracks()[0]
    assert sum(isinstance(item, otio.schema.Transition) for item in track) == 2
    assert track.duration().to_frames() == frames


def test_example_report_shows_the_identity_held(example_run):
    _, out = example_run
    report = json.loads((out / "spokesperson.report.json").read_text())
    for shot in report["shots"]:
        score = shot["identity_score"]
        assert shot["passed"], shot
        assert score["mean"] > 0.6 and score["minimum"] > 0.4
        assert score["recognizer"] and shot["backend"] == "animatic" and shot["seed"] is not None
        assert shot["fps"] > 0 and shot["frames"] > 0
    assert report["summary"]["all_passed"]


def test_identity_score_is_low_for_a_different_person(example_run, tmp_path, capsys):
    _, out = example_run
    identity_file = tmp_path / "spokesperson.safetensors"
    assert main(["identity", "create", "Spokesperson", str(ASTRONAUT), "-o", str(identity_file)]) == 0
    # Render the same shot from another person's photo...
    project = json.loads(EXAMPLE.read_text())
    for node in project["nodes"]:
        if node["type"] == "Reference" and node["params"]["images"][0]["role"] == "face":
            node["params"]["images"][0]["path"] = str(other_person_photo())
        if node["type"] == "Reference" and node["params"]["images"][0]["role"] == "environment":
            node["params"]["images"][0]["path"] = str(EXAMPLE.parent / node["params"]["images"][0]["path"])
        if node["params"].get("audio"):
            node["params"]["audio"] = str(EXAMPLE.parent / node["params"]["audio"])
    impostor = tmp_path / "impostor.canvas.json"
    impostor.write_text(json.dumps(project))
    assert main(["run", str(impostor), "--out", str(tmp_path / "impostor"), "--quiet"]) == 0
    capsys.readouterr()
    # ...and score both cuts against the spokesperson's identity file.
    assert main(["identity", "score", str(identity_file), str(out / "spokesperson.mp4"),
                 str(tmp_path / "impostor" / "spokesperson.mp4")]) == 0
    scores = json.loads(capsys.readouterr().out)
    by_file = {Path(entry["file"]).parent.name: entry for entry in scores["results"]}
    assert by_file["out"]["mean"] > 0.6
    assert by_file["impostor"]["mean"] < 0.4


def test_second_run_in_the_same_session_is_served_from_cache(tmp_path):
    from canvas_app.engine import Executor
    from canvas_app.project import load_project

    graph, issues = load_project(EXAMPLE)
    executor = Executor()
    first = executor.run(graph, output_dir=tmp_path, project_dir=EXAMPLE.parent)
    assert first.status == "done"
    graph.set_param("prompt2", "mood", "cool")
    second = executor.run(graph, output_dir=tmp_path, project_dir=EXAMPLE.parent)
    assert set(second.executed) == {"prompt2", "generate2", "sequence1"}
    report = json.loads((tmp_path / "spokesperson.report.json").read_text())
    assert report["shots"][1]["mood"] == "cool"


def write_project(tmp_path, mutate) -> Path:
    project = json.loads(EXAMPLE.read_text())
    for node in project["nodes"]:
        for entry in node["params"].get("images", []):
            entry["path"] = str(EXAMPLE.parent / entry["path"])
        if node["params"].get("audio"):
            node["params"]["audio"] = str(EXAMPLE.parent / node["params"]["audio"])
    mutate(project)
    path = tmp_path / "case.canvas.json"
    path.write_text(json.dumps(project))
    return path


def node(project, node_id):
    return next(n for n in project["nodes"] if n["id"] == node_id)


def set_face(path):
    def mutate(project):
        node(project, "reference1")["params"]["images"][0]["path"] = str(path)
    return mutate


def make_not_an_image(tmp_path):
    fake = tmp_path / "face.jpg"
    fake.write_text("this is not a JPEG")
    return fake


def make_no_face(tmp_path):
    from PIL import Image

    path = tmp_path / "sky.png"
    Image.new("RGB", (320, 240), (90, 140, 200)).save(path)
    return path


@pytest.mark.parametrize("case, expected", [
    ("not_an_image", ["face.jpg", "Astronaut portrait", "images", "not a readable image"]),
    ("no_face", ["sky.png", "Spokesperson identity", "no face"]),
    ("missing_image", ["gone.jpg", "reference1", "images"]),
    ("bad_value", ["prompt1", "duration"]),
    ("unconnected", ["generate1", "prompt"]),
])
def test_bad_input_exits_2_naming_file_node_and_field(tmp_path, capsys, case, expected):
    mutations = {
        "not_an_image": lambda: set_face(make_not_an_image(tmp_path)),
        "no_face": lambda: set_face(make_no_face(tmp_path)),
        "missing_image": lambda: set_face(tmp_path / "gone.jpg"),
        "bad_value": lambda: (lambda p: node(p, "prompt1")["params"].update(duration=-3)),
        "unconnected": lambda: (lambda p: p.update(links=[l for l in p["links"] if not (
            l["dst"] == "generate1" and l["dst_port"] == "prompt")])),
    }
    path = write_project(tmp_path, mutations[case]())
    out = tmp_path / "out"
    code = main(["run", str(path), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    for text in expected:
        assert text.lower() in err.lower(), (text, err)
    assert not (out / "spokesperson.report.json").exists()


def test_newer_project_format_is_refused(tmp_path, capsys):
    path = tmp_path / "future.canvas.json"
    path.write_text(json.dumps({"format_version": 99, "nodes": []}))
    assert main(["validate", str(path)]) == 2
    assert "newer canvas-app" in capsys.readouterr().err


def test_validate_and_nodes(capsys):
    assert main(["validate", str(EXAMPLE)]) == 0
    assert main(["nodes", "--json"]) == 0
    types = {entry["type"] for entry in json.loads(capsys.readouterr().out.split("\n", 1)[1])}
    assert {"Reference", "IdentityLock", "Prompt", "Generate", "Sequence"} <= types


def test_unknown_backend_is_bad_input(tmp_path, capsys):
    assert main(["run", str(EXAMPLE), "--out", str(tmp_path), "--backend", "magic"]) == 2
    assert "backend" in capsys.readouterr().err


def test_ctrl_c_cancels_with_130_and_removes_partial_outputs(tmp_path):
    def long_shot(project):
        for n in project["nodes"]:
            if n["type"] == "Prompt":
                n["params"]["duration"] = 60.0
            if n["type"] == "Generate":
                n["params"].update(fps=24.0, width=640, height=360)  # within any memory budget
    path = write_project(tmp_path, long_shot)
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "canvas_app", "run", str(path), "--out",
                                str(out)], stderr=subprocess.PIPE, text=True, cwd=ROOT,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in process.stderr:
        if "Generate" in line:  # the first shot has started rendering
            break
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert not (out / "spokesperson.report.json").exists() and not (out / "spokesperson.mp4").exists()
    assert not list(out.glob(".export-*")) if out.exists() else True


def test_second_command_line_run_is_served_from_the_disk_cache(example_run, capsys):
    code, out = example_run
    video_before = (out / "spokesperson.mp4").stat().st_mtime_ns
    assert main(["run", str(EXAMPLE), "--out", str(out), "--quiet"]) == 0
    log = json.loads((out / "run.json").read_text())
    finished = {entry["node"]: entry["cached"] for entry in log if entry.get("event") == "end"}
    for node_id in ("identitylock1", "generate1", "generate2", "generate3", "sequence1"):
        assert finished[node_id] is True, node_id
    assert (out / "spokesperson.mp4").stat().st_mtime_ns == video_before  # not re-exported
    assert "from cache" in capsys.readouterr().out


def test_no_cache_flag_renders_again(example_run, tmp_path):
    assert main(["run", str(EXAMPLE), "--out", str(tmp_path), "--quiet", "--no-cache"]) == 0
    log = json.loads((tmp_path / "run.json").read_text())
    assert not any(entry.get("cached") for entry in log if entry.get("event") == "end")


def test_two_cuts_share_an_output_folder_without_harming_each_other(tmp_path, capsys):
    def add_teaser(project):
        project["nodes"].append({"id": "teaser", "type": "Sequence", "title": "Teaser",
                                 "position": [900, 600], "params": {"name": "teaser"}})
        project["links"].append({"src": "generate3", "src_port": "clip", "dst": "teaser",
                                 "dst_port": "clips"})
    path = write_project(tmp_path, add_teaser)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    for name, shots in (("spokesperson", 3), ("teaser", 1)):
        report = json.loads((out / f"{name}.report.json").read_text())
        assert len(report["shots"]) == shots
        assert all((out / shot["file"]).is_file() for shot in report["shots"]), name
    unrelated = out / "shots" / "my_notes.txt"
    unrelated.write_text("mine")
    assert main(["run", str(path), "--out", str(out), "--quiet", "--no-cache"]) == 0
    assert unrelated.read_text() == "mine"  # an export only replaces its own files


def test_renaming_a_shot_renames_it_in_the_cut(tmp_path):
    path = write_project(tmp_path, lambda p: None)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    project = json.loads(path.read_text())
    node(project, "generate1")["title"] = "Opening"  # a shot's name is its Generate's title
    path.write_text(json.dumps(project))
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "spokesperson.report.json").read_text())
    assert report["shots"][0]["name"] == "Opening"
    assert (out / report["shots"][0]["file"]).is_file()
    assert report["shots"][0]["file"].endswith("_01_Opening.mp4")


def test_an_edited_export_is_made_again_and_then_cached(tmp_path):
    path = write_project(tmp_path, lambda p: None)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    (out / "spokesperson.mp4").write_bytes(b"overwritten by hand")
    for expected_cached in (False, True):
        assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
        log = json.loads((out / "run.json").read_text())
        sequence = next(e for e in log if e.get("event") == "end" and e["node"] == "sequence1")
        assert sequence["cached"] is expected_cached
    assert (out / "spokesperson.mp4").stat().st_size > 1000


@pytest.mark.parametrize("case, expected", [
    ("links_not_a_list", "links must be a list"),
    ("folder_as_image", "images"),
    ("cycle_through_placeholder", "cycle"),
])
def test_more_bad_projects_exit_2_without_traceback(tmp_path, capsys, case, expected):
    def mutate(project):
        if case == "links_not_a_list":
            project["links"] = 5
        elif case == "folder_as_image":
            node(project, "reference1")["params"]["images"][0]["path"] = str(tmp_path)
        else:
            project["nodes"].append({"id": "alien", "type": "Alien", "params": {}})
            project["links"] += [
                {"src": "generate1", "src_port": "clip", "dst": "alien", "dst_port": "in"},
                {"src": "alien", "src_port": "out", "dst": "prompt1", "dst_port": "x"}]
    path = write_project(tmp_path, mutate)
    code = main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and expected in err, err


def test_unknown_node_type_that_nothing_needs_does_not_stop_the_run(tmp_path):
    path = write_project(tmp_path, lambda p: p["nodes"].append(
        {"id": "alien", "type": "Alien", "params": {}}))
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0


def test_output_folder_that_is_a_file_is_bad_input(tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    assert main(["run", str(EXAMPLE), "--out", str(blocker), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "afile" in err and "--out" in err and "Traceback" not in err


def test_a_moved_project_keeps_its_cached_renders(tmp_path):
    import shutil as _shutil

    first = tmp_path / "first"
    _shutil.copytree(EXAMPLE.parent, first)
    assert main(["run", str(first / EXAMPLE.name), "--out", str(tmp_path / "out1"), "--quiet"]) == 0
    moved = tmp_path / "moved"
    first.rename(moved)
    assert main(["run", str(moved / EXAMPLE.name), "--out", str(tmp_path / "out2"), "--quiet"]) == 0
    log = json.loads((tmp_path / "out2" / "run.json").read_text())
    cached = {e["node"] for e in log if e.get("event") == "end" and e["cached"]}
    assert {"identitylock1", "generate1", "generate2", "generate3"} <= cached


def test_example_writes_every_export(example_run):
    code, out = example_run
    assert code == 0
    for name in ("spokesperson.mov", "spokesperson.webp", "spokesperson.gif", "spokesperson.edl",
                 "spokesperson.fcp7.xml", "spokesperson.fcpxml", "spokesperson.contact.png"):
        assert (out / name).stat().st_size > 0, name
    assert len(list((out / "frames").iterdir())) == 3
    report = json.loads((out / "spokesperson.report.json").read_text())
    assert [t["into_shot"] for t in report["transitions"]] == [2, 3]
    assert report["audio"].endswith("pad.mp3")


def test_unknown_export_is_bad_input(tmp_path, capsys):
    assert main(["run", str(EXAMPLE), "--out", str(tmp_path / "o"), "--export", "avi"]) == 2
    assert "unknown export avi" in capsys.readouterr().err
