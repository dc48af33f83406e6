"""Hostile input against the CLI and the engine: each case here once gave a wrong
result, a traceback, a hang, a write outside the chosen folders or a memory blow-up."""
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from canvas_app.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "resources" / "examples" / "spokesperson" / "spokesperson.canvas.json"
ASTRONAUT = EXAMPLE.parent / "refs" / "astronaut.jpg"


def write_project(folder: Path, mutate=lambda project: None, name="case") -> Path:
    project = json.loads(EXAMPLE.read_text())
    for node in project["nodes"]:
        for entry in node["params"].get("images", []):
            entry["path"] = str(EXAMPLE.parent / entry["path"])
        if node["params"].get("audio"):  # the example's sound, where the copy can find it
            node["params"]["audio"] = str(EXAMPLE.parent / node["params"]["audio"])
    mutate(project)
    path = folder / f"{name}.canvas.json"
    path.write_text(json.dumps(project))
    return path


def node(project, node_id):
    return next(n for n in project["nodes"] if n["id"] == node_id)


def short_shots(project):
    """Tiny, short shots: a whole run in a couple of seconds."""
    for n in project["nodes"]:
        if n["type"] == "Prompt":
            n["params"]["duration"] = 0.5
        if n["type"] == "Generate":
            n["params"].update(width=160, height=96, fps=6.0, guard_tries=1)
        if n["type"] == "Sequence":  # 3-frame shots: no room for the example's dissolves
            n["params"]["trims"] = [{k: v for k, v in trim.items() if k != "dissolve"}
                                    for trim in n["params"].get("trims", [])]


def cli(*args, timeout=120, cwd=ROOT, env=None):
    """`canvas-app ARGS` in a subprocess: (exit code, stderr)."""
    process = subprocess.run([sys.executable, "-m", "canvas_app", *map(str, args)],
                             capture_output=True, text=True, timeout=timeout, cwd=cwd,
                             env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    return process.returncode, process.stderr


# ----------------------------------------------------------------------------- 1. disk cache

def a_clip(frames=4, size=(48, 32)):
    from canvas_app.values import Clip

    rng = np.random.default_rng(0)
    return Clip(frames=[rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
                        for _ in range(frames)], fps=12.0, metadata={"shot": "s"})


def damage_zeros(entry):
    np.save(entry / "frames.npy", np.zeros((3, 10, 10, 3), np.uint8))


def damage_bit_flip(entry):
    data = bytearray((entry / "frames.npy").read_bytes())
    data[-7] ^= 0x10
    (entry / "frames.npy").write_bytes(bytes(data))


def damage_fps_zero(entry):
    meta = json.loads((entry / "clip.json").read_text())
    meta["fps"] = 0
    (entry / "clip.json").write_text(json.dumps(meta))


def damage_digest_and_fps(entry):
    """Even an entry whose digest was rewritten to match cannot carry fps 0."""
    from canvas_app.engine.disk_cache import DIGEST_FILE, _file_digests

    damage_fps_zero(entry)
    (entry / DIGEST_FILE).write_text(json.dumps(_file_digests(entry)))


@pytest.mark.parametrize("damage", [damage_zeros, damage_bit_flip, damage_fps_zero,
                                    damage_digest_and_fps])
def test_a_damaged_cache_entry_is_a_miss_and_is_removed(tmp_path, damage):
    from canvas_app.engine.disk_cache import DiskCache
    from nodes.generate import Generate

    cache = DiskCache(tmp_path)
    key = "ab" + "c" * 62
    clip = a_clip()
    assert cache.save(key, Generate(), {"clip": clip})
    entry = cache._entry(key)
    damage(entry)
    assert cache.load(key, Generate()) is None
    assert not entry.exists()
    assert cache.save(key, Generate(), {"clip": clip})  # and the next render is kept again
    loaded = cache.load(key, Generate())["clip"]
    assert np.array_equal(np.stack(loaded.frames), np.stack(clip.frames))


def test_a_read_only_cache_is_still_read(tmp_path, monkeypatch):
    from canvas_app.engine.disk_cache import DiskCache
    from nodes.generate import Generate

    cache = DiskCache(tmp_path)
    key = "ab" + "d" * 62
    assert cache.save(key, Generate(), {"clip": a_clip()})

    def read_only(*args, **kwargs):  # what os.utime does on a read-only file system
        raise PermissionError(30, "Read-only file system")
    monkeypatch.setattr(os, "utime", read_only)
    loaded = cache.load(key, Generate())
    assert loaded is not None and len(loaded["clip"].frames) == 4
    assert cache._entry(key).exists()


# ----------------------------------------------------------------------------- 2. publishing

def test_deleted_shots_are_exported_again(tmp_path):
    from canvas_app.engine import Executor
    from canvas_app.project import load_project

    graph, _ = load_project(write_project(tmp_path, short_shots))
    executor = Executor()
    out = tmp_path / "out"
    assert executor.run(graph, output_dir=out, project_dir=EXAMPLE.parent).status == "done"
    shots = sorted(p.name for p in (out / "shots").iterdir())
    assert len(shots) == 6
    for shot in (out / "shots").iterdir():
        shot.unlink()
    second = executor.run(graph, output_dir=out, project_dir=EXAMPLE.parent)
    assert "sequence1" in second.executed
    assert sorted(p.name for p in (out / "shots").iterdir()) == shots


def fake_export(staging: Path, name: str, tag: str, shots=("a", "b")) -> None:
    (staging / "shots").mkdir(parents=True, exist_ok=True)
    files = []
    for shot in shots:
        for suffix in (".mp4", ".png"):
            (staging / "shots" / f"{name}_{shot}{suffix}").write_text(tag)
        files.append({"file": f"shots/{name}_{shot}.mp4"})
    (staging / f"{name}.mp4").write_text(tag)
    (staging / f"{name}.report.json").write_text(json.dumps({"tag": tag, "shots": files}))


def export_is_whole(out: Path, name: str) -> str:
    """The tag of the export found whole in `out` (every file its report names exists
    and carries the same tag)."""
    report = json.loads((out / f"{name}.report.json").read_text())
    tag = report["tag"]
    for shot in report["shots"]:
        assert (out / shot["file"]).read_text() == tag
        assert (out / shot["file"]).with_suffix(".png").read_text() == tag
    assert (out / f"{name}.mp4").read_text() == tag
    return tag


class Killed(BaseException):
    pass


def test_a_publish_killed_at_any_step_leaves_the_old_or_the_new_export_whole(tmp_path,
                                                                             monkeypatch):
    """Kill the publishing after each file move in turn; `recover` (the next run) must
    find the old export or the new one whole, never a mix or a gap."""
    from canvas_app.media import publish as publishing

    real_replace = os.replace
    step = 0
    while True:
        out = tmp_path / f"out{step}"
        old = publishing.new_staging(out)
        fake_export(old, "cut", "old", shots=("a", "b", "c"))
        publishing.publish(old, out, "cut")
        new = publishing.new_staging(out)
        fake_export(new, "cut", "new", shots=("b", "d"))
        calls = 0

        def dying_replace(src, dst, *, _limit=step):
            nonlocal calls
            calls += 1
            if calls > _limit:
                raise Killed()
            return real_replace(src, dst)
        monkeypatch.setattr(publishing.os, "replace", dying_replace)
        try:
            publishing.publish(new, out, "cut")
            finished = True
        except Killed:
            finished = False
        monkeypatch.setattr(publishing.os, "replace", real_replace)
        # A killed process's folders look like this to the next run:
        for leftover in out.glob(".publish-*"):
            leftover.rename(out / f".publish-999999999-{leftover.name.split('-', 2)[2]}")
        for leftover in out.glob(".export-*"):
            leftover.rename(out / f".export-999999999-{leftover.name.split('-', 2)[2]}")
        committed = finished or bool(list(out.glob(".publish-*")))
        if not committed:  # killed before the commit point: the old export is untouched
            assert export_is_whole(out, "cut") == "old"
        publishing.recover(out)
        tag = export_is_whole(out, "cut")
        assert tag == ("new" if committed else "old"), step
        assert not list(out.glob(".publish-*")) and not list(out.glob(".export-*"))
        if tag == "new":  # the old export's own shots are gone once the new one is in
            assert not (out / "shots" / "cut_a.mp4").exists()
        if finished:
            break
        step += 1
    assert step >= 5


def test_sequence_export_validity_covers_every_written_file(tmp_path):
    from canvas_app.engine import Executor
    from canvas_app.project import load_project

    graph, _ = load_project(write_project(tmp_path, short_shots))
    executor = Executor()
    out = tmp_path / "out"
    executor.run(graph, output_dir=out, project_dir=EXAMPLE.parent)
    png = next((out / "shots").glob("*.png"))
    png.write_bytes(b"edited")
    second = executor.run(graph, output_dir=out, project_dir=EXAMPLE.parent)
    assert "sequence1" in second.executed
    assert png.read_bytes()[:4] == b"\x89PNG"


# ----------------------------------------------------------------------------- 4. images, memory

def thin_png(path: Path, width: int, height: int) -> Path:
    from PIL import Image

    Image.new("RGB", (width, height), (200, 120, 40)).save(path, optimize=True)
    return path


def limited_run(project: Path, out: Path, limit_bytes: int):
    """`canvas-app run` in a child whose address space is capped."""
    code = ("import resource, sys\n"
            f"resource.setrlimit(resource.RLIMIT_AS, ({limit_bytes}, {limit_bytes}))\n"
            "from canvas_app.cli import main\n"
            f"sys.exit(main(['run', {str(project)!r}, '--out', {str(out)!r}, '--quiet']))\n")
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=300, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return process.returncode, process.stderr


@pytest.mark.parametrize("size", [(20000, 1), (1, 2000), (1, 65500)])
def test_a_needle_thin_environment_image_is_refused_in_bounded_memory(tmp_path, size):
    image = thin_png(tmp_path / "thin.png", *size)
    assert image.stat().st_size < 2000

    def use_thin(project):
        short_shots(project)
        node(project, "reference2")["params"]["images"][0]["path"] = str(image)
    project = write_project(tmp_path, use_thin)
    code, err = cli("validate", project)
    assert code == 2 and ("too thin" in err or "too large" in err) and "thin.png" in err
    assert "Traceback" not in err
    code, err = limited_run(project, tmp_path / "out", 6 * 1024 ** 3)
    assert code == 2, err
    assert ("too thin" in err or "too large" in err) and "Traceback" not in err
    assert "MemoryError" not in err


def test_a_decompression_bomb_is_bad_input(tmp_path):
    from PIL import Image

    from canvas_app.errors import BadInput
    from canvas_app.media.images import load_rgb

    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(bomb)
    with pytest.raises(BadInput, match="too large"):
        load_rgb(bomb)


def test_the_largest_settings_are_refused_before_rendering(tmp_path):
    def huge(project):
        for n in project["nodes"]:
            if n["type"] == "Prompt":
                n["params"]["duration"] = 60.0
            if n["type"] == "Generate":
                n["params"].update(width=4096, height=4096, fps=60.0)
    project = write_project(tmp_path, huge)
    for command in ("validate", "run"):
        code, err = cli(command, project, "--out", tmp_path / "out") if command == "run" \
            else cli(command, project)
        assert code == 2, err
        assert "GB of frames in memory" in err and "generate1" in err and "width" in err


def test_sixteen_bit_grayscale_keeps_its_tones_and_its_face(tmp_path):
    from PIL import Image

    from canvas_app.identity.encoders import get_encoder
    from canvas_app.media.images import load_rgb

    gray8 = np.asarray(Image.open(ASTRONAUT).convert("L"))
    path = tmp_path / "gray16.png"
    Image.fromarray(gray8.astype(np.uint16) * 257).save(path)
    with Image.open(path) as check:
        assert check.mode.startswith("I")
    loaded = load_rgb(path)
    assert loaded.shape == gray8.shape + (3,)
    assert np.abs(loaded[:, :, 0].astype(int) - gray8).max() <= 1
    assert get_encoder("dlib").detect(loaded), "no face found in a 16-bit photo of a face"


# ----------------------------------------------------------------------------- 5. hangs, Ctrl-C

@pytest.mark.parametrize("kind", ["fifo_reference", "dev_zero_reference", "dev_urandom_identity",
                                  "fifo_identity"])
def test_non_regular_inputs_are_refused_without_hanging(tmp_path, kind):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    target = {"fifo_reference": fifo, "dev_zero_reference": "/dev/zero",
              "dev_urandom_identity": "/dev/urandom", "fifo_identity": fifo}[kind]

    def mutate(project):
        short_shots(project)
        if kind.endswith("reference"):
            node(project, "reference1")["params"]["images"][0]["path"] = str(target)
        else:
            node(project, "identitylock1")["params"].update(source="file",
                                                            identity_file=str(target))
    project = write_project(tmp_path, mutate)
    for command in (["validate", project], ["run", project, "--out", tmp_path / "out"]):
        code, err = cli(*command, timeout=60)
        assert code == 2 and "not a regular file" in err and "Traceback" not in err, err


def test_hashing_a_fifo_fails_at_once():
    import tempfile

    from canvas_app.fileio import NotRegularFile
    from canvas_app.media.images import file_sha256

    folder = Path(tempfile.mkdtemp())
    fifo = folder / "pipe"
    os.mkfifo(fifo)
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(
        pytest.raises(NotRegularFile, file_sha256, fifo)), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert outcome, "hashing a FIFO hung"


# A Ctrl-C at a chosen moment of start-up, whatever the machine's speed: the child
# sends SIGINT to itself when it first imports MODULE, then starts canvas-app as
# `python -m canvas_app` does (or as the `canvas-app` script does, through `entry`).
INTERRUPT_AT_IMPORT = """
import os, runpy, signal, sys
module, how, sys.argv = sys.argv[1], sys.argv[2], ["canvas-app", *sys.argv[3:]]
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == module:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, Interrupt())
if how == "module":
    runpy.run_module("canvas_app", run_name="__main__", alter_sys=True)
else:
    from canvas_app.__main__ import entry
    sys.exit(entry())
"""


@pytest.mark.parametrize("module", [
    "argparse",  # the first import of canvas_app.cli
    "canvas_app.cli", "canvas_app.errors",
    "canvas_app.project",  # inside a command: its own KeyboardInterrupt handling
    "canvas_app.engine", "numpy"])
@pytest.mark.parametrize("how", ["module", "script"])
def test_ctrl_c_while_starting_exits_cleanly(tmp_path, module, how):
    project = write_project(tmp_path, short_shots)
    process = subprocess.run(
        [sys.executable, "-c", INTERRUPT_AT_IMPORT, module, how, "run", str(project), "--out",
         str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert process.returncode == 130, process.stderr
    assert "Traceback" not in process.stderr and "cancelled" in process.stderr, process.stderr
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- 6. outside writes

def test_a_symlinked_output_folder_shipped_in_a_project_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    folder = tmp_path / "shipped"
    folder.mkdir()
    project = write_project(folder, short_shots, name="spokesperson")
    (folder / "output").symlink_to(elsewhere, target_is_directory=True)
    code, err = cli("run", project.name, cwd=folder)
    assert code == 2 and "symbolic link" in err, err
    assert not any(elsewhere.iterdir())


def test_a_symlinked_shots_folder_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "shots").symlink_to(elsewhere, target_is_directory=True)
    code, err = cli("run", write_project(tmp_path, short_shots), "--out", out)
    assert code == 2 and "symbolic link" in err, err
    assert not any(elsewhere.iterdir())


# ----------------------------------------------------------------------------- 7, 8. exit 2

def deep(project):
    value = 1
    for _ in range(500):
        value = [value]
    node(project, "prompt1")["params"]["mood"] = value


def set_param(node_id, name, value):
    def mutate(project):
        node(project, node_id)["params"][name] = value
    return mutate


def set_image(path):
    def mutate(project):
        node(project, "reference1")["params"]["images"][0]["path"] = path
    return mutate


def backdrop(project):
    project["backdrops"] = [{"id": "b", "rect": [0, 0, 10 ** 400, 5]}]


@pytest.mark.parametrize("case, mutate, words", [
    ("deep params", deep, ["prompt1", "nested"]),
    ("huge float", set_param("prompt1", "duration", 10 ** 400), ["prompt1", "duration"]),
    ("huge seed", set_param("generate1", "seed", 10 ** 400), ["generate1", "seed"]),
    ("huge trim", set_param("sequence1", "trims", [{"in": 10 ** 400, "out": None}]),
     ["sequence1", "trims"]),
    ("nan trim", set_param("sequence1", "trims", [{"in": float("nan"), "out": None}]),
     ["sequence1", "trims"]),
    ("inf trim", set_param("sequence1", "trims", [{"in": 0, "out": float("inf")}]),
     ["sequence1", "trims"]),
    ("nul path", set_image("face\x00.jpg"), ["reference1", "images", "NUL"]),
    ("long path", set_image("a" * 5000 + ".jpg"), ["reference1", "images", "too long"]),
])
def test_hostile_project_values_exit_2_from_validate_and_run(tmp_path, case, mutate, words):
    project = write_project(tmp_path, mutate)
    for command in (["validate", project], ["run", project, "--out", tmp_path / "out"]):
        code, err = cli(*command)
        assert code == 2, (case, err)
        assert "Traceback" not in err
        for word in words:
            assert word in err, (case, word, err)


def test_a_symlink_loop_asset_and_a_huge_backdrop_do_not_crash(tmp_path, capsys):
    loop = tmp_path / "loop.jpg"
    loop.symlink_to(loop)
    assert main(["validate", str(write_project(tmp_path, set_image(str(loop))))]) == 2
    assert "loop.jpg" in capsys.readouterr().err
    assert main(["validate", str(write_project(tmp_path, backdrop, name="b"))]) == 0


def test_a_lone_surrogate_saves_and_what_validate_accepts_runs(tmp_path, capsys):
    from canvas_app.project import load_project, save_project

    def titled(project):
        short_shots(project)
        node(project, "sequence1")["title"] = "cut \udc80"
        node(project, "prompt1")["title"] = "shot \ud800"
    project = write_project(tmp_path, titled)
    graph, issues = load_project(project)
    assert graph.nodes["sequence1"].title == "cut ?" and {i.field for i in issues} == {"title"}
    graph.nodes["sequence1"].title = "pasted \udc80"  # as the editor may hold it
    save_project(graph, tmp_path / "saved.canvas.json")
    assert load_project(tmp_path / "saved.canvas.json")[0].nodes["sequence1"].title == "pasted ?"
    assert main(["validate", str(project)]) == 0
    assert main(["run", str(project), "--out", str(tmp_path / "out"), "--quiet"]) == 0

    def in_param(project):
        node(project, "prompt1")["params"]["positive"] = "hello \udc80"
        node(project, "sequence1")["params"]["name"] = "cut\ud800"
    bad = write_project(tmp_path, in_param, name="bad")
    capsys.readouterr()
    assert main(["validate", str(bad)]) == 2
    assert "invalid character" in capsys.readouterr().err
    assert main(["run", str(bad), "--out", str(tmp_path / "out2"), "--quiet"]) == 2


# ----------------------------------------------------------------------------- 9. leftovers

def test_leftovers_of_killed_runs_and_saves_are_cleaned(tmp_path):
    from canvas_app.graph import Graph
    from canvas_app.project import save_project

    project = write_project(tmp_path, short_shots)
    out = tmp_path / "out"
    (out / ".export-999999999-abc" / "shots").mkdir(parents=True)
    (out / ".export-999999999-abc" / "cut.mp4").write_bytes(b"half")
    old_tmp = tmp_path / f".{project.name}.x1y2.tmp"
    old_tmp.write_text("{half")
    os.utime(old_tmp, (time.time() - 3600, time.time() - 3600))
    assert main(["run", str(project), "--out", str(out), "--quiet"]) == 0
    assert not list(out.glob(".export-*")) and not old_tmp.exists()

    saved = tmp_path / "other.canvas.json"
    stale = tmp_path / ".other.canvas.json.k3j4.tmp"
    stale.write_text("{half")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    save_project(Graph(), saved)
    assert not stale.exists() and saved.is_file()


# ============================================================================= round two

def special_file(path: Path) -> Path:
    """A character device like /dev/null where root may make one (as root the
    atomic rename once replaced /dev/null itself), else a FIFO: either must
    survive every write the program makes."""
    try:
        os.mknod(path, 0o666 | __import__("stat").S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError):
        os.mkfifo(path)
    return path


def still_special(path: Path) -> bool:
    import stat

    return not stat.S_ISREG(os.lstat(path).st_mode)


# ----------------------------------------------------------------------------- 2. devices as outputs

def test_an_identity_is_never_written_over_a_device(tmp_path):
    target = special_file(tmp_path / "n")
    code, err = cli("identity", "create", "T", ASTRONAUT, "-o", target)
    assert code == 2 and "not a regular file" in err and str(target) in err, err
    assert still_special(target)


def test_a_project_is_never_saved_over_a_device(tmp_path):
    from canvas_app.fileio import NotRegularFile
    from canvas_app.project import load_project
    from canvas_app.project.io import save_project

    graph, _ = load_project(write_project(tmp_path))
    target = special_file(tmp_path / "saved.canvas.json")
    with pytest.raises(NotRegularFile):
        save_project(graph, target)
    assert still_special(target)


def test_an_export_is_never_published_over_a_device(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    target = special_file(out / "spokesperson.mp4")
    code, err = cli("run", write_project(tmp_path, short_shots), "--out", out, "--quiet")
    assert code == 2 and "not a regular file" in err and "spokesperson.mp4" in err, err
    assert "Traceback" not in err
    assert still_special(target)


def test_a_screenshot_is_never_written_over_a_device(tmp_path):
    target = special_file(tmp_path / "shot.png")
    code, err = cli("open", write_project(tmp_path), "--screenshot", target,
                    env={"QT_QPA_PLATFORM": "offscreen"})
    assert code == 2 and "not a regular file" in err, err
    assert still_special(target)


# ----------------------------------------------------------------------------- 9. FIFOs as LoRA / FaceID

def answers_within(seconds: float, call) -> list:
    """[outcome] of call() in a thread, [] if it hung (the thread is left behind)."""
    outcome: list = []

    def target():
        try:
            outcome.append(call())
        except BaseException as error:  # noqa: BLE001 - the outcome is what is checked
            outcome.append(error)
    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout=seconds)
    return outcome


@pytest.mark.parametrize("field", ["loras", "faceid_adapter", "image_encoder"])
def test_a_fifo_as_lora_or_adapter_is_refused_at_once(tmp_path, field):
    from canvas_app.errors import BadInput
    from canvas_app.generation.model_manager import resolve_source

    fifo = tmp_path / "weights.safetensors"
    os.mkfifo(fifo)
    outcome = answers_within(20, lambda: resolve_source(str(fifo), field=field))
    assert outcome, "resolving a FIFO hung"
    assert isinstance(outcome[0], BadInput) and "not a regular file" in str(outcome[0])
    assert field in str(outcome[0]) or outcome[0].field == field


def test_a_100000_character_lora_path_is_a_clear_error():
    from canvas_app.errors import BadInput
    from canvas_app.generation.model_manager import resolve_source

    with pytest.raises(BadInput, match="too long"):
        resolve_source("/" + "a" * 100_000 + ".safetensors", field="loras")


# ----------------------------------------------------------------------------- 3. cut name clashes

def second_cut(name):
    def mutate(project):
        short_shots(project)
        first = node(project, "sequence1")
        project["nodes"].append({**json.loads(json.dumps(first)), "id": "sequence2",
                                 "title": "Second cut", "position": [0, 900],
                                 "params": {**first["params"], "name": name}})
        project["links"] += [{**link, "dst": "sequence2"} for link in project["links"]
                             if link["dst"] == "sequence1"]
    return mutate


@pytest.mark.parametrize("name", ["spokesperson!", "spokesperson"])
def test_two_cuts_with_the_same_file_name_are_refused(tmp_path, name):
    project = write_project(tmp_path, second_cut(name))
    code, err = cli("validate", project)
    assert code == 2 and "sequence" in err.lower() and "name" in err and "replace" in err, err
    code, err = cli("run", project, "--out", tmp_path / "out", "--quiet")
    assert code == 2 and "replace" in err and "Traceback" not in err, err
    assert not (tmp_path / "out" / "spokesperson.mp4").exists()


def test_two_cuts_with_different_file_names_both_export(tmp_path):
    project = write_project(tmp_path, second_cut("second"))
    code, err = cli("run", project, "--out", tmp_path / "out", "--quiet")
    assert code == 0, err
    assert (tmp_path / "out" / "spokesperson.mp4").is_file()
    assert (tmp_path / "out" / "second.mp4").is_file()


# ----------------------------------------------------------------------------- 10. tiny cut fps

def cut_fps(fps):
    def mutate(project):
        short_shots(project)
        node(project, "sequence1")["params"]["fps"] = fps
    return mutate


@pytest.mark.parametrize("fps", [1e-300, 5e-324, 0.0001])
def test_a_tiny_cut_fps_is_refused_before_anything_runs(tmp_path, fps):
    project = write_project(tmp_path, cut_fps(fps))
    for command in (["validate", project], ["run", project, "--out", tmp_path / "out", "--quiet"]):
        code, err = cli(*command, env={"CANVAS_APP_MAX_SHOT_MB": "8000"})  # any machine's size
        assert code == 2 and "sequence1" in err and "fps" in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()


def test_the_cut_s_sound_counts_in_the_memory_budget(tmp_path):
    project = write_project(tmp_path, cut_fps(0.001))  # 3 frames of 1000 s: 3.4 GB of sound
    code, err = cli("validate", project, env={"CANVAS_APP_MAX_SHOT_MB": "1000"})
    assert code == 2 and "sound" in err and "fps" in err, err
    code, err = cli("validate", write_project(tmp_path, cut_fps(12.0), name="sane"),
                    env={"CANVAS_APP_MAX_SHOT_MB": "1000"})
    assert code == 0, err


# ----------------------------------------------------------------------------- 6. provenance files

def graph_text(mutate=lambda project: None) -> str:
    project = json.loads(write_project(Path(__import__("tempfile").mkdtemp()), short_shots)
                         .read_text())
    mutate(project)
    return json.dumps(project)


def png_with_chunk(path: Path, kind: bytes, key: str, text: bytes, compress=False) -> Path:
    """A 4x4 PNG with one text chunk written by hand (Pillow refuses what is tried here)."""
    import struct
    import zlib

    from PIL import Image

    Image.new("RGB", (4, 4)).save(path)
    data = path.read_bytes()
    body = key.encode("latin-1") + b"\0"
    if kind == b"zTXt":
        body += b"\0" + zlib.compress(text)
    elif kind == b"iTXt":
        body += (b"\1\0" if compress else b"\0\0") + b"\0\0" + (zlib.compress(text) if compress
                                                               else text)
    else:
        body += text
    chunk = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    path.write_bytes(data[:33] + chunk + data[33:])  # after the signature and IHDR
    return path


def mp4_with_tags(path: Path, tags: dict[str, str]) -> Path:
    from canvas_app.media.exports.encode import encode_video

    encode_video([np.zeros((16, 16, 3), np.uint8)] * 2, 2.0, path, metadata=tags)
    return path


def nested_json(depth: int) -> str:
    return '{"format_version": 1, "nodes": [], "metadata": ' + "[" * depth + "]" * depth + "}"


def provenance_cases(folder: Path) -> dict[str, Path]:
    from canvas_app.media.exports.provenance import KEY

    deep = nested_json(5000)
    padded = graph_text(lambda p: p["metadata"].update(padding="x" * (2 << 20)))
    return {
        "deep png": png_with_chunk(folder / "deep.png", b"tEXt", KEY, deep.encode()),
        "deep mp4": mp4_with_tags(folder / "deep.mp4", {KEY: deep}),
        "huge tEXt": png_with_chunk(folder / "huge.png", b"tEXt", KEY, b"{" * (17 << 20)),
        "zip bomb": png_with_chunk(folder / "bomb.png", b"zTXt", KEY, b" " * (40 << 20)),
        "2 MB graph in zTXt": png_with_chunk(folder / "big.png", b"zTXt", KEY, padded.encode()),
        "bad utf-8 iTXt": png_with_chunk(folder / "utf.png", b"iTXt", KEY, b"{\xff\xfe}"),
        "no graph": png_with_chunk(folder / "plain.png", b"tEXt", "Software", b"GIMP"),
        "bad utf-8 tag": mp4_with_tags(folder / "tag.mp4", {KEY: graph_text(),
                                                            "comment": "\u00e9" * 8}),
    }


@pytest.fixture(scope="module")
def provenance_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("provenance")
    cases = provenance_cases(folder)
    data = cases["bad utf-8 tag"].read_bytes()  # the comment's UTF-8 made invalid, same length
    cases["bad utf-8 tag"].write_bytes(data.replace("\u00e9".encode() * 8, b"\xff\xfe" * 8))
    return cases


OPENS = {"2 MB graph in zTXt", "bad utf-8 tag"}


@pytest.mark.parametrize("case", ["deep png", "deep mp4", "huge tEXt", "zip bomb",
                                  "2 MB graph in zTXt", "bad utf-8 iTXt", "no graph",
                                  "bad utf-8 tag"])
def test_hostile_provenance_files_answer_cleanly(provenance_files, tmp_path, case):
    path = provenance_files[case]
    expected = 0 if case in OPENS else 2
    for command in (["validate", "--trust-paths", path], ["doctor", path]):
        code, err = cli(*command, timeout=120)
        assert "Traceback" not in err, (case, err)
        assert code == (expected if command[0] == "validate" else code), (case, err)
        if expected == 2:
            assert code == 2 and str(path) in err, (case, err)
    code, err = cli("open", path, "--screenshot", tmp_path / "shot.png", "--trust-paths",
                    timeout=120, env={"QT_QPA_PLATFORM": "offscreen"})
    assert code == expected and "Traceback" not in err, (case, err)


def test_an_exported_graph_reads_nothing_outside_its_folder_unless_trusted(tmp_path):
    from canvas_app.media.exports.provenance import KEY
    from canvas_app.project import load_project

    secret = tmp_path / "secret.jpg"
    secret.write_bytes(ASTRONAUT.read_bytes())
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / "inside.jpg").symlink_to(secret)

    def hostile(project):
        node(project, "reference1")["params"]["images"] = [
            {"path": "/etc/passwd", "role": "face"}, {"path": "../secret.jpg", "role": "face"},
            {"path": "inside.jpg", "role": "face"}]
    png = png_with_chunk(folder / "shot.png", b"tEXt", KEY, graph_text(hostile).encode())
    graph, issues = load_project(png)
    assert graph.nodes["reference1"].params["images"] == []
    outside = [issue for issue in issues if "outside" in issue.message]
    assert len(outside) >= 3 and all(issue.severity == "error" for issue in outside)
    code, err = cli("validate", png)
    assert code == 2 and "/etc/passwd" in err and "--trust-paths" in err, err
    trusted, _ = load_project(png, trust_paths=True)
    assert len(trusted.nodes["reference1"].params["images"]) == 3


def test_an_exported_graph_opens_from_a_moved_folder(tmp_path):
    """The graph stores paths relative to the output folder: the project and its
    output moved together still resolve them (after the user agrees)."""
    import shutil

    first = tmp_path / "first"
    first.mkdir()
    project = write_project(first, short_shots, name="spokesperson")
    for sub in ("refs", "audio"):
        shutil.copytree(EXAMPLE.parent / sub, first / sub)
    text = project.read_text().replace(str(EXAMPLE.parent) + "/", "")
    project.write_text(text)
    assert main(["run", str(project), "--out", str(first / "out"), "--quiet"]) == 0
    moved = tmp_path / "elsewhere" / "moved"
    shutil.move(first, moved)
    still = next((moved / "out" / "shots").glob("spokesperson_01_*.png"))  # named after its shot
    for media in (moved / "out" / "spokesperson.mp4", still):
        code, err = cli("validate", "--trust-paths", media)
        assert code == 0, err
        code, err = cli("validate", media)
        assert code == 2 and "outside" in err, err


# ----------------------------------------------------------------------------- 7. read-only outputs

@pytest.fixture
def read_only(tmp_path):
    """make(folder): a folder nothing can be written into, even by root (chattr +i
    where root runs the tests, mode 555 otherwise); undone after the test."""
    made = []

    def make(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
                pytest.skip("running as root where chattr +i is not available")
        else:
            folder.chmod(0o555)
        made.append(folder)
        return folder
    yield make
    for folder in made:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
        folder.chmod(0o755)


def test_a_read_only_output_folder_is_bad_input(tmp_path, read_only):
    out = read_only(tmp_path / "out")
    project = write_project(tmp_path, short_shots)
    cases = [("run", project, "--out", out, "--quiet"),
             ("identity", "create", "T", ASTRONAUT, "-o", out / "t.safetensors"),
             ("open", project, "--screenshot", out / "shot.png")]
    for command in cases:
        code, err = cli(*command, env={"QT_QPA_PLATFORM": "offscreen"})
        assert code == 2 and "Traceback" not in err and str(out) in err, (command, err)


def test_an_immutable_shots_folder_leaves_nothing_behind(tmp_path, read_only):
    out = tmp_path / "out"
    read_only(out / "shots")
    code, err = cli("run", write_project(tmp_path, short_shots), "--out", out, "--quiet")
    assert code == 2 and "shots" in err and "Traceback" not in err, err
    assert sorted(p.name for p in out.iterdir()) == ["shots"]


def test_a_stale_manifest_temp_file_is_removed(tmp_path):
    from canvas_app.media.publish import recover

    stale = tmp_path / "..spokesperson.export.json.k2j3.tmp"
    stale.write_text("{half")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    fresh = tmp_path / "..spokesperson.export.json.z9y8.tmp"  # a publish writing right now
    fresh.write_text("{half")
    recover(tmp_path)
    assert not stale.exists() and fresh.exists()


def test_the_editor_writes_no_run_log_through_a_symlinked_output_folder(tmp_path):
    from canvas_app.ui.execution.run_log import RunLogs

    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "cut").mkdir(parents=True)
    (tmp_path / "output").symlink_to(elsewhere, target_is_directory=True)
    logs = RunLogs()
    logs.record(1, {"event": "run_started", "plan": []})
    logs.write(1, [], "failed", tmp_path / "output" / "cut", title=str)
    logs.record(2, {"event": "run_started", "plan": []})
    logs.write(2, [], "failed", tmp_path / "output", title=str)
    assert not any(elsewhere.rglob("run.*"))


# ----------------------------------------------------------------------------- 8. bad sound files

def float_wav(path: Path, samples) -> Path:
    import struct

    raw = np.asarray(samples, np.float32).tobytes()
    path.write_bytes(b"RIFF" + struct.pack("<I", 36 + len(raw)) + b"WAVEfmt "
                     + struct.pack("<IHHIIHH", 16, 3, 1, 48000, 48000 * 4, 4, 32)
                     + b"data" + struct.pack("<I", len(raw)) + raw)
    return path


def bad_sounds(folder: Path) -> dict[str, Path]:
    from PIL import Image

    good = float_wav(folder / "good.wav", np.zeros(48000))
    (folder / "empty.wav").write_bytes(b"")
    (folder / "text.mp3").write_text("not a sound")
    (folder / "truncated.wav").write_bytes(good.read_bytes()[:30])
    (folder / "noise.ogg").write_bytes(np.random.default_rng(1).bytes(5000))
    Image.new("RGB", (4, 4)).save(folder / "image.png")
    (folder / "image.png").rename(folder / "image.wav")
    mp4_with_tags(folder / "silent_video.mp4", {})
    return {"nan": float_wav(folder / "nan.wav", np.full(48000, np.nan)),
            "inf": float_wav(folder / "inf.wav", np.full(48000, np.inf)),
            **{name: folder / name for name in ("empty.wav", "text.mp3", "truncated.wav",
                                                "noise.ogg", "image.wav", "silent_video.mp4")}}


@pytest.mark.parametrize("case", ["nan", "inf", "empty.wav", "text.mp3", "truncated.wav",
                                  "noise.ogg", "image.wav", "silent_video.mp4"])
def test_bad_sound_files_are_refused_by_validate_naming_the_file(tmp_path, case):
    sound = bad_sounds(tmp_path)[case]
    project = write_project(tmp_path, set_param("sequence1", "audio", str(sound)))
    code, err = cli("validate", project)
    assert code == 2 and str(sound) in err and "audio" in err and "Traceback" not in err, err


def test_a_nan_sound_is_a_clear_error_when_the_run_loads_it(tmp_path):
    from canvas_app.errors import BadInput
    from canvas_app.media.exports.audio import load_audio

    sound = float_wav(tmp_path / "nan.wav", np.concatenate([np.zeros(96000), [np.nan] * 10]))
    with pytest.raises(BadInput, match="NaN") as raised:
        load_audio(sound, 3.0, node="cut", field="audio")
    assert str(sound) in str(raised.value)


def test_open_run_first_says_why_the_run_failed(tmp_path):
    def bad_trim(project):
        short_shots(project)
        node(project, "sequence1")["params"]["trims"] = [{"in": 5.0, "out": None}]
    project = write_project(tmp_path, bad_trim)
    code, err = cli("open", project, "--run-first", "--screenshot", tmp_path / "shot.png",
                    timeout=300, env={"QT_QPA_PLATFORM": "offscreen", "CANVAS_APP_ENGINE": "thread",
                                      "CANVAS_APP_NO_DISK_CACHE": "1"})
    assert code == 1 and "trim 1 leaves no frames" in err, err


# ----------------------------------------------------------------------------- 11. validate ok, run fails

def test_a_very_wide_cut_exports_its_animated_previews(tmp_path):
    def wide(project):
        short_shots(project)
        node(project, "sequence1")["params"].update(width=8192, height=2, export_webp=True,
                                                    export_gif=True)
    project = write_project(tmp_path, wide)
    assert cli("validate", project)[0] == 0
    code, err = cli("run", project, "--out", tmp_path / "out", "--quiet")
    assert code == 0, err
    assert (tmp_path / "out" / "spokesperson.gif").stat().st_size > 0


@pytest.mark.parametrize("address", ["ray://a..b:1", "ray://127.0.0.1:99999", "ray://h:0",
                                     "http://127.0.0.1:10001", "ray://:10001"])
def test_bad_farm_addresses_are_bad_input(tmp_path, address):
    pytest.importorskip("ray")
    code, err = cli("run", write_project(tmp_path, short_shots), "--out", tmp_path / "out",
                    "--farm", address)
    assert code == 2 and "Traceback" not in err and "--farm" in err, err
    assert "not a Ray address" in err, err  # refused as written, before any connection


@pytest.mark.parametrize("command", [
    ["identity", "list", "--library", "~nosuchuser/x"],
    ["identity", "encoders", "--models-dir", "~nosuchuser"],
    ["identity", "list", "--library", "/" + "a" * 5000],
    ["validate", "/" + "a" * 5000 + ".canvas.json"],
    ["doctor", "/" + "a" * 5000 + ".canvas.json"],
])
def test_impossible_paths_are_bad_input(command):
    code, err = cli(*command)
    assert code == 2 and "Traceback" not in err and len(err) < 1000, err


def test_an_identity_named_with_a_lone_surrogate_is_listed(tmp_path):
    sys.path.insert(0, str(ROOT / "tests"))
    from test_fuzz import rewrite_metadata

    from canvas_app.identity import build_identity
    from canvas_app.identity.files import identity_to_bytes
    from canvas_app.media.images import load_reference

    good = identity_to_bytes(build_identity("Good", [load_reference(ASTRONAUT, "face")]))
    (tmp_path / "bad.identity.safetensors").write_bytes(
        rewrite_metadata(good, lambda metadata: metadata.update(name="bad\ud800name")))
    code, err = cli("identity", "list", "--library", tmp_path)
    assert code == 0 and "Traceback" not in err, err


def test_an_unknown_node_type_nested_900_deep_is_dropped_with_an_issue(tmp_path):
    def deep_unknown(project):
        project["nodes"].append({"id": "alien", "type": "FromTheFuture", "params": {"x": "DEEP"}})
    project = write_project(tmp_path, deep_unknown)  # json.dumps itself cannot write 900 deep
    project.write_text(project.read_text().replace('"DEEP"', "[" * 900 + "1" + "]" * 900))
    code, err = cli("validate", project)
    assert code == 2 and "alien" in err and "too deep" in err and "Traceback" not in err, err


def test_doctor_does_not_walk_the_file_system_for_a_lora_of_slash(tmp_path):
    def slash_lora(project):
        short_shots(project)
        for n in project["nodes"]:
            if n["type"] == "Generate":
                n["params"].update(backend="diffusers", loras="/")
    process = subprocess.run([sys.executable, "-m", "canvas_app", "doctor", "--json",
                              str(write_project(tmp_path, slash_lora))], capture_output=True,
                             text=True, timeout=120, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert process.returncode in (0, 1) and "Traceback" not in process.stderr, process.stderr
    lora = next(m for m in json.loads(process.stdout)["models"] if m["field"] == "loras")
    assert lora["size_bytes"] is None  # "size unknown": not the size of the whole disk


def test_a_dissolve_longer_than_its_shots_is_refused_by_validate_as_by_run(tmp_path, capsys):
    def long_dissolve(project):
        short_shots(project)  # shots of 3 frames (0.5 s at 6 fps)
        node(project, "sequence1")["params"]["trims"] = [
            {"in": 0.0, "out": None}, {"in": 0.0, "out": None, "dissolve": 1.0}]
    project = write_project(tmp_path, long_dissolve)
    assert main(["validate", str(project)]) == 2
    said = capsys.readouterr().err
    assert main(["run", str(project), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    answered = capsys.readouterr().err
    message = ("the dissolve into shot 2 (6 frames) is longer than the shots it joins "
               "(3 frames to spare)")
    assert "Spokesperson cut" in said and "field trims" in said and message in said, said
    assert message in answered, answered
    assert not list((tmp_path / "out").glob("*.mp4")) if (tmp_path / "out").exists() else True
