"""The animatic backend, judged the way an artist would judge a blocked-out shot:
is the person framed as asked, do moves go where they should, smoothly, does the
environment show, do moods look different, is the person still recognisable,
and does it stop when told to."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from canvas_app.engine.context import Cancelled, RunContext
from canvas_app.errors import BadInput
from canvas_app.generation.animatic import AnimaticBackend
from canvas_app.media.camera import ease_in_out
from canvas_app.generation.base import ShotRequest, get_backend
from canvas_app.media import matte
from canvas_app.shot_directions import MOODS
from canvas_app.values import Identity, RefImage, ShotPrompt

skimage_data = pytest.importorskip("skimage.data")

W, H = 640, 360

# The astronaut's face in skimage.data.astronaut() (measured with dlib's HOG
# detector and 68-point model), cropped the way the identity builder crops a
# portrait: a square of 3x the face height around the face.
_CROP_X, _CROP_Y, _CROP_SIDE = 85, 8, 270
_LANDMARKS = np.array([[203.2, 101.5], [246.5, 104.2], [225.0, 127.0], [201.0, 139.0], [246.0, 141.0]],
                      np.float32)  # eye, eye, nose, mouth corner, mouth corner (image left first)
_BOX = (175.0, 76.0, 265.0, 166.0)


def astronaut_identity(**changes) -> Identity:
    image = skimage_data.astronaut()
    x, y, side = _CROP_X, _CROP_Y, _CROP_SIDE
    fields = dict(
        name="astronaut",
        embeddings={"dlib": np.ones(128, np.float32) / np.sqrt(128)},
        portrait=image[y:y + side, x:x + side].copy(),
        portrait_landmarks=_LANDMARKS - np.array([x, y], np.float32),
        portrait_face_box=(_BOX[0] - x, _BOX[1] - y, _BOX[2] - x, _BOX[3] - y),
    )
    fields.update(changes)
    return Identity(**fields)


def environment(pixels=None) -> RefImage:
    if pixels is None:
        pixels = skimage_data.rocket()
    return RefImage(path=Path("environment.png"), role="environment", pixels=pixels, sha256="0" * 64)


def render(shot_size="medium", camera_move="static", mood="neutral", duration=1.0, *,
           identity=None, references=(), width=W, height=H, fps=12.0, seed=0, options=None,
           ctx=None):
    request = ShotRequest(
        identity=identity or astronaut_identity(),
        prompt=ShotPrompt(shot_size=shot_size, camera_move=camera_move, mood=mood, duration=duration),
        references=list(references), width=width, height=height, fps=fps, seed=seed,
        options=dict(options or {}))
    return AnimaticBackend().render(request, ctx or RunContext())


def heights(clip) -> np.ndarray:
    return np.array([b[3] - b[1] for b in clip.metadata["face_boxes"]])


def centres(clip) -> np.ndarray:
    return np.array([((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in clip.metadata["face_boxes"]])


# --------------------------------------------------------------------------- dlib, for measuring


class Dlib:
    def __init__(self) -> None:
        dlib = pytest.importorskip("dlib")
        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None or not spec.submodule_search_locations:
            pytest.skip("face_recognition_models is not installed")
        models = Path(list(spec.submodule_search_locations)[0]) / "models"
        self.detector = dlib.get_frontal_face_detector()
        self.shapes = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self.recognizer = dlib.face_recognition_model_v1(
            str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    def face(self, image):
        """(box height, eye centre (x, y), 128-d descriptor) of the largest face, or None."""
        boxes = self.detector(image, 1)
        if not boxes:
            return None
        box = max(boxes, key=lambda b: b.height())
        shape = self.shapes(image, box)
        points = np.array([(p.x, p.y) for p in shape.parts()], float)
        eyes = points[:4].mean(axis=0)
        descriptor = np.array(self.recognizer.compute_face_descriptor(image, shape))
        return box.height(), eyes, descriptor


@pytest.fixture(scope="module")
def faces():
    return Dlib()


# --------------------------------------------------------------------------- basics


def test_frame_count_size_and_metadata():
    clip = render(duration=1.5, fps=12, seed=7)
    assert len(clip.frames) == 18
    assert all(f.shape == (H, W, 3) and f.dtype == np.uint8 for f in clip.frames)
    assert clip.fps == 12.0
    meta = clip.metadata
    assert meta["backend"] == "animatic" and meta["model"] == "animatic-v1"
    assert (meta["seed"], meta["shot_size"], meta["camera_move"], meta["mood"]) == (7, "medium", "static",
                                                                                    "neutral")
    assert (meta["width"], meta["height"], meta["fps"], meta["frames"]) == (W, H, 12.0, 18)
    assert len(meta["face_boxes"]) == 18
    # Odd sizes and rounding: round(duration * fps), at least one frame.
    assert len(render(duration=0.01, width=321, height=181).frames) == 1
    odd = render(duration=1.0, fps=23.976, width=321, height=181)
    assert len(odd.frames) == 24 and odd.frames[0].shape == (181, 321, 3)


def test_registered_as_the_animatic_backend():
    assert isinstance(get_backend("animatic"), AnimaticBackend)


def test_identity_without_portrait_is_bad_input():
    with pytest.raises(BadInput) as error:
        render(identity=astronaut_identity(portrait=None))
    assert error.value.field == "identity"
    assert "face reference" in str(error.value)


def test_same_seed_gives_identical_frames_and_seed_changes_only_grain():
    first = render("close-up", "push-in", "dramatic", seed=3, references=[environment()])
    matte.clear_cache()  # the matte is recomputed: it must come out the same
    again = render("close-up", "push-in", "dramatic", seed=3, references=[environment()])
    assert all(np.array_equal(a, b) for a, b in zip(first.frames, again.frames))

    other = render("close-up", "push-in", "dramatic", seed=4, references=[environment()])
    assert not np.array_equal(first.frames[0], other.frames[0])
    assert other.metadata["face_boxes"] == first.metadata["face_boxes"]  # same framing
    diff = np.abs(first.frames[5].astype(int) - other.frames[5].astype(int))
    assert diff.mean() < 4.0  # grain only: the picture is the same

    no_grain = render("medium", seed=1, options={"grain": 0})
    assert np.array_equal(no_grain.frames[0], render("medium", seed=2, options={"grain": 0}).frames[0])


# --------------------------------------------------------------------------- framing


@pytest.mark.parametrize("shot_size, low, high", [
    ("close-up", 0.40, 0.50),
    ("medium", 0.20, 0.25),
    ("wide", 0.10, 0.135),
])
def test_shot_size_frames_the_face(faces, shot_size, low, high):
    clip = render(shot_size, duration=0.1, references=[environment()])
    frame = clip.frames[0]
    # Where the renderer put the face box...
    projected = heights(clip)[0] / H
    assert low <= projected <= high
    # ...and what a face detector finds in the picture.
    found = faces.face(frame)
    assert found is not None, f"no face found in the {shot_size} shot"
    box_height, eyes, _ = found
    assert low - 0.03 <= box_height / H <= high + 0.03
    assert abs(eyes[1] - H / 3) < 0.04 * H, "eyes should sit on the upper third line"
    assert abs(eyes[0] - W / 2) < 0.03 * W, "the face should be centred"
    if shot_size == "wide":
        assert box_height >= 40  # still big enough to recognise


def test_dlib_ordered_landmarks_and_missing_box_frame_the_same():
    reference = render("medium", duration=0.1)
    eye_l, eye_r, nose = _LANDMARKS[0], _LANDMARKS[1], _LANDMARKS[2]
    offset = np.array([_CROP_X, _CROP_Y], np.float32)
    dlib_order = np.array([eye_r + [8, 0], eye_r - [8, 0], eye_l - [8, 0], eye_l + [8, 0], nose]) - offset
    same = render("medium", duration=0.1, identity=astronaut_identity(portrait_landmarks=dlib_order))
    np.testing.assert_allclose(centres(same)[0], centres(reference)[0], atol=2.0)
    no_box = render("medium", duration=0.1, identity=astronaut_identity(portrait_face_box=None))
    assert abs(heights(no_box)[0] - heights(reference)[0]) < 0.15 * heights(reference)[0]


def test_wide_shot_is_recognisable_in_every_frame(faces):
    portrait = astronaut_identity().portrait
    reference = faces.face(portrait)[2]
    # Pull-out in noir ends on the smallest, most graded face there is.
    clip = render("wide", "pull-out", "noir", duration=1.0, references=[environment()], seed=5)
    for index, frame in enumerate(clip.frames):
        found = faces.face(frame)
        assert found is not None, f"frame {index}: no face found"
        distance = float(np.linalg.norm(found[2] - reference))
        assert distance < 0.6, f"frame {index}: dlib distance {distance:.2f} says another person"
    close = render("close-up", "static", "dramatic", duration=0.1)
    assert np.linalg.norm(faces.face(close.frames[0])[2] - reference) < 0.6


# --------------------------------------------------------------------------- camera


def test_static_is_truly_static():
    clip = render("medium", "static", duration=1.0, options={"grain": 0}, references=[environment()])
    assert all(np.array_equal(clip.frames[0], f) for f in clip.frames[1:])


def test_push_in_grows_the_face_smoothly_and_pull_out_shrinks_it():
    push = heights(render("medium", "push-in", duration=2.0))
    assert np.all(np.diff(push) > 0)
    assert push[-1] / push[0] == pytest.approx(1.3, abs=0.01)
    steps = np.diff(push)
    assert steps[0] < steps[len(steps) // 2] and steps[-1] < steps[len(steps) // 2]  # ease in and out
    assert steps.max() < 3 * np.diff(push).mean()  # no jumps
    pull = heights(render("medium", "pull-out", duration=2.0))
    assert np.all(np.diff(pull) < 0)
    np.testing.assert_allclose(pull, push[::-1], rtol=1e-6)


@pytest.mark.parametrize("move, axis, sign", [
    ("pan-left", 0, +1), ("pan-right", 0, -1), ("tilt-up", 1, +1), ("tilt-down", 1, -1)])
def test_pans_and_tilts_move_monotonically_with_parallax(move, axis, sign):
    import cv2

    pixels = np.zeros((360, 640, 3), np.uint8)
    rng = np.random.default_rng(0)
    pixels[:] = rng.integers(0, 256, (36, 64, 3), dtype=np.uint8).repeat(10, 0).repeat(10, 1)
    clip = render("wide", move, duration=2.0, references=[environment(pixels)], options={"grain": 0})
    path = centres(clip)[:, axis]
    assert np.all(sign * np.diff(path) > 0)
    travel = sign * (path[-1] - path[0])
    assert travel > (0.1 * W if axis == 0 else 0.08 * H)
    assert np.all(np.abs(centres(clip)[:, 1 - axis] - centres(clip)[0, 1 - axis]) < 1e-6)
    # The background, away from the person, moves the same way but less (it is farther away).
    first, last = clip.frames[0], clip.frames[-1]
    patch = (slice(10, 130), slice(10, 170))
    shift, _ = cv2.phaseCorrelate(cv2.cvtColor(first[patch], cv2.COLOR_RGB2GRAY).astype(np.float64),
                                  cv2.cvtColor(last[patch], cv2.COLOR_RGB2GRAY).astype(np.float64))
    background_travel = sign * shift[axis]
    assert 0.3 * travel < background_travel < 0.7 * travel


def test_ease_in_out_starts_and_ends_still():
    assert ease_in_out(0) == 0 and ease_in_out(1) == 1 and ease_in_out(0.5) == pytest.approx(0.5)
    assert ease_in_out(0.05) < 0.01 and ease_in_out(0.95) > 0.99


# --------------------------------------------------------------------------- environment and look


def test_environment_appears_behind_the_subject():
    green = np.zeros((400, 700, 3), np.uint8)
    green[:] = (20, 200, 40)
    with_env = render("medium", references=[environment(green)], duration=0.1, options={"grain": 0})
    frame = with_env.frames[0].astype(int)
    corner = frame[:60, :80].reshape(-1, 3).mean(axis=0)
    assert corner[1] > 150 and corner[0] < 80 and corner[2] < 90  # the green set, behind
    x0, y0, x1, y1 = with_env.metadata["face_boxes"][0]
    face = frame[int(y0 + 0.4 * (y1 - y0)):int(y1 - 0.2 * (y1 - y0)),
                 int(x0 + 0.3 * (x1 - x0)):int(x1 - 0.3 * (x1 - x0))].reshape(-1, 3).mean(axis=0)
    assert face[0] > face[1] > face[2]  # skin, in front of the green
    assert with_env.metadata["environment"] == "environment.png"

    studio = render("medium", duration=0.1, options={"grain": 0}).frames[0].astype(int)
    studio_corner = studio[:60, :80].reshape(-1, 3).mean(axis=0)
    assert studio_corner[1] < 120  # a dark studio backdrop, not green
    assert studio_corner.mean() > 5  # ...but not black either: there is a background


def test_outfit_and_product_references_show_as_inset_cards():
    red = RefImage(path=Path("product.png"), role="product", sha256="1" * 64,
                   pixels=np.full((100, 100, 3), (230, 10, 10), np.uint8))
    clip = render("medium", references=[red], duration=0.1, options={"grain": 0})
    corner = clip.frames[0][int(H * 0.82):int(H * 0.94), int(W * 0.88):int(W * 0.95)].reshape(-1, 3)
    assert np.abs(corner.astype(int) - (230, 10, 10)).max() < 25
    assert clip.metadata["inset_cards"] == ["product.png"]
    off = render("medium", references=[red], duration=0.1, options={"grain": 0, "inset_cards": False})
    assert np.array_equal(off.frames[0], render("medium", duration=0.1, options={"grain": 0}).frames[0])


def test_moods_look_different():
    frames = {mood: render("medium", mood=mood, duration=0.1, references=[environment()],
                           options={"grain": 0}).frames[0].astype(np.float32) for mood in MOODS}
    for i, a in enumerate(MOODS):
        for b in MOODS[i + 1:]:
            assert np.abs(frames[a] - frames[b]).mean() > 3.0, f"{a} and {b} look the same"
    noir = frames["noir"]
    assert np.array_equal(noir[..., 0], noir[..., 1]) and np.array_equal(noir[..., 1], noir[..., 2])

    def red_blue(frame):
        return frame[..., 0].mean() / frame[..., 2].mean()

    assert red_blue(frames["warm"]) > red_blue(frames["neutral"]) > red_blue(frames["cool"])
    assert red_blue(frames["golden-hour"]) > red_blue(frames["warm"])
    luma = {m: f @ np.array([0.299, 0.587, 0.114], np.float32) for m, f in frames.items()}
    assert luma["dramatic"].std() > luma["neutral"].std()
    corner = (slice(0, 40), slice(0, 60))
    assert luma["dramatic"][corner].mean() < 0.8 * luma["neutral"][corner].mean()  # vignette
    assert np.percentile(luma["dreamy"], 2) > np.percentile(luma["neutral"], 2) + 10  # lifted blacks


def test_unknown_mood_falls_back_to_neutral_with_a_note():
    odd = render(mood="purple haze", duration=0.1)
    assert odd.metadata["mood"] == "neutral"
    assert any("purple haze" in note for note in odd.metadata["notes"])
    assert np.array_equal(odd.frames[0], render(mood="neutral", duration=0.1).frames[0])
    assert render(mood="Golden Hour", duration=0.1).metadata["mood"] == "golden-hour"


# --------------------------------------------------------------------------- progress, previews, cancel


def test_progress_and_previews():
    progress, previews = [], []
    ctx = RunContext(on_progress=lambda f, m: progress.append(f),
                     on_preview=lambda frame, kind: previews.append(frame))
    clip = render(duration=2.0, ctx=ctx)
    assert len(progress) == len(clip.frames)
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert 1 <= len(previews) <= len(clip.frames)
    assert previews[-1] is clip.frames[-1]  # the finished frame is shown last


def test_cancel_mid_render_stops_promptly():
    ctx = RunContext()
    seen = []

    def on_progress(fraction, message):
        seen.append(fraction)
        if len(seen) == 3:
            ctx.cancel_token.cancel()

    ctx.on_progress = on_progress
    with pytest.raises(Cancelled):
        render("close-up", "push-in", duration=20.0, width=1280, height=720, ctx=ctx)
    assert len(seen) == 3  # not one frame more (of 240)


def test_grey_portrait_and_rgba_environment_render():
    grey = astronaut_identity().portrait.mean(axis=2).astype(np.uint8)
    rgba = np.dstack([skimage_data.rocket(), np.full(skimage_data.rocket().shape[:2], 255, np.uint8)])
    clip = render("medium", duration=0.1, identity=astronaut_identity(portrait=grey),
                  references=[environment(rgba)])
    assert clip.frames[0].shape == (H, W, 3)
