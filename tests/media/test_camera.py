"""Camera moves are one implementation for the animatic and for stills."""
import numpy as np
import pytest

from canvas_app.media.camera import ZOOM_RANGE, camera_path, frames_from_still


def _still() -> np.ndarray:
    ys, xs = np.mgrid[0:90, 0:160]
    return np.stack([xs * 255 // 159, ys * 255 // 89, np.full_like(xs, 128)], axis=2).astype(np.uint8)


def test_a_push_in_eases_from_the_whole_frame_to_the_zoomed_one():
    assert camera_path("push-in", 0.0) == (1.0, 0.0, 0.0)
    assert camera_path("push-in", 1.0)[0] == pytest.approx(1.0 + ZOOM_RANGE)
    assert camera_path("push-in", 0.1)[0] - 1.0 < 0.1 * ZOOM_RANGE  # eased: slow start
    frames = frames_from_still(_still(), 5, "zoom in")  # a synonym
    assert all(frame.shape == (90, 160, 3) for frame in frames)
    corner_first, corner_last = frames[0][0, 0].astype(int), frames[-1][0, 0].astype(int)
    assert corner_last[0] > corner_first[0] + 20  # the corner moved towards the centre


def test_pans_slide_the_view_and_stay_inside_the_still():
    frames = frames_from_still(_still(), 7, "pan-left")
    centres = [int(frame[45, 80, 0]) for frame in frames]  # red grows left to right
    assert centres[0] > centres[-1]  # the view travels left
    assert frames_from_still(_still(), 3, "static")[1].tolist() == _still().tolist()


def test_the_diffusers_backend_moves_its_still_the_same_way():
    from canvas_app.generation.diffusers.rendering import camera_frames

    ours = frames_from_still(_still(), 4, "tilt-up")
    assert all(np.array_equal(a, b) for a, b in zip(camera_frames(_still(), 4, "tilt-up"), ours))
