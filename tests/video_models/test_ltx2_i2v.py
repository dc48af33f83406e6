"""LTX-2 image-to-video on a tiny random model in the Lightricks/LTX-2 layout, with its sound.

The model is saved with `save_pretrained` (model_index.json + one folder per
component) and loaded by the Motion backend's real loading code (model manager,
memory plan, from_pretrained); everything runs on the CPU. Random weights make
noise, not people: these tests check the wiring (keyframe in, frames and sound out,
previews, Stop, the sound reaching the cut), never looks or how the sound sounds.
"""
from unittest import mock

import numpy as np
import pytest

from canvas_app.engine.context import RunContext
from canvas_app.values import Identity, ShotPrompt

pytestmark = pytest.mark.slow  # each render loads and runs a tiny model on the CPU


@pytest.fixture(scope="module")
def tiny_ltx2(tmp_path_factory):
    from video_models.tiny_video_models import save_ltx2_i2v

    return save_ltx2_i2v(tmp_path_factory.mktemp("tiny_ltx2") / "LTX-2-tiny")


def identity() -> Identity:
    rng = np.random.default_rng(0)
    vector = rng.standard_normal(128).astype(np.float32)
    return Identity(name="Ada", embeddings={"dlib": vector / np.linalg.norm(vector)},
                    portrait=rng.integers(0, 255, (80, 64, 3), dtype=np.uint8))


def motion_request(model, first_frame=None, steps=2):
    from canvas_app.generation.video_models.stages import MotionRequest

    keyframe = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    return MotionRequest(identity=identity(), prompt=ShotPrompt(positive="astronaut turns",
                                                                negative="blurry", duration=0.5),
                         keyframe=keyframe, first_frame=first_frame, fps=8.0, seed=5, device="cpu",
                         options={"model": str(model), "steps": steps, "guidance": 1.0,
                                  "dtype": "auto", "memory": "auto"})


def test_ltx2_motion_starts_on_the_keyframe_and_keeps_the_sound_it_made(tiny_ltx2):
    from diffusers import LTX2ImageToVideoPipeline

    from canvas_app.generation.model_manager import ModelManager
    from canvas_app.generation.video_models.ltx2_i2v import NO_CONTINUITY, LTX2ImageToVideo
    from video_models.pipeline_probes import spy

    previews = []
    ctx = RunContext(on_preview=lambda frame, kind: previews.append((kind, frame.shape)))
    request = motion_request(tiny_ltx2, first_frame=np.zeros((64, 64, 3), np.uint8))
    manager = ModelManager()
    patch, calls = spy(LTX2ImageToVideoPipeline)
    with patch:
        clip = LTX2ImageToVideo(manager).render(request, ctx)
    call = calls[0]
    assert np.array_equal(np.asarray(call["image"]), request.keyframe)  # starts on the keyframe
    assert call["prompt"].startswith("astronaut turns, medium shot")
    assert call["frame_rate"] == 8.0 and call["negative_prompt"] == "blurry"
    # 0.5 s at 8 fps, on the VAE's temporal grid (1 + 2n frames for the tiny one)
    assert len(clip.frames) == 5 == call["num_frames"] and clip.frames[0].shape == (64, 64, 3)
    sound = clip.sound
    assert sound is not None and sound.sample_rate == 16000  # the vocoder's own rate
    assert sound.samples.dtype == np.float32 and sound.samples.shape[0] == 2
    assert sound.duration == pytest.approx(clip.duration, abs=0.1)  # as long as the picture
    assert np.abs(sound.samples).max() <= 1.0 and np.abs(sound.samples).max() > 0
    assert clip.metadata["sound"] == {"sample_rate": 16000, "channels": 2,
                                      "seconds": round(sound.duration, 3)}
    assert clip.metadata["continuity"] is False and clip.metadata["notes"] == [NO_CONTINUITY]
    assert [kind for kind, _ in previews].count("step") == 2 and previews[-1][0] == "frame"
    assert ("step", (64, 64, 3)) in previews
    assert clip.metadata["memory_plan"] == "full" and manager.load_count == 1


def test_stop_interrupts_ltx2_within_a_step(tiny_ltx2):
    from canvas_app.generation.model_manager import ModelManager
    from canvas_app.generation.video_models.ltx2_i2v import LTX2ImageToVideo
    from video_models.pipeline_probes import steps_seen_when_stopped_in_step_one

    backend = LTX2ImageToVideo(ModelManager())
    decoded = []
    with mock.patch("diffusers.AutoencoderKLLTX2Audio.decode",
                    side_effect=lambda *a, **k: decoded.append(1)):
        seen = steps_seen_when_stopped_in_step_one(
            lambda ctx: backend.render(motion_request(tiny_ltx2, steps=4), ctx))
    assert seen == [0, True] and not decoded  # no second step, no sound decoded

def test_the_small_card_plan_stores_ltx2_in_fp8_and_still_makes_sound(tiny_ltx2):
    import torch

    from canvas_app.generation.model_manager import ModelManager
    from canvas_app.generation.video_models.ltx2_i2v import LTX2ImageToVideo

    manager = ModelManager()
    request = motion_request(tiny_ltx2)
    request.options["memory"] = "group-offload"
    clip = LTX2ImageToVideo(manager).render(request, RunContext())
    assert clip.metadata["memory_plan"] == "group-offload" and len(clip.frames) == 5
    assert clip.sound is not None and clip.sound.duration == pytest.approx(clip.duration, abs=0.1)
    pipe = manager.peek(manager.keys()[0]).value
    assert torch.float8_e4m3fn in {p.dtype for p in pipe.transformer.parameters()}  # fp8 at rest
    assert pipe.vae.use_tiling


def test_a_wan_model_left_in_the_field_is_named(tmp_path):
    from canvas_app.errors import BadInput
    from canvas_app.generation.model_manager import ModelManager
    from canvas_app.generation.video_models.ltx2_i2v import LTX2ImageToVideo

    (tmp_path / "model_index.json").write_text('{"_class_name": "WanImageToVideoPipeline"}')
    with pytest.raises(BadInput) as caught:
        LTX2ImageToVideo(ModelManager()).render(motion_request(tmp_path),
                                                RunContext(node_title="Motion 1"))
    assert caught.value.field == "model" and "WanImageToVideoPipeline" in str(caught.value)
    assert "Lightricks/LTX-2" in str(caught.value)


def test_ltx2_previews_show_the_last_latent_frame_of_the_packed_tokens():
    import torch
    from diffusers import LTX2ImageToVideoPipeline

    from canvas_app.generation.video_models.latent_previews import latents_to_rgb, ltx2_grid

    latents = torch.randn(1, 128, 3, 4, 6)  # 128 channels, 3 latent frames, 4x6
    tokens = LTX2ImageToVideoPipeline._pack_latents(latents, 1, 1)
    assert tokens.shape == (1, 3 * 4 * 6, 128)
    assert np.allclose(ltx2_grid(tokens.numpy(), (3, 4, 6)), latents[0, :, -1].numpy())
    preview = latents_to_rgb(tokens, "ltx2", (12, 8), grid=(3, 4, 6))
    assert preview.shape == (8, 12, 3) and preview.max() > preview.min()


def test_the_keyframe_moves_with_its_sound_into_the_cut(tiny_ltx2, tmp_path):
    """FLUX.2 keyframe -> guard -> LTX-2 motion -> guard -> Sequence, as an artist switches
    the example's nodes to the new models: the exported cut carries the shots' sound."""
    import av

    from canvas_app.engine import Executor
    from canvas_app.project.io import load_project
    from video_models.test_two_stage_nodes import EXAMPLE
    from video_models.tiny_video_models import save_flux2_klein

    flux2 = save_flux2_klein(tmp_path / "FLUX.2-klein-tiny")
    graph, _ = load_project(EXAMPLE)
    for index in (1, 2):
        graph.nodes[f"keyframe{index}"].params.update(
            backend="flux2-klein", model=str(flux2), device="cpu", width=64, height=64, steps=2,
            guard_tries=1)
        graph.nodes[f"motion{index}"].params.update(
            backend="ltx2-i2v", model=str(tiny_ltx2), device="cpu", fps=8.0, steps=2,
            guidance=1.0, guard_tries=1)
        graph.nodes[f"prompt{index}"].params["duration"] = 0.5
    result = Executor().run(graph, output_dir=tmp_path / "out", project_dir=tmp_path)
    assert result.status == "done", result.failures
    shots = [result.outputs[f"motion{index}"]["clip"] for index in (1, 2)]
    assert all(shot.sound is not None and "identity_score" in shot.metadata for shot in shots)
    assert shots[1].metadata["keyframe"]["backend"] == "flux2-klein"
    assert shots[1].metadata["continuity"] is False  # wired to shot 1, but LTX-2 cannot continue
    report = result.outputs["sequence1"]["sequence"].report
    assert report["shot_sounds"] == [1, 2] and report["sound_file"] == "two_stage.wav"
    with av.open(str(tmp_path / "out" / "two_stage.mp4")) as container:
        stream = container.streams.audio[0]
        samples = np.concatenate([frame.to_ndarray() for frame in container.decode(stream)], 1)
    assert samples.shape[1] / 48000 == pytest.approx(report["duration"], abs=0.05)
    assert np.abs(samples).max() > 0  # the shots' own sound is there, not silence


def test_on_the_farm_ltx2_motion_runs_on_the_gpu_actors_and_caches_with_its_sound(tmp_path):
    from canvas_app.farm.placement import GPU, placement
    from canvas_app.values import Clip, Sound
    from nodes.motion import Motion

    assert placement(Motion(), {"backend": "ltx2-i2v"}) == GPU  # kept loaded between shots
    clip = Clip(frames=[np.zeros((8, 8, 3), np.uint8)] * 3, fps=24.0,
                sound=Sound(np.full((2, 2000), 0.25, np.float32), 16000))
    assert Motion().save_result({"clip": clip}, tmp_path)
    again = Motion().load_result(tmp_path)["clip"]
    assert again.sound.sample_rate == 16000 and np.array_equal(again.sound.samples,
                                                                clip.sound.samples)


def test_doctor_lists_ltx2_with_its_licence_and_download_size(tmp_path, monkeypatch):
    from canvas_app.doctor import project_models
    from canvas_app.generation.video_models.requirements import restricts_use
    from canvas_app.project.io import load_project
    from video_models.test_two_stage_nodes import EXAMPLE

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty hub cache
    graph, _ = load_project(EXAMPLE)
    graph.nodes["motion1"].params.update(backend="ltx2-i2v", model="Lightricks/LTX-2")
    ltx2 = {check.field: check for check in project_models(graph)}["motion_model"]
    assert not ltx2.present
    # what to download: the diffusers folders only, not the 100 GB of single files beside them
    assert ltx2.fix == "hf download Lightricks/LTX-2 --include 'model_index.json' --include '*/*'"
    assert "LTX-2 Community License" in ltx2.licence and ltx2.size_bytes == 64 * 10**9
    assert restricts_use("Lightricks/LTX-2")  # the Models panel asks for the licence first


def test_only_the_diffusers_folders_of_the_ltx2_repository_are_downloaded():
    """The hub repository also holds single-file checkpoints of over 100 GB in all that this
    path does not read: the download is limited to model_index.json and the component folders."""
    from canvas_app.generation.model_manager import ModelManager
    from canvas_app.generation.video_models.ltx2_i2v import LTX2ImageToVideo

    asked = {}

    def fake_snapshot(repo_id, **kwargs):
        asked.update(kwargs, repo_id=repo_id)
        raise FileNotFoundError("offline in this test")

    with mock.patch("huggingface_hub.snapshot_download", fake_snapshot):
        with pytest.raises(Exception):
            LTX2ImageToVideo(ModelManager()).render(motion_request("Lightricks/LTX-2"),
                                                    RunContext(node_title="Motion 1"))
    assert asked["repo_id"] == "Lightricks/LTX-2"
    assert asked["allow_patterns"] == ["model_index.json", "*/*"]


def test_a_cut_of_ltx2_shots_counts_their_sound_in_the_memory_budget(monkeypatch):
    """The Sequence holds the sound under the cut whole, whether it comes from its audio
    file or from the shots' own sounds: at 0.001 fps a cut of two LTX-2 shots lasts
    2,000 s (2.3 GB of sound), refused before any model loads; the same cut of
    animatic shots makes no sound and is not."""
    from canvas_app.engine.plan import check_runnable, plan
    from canvas_app.project.io import load_project
    from video_models.test_two_stage_nodes import EXAMPLE

    monkeypatch.setenv("CANVAS_APP_MAX_SHOT_MB", "1000")

    def problems(backend):
        graph, _ = load_project(EXAMPLE)
        for motion in ("motion1", "motion2"):
            graph.nodes[motion].params.update(backend=backend, model="Lightricks/LTX-2")
        graph.nodes["sequence1"].params.update(fps=0.001, audio="")
        return [p for p in check_runnable(graph, plan(graph)) if p.node_id == "sequence1"]

    refused = problems("ltx2-i2v")
    assert refused and refused[0].field == "fps" and "sound" in refused[0].message
    assert not problems("animatic")
