"""Qwen-Image-Edit 2509 keyframes on a tiny random model in the hub layout, on the CPU.

The model is saved as Qwen/Qwen-Image-Edit-2509 is laid out (model_index.json, processor/,
tokenizer/, text_encoder/, transformer/, vae/, scheduler/) and loaded through the
backend's real loading code (model manager, from_pretrained with the image-only
processor). Random weights make noise, not people: these tests check what goes in
(the identity's pictures), previews, Stop, the node choice and the end-to-end render.
"""
from pathlib import Path

import numpy as np
import pytest

from canvas_app.engine.context import RunContext
from canvas_app.values import Identity, RefImage, ShotPrompt
from video_models.pipeline_probes import spy

pytestmark = pytest.mark.slow  # each render loads and runs a tiny model on the CPU


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from video_models.tiny_qwen_image import save_qwen_image_edit
    from video_models.tiny_video_models import save_wan22_i2v

    root = tmp_path_factory.mktemp("tiny_qwen")
    return {"qwen": save_qwen_image_edit(root / "Qwen-Image-Edit-2509-tiny"),
            "wan": save_wan22_i2v(root / "Wan2.2-I2V-tiny")}


def identity() -> Identity:
    rng = np.random.default_rng(0)
    vector = rng.standard_normal(128).astype(np.float32)
    return Identity(name="Ada", embeddings={"dlib": vector / np.linalg.norm(vector)},
                    portrait=rng.integers(0, 255, (80, 64, 3), dtype=np.uint8))


def reference(role: str, value: int, size=(96, 72)) -> RefImage:
    return RefImage(path=Path(f"{role}.png"), role=role, pixels=np.full((*size, 3), value, np.uint8),
                    sha256=f"{value:064d}")


def keyframe_request(tiny, references=(), **options):
    from canvas_app.generation.video_models.stages import KeyframeRequest

    return KeyframeRequest(identity=identity(),
                           prompt=ShotPrompt(positive="astronaut smiling", shot_size="close-up"),
                           references=list(references), width=64, height=64, seed=3, device="cpu",
                           options={"model": str(tiny["qwen"]), "steps": 2, "guidance": 4.0,
                                    "dtype": "auto", **options})


def test_the_portrait_comes_first_then_references_in_role_order_three_at_most():
    from canvas_app.generation.video_models.qwen_image_edit import edit_prompt, input_images

    request = keyframe_request({"qwen": "unused"}, references=[
        reference("environment", 30), reference("outfit", 200), reference("profile", 90)])
    images, left_out = input_images(request)
    assert [image.size for image in images][0] == (64, 80)  # the identity's portrait
    assert [int(np.asarray(image).mean()) for image in images[1:]] == [90, 200]  # profile, outfit
    assert left_out == ["environment"]  # the model card's 1 to 3 pictures
    assert edit_prompt(request) == ("The person in picture 1, the same person, seen in profile in "
                                    "picture 2, wearing the outfit from picture 3: astronaut "
                                    "smiling, close-up shot")


def test_qwen_keyframe_takes_the_identity_pictures_previews_and_stays_loaded(tiny):
    from diffusers import QwenImageEditPlusPipeline

    from canvas_app.generation.model_manager import ModelManager
    from canvas_app.generation.video_models.qwen_image_edit import QwenImageEditKeyframe

    previews = []
    ctx = RunContext(on_preview=lambda frame, kind: previews.append((kind, frame.shape)))
    manager = ModelManager()
    backend = QwenImageEditKeyframe(manager)
    patch, calls = spy(QwenImageEditPlusPipeline)
    request = keyframe_request(tiny, references=[reference("outfit", 200)])
    with patch:
        clip = backend.render(request, ctx)
        again = backend.render(keyframe_request(tiny, references=[reference("outfit", 200)]),
                               RunContext())
    assert len(clip.frames) == 1 and clip.frames[0].shape == (64, 64, 3)
    portrait, outfit = calls[0]["image"]
    assert portrait.size == (64, 80) and np.asarray(outfit).mean() == 200
    assert "close-up shot" in calls[0]["prompt"] and calls[0]["true_cfg_scale"] == 4.0
    assert ("step", (64, 64, 3)) in previews and previews[-1] == ("frame", (64, 64, 3))
    assert clip.metadata["backend"] == "qwen-image-edit" and clip.metadata["reference_images"] == 2
    assert np.array_equal(clip.frames[0], again.frames[0])  # the seed decides the picture
    assert manager.load_count == 1  # the pipeline stays loaded between keyframes


def test_the_qwen_latent_space_is_wan21s_so_previews_use_its_colours(tiny):
    """Qwen-Image's VAE keeps Wan 2.1's encoder: the same 16 channels and normalisation, so
    the published Wan 2.1 latent-to-RGB factors apply to its (2x2-packed) step latents."""
    import torch
    from diffusers import AutoencoderKLQwenImage, AutoencoderKLWan, QwenImageEditPlusPipeline

    from canvas_app.generation.video_models.latent_previews import latents_to_rgb, project

    qwen, wan = AutoencoderKLQwenImage(), AutoencoderKLWan()
    assert qwen.config.z_dim == wan.config.z_dim == 16
    assert qwen.config.latents_mean == wan.config.latents_mean
    assert qwen.config.latents_std == wan.config.latents_std
    planes = torch.randn(1, 16, 1, 8, 12)  # (B, C, F, h, w), as the pipeline unpacks them
    packed = QwenImageEditPlusPipeline._pack_latents(planes[:, :, 0], 1, 16, 8, 12)
    preview = latents_to_rgb(packed, "wan21", size=(12, 8), grid=(4, 6))
    assert np.array_equal(preview, project(planes[0, :, 0].numpy(), "wan21"))


def test_stop_interrupts_qwen_within_a_step(tiny):
    from canvas_app.generation.model_manager import ModelManager
    from canvas_app.generation.video_models.qwen_image_edit import QwenImageEditKeyframe
    from video_models.pipeline_probes import steps_seen_when_stopped_in_step_one

    backend = QwenImageEditKeyframe(ModelManager())
    seen = steps_seen_when_stopped_in_step_one(
        lambda ctx: backend.render(keyframe_request(tiny, steps=4), ctx))
    assert seen == [0, True]  # no second step ran, and the pipeline's interrupt is set

def test_qwen_is_a_keyframe_model_choice_with_its_own_model_and_steps():
    from nodes.keyframe import Keyframe, stage_options

    spec = Keyframe.spec
    params = spec.default_params()
    assert "qwen-image-edit" in next(p for p in spec.params if p.name == "backend").choices
    params["backend"] = "qwen-image-edit"
    options = stage_options(params)
    assert options["model"] == "Qwen/Qwen-Image-Edit-2509"
    assert (options["steps"], options["guidance"]) == (40, 4.0)  # the model card's settings
    fields = {p.name: p for p in spec.params}
    assert fields["qwen_model"].not_applying(params) is None
    assert fields["model"].not_applying(params) is not None  # FLUX.2's model field greys out


def test_the_example_renders_with_qwen_keyframes_end_to_end(tiny, tmp_path):
    """keyframe (Qwen) -> guard -> motion (Wan, continuity) -> Sequence, as an artist
    switches the example's Keyframe nodes to Qwen-Image-Edit."""
    from canvas_app.engine import Executor
    from canvas_app.project.io import load_project
    from video_models.test_two_stage_nodes import EXAMPLE

    graph, _ = load_project(EXAMPLE)
    for index in (1, 2):
        graph.nodes[f"keyframe{index}"].params.update(
            backend="qwen-image-edit", qwen_model=str(tiny["qwen"]), device="cpu", width=64,
            height=64, qwen_steps=2, guard_tries=1)
        graph.nodes[f"motion{index}"].params.update(
            backend="wan2.2-i2v", model=str(tiny["wan"]), device="cpu", fps=8.0, steps=2,
            guard_tries=1)
        graph.nodes[f"prompt{index}"].params["duration"] = 0.5
    result = Executor().run(graph, output_dir=tmp_path / "out", project_dir=tmp_path)
    assert result.status == "done", result.failures
    first = result.outputs["keyframe1"]["keyframe"]
    assert first.metadata["backend"] == "qwen-image-edit" and "identity_score" in first.metadata
    second = result.outputs["motion2"]["clip"]
    assert second.metadata["keyframe"]["backend"] == "qwen-image-edit"
    assert second.metadata["continuity"] is True and "identity_score" in second.metadata
    assert result.outputs["keyframe2"]["keyframe"].metadata["reference_images"] == 2  # + set
    report = result.outputs["sequence1"]["sequence"].report
    assert len(report["shots"]) == 2 and (tmp_path / "out" / "two_stage.mp4").is_file()


def test_an_old_project_loads_and_its_flux_keyframes_keep_their_cache_keys():
    """A project saved before Qwen was a choice loads as it was, and its FLUX.2 keyframes are
    not rendered again because the node gained Qwen fields."""
    from canvas_app.project.io import load_project
    from nodes.keyframe import QWEN_ONLY, Keyframe
    from video_models.test_two_stage_nodes import EXAMPLE

    graph, issues = load_project(EXAMPLE)
    assert not issues
    params = Keyframe.spec.default_params()
    params.update(graph.nodes["keyframe1"].params, backend="flux2-klein")
    keyed = Keyframe().key_params(params)
    assert not set(QWEN_ONLY) & set(keyed)  # the new fields do not enter FLUX.2's cache key
    assert keyed["model"] == "black-forest-labs/FLUX.2-klein-4B"
