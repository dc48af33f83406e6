"""Scoring shots against an identity, and the `identity` CLI commands."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from canvas_app.errors import BadInput
from canvas_app.identity import ShotScore, score_frames, score_media, summarize
from canvas_app.media.video import sample_indices
from conftest import resize


def blank(height=256, width=256):
    return np.full((height, width, 3), 90, np.uint8)


def test_same_person_passes_and_another_fails(eileen, astronaut_variants, hanks):
    same = score_frames(eileen, [astronaut_variants[k] for k in ("crop", "bright", "small")])
    assert same.encoder == "dlib" and same.passed and same.mean > 0.6 and same.minimum > 0.5
    other = score_frames(eileen, [hanks, hanks[:, ::-1]])
    assert not other.passed and other.mean < 0.4
    assert same.identity_name == "Eileen" and same.identity_id == eileen.identity_id


def test_frames_without_a_face_are_counted_not_averaged(eileen, astronaut):
    frames = [astronaut, blank(), astronaut[:, ::-1], blank()]
    score = score_frames(eileen, frames)
    assert score.similarities[1] is None and score.similarities[3] is None
    assert score.frames_without_face == 2
    assert score.mean == pytest.approx(np.mean([score.similarities[0], score.similarities[2]]))
    nothing = score_frames(eileen, [blank(), blank()])
    assert nothing.mean is None and nothing.minimum is None and nothing.worst_frame is None
    assert not nothing.passed and "no face" in nothing.notes[0]
    with pytest.raises(BadInput):
        score_frames(eileen, [])


def test_worst_frame_and_minimum(eileen, astronaut, hanks):
    frames = [astronaut, astronaut, hanks, astronaut]
    score = score_frames(eileen, frames)
    assert score.worst_frame == 2
    assert score.minimum == pytest.approx(score.similarities[2]) and score.minimum < 0.4
    assert score.mean > score.minimum


def test_in_a_crowd_the_face_most_like_the_identity_is_scored(eileen, group, astronaut):
    crowd = group.copy()
    face = resize(astronaut[60:200, 160:290], 0.8)  # Eileen's head, a bit smaller than the rest
    crowd[600:600 + face.shape[0], 560:560 + face.shape[1]] = face
    score = score_frames(eileen, [crowd])
    assert score.similarities[0] > 0.6


def test_frames_are_sampled_evenly(eileen, astronaut):
    assert sample_indices(20, 8) == [0, 3, 5, 8, 11, 14, 16, 19]
    assert sample_indices(5, 8) == [0, 1, 2, 3, 4]
    frames = [astronaut if i != 19 else blank() for i in range(20)]
    score = score_frames(eileen, frames, max_samples=4)
    assert score.frame_indices == [0, 6, 13, 19] and score.frames_total == 20
    assert score.frames_without_face == 1 and score.frames_sampled == 4


def test_score_is_json_ready(eileen, astronaut, hanks):
    score = score_frames(eileen, [astronaut, hanks, blank()], conditioned_encoder="dlib")
    data = json.loads(json.dumps(score.to_dict()))
    assert data["encoder"] == data["recognizer"] == "dlib"
    assert data["conditioned_encoder"] == "dlib" and data["independent"] is False
    assert data["similarities"][2] is None and data["frames_without_face"] == 1
    assert data["worst_frame"] == 1 and data["threshold"] == 0.4
    assert set(data) >= {"mean", "minimum", "passed", "frame_indices", "frames_sampled"}


def write_video(path: Path, frames, fps=12):
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory, astronaut, hanks):
    folder = tmp_path_factory.mktemp("clips")
    eileen_frames = [np.roll(astronaut, shift, axis=1) for shift in range(0, 48, 4)]
    hanks_frames = [resize(hanks, 3.0)] * 6
    return {
        "eileen.mp4": write_video(folder / "eileen.mp4", eileen_frames),
        "hanks.mp4": write_video(folder / "hanks.mp4", hanks_frames),
        "folder": folder,
    }


def test_score_media_reads_videos_and_images(eileen, clips, astronaut, write_photo):
    still = write_photo("still.png", astronaut).path
    scores = score_media(eileen, [clips["eileen.mp4"], clips["hanks.mp4"], still], max_samples=4)
    eileen_clip, hanks_clip, image = scores
    assert eileen_clip.frames_total == 12 and eileen_clip.frame_indices == [0, 4, 7, 11]
    assert eileen_clip.passed and eileen_clip.mean > 0.6
    assert not hanks_clip.passed and hanks_clip.mean < 0.4
    assert image.frames_total == 1 and image.mean > 0.9 and image.source == str(still)
    summary = summarize(scores)
    assert summary["worst_shot"] == 1 and summary["worst_source"] == str(clips["hanks.mp4"])


def test_bad_media_is_bad_input(eileen, clips):
    broken = clips["folder"] / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    with pytest.raises(BadInput) as error:
        score_media(eileen, [broken])
    assert error.value.file == str(broken) and "video" in str(error.value)
    with pytest.raises(BadInput) as error:
        score_media(eileen, [clips["folder"] / "notes.txt"])
    assert "cannot score .txt" in str(error.value)


# ----------------------------------------------------------------------------- CLI

@pytest.fixture()
def cli():
    from canvas_app.identity.cli import add_identity_commands

    parser = argparse.ArgumentParser(prog="canvas-app")
    add_identity_commands(parser.add_subparsers(dest="command"))

    def run(*argv):
        args = parser.parse_args([str(a) for a in argv])
        return args.handler(args)

    return run


def test_cli_create_score_list_show_delete(cli, capsys, tmp_path, write_photo, astronaut,
                                           astronaut_variants, hanks, clips):
    front = write_photo("eileen.png", astronaut).path
    mirror = write_photo("eileen_mirror.png", astronaut_variants["mirror"]).path
    impostor = write_photo("hanks.png", hanks).path
    library = tmp_path / "library"
    out = tmp_path / "eileen.safetensors"
    assert cli("identity", "create", "Eileen", front, f"{mirror}:profile", impostor, "-o", out,
               "--save-to-library", "--library", library) == 0
    text = capsys.readouterr().out
    assert "LEFT OUT hanks.png" in text and "[profile]" in text and str(out) in text
    assert out.is_file()

    assert cli("identity", "score", out, clips["eileen.mp4"], clips["hanks.mp4"],
               "--max-samples", "3") == 0
    report = json.loads(capsys.readouterr().out)
    by_file = {Path(r["file"]).name: r for r in report["results"]}
    assert by_file["eileen.mp4"]["mean"] > 0.6 and by_file["hanks.mp4"]["mean"] < 0.4
    assert by_file["eileen.mp4"]["frames_sampled"] == 3
    assert report["summary"]["worst_source"].endswith("hanks.mp4")

    assert cli("identity", "list", "--library", library, "--json") == 0
    listing = json.loads(capsys.readouterr().out)
    assert [entry["name"] for entry in listing] == ["Eileen"]
    assert cli("identity", "show", "Eileen", "--library", library, "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert [s["included"] for s in shown["samples"]] == [True, True, False]
    assert cli("identity", "delete", "Eileen", "--library", library) == 0
    capsys.readouterr()
    assert cli("identity", "list", "--library", library) == 0
    assert "no identities" in capsys.readouterr().out


def test_cli_bad_input(cli, tmp_path, write_photo, astronaut):
    front = write_photo("eileen.png", astronaut).path
    with pytest.raises(BadInput):  # nowhere to put the result
        cli("identity", "create", "Eileen", front)
    with pytest.raises(BadInput) as error:
        cli("identity", "create", "Eileen", tmp_path / "missing.jpg", "-o", tmp_path / "x")
    assert "missing.jpg" in str(error.value)
    with pytest.raises(BadInput):
        cli("identity", "create", "Eileen", front, front, "--role", "face", "--role", "profile",
            "--role", "face", "-o", tmp_path / "x")
    with pytest.raises(BadInput):
        cli("identity", "show", "Nobody", "--library", tmp_path)
    with pytest.raises(BadInput) as error:  # never downloads without the licence confirmed
        cli("identity", "download-pack", "buffalo_l", "--models-dir", tmp_path)
    assert "non-commercial" in str(error.value) and not (tmp_path / "models").exists()
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(BadInput):
        cli("identity", "score", tmp_path / "junk.safetensors", front)


def test_cli_lists_encoders(cli, capsys, tiny_models_dir):
    assert cli("identity", "encoders", "--models-dir", tiny_models_dir) == 0
    assert capsys.readouterr().out.split() == ["dlib", "insightface/tiny"]


def test_image_role_syntax():
    from canvas_app.identity.cli import split_image_role

    assert split_image_role("a.jpg:profile") == ("a.jpg", "profile")
    assert split_image_role("a.jpg") == ("a.jpg", None)
    assert split_image_role("C:\\photos\\a.jpg") == ("C:\\photos\\a.jpg", None)
    assert split_image_role("dir:x/a.jpg:face") == ("dir:x/a.jpg", "face")


def test_main_cli_turns_bad_input_into_exit_2(tmp_path, capsys):
    from canvas_app.cli import main

    assert main(["identity", "show", "Nobody", "--library", str(tmp_path)]) == 2
    assert "no identity named 'Nobody'" in capsys.readouterr().err


def test_shot_score_is_a_dataclass_with_passed():
    score = ShotScore(identity_name="a", identity_id="b", encoder="dlib",
                      conditioned_encoder=None, independent=True, threshold=0.4, frames_total=1,
                      frame_indices=[0], similarities=[0.5], mean=0.5, minimum=0.5,
                      worst_frame=0, frames_without_face=0)
    assert score.passed and score.to_dict()["passed"] is True
