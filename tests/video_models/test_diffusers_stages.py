"""FLUX.2 klein keyframes and Wan 2.2 image-to-video motion on tiny random models.

The models are saved in the hub's diffusers layout and loaded through the
backends' real loading code (model manager, from_pretrained); everything runs
on the CPU. Random weights make noise, not people: these tests check the
wiring (reference images, first and last frames, previews, Stop, caching of the
loaded pipeline, the example project switched to the new models), never looks.
"""

import numpy as np
import pytest

from canvas_app.engine.context import RunContext
from canvas_app.values import Identity, RefImage, ShotPrompt
from video_models.pipeline_probes import spy

pytestmark = pytest.mark.slow  # each render loads and runs a tiny model on the CPU


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from video_models.tiny_video_models import (save_flux2_klein, save_wan22_i2v, save_wan22_ti2v,
                                                save_wan_vace)

    root = tmp_path_factory.mktemp("tiny_video_models")
    return {"flux2": save_flux2_klein(root / "FLUX.2-klein-tiny"),
            "wan": save_wan22_i2v(root / "Wan2.2-I2V-tiny"),
            "vace": save_wan_vace(root / "Wan-VACE-tiny"),
            "ti2v": save_wan22_ti2v(root / "Wan2.2-TI2V-tiny")}


def identity() -> Identity:
    rng = np.random.default_rng(0)
    vector = rng.standard_normal(128).astype(np.float32)
    return Identity(name="Ada", embeddings={"dlib": vector / np.linalg.norm(vector)},
                    portrait=rng.integers(0, 255, (80, 64, 3), dtype=np.uint8))


def keyframe_request(tiny, **options):
    from canvas_app.generation.video_models.stages import KeyframeRequest

    outfit = RefImage(path=__import__("pathlib").Path("outfit.png"), role="outfit",
                      pixels=np.full((96, 72, 3), 200, np.uint8), sha256="0" * 64)
    return KeyframeRequest(identity=identity(), prompt=ShotPrompt(positive="astronaut smiling",
                                                                 shot_size="close-up"),
                           references=[outfit], width=64, height=64, seed=3, device="cpu",
                           options={"model": str(tiny["flux2"]), "steps": 2, "guidance": 1.0,
                                    "dtype": "auto", **options})


def motion_request(tiny, first_frame=None):
    from canvas_app.generation.video_models.stages import MotionRequest

    keyframe = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    return MotionRequest(identity=identity(), prompt=ShotPrompt(positive="astronaut turns",
                                                                duration=0.5),
                         keyframe=keyframe, first_frame=first_frame, fps=8.0, seed=5, device="cpu",
                         options={"model": str(tiny["wan"]), "steps": 2, "guidance": 5.0,
                                  "guidance_2": 3.0, "dtype": "auto"})


def test_flux2_klein_keyframe_takes_the_portrait_and_references_and_previews(tiny):
    from diffusers import Flux2KleinPipeline

    from canvas_app.generation.model_manager import ModelManager
    from canvas_app.generation.video_models.flux2_klein import Flux2KleinKeyframe

    previews = []
    ctx = RunContext(on_preview=lambda frame, kind: previews.append((kind, frame.shape)))
    manager = ModelManager()
    backend = Flux2KleinKeyframe(manager)
    patch, calls = spy(Flux2KleinPipeline)
    with patch:
        clip = backend.render(keyframe_request(tiny), ctx)
        again = backend.render(keyframe_request(tiny), RunContext())
    assert len(clip.frames) == 1 and clip.frames[0].shape == (64, 64, 3)
    assert clip.frames[0].dtype == np.uint8
    images = calls[0]["image"]
    assert len(images) == 2 and images[0].size == (64, 80)  # the portrait first, then the outfit
    assert "close-up shot" in calls[0]["prompt"]
    assert ("step", (64, 64, 3)) in previews and previews[-1] == ("frame", (64, 64, 3))
    assert clip.metadata["reference_images"] == 2 and clip.metadata["backend"] == "flux2-klein"
    assert np.array_equal(clip.frames[0], again.frames[0])  # the seed decides the picture
    assert manager.load_count == 1  # the pipeline stays loaded between keyframes


def test_stop_interrupts_flux2_klein_within_a_step(tiny):
    from canvas_app.generation.model_manager import ModelManager
    from canvas_app.generation.video_models.flux2_klein import Flux2KleinKeyframe
    from video_models.pipeline_probes import steps_seen_when_stopped_in_step_one

    backend = Flux2KleinKeyframe(ModelManager())
    seen = steps_seen_when_stopped_in_step_one(
        lambda ctx: backend.render(keyframe_request(tiny, steps=4), ctx))
    assert seen == [0, True]  # no second step ran, and the pipeline's interrupt is set

def test_wan_motion_goes_from_the_previous_last_frame_to_the_keyframe(tiny):
    from diffusers import WanImageToVideoPipeline

    from canvas_app.generation.model_manager import ModelManager
    from canvas_app.generation.video_models.wan_i2v import WanImageToVideo

    previous_last = np.zeros((64, 64, 3), np.uint8)
    previews = []
    ctx = RunContext(on_preview=lambda frame, kind: previews.append(kind))
    patch, calls = spy(WanImageToVideoPipeline)
    request = motion_request(tiny, first_frame=previous_last)
    with patch:
        clip = WanImageToVideo(ModelManager()).render(request, ctx)
        alone = WanImageToVideo(ModelManager()).render(motion_request(tiny), RunContext())
    continuing, starting = calls
    assert np.array_equal(np.asarray(continuing["image"]), previous_last)
    assert np.array_equal(np.asarray(continuing["last_image"]), request.keyframe)
    assert continuing["guidance_scale_2"] == 3.0  # the low-noise expert's guidance
    assert np.array_equal(np.asarray(starting["image"]), request.keyframe)
    assert starting["last_image"] is None
    assert len(clip.frames) == 5 == continuing["num_frames"]  # 0.5 s at 8 fps -> 1 + 4n frames
    assert clip.frames[0].shape == (64, 64, 3) and clip.fps == 8.0
    assert clip.metadata["continuity"] is True and alone.metadata["continuity"] is False
    assert clip.metadata["two_experts"] is True
    assert previews.count("step") == 2 and previews[-1] == "frame"


def test_a_folder_that_is_not_a_model_is_named(tmp_path):
    from canvas_app.errors import BadInput
    from canvas_app.generation.model_manager import ModelManager
    from canvas_app.generation.video_models.wan_i2v import WanImageToVideo

    request = motion_request({"wan": tmp_path})
    with pytest.raises(BadInput) as caught:
        WanImageToVideo(ModelManager()).render(request, RunContext(node_title="Motion 1"))
    assert caught.value.field == "model" and "model_index.json" in str(caught.value)


def test_the_example_renders_on_the_new_models_end_to_end(tiny, tmp_path):
    """keyframe -> guard -> motion (continuity) -> Sequence, as an artist switches the
    example's Keyframe and Motion nodes to FLUX.2 klein and Wan 2.2."""
    from canvas_app.engine import Executor
    from canvas_app.project.io import load_project
    from video_models.test_two_stage_nodes import EXAMPLE

    graph, _ = load_project(EXAMPLE)
    for index in (1, 2):
        graph.nodes[f"keyframe{index}"].params.update(
            backend="flux2-klein", model=str(tiny["flux2"]), device="cpu", width=64, height=64,
            steps=2, guard_tries=1)
        graph.nodes[f"motion{index}"].params.update(
            backend="wan2.2-i2v", model=str(tiny["wan"]), device="cpu", fps=8.0, steps=2,
            guard_tries=1)
        graph.nodes[f"prompt{index}"].params["duration"] = 0.5
    result = Executor().run(graph, output_dir=tmp_path / "out", project_dir=tmp_path)
    assert result.status == "done", result.failures
    second = result.outputs["motion2"]["clip"]
    assert second.metadata["backend"] == "wan2.2-i2v" and second.metadata["continuity"] is True
    assert second.metadata["keyframe"]["backend"] == "flux2-klein"
    assert "identity_score" in second.metadata  # scored frame by frame, like any shot
    report = result.outputs["sequence1"]["sequence"].report
    assert len(report["shots"]) == 2 and (tmp_path / "out" / "two_stage.mp4").is_file()


def test_offload_plans_store_the_transformers_in_fp8_and_still_render(tiny):
    import torch

    from canvas_app.generation.model_manager import ModelManager
    from canvas_app.generation.video_models.wan_i2v import WanImageToVideo

    manager = ModelManager()
    request = motion_request(tiny)
    request.options["memory"] = "group-offload"
    clip = WanImageToVideo(manager).render(request, RunContext())
    assert len(clip.frames) == 5 and clip.metadata["memory_plan"] == "group-offload"
    pipe = manager.peek(manager.keys()[0]).value
    for expert in (pipe.transformer, pipe.transformer_2):
        stored = {parameter.dtype for parameter in expert.parameters()}
        assert torch.float8_e4m3fn in stored  # layerwise casting: fp8 at rest
    assert pipe.vae.use_tiling


def test_wan_vace_keeps_the_given_frames_and_takes_the_identity_as_references(tiny):
    from diffusers import WanVACEPipeline

    from canvas_app.generation.model_manager import ModelManager
    from canvas_app.generation.video_models.wan_vace import WanVACEMotion

    request = motion_request(tiny, first_frame=np.zeros((64, 64, 3), np.uint8))
    request.options["model"] = str(tiny["vace"])
    request.references = [RefImage(path=__import__("pathlib").Path("set.png"), role="environment",
                                   pixels=np.full((40, 40, 3), 30, np.uint8), sha256="1" * 64)]
    patch, calls = spy(WanVACEPipeline)
    with patch:
        clip = WanVACEMotion(ModelManager()).render(request, RunContext())
    call = calls[0]
    masks = [np.asarray(mask) for mask in call["mask"]]
    assert len(call["video"]) == len(masks) == 5 == len(clip.frames)
    assert masks[0].max() == 0 and masks[-1].max() == 0  # previous last frame and keyframe kept
    assert all(mask.min() == 255 for mask in masks[1:-1])  # the frames between are made
    assert np.array_equal(np.asarray(call["video"][-1]), request.keyframe)
    portrait, environment = call["reference_images"]
    assert portrait.size == (64, 80) and np.asarray(environment).mean() == 30
    assert clip.metadata["continuity"] and clip.metadata["reference_images"] == 2


def test_wan22_ti2v_starts_on_the_keyframe_and_says_it_cannot_continue(tiny):
    """TI2V-5B (the 24 GB choice) has no last-frame input: the clip starts on the keyframe
    even with a previous shot wired in, and its metadata says continuity was not applied."""
    from diffusers import WanImageToVideoPipeline

    from canvas_app.generation.model_manager import ModelManager
    from canvas_app.generation.video_models.wan_i2v import WanImageToVideo

    request = motion_request(tiny, first_frame=np.zeros((64, 64, 3), np.uint8))
    request.options["model"] = str(tiny["ti2v"])
    previews = []
    patch, calls = spy(WanImageToVideoPipeline)
    with patch:
        clip = WanImageToVideo(ModelManager()).render(
            request, RunContext(on_preview=lambda frame, kind: previews.append(kind)))
    assert np.array_equal(np.asarray(calls[0]["image"]), request.keyframe)
    assert calls[0]["last_image"] is None and calls[0]["guidance_scale_2"] is None
    assert clip.metadata["continuity"] is False and "no last-frame input" in clip.metadata["notes"][0]
    assert len(clip.frames) == 5 and clip.frames[0].shape == (64, 64, 3)
    assert previews.count("step") == 2
    assert calls[0]["callback_on_step_end"].family == "wan22"  # the 48-channel VAE's colours
