"""Property-based fuzzing (hypothesis) of project files and identity files.

Whatever a project or identity file holds, the program answers with a result
or a clear error (exit 2): never a traceback, never a hang, and a run never
writes outside its output folder. Examples are derandomised and capped so the
suite takes a bounded time in CI.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import struct
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from canvas_app.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "resources" / "examples" / "spokesperson" / "spokesperson.canvas.json"
def fuzz(examples_variable: str, default: int) -> settings:
    return settings(max_examples=int(os.environ.get(examples_variable, default)),
                    deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


@contextlib.contextmanager
def hang_guard(seconds: int):
    """Fail instead of hanging: SIGALRM interrupts a call that takes too long."""
    def on_alarm(*_):
        raise TimeoutError(f"no answer within {seconds} s: a hang")
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def example_project() -> dict:
    """The example with its files named absolutely: a copy elsewhere finds them
    (a relative sound path made every fuzzed run stop at exit 2)."""
    project = json.loads(EXAMPLE.read_text())
    for node in project["nodes"]:
        for entry in node["params"].get("images", []):
            entry["path"] = str(EXAMPLE.parent / entry["path"])
        if node["params"].get("audio"):
            node["params"]["audio"] = str(EXAMPLE.parent / node["params"]["audio"])
    return project


scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
    st.sampled_from([10 ** 400, -(10 ** 400), 2 ** 63, 2 ** 31, -1, 0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["", "../../../etc/passwd", "/dev/zero", "a\x00b", "x" * 5000, "\udc80",
                     "C:\\\\con", "refs/astronaut.jpg", "face", "environment", "library"]),
)
def nested(depth: int):
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


_json_values = st.one_of(
    st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
        max_leaves=12),
    # Values that once gave tracebacks, drawn often enough to be found in a short run.
    st.sampled_from([10 ** 400, float("nan"), float("inf"), nested(500),
                     [{"in": 10 ** 400, "out": None}], [{"in": 0, "out": float("nan")}],
                     [{"path": "a\x00b", "role": "face"}], [{"path": "y" * 5000}]]))


def fresh_copy(value):
    """A copy without recursion limits for 500-deep lists (copy.deepcopy has them)."""
    return json.loads(json.dumps(value))


# Each draw is a fresh copy: a sampled constant placed in the project twice (or
# inside itself) would be one shared object, mutated by the next draw.
json_values = _json_values.map(fresh_copy)


@st.composite
def hostile_projects(draw) -> dict:
    project = example_project()
    nodes = project["nodes"]
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(["param", "param", "param", "node", "top", "link"]))
        if where == "param":
            node = draw(st.sampled_from(nodes))
            if isinstance(node.get("params"), dict):  # an earlier draw may have replaced it
                names = sorted(node["params"]) + ["unknown_field"]
                node["params"][draw(st.sampled_from(names))] = draw(json_values)
        elif where == "node":
            node = draw(st.sampled_from(nodes))
            node[draw(st.sampled_from(["id", "type", "title", "position", "params",
                                       "type_version"]))] = draw(json_values)
        elif where == "top":
            project[draw(st.sampled_from(["format_version", "nodes", "links", "backdrops",
                                          "metadata"]))] = draw(json_values)
        else:
            links = project.get("links")
            if isinstance(links, list) and links:
                link = draw(st.sampled_from(links))
                if isinstance(link, dict):
                    link[draw(st.sampled_from(["src", "dst", "src_port", "dst_port"]))] = \
                        draw(json_values)
    return project


def dump(project) -> str:
    # json.dumps writes NaN/Infinity (Python's json reads them back) and lone surrogates.
    return json.dumps(project)


@fuzz("CANVAS_APP_FUZZ_EXAMPLES", 300)
@given(project=hostile_projects())
def test_validate_answers_every_project_with_ok_or_exit_2(tmp_path_factory, project):
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "fuzz.canvas.json"
    path.write_text(dump(project), encoding="utf-8", errors="surrogatepass")
    with hang_guard(30):
        code = main(["validate", str(path)])
    assert code in (0, 2)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file() and not p.is_symlink()}


@st.composite
def runnable_projects(draw) -> dict:
    """Small, fast projects whose names, titles, trims and shot texts are hostile,
    most of which can render: the property is about what a real run writes."""
    project = example_project()
    for node in project["nodes"]:
        if node["type"] == "Prompt":
            node["params"]["duration"] = 0.5
            node["params"]["positive"] = draw(st.text(max_size=30))
            node["title"] = draw(st.sampled_from(["../../escape", "/abs/shot", "a\x00b", "ok",
                                                  "\udc80", "x" * 300]))
        if node["type"] == "Generate":
            node["params"].update(width=96, height=64, fps=4.0, guard_tries=1)
        if node["type"] == "Sequence":
            node["params"]["name"] = draw(st.sampled_from(
                ["../../escape", "/tmp/abs", "..", ".", "", "a/b/c", "\udc80", "cut", "x" * 300]))
            node["params"]["trims"] = draw(st.lists(st.fixed_dictionaries(
                {"in": st.floats(0, 0.1), "out": st.one_of(st.none(), st.floats(0.2, 2))}),
                max_size=3))
    return project


def run_in_sandbox(tmp_path_factory, project, monkeypatch) -> int:
    sandbox = tmp_path_factory.mktemp("sandbox")
    (sandbox / "project").mkdir()
    path = sandbox / "project" / "fuzz.canvas.json"
    path.write_text(dump(project), encoding="utf-8", errors="surrogatepass")
    before_example = snapshot(EXAMPLE.parent)
    before = snapshot(sandbox)
    out = sandbox / "out"
    with monkeypatch.context() as patch:
        patch.chdir(sandbox / "project")
        with hang_guard(300):
            validated = main(["validate", str(path)])
            code = main(["run", str(path), "--out", str(out), "--quiet"])
    assert code in (0, 2)
    # validate and run agree (tests/test_validate_agrees_with_run.py tries each param)
    assert (validated == 0) == (code == 0), (validated, code)
    outside = {name for name, stamp in snapshot(sandbox).items()
               if before.get(name) != stamp and not name.startswith(str(out) + "/")}
    assert not outside, outside
    assert snapshot(EXAMPLE.parent) == before_example
    if code == 0:  # a real export: the cut and its report are there
        assert list(out.glob("*.mp4")) and list(out.glob("*.report.json")), sorted(out.rglob("*"))
    return code


def test_a_run_never_writes_outside_its_output_folder(tmp_path_factory, monkeypatch):
    codes: list[int] = []

    @fuzz("CANVAS_APP_FUZZ_RUNS", 8)
    @given(project=runnable_projects())
    def one_run(project):
        codes.append(run_in_sandbox(tmp_path_factory, project, monkeypatch))

    one_run()
    print(f"\nfuzzed runs: {len(codes)}, exported (exit 0): {codes.count(0)}, "
          f"refused (exit 2): {codes.count(2)}")  # shown with -s: the counts a 10x run quotes
    # Hostile but mostly sound projects: a run property where nothing renders checks nothing.
    assert codes.count(0) * 2 >= len(codes), codes


# ----------------------------------------------------------------------------- identity files

@pytest.fixture(scope="module")
def identity_bytes() -> bytes:
    from canvas_app.identity import build_identity
    from canvas_app.identity.files import identity_to_bytes
    from canvas_app.media.images import load_reference

    face = load_reference(EXAMPLE.parent / "refs" / "astronaut.jpg", "face")
    return identity_to_bytes(build_identity("Fuzz", [face]))


def rewrite_metadata(data: bytes, change) -> bytes:
    from safetensors.numpy import load, save

    from canvas_app.identity.files import METADATA_KEY

    (size,) = struct.unpack("<Q", data[:8])
    metadata = json.loads(json.loads(data[8:8 + size])["__metadata__"][METADATA_KEY])
    change(metadata)
    return save(dict(load(data)), metadata={METADATA_KEY: json.dumps(metadata)})


@st.composite
def hostile_identity_files(draw, good: bytes) -> bytes:
    kind = draw(st.sampled_from(["metadata", "metadata", "bytes", "truncate"]))
    if kind == "metadata":
        def change(metadata):
            for _ in range(draw(st.integers(1, 3))):
                target = metadata
                samples = metadata.get("samples")
                if draw(st.booleans()) and isinstance(samples, list) and samples:
                    target = draw(st.sampled_from(samples))
                if not isinstance(target, dict):  # an earlier draw replaced it
                    continue
                keys = sorted(target) + ["extra"]
                target[draw(st.sampled_from(keys))] = draw(json_values)
        return rewrite_metadata(good, change)
    if kind == "bytes":
        data = bytearray(good)
        for position, value in draw(st.lists(st.tuples(st.integers(0, len(good) - 1),
                                                       st.integers(0, 255)), min_size=1,
                                             max_size=8)):
            data[position] = value
        return bytes(data)
    return good[:draw(st.integers(0, len(good)))]


@fuzz("CANVAS_APP_FUZZ_EXAMPLES", 300)
@given(data=st.data())
def test_identity_files_load_or_fail_cleanly(identity_bytes, tmp_path_factory, data):
    from canvas_app.errors import BadInput
    from canvas_app.identity import load_identity
    from canvas_app.identity.files import read_summary

    path = tmp_path_factory.mktemp("identity") / "fuzz.identity.safetensors"
    path.write_bytes(data.draw(hostile_identity_files(identity_bytes)))
    with hang_guard(30):
        for read in (load_identity, read_summary):
            try:
                result = read(path)
            except BadInput as error:
                assert str(path) in str(error)
                continue
            if read is load_identity:  # what loads is sound enough to score with
                for sample in result.samples:
                    assert math.isfinite(sample.quality) and math.isfinite(sample.similarity)
