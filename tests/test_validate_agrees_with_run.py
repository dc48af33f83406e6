"""`validate` and `run` agree: every project `validate` accepts runs to exit 0
with its cut on disk, and every project `run` refuses was refused by
`validate` first (exit 2 from both, naming the node and the field).

The projects are the example's, made small (64x64 shots of half a second at
4 fps, no extra exports), with one param of one node set to its declared
minimum, maximum, each choice, or an edge value, and a few combinations (frame
rates the timelines find hard, every export at once, tiny sizes, trims and
dissolves at the edges). The cases are derived from the node types' own
declarations, so a new param is tried without editing this file. Renders come
from the session's disk cache after the first, so most cases only export.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from canvas_app.cli import main
from canvas_app.graph import default_registry

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "resources" / "examples" / "spokesperson" / "spokesperson.canvas.json"
# The first node of each type in the example; Generate and Prompt cases change every
# one of them (the three shots), so that a rate or size is the whole cut's.
EACH_OF = ("Generate", "Prompt")
# The diffusers backend's own params leave an animatic shot alone; the diffusers
# backend itself is refused by both before any weights load (the example's identity
# is dlib's, and FaceID needs insightface's), so no case here fetches a model.
SMALL = {"Prompt": {"duration": 0.5}, "Generate": {"width": 64, "height": 64, "fps": 4.0,
                                                  "guard_tries": 1}}


def small_example() -> dict:
    project = json.loads(EXAMPLE.read_text())
    for node in project["nodes"]:
        for entry in node["params"].get("images", []):
            entry["path"] = str(EXAMPLE.parent / entry["path"])
        if node["params"].get("audio"):  # absolute: the copy elsewhere finds it
            node["params"]["audio"] = str(EXAMPLE.parent / node["params"]["audio"])
        node["params"].update(SMALL.get(node["type"], {}))
        if node["type"] == "Sequence":
            node["params"].update({name: False for name in node["params"] if name.startswith("export_")})
            # 2-frame shots: the example's half-second dissolves have no room (a case below)
            node["params"]["trims"] = [{"in": 0.0, "out": None} for _ in range(3)]
    return project


def nodes_of(project: dict, type_name: str) -> list[dict]:
    found = [node for node in project["nodes"] if node["type"] == type_name]
    return found if type_name in EACH_OF else found[:1]


def setting(type_name: str, **params):
    def apply(project):
        for node in nodes_of(project, type_name):
            node["params"].update(params)
    return apply


def edge_values(param) -> list:
    """The declared minimum and maximum, just outside them, and the awkward values
    between (a frame rate of 7, an empty string, every choice)."""
    if param.kind in ("int", "seed"):
        values = [param.minimum, param.maximum, param.minimum - 1, param.maximum + 1]
        return [value for value in values if value is not None]
    if param.kind == "float":
        values = [param.minimum, param.maximum]
        if param.minimum is not None:
            values.append(math.nextafter(param.minimum, -math.inf))
        if param.maximum is not None:
            values.append(math.nextafter(param.maximum, math.inf))
        if param.name == "fps":
            values += [2.0, 7.0, 9.0, 23.976, 29.97]
        return [value for value in values if value is not None]
    if param.kind == "choice":
        return list(param.choices)
    if param.kind == "bool":
        return [True, False]
    if param.kind in ("str", "text"):
        return ["", " ", "x" * 300]
    return []


def derived_cases() -> list:
    """(id, mutation) for each param of each node type in the example."""
    registry = default_registry()
    types = sorted({node["type"] for node in json.loads(EXAMPLE.read_text())["nodes"]})
    cases = []
    for type_name in types:
        for param in registry.get(type_name).spec.params:
            for value in edge_values(param):
                cases.append(pytest.param(setting(type_name, **{param.name: value}),
                                          id=f"{type_name}.{param.name}={value!r}"[:80]))
    return cases


def trims(*entries):
    return setting("Sequence", trims=list(entries))


def all_exports(project):
    for node in nodes_of(project, "Sequence"):
        node["params"].update({name: True for name in node["params"] if name.startswith("export_")})


def both(*mutations):
    def apply(project):
        for mutation in mutations:
            mutation(project)
    return apply


COMBINATIONS = [
    # frame rates: the shots' and the cut's, with the timeline exports that count them
    *[pytest.param(both(setting("Generate", fps=fps), all_exports), id=f"shots at {fps:g} fps, "
                   "every export") for fps in (1.0, 2.0, 7.0, 9.0, 60.0)],
    *[pytest.param(both(setting("Sequence", fps=fps), all_exports), id=f"cut at {fps:g} fps, "
                   "every export") for fps in (1.0, 2.0, 7.0, 9.0, 120.0, 0.5)],
    pytest.param(both(setting("Generate", fps=1.0), setting("Sequence", fps=120.0), all_exports),
                 id="1 fps shots in a 120 fps cut, every export"),
    pytest.param(all_exports, id="every export"),
    # tiny sizes
    pytest.param(both(setting("Sequence", width=1, height=1), all_exports), id="1x1 cut"),
    pytest.param(both(setting("Sequence", width=3, height=5), all_exports), id="3x5 cut"),
    pytest.param(setting("Sequence", width=8192, height=1), id="8192x1 cut"),
    pytest.param(both(setting("Generate", width=64, height=4096), setting("Sequence", width=1)),
                 id="tall shots, 1 wide cut"),
    pytest.param(setting("Prompt", duration=0.1), id="shots of one frame"),
    pytest.param(both(setting("Prompt", duration=0.1), all_exports),
                 id="shots of one frame, every export"),
    pytest.param(both(setting("Prompt", duration=0.1), setting("Generate", fps=1.0)),
                 id="0.1 s at 1 fps (one frame)"),
    # trims at the edges: the shots are 2 frames (0.5 s) at 4 fps
    pytest.param(trims({"in": 0.0, "out": 0.5}), id="trim out at the shot's end"),
    pytest.param(trims({"in": 0.0, "out": 100.0}), id="trim out past the shot's end"),
    pytest.param(trims({"in": 0.25, "out": None}), id="trim in at the last frame"),
    pytest.param(trims({"in": 0.5, "out": None}), id="trim in at the shot's end"),
    pytest.param(trims({"in": 100.0, "out": None}), id="trim in past the shot's end"),
    pytest.param(trims({"in": 0.2, "out": 0.3}), id="trim in and out in one frame"),
    pytest.param(trims({"in": 0.0, "out": 0.0}), id="trim out at 0"),
    pytest.param(trims({"in": 0.0, "out": 0.1}), id="trim out before the first frame ends"),
    pytest.param(trims({"in": -1.0, "out": None}), id="trim in negative"),
    pytest.param(trims({"in": 0.3, "out": 0.2}), id="trim out before in"),
    pytest.param(trims({"in": 0, "out": None}, {"in": 0, "out": None}, {"in": 0, "out": None},
                       {"in": 0, "out": None}), id="more trims than shots"),
    pytest.param(trims(), id="no trims"),
    # dissolves at the edges: 2-frame shots at 4 fps
    pytest.param(trims({"in": 0, "out": None}, {"in": 0, "out": None, "dissolve": 0.25}),
                 id="dissolve of one frame"),
    pytest.param(trims({"in": 0, "out": None}, {"in": 0, "out": None, "dissolve": 0.5}),
                 id="dissolve of a whole shot"),
    pytest.param(trims({"in": 0, "out": None}, {"in": 0, "out": None, "dissolve": 0.5},
                       {"in": 0, "out": None, "dissolve": 0.5}),
                 id="the example's dissolves, longer than the shots"),
    pytest.param(trims({"in": 0, "out": None}, {"in": 0, "out": None, "dissolve": 0.25},
                       {"in": 0, "out": None, "dissolve": 0.25}),
                 id="two one-frame dissolves into a two-frame shot"),
    pytest.param(trims({"in": 0, "out": None, "dissolve": 0.25}), id="dissolve into shot 1"),
    pytest.param(trims({"in": 0, "out": None}, {"in": 0, "out": None, "dissolve": 0.1}),
                 id="dissolve shorter than a frame"),
    pytest.param(trims({"in": 0, "out": None}, {"in": 0, "out": None, "dissolve": 100.0}),
                 id="dissolve of 100 s"),
    pytest.param(both(setting("Sequence", fps=120.0),
                      trims({"in": 0, "out": None}, {"in": 0, "out": None, "dissolve": 0.5})),
                 id="whole-shot dissolve at 120 fps"),
    pytest.param(both(setting("Prompt", duration=2.0),
                      trims({"in": 1.5, "out": None}, {"in": 0, "out": None, "dissolve": 0.5})),
                 id="dissolve as long as the trimmed shot before it"),
    pytest.param(both(setting("Prompt", duration=2.0),
                      trims({"in": 1.75, "out": None}, {"in": 0, "out": None, "dissolve": 0.5})),
                 id="dissolve longer than the trimmed shot before it"),
    # empty strings and missing files
    pytest.param(setting("Sequence", audio=""), id="no sound"),
    pytest.param(setting("Sequence", name=""), id="empty cut name"),
    pytest.param(setting("Sequence", name="../.."), id="cut name of dots"),
    pytest.param(setting("Reference", images=[]), id="a face reference with no images"),
    pytest.param(setting("IdentityLock", source="file", identity_file=""),
                 id="identity from an unnamed file"),
    pytest.param(setting("IdentityLock", source="library", library_name=""),
                 id="identity from an unnamed library entry"),
    pytest.param(setting("IdentityLock", source="library", library_name="nobody here"),
                 id="identity from a missing library entry"),
    pytest.param(setting("IdentityLock", face_index=5), id="the sixth face of a one-face image"),
    pytest.param(setting("Sequence", audio_fade=30.0), id="a fade longer than the cut"),
    pytest.param(setting("Sequence", fps=0.01), id="cut at 0.01 fps with sound"),
    pytest.param(both(setting("Generate", fps=23.976), setting("Sequence", fps=29.97), all_exports),
                 id="23.976 fps shots in a 29.97 fps cut, every export"),
    pytest.param(both(setting("Sequence", fps=0.5),
                      trims({"in": 0, "out": None}, {"in": 0, "out": None, "dissolve": 0.5})),
                 id="0.5 fps cut, a dissolve of one of its frames"),
    # titles name the shot files, timeline clips and report entries
    *[pytest.param(both(all_exports, lambda project, title=title: [
        node.update(title=title) for node in project["nodes"]]), id=f"every title {name}, every export")
      for name, title in (("an ANSI escape", "\x1b[31mred\x1b[0m"), ("with NUL", "a\x00b"),
                          ("of quotes and markup", "it's \"q\" <a>&amp;"), ("of 1000 characters", "y" * 1000))],
    # an identity saved to the library under a name no library file can have
    pytest.param(setting("IdentityLock", name="x" * 300, save_to_library=True),
                 id="identity saved under a 300-character name"),
    pytest.param(setting("IdentityLock", name="a\x00b", save_to_library=True),
                 id="identity saved under a name with NUL"),
    pytest.param(both(setting("IdentityLock", name="", save_to_library=True),
                      lambda project: nodes_of(project, "IdentityLock")[0].update(title="t" * 300)),
                 id="identity saved under its 300-character title"),
    pytest.param(setting("IdentityLock", name="a/../b", save_to_library=True),
                 id="identity saved under a name with a path in it"),
]


def cut_files(out: Path) -> list[Path]:
    return sorted(out.glob("*.mp4")) if out.is_dir() else []


def validate_and_run(project, tmp_path, monkeypatch, capsys):
    """(validate's exit code, what it said, run's exit code, what it said, out folder)."""
    path = tmp_path / "project" / "case.canvas.json"
    path.parent.mkdir()
    path.write_text(json.dumps(project), encoding="utf-8")
    # An empty library of identities: the user's own is not read, nor written to.
    monkeypatch.setenv("CANVAS_APP_LIBRARY", str(tmp_path / "library"))
    monkeypatch.chdir(path.parent)
    validated = main(["validate", str(path)])
    said = capsys.readouterr().err
    out = tmp_path / "out"
    ran = main(["run", str(path), "--out", str(out), "--quiet"])
    answered = capsys.readouterr().err
    assert "Traceback" not in said + answered
    return validated, said, ran, answered, out


@pytest.mark.parametrize("mutation", derived_cases() + COMBINATIONS)
def test_what_validate_accepts_runs_and_what_run_refuses_validate_refused(
        mutation, tmp_path, monkeypatch, capsys):
    project = small_example()
    mutation(project)
    validated, said, ran, answered, out = validate_and_run(project, tmp_path, monkeypatch, capsys)
    if validated == 0:
        assert ran == 0, f"validate said ok, run exit {ran}: {answered}"
        assert cut_files(out), sorted(out.rglob("*"))
    else:
        assert validated == 2 and "node " in said, said
        assert ran == 2 and not cut_files(out), f"run exit {ran}: {answered}"


def test_a_diffusers_shot_of_a_dlib_identity_file_is_refused_by_validate_as_by_run(
        tmp_path, monkeypatch, capsys):
    from canvas_app.identity import build_identity, save_identity
    from canvas_app.media.images import load_reference

    identity_file = tmp_path / "dlib-only.identity.safetensors"
    face = load_reference(EXAMPLE.parent / "refs" / "astronaut.jpg", "face")
    save_identity(build_identity("Dlib only", [face]), identity_file)
    project = small_example()
    both(setting("IdentityLock", source="file", identity_file=str(identity_file)),
         setting("Generate", backend="diffusers"))(project)
    validated, said, ran, answered, out = validate_and_run(project, tmp_path, monkeypatch, capsys)
    message = "IP-Adapter FaceID needs ArcFace (insightface) embeddings"
    assert validated == 2 and message in said and "field identity" in said, said
    assert ran == 2 and message in answered and not cut_files(out), answered
