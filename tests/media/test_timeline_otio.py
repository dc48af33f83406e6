"""The exported .otio: an editor must find one clip per shot, trimmed right, pointing at the files."""
from __future__ import annotations

import numpy as np
import pytest

otio = pytest.importorskip("opentimelineio")

from canvas_app.media.timeline import TimelineShot, media_path, read_timeline, write_timeline  # noqa: E402


def make_shots(folder):
    shots_dir = folder / "shots"
    shots_dir.mkdir()
    shots = []
    for index, (frames, trim) in enumerate([(36, (0, 36)), (24, (6, 18)), (48, (12, 48))]):
        media = shots_dir / f"shot {index + 1}.mp4"
        media.write_bytes(b"")  # the timeline only references the file
        shots.append(TimelineShot(f"Shot {index + 1}", media, frames, trim[0], trim[1],
                                  {"identity_score": np.float32(0.71 + index / 100),
                                   "seed": np.int64(index), "backend": "animatic"}))
    return shots


def test_timeline_round_trips_with_one_clip_per_shot(tmp_path):
    shots = make_shots(tmp_path)
    path = write_timeline(tmp_path / "cut.otio", "My cut", shots, 12)
    timeline = otio.adapters.read_from_file(str(path))
    assert timeline.name == "My cut"
    assert len(timeline.video_tracks()) == 1
    clips = list(timeline.video_tracks()[0].find_clips())
    assert [c.name for c in clips] == ["Shot 1", "Shot 2", "Shot 3"]
    assert [c.source_range.duration.value for c in clips] == [36, 12, 36]
    assert [c.source_range.start_time.value for c in clips] == [0, 6, 12]
    assert [c.media_reference.available_range.duration.value for c in clips] == [36, 24, 48]
    assert all(c.source_range.duration.rate == 12 for c in clips)
    assert timeline.duration().to_seconds() == pytest.approx((36 + 12 + 36) / 12)
    meta = clips[1].metadata["canvas_app"]
    assert meta["identity_score"] == pytest.approx(0.72) and meta["seed"] == 1
    assert meta["backend"] == "animatic"
    # Media paths: relative to the .otio, and they resolve to the real files.
    assert clips[0].media_reference.target_url == "shots/shot%201.mp4"
    for clip, shot in zip(clips, shots):
        assert media_path(path, clip) == shot.media_path.resolve()
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["cut.otio"]  # no temp file


def test_moving_the_project_folder_keeps_the_links(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    write_timeline(project / "cut.otio", "cut", make_shots(project), 24)
    moved = project.rename(tmp_path / "moved")
    back = read_timeline(moved / "cut.otio")
    assert all(shot.media_path.is_file() for shot in back)
    assert [(s.in_frame, s.out_frame, s.available_frames) for s in back] == [(0, 36, 36), (6, 18, 24),
                                                                           (12, 48, 48)]


def test_bad_trim_is_refused_and_old_file_kept(tmp_path):
    shots = make_shots(tmp_path)
    target = write_timeline(tmp_path / "cut.otio", "cut", shots, 12)
    before = target.read_text()
    shots[1].out_frame = 30  # past the end of a 24-frame file
    with pytest.raises(ValueError, match="Shot 2"):
        write_timeline(target, "cut", shots, 12)
    assert target.read_text() == before


def test_staged_timeline_links_relative_to_its_final_folder(tmp_path):
    shots = make_shots(tmp_path)
    staging = tmp_path / ".export-1"
    staging.mkdir()
    staged = write_timeline(staging / "cut.otio", "cut", shots, 12, media_root=tmp_path)
    final = staged.rename(tmp_path / "cut.otio")
    assert all(shot.media_path.is_file() for shot in read_timeline(final))


def test_media_outside_the_timeline_folder_gets_an_absolute_url(tmp_path):
    shots = make_shots(tmp_path)
    elsewhere = tmp_path / "timelines"
    path = write_timeline(elsewhere / "cut.otio", "cut", shots, 12)
    clip = otio.adapters.read_from_file(str(path)).find_clips()[0]
    assert clip.media_reference.target_url.startswith("file://")
    assert media_path(path, clip) == shots[0].media_path.resolve()
    assert all(shot.media_path.is_file() for shot in read_timeline(path))
