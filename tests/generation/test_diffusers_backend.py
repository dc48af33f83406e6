"""The diffusers backend on tiny random-weight models, loaded from disk through
the same code path as real ones. No downloads (HF_HUB_OFFLINE=1)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

pytest.importorskip("torch")
pytest.importorskip("diffusers")

import tiny_models as tm  # noqa: E402
from diffusers_helpers import options, pipe_of, request  # noqa: E402,F401

from canvas_app.engine.context import Cancelled, RunContext  # noqa: E402
from canvas_app.errors import BadInput, NodeFailure  # noqa: E402
from canvas_app.generation.base import ShotRequest  # noqa: E402
from canvas_app.generation.diffusers.backend import DiffusersBackend  # noqa: E402
from canvas_app.generation.diffusers.metadata import compose_prompt, frame_png_text  # noqa: E402
from canvas_app.generation.diffusers.options import parse_options  # noqa: E402
from canvas_app.generation.model_manager import ModelManager  # noqa: E402
from canvas_app.values import Clip, RefImage, ShotPrompt  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def outfit(seed=0, size=(40, 30)):
    pixels = np.random.default_rng(seed).integers(0, 255, size + (3,), dtype=np.uint8)
    return RefImage(path=Path(f"outfit{seed}.png"), role="outfit", pixels=pixels, sha256=f"{seed:064d}")


def test_import_does_not_load_torch():
    code = ("import sys; import canvas_app.generation.diffusers.backend, canvas_app.generation.model_manager, "
            "nodes.generate, "
            "canvas_app.generation.previews; "
            "heavy = [m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_options_defaults_and_validation():
    opts = parse_options({})
    assert opts.steps == 30 and opts.identity_strength == 0.8 and opts.motion is False
    assert parse_options({"steps": "4", "motion": "yes", "dtype": "float16"}).steps == 4
    with pytest.raises(BadInput) as error:
        parse_options({"steps": 0})
    assert error.value.field == "steps"
    with pytest.raises(BadInput) as error:
        parse_options({"scheduler": "warp-drive"})
    assert error.value.field == "scheduler"


def test_missing_insightface_embedding_is_bad_input(tiny, backend):
    loads = backend.manager.load_count
    identity = tm.tiny_identity(0, with_insightface=False)
    with pytest.raises(BadInput) as error:
        backend.render(request(tiny, identity=identity), RunContext())
    assert error.value.field == "identity"
    assert "insightface" in str(error.value) and "IdentityLock" in str(error.value)
    assert backend.manager.load_count == loads  # refused before loading anything


def test_offline_hub_id_not_cached_is_bad_input(tiny, backend, monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    req = request(tiny, model="someone/not-a-cached-model")
    with pytest.raises(BadInput) as error:
        backend.render(req, RunContext())
    assert error.value.field == "model"
    message = str(error.value)
    assert "not in the local Hugging Face cache" in message and "HF_HUB_OFFLINE" in message


def test_hub_id_from_cache_records_commit(tiny, manager, monkeypatch, tmp_path):
    """A hub id that is in the local cache loads offline; the commit goes to metadata."""
    import shutil

    from huggingface_hub import constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--tiny--sd15"
    shutil.copytree(tiny["model"], repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    backend = DiffusersBackend(manager=ModelManager())
    clip = backend.render(request(tiny, model="tiny/sd15"), RunContext())
    assert clip.metadata["model"] == "tiny/sd15"
    assert clip.metadata["model_source"] == "hub"
    assert clip.metadata["model_revision"] == commit
    backend.manager.unload_all()


def test_identity_reaches_attention_layers(tiny, backend):
    import torch
    from diffusers import StableDiffusionPipeline

    ctx = RunContext()
    off = backend.render(request(tiny, identity_strength=0.0), ctx).frames[0]
    pipe = pipe_of(backend, motion=False, adapters=["faceid"])
    seen = []
    hook = pipe.unet.encoder_hid_proj.register_forward_hook(
        lambda module, args, out: seen.append([t.detach().clone() for t in args[0]]))
    try:
        strong = backend.render(request(tiny, identity_strength=3.0), ctx).frames[0]
        other = backend.render(request(tiny, identity_strength=3.0, identity=tm.tiny_identity(5)), ctx).frames[0]
    finally:
        hook.remove()
    assert np.abs(strong.astype(int) - off).mean() > 1.0
    assert np.abs(strong.astype(int) - other).mean() > 0.5  # a different face gives a different image

    # All three references together, negative (zeros) half first: (2, n_refs, 1, 512).
    face = seen[0][0]
    assert tuple(face.shape) == (2, 3, 1, 512)
    assert torch.count_nonzero(face[0]) == 0 and torch.count_nonzero(face[1]) > 0
    expected = np.stack([s.embeddings["insightface/buffalo_l"] for s in tm.tiny_identity(0).samples])
    np.testing.assert_allclose(face[1, :, 0].numpy(), expected, rtol=1e-6)

    # Scale 0 is the same picture as a bare pipeline with no adapter at all.
    bare = StableDiffusionPipeline.from_pretrained(str(tiny["model"]))
    bare.set_progress_bar_config(disable=True)
    prompt, negative = compose_prompt(ShotPrompt(positive="a portrait of a person"))
    image = bare(prompt=prompt, negative_prompt=negative or None, height=32, width=32, num_inference_steps=2,
                 guidance_scale=7.0, generator=torch.Generator("cpu").manual_seed(1), output_type="np").images[0]
    bare_frame = np.clip(np.round(image * 255), 0, 255).astype(np.uint8)
    assert np.abs(bare_frame.astype(int) - off).max() <= 1


def test_references_feed_a_second_adapter(tiny, backend):
    extra = {"image_adapter": str(tiny["image_adapter"]), "image_encoder": str(tiny["image_encoder"])}
    ctx = RunContext()
    refs = [outfit(0), outfit(1)]
    clip = backend.render(request(tiny, references=refs, reference_strength=0.0, **extra), ctx)
    pipe = pipe_of(backend, adapters=["faceid", "image"])
    seen = []
    hook = pipe.unet.encoder_hid_proj.register_forward_hook(
        lambda module, args, out: seen.append([tuple(t.shape) for t in args[0]]))
    try:
        strong = backend.render(request(tiny, references=refs, reference_strength=2.0, **extra), ctx)
    finally:
        hook.remove()
    assert seen[0][0] == (2, 3, 1, 512)  # FaceID
    assert seen[0][1] == (2, 2, tm.CLIP_PROJECTION_DIM)  # both references, CLIP image embeds
    assert strong.metadata["adapter_scales"] == [1.0, 2.0]
    assert [r["name"] for r in strong.metadata["references"]] == ["outfit0.png", "outfit1.png"]
    assert np.abs(strong.frames[0].astype(int) - clip.frames[0]).mean() > 1.0
    # Without references the loaded image adapter is silenced (scale 0).
    alone = backend.render(request(tiny, **extra), ctx)
    assert alone.metadata["adapter_scales"] == [1.0, 0.0]


def test_step_previews_are_sent_and_throttled(tiny, backend):
    previews, progress = [], []
    ctx = RunContext(on_preview=lambda frame, kind: previews.append((frame, kind)),
                     on_progress=lambda fraction, message: progress.append(fraction))
    clip = backend.render(request(tiny, steps=3), ctx)
    steps = [frame for frame, kind in previews if kind == "step"]
    assert len(steps) == 3
    assert all(frame.shape == (32, 32, 3) and frame.dtype == np.uint8 for frame in steps)
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert clip.metadata["previews_sent"] == 3

    previews.clear()
    backend.render(request(tiny, steps=5, preview_interval=30.0), ctx)
    assert len([kind for _, kind in previews if kind == "step"]) == 2  # the first and the last step


def test_cancel_stops_within_one_step(tiny, backend):
    backend.render(request(tiny), RunContext())  # make sure it is loaded
    pipe = pipe_of(backend, motion=False, adapters=["faceid"])
    ctx = RunContext()
    calls = []

    def on_unet(module, args, output):
        calls.append(1)
        if len(calls) == 2:
            ctx.cancel_token.cancel()  # the user presses stop during step 2

    hook = pipe.unet.register_forward_hook(on_unet)
    try:
        with pytest.raises(Cancelled):
            backend.render(request(tiny, steps=10), ctx)
    finally:
        hook.remove()
    assert len(calls) == 2  # step 2 finished, step 3 never started
    # The pipeline is still usable afterwards.
    assert len(backend.render(request(tiny), RunContext()).frames) == 1


def test_model_manager_loads_once_for_two_nodes(tiny, tmp_path):
    manager = ModelManager()
    node_a, node_b = DiffusersBackend(manager=manager), DiffusersBackend(manager=manager)
    node_a.render(request(tiny), RunContext(node_id="a"))
    node_b.render(request(tiny, seed=2, identity_strength=0.5), RunContext(node_id="b"))
    assert manager.load_count == 1 and len(manager.keys()) == 1
    key = manager.keys()[0]
    assert manager.unload(key) and manager.keys() == []
    node_a.render(request(tiny), RunContext())
    assert manager.load_count == 2
    manager.unload_all()
    assert manager.keys() == [] and manager.total_bytes == 0


def test_still_is_held_or_zoomed_for_the_duration(tiny, backend):
    held = backend.render(request(tiny, duration=1.0, fps=6.0), RunContext())
    assert len(held.frames) == 6 and held.fps == 6.0
    assert all(np.array_equal(frame, held.frames[0]) for frame in held.frames)
    zoom = backend.render(request(tiny, duration=1.0, fps=6.0, camera_move="push in"), RunContext())
    assert len(zoom.frames) == 6 and np.array_equal(zoom.frames[0], held.frames[0])
    assert not np.array_equal(zoom.frames[-1], zoom.frames[0])
    odd = backend.render(request(tiny, size=36), RunContext())  # not a multiple of 8
    assert odd.frames[0].shape == (36, 36, 3) and odd.metadata["render_size"] == [40, 40]


def test_motion_makes_n_frames(tiny, backend):
    extra = {"motion": True, "motion_adapter": str(tiny["motion"])}
    clip = backend.render(request(tiny, duration=1.0, fps=4.0, **extra), RunContext())
    assert len(clip.frames) == 4 and clip.metadata["motion"] is True
    assert clip.metadata["pipeline"] == "AnimateDiffPipeline" and clip.metadata["frames_rendered"] == 4
    assert all(frame.shape == (32, 32, 3) and frame.dtype == np.uint8 for frame in clip.frames)
    assert not np.array_equal(clip.frames[0], clip.frames[-1])
    capped = backend.render(request(tiny, duration=1.0, fps=4.0, max_frames=2, **extra), RunContext())
    assert len(capped.frames) == 4 and capped.metadata["frames_rendered"] == 2
    # Identity conditioning reaches the motion UNet too.
    off = backend.render(request(tiny, duration=0.5, fps=4.0, identity_strength=0.0, **extra), RunContext())
    on = backend.render(request(tiny, duration=0.5, fps=4.0, identity_strength=3.0, **extra), RunContext())
    assert np.abs(on.frames[0].astype(int) - off.frames[0]).mean() > 1.0


def test_continuity_starts_from_previous_last_frame(tiny, backend):
    def solid(channel):
        frame = np.zeros((32, 32, 3), np.uint8)
        frame[..., channel] = 255
        return frame

    red = Clip(frames=[solid(2), solid(0)], fps=4.0)  # the LAST frame counts
    blue = Clip(frames=[solid(0), solid(2)], fps=4.0)
    fresh = backend.render(request(tiny), RunContext())
    ignored = backend.render(request(tiny, previous=red), RunContext())  # strength 0 = off
    assert np.array_equal(ignored.frames[0], fresh.frames[0])
    from_red = backend.render(request(tiny, previous=red, continuity_strength=0.75), RunContext())
    from_blue = backend.render(request(tiny, previous=blue, continuity_strength=0.75), RunContext())
    assert not np.array_equal(from_red.frames[0], fresh.frames[0])
    assert np.abs(from_red.frames[0].astype(int) - from_blue.frames[0]).mean() > 2.0
    assert from_red.metadata["img2img_strength"] == 0.25
    assert from_red.metadata["pipeline"] == "StableDiffusionImg2ImgPipeline"
    assert from_red.metadata["denoising_steps"] == 1  # int(max(2, 4) * 0.25)

    motion = {"motion": True, "motion_adapter": str(tiny["motion"]), "duration": 0.5, "fps": 4.0}
    plain = backend.render(request(tiny, **motion), RunContext())
    video = backend.render(request(tiny, previous=red, continuity_strength=0.75, **motion), RunContext())
    assert video.metadata["pipeline"] == "AnimateDiffVideoToVideoPipeline" and len(video.frames) == 2
    assert not np.array_equal(video.frames[0], plain.frames[0])


def test_metadata_and_png_text(tiny, backend, tmp_path):
    from canvas_app.media.images import save_png

    clip = backend.render(request(tiny, seed=1234, scheduler="euler", guidance=5.5), RunContext())
    meta = clip.metadata
    assert meta["backend"] == "diffusers" and meta["model"] == str(tiny["model"])
    assert meta["seed"] == 1234 and meta["steps"] == 2 and meta["guidance"] == 5.5
    assert meta["scheduler"] == "EulerDiscreteScheduler"
    assert meta["identity_strength"] == 1.0 and meta["adapter_scales"] == [1.0]
    assert meta["identity_id"] == tm.tiny_identity(0).identity_id and meta["identity_refs"] == 3
    assert meta["model_fingerprint"] and meta["faceid_adapter"] == str(tiny["faceid"])
    json.dumps(meta, default=str)
    text = frame_png_text(meta)
    assert text["seed"] == "1234" and "Seed: 1234" in text["parameters"]
    assert json.loads(text["canvas-app"])["identity_id"] == meta["identity_id"]
    from PIL import Image

    save_png(clip.frames[0], tmp_path / "frame.png", text)
    with Image.open(tmp_path / "frame.png") as image:
        assert image.text["seed"] == "1234"
    # The same seed renders the same frame; the default scheduler is the model's own.
    again = backend.render(request(tiny, seed=1234, scheduler="euler", guidance=5.5), RunContext())
    assert np.array_equal(again.frames[0], clip.frames[0])
    assert backend.render(request(tiny), RunContext()).metadata["scheduler"] == "DDIMScheduler"


def test_attention_slicing_and_tiling_keep_identity(tiny, backend):
    plain = backend.render(request(tiny, identity_strength=3.0), RunContext())
    sliced = backend.render(request(tiny, identity_strength=3.0, attention_slicing=True, vae_tiling=True),
                            RunContext())
    assert np.abs(sliced.frames[0].astype(int) - plain.frames[0]).max() <= 2
    pipe = pipe_of(backend, motion=False, adapters=["faceid"])
    names = {type(p).__name__ for n, p in pipe.unet.attn_processors.items() if n.endswith("attn2.processor")}
    assert names == {"IPAdapterAttnProcessor2_0"}
    backend.render(request(tiny), RunContext())  # turns slicing back off
    names = {type(p).__name__ for n, p in pipe.unet.attn_processors.items() if n.endswith("attn1.processor")}
    assert names == {"AttnProcessor2_0"}


def test_out_of_memory_becomes_node_failure(tiny, backend, monkeypatch):
    import torch
    from diffusers import StableDiffusionPipeline

    def boom(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(StableDiffusionPipeline, "__call__", boom)
    with pytest.raises(NodeFailure) as error:
        backend.render(request(tiny), RunContext(node_title="Generate 1"))
    message = str(error.value)
    assert "out of GPU memory" in message and "attention_slicing" in message and "cpu_offload" in message
    assert "Generate 1" in message


def test_wrong_adapter_for_model_is_bad_input(tiny, tmp_path):
    xl_unet = json.loads((tm.save_sdxl_folder(tmp_path / "sdxl") / "unet" / "config.json").read_text())
    wrong = tm.save_adapter_safetensors(tm.faceid_state_dict(xl_unet), tmp_path / "faceid_xl.safetensors")
    backend = DiffusersBackend(manager=ModelManager())
    with pytest.raises(BadInput) as error:
        backend.render(request(tiny, faceid_adapter=str(wrong)), RunContext())
    assert error.value.field == "faceid_adapter" and "does not fit" in str(error.value)
    plain = tm.save_adapter_safetensors(tm.image_adapter_state_dict(json.loads(
        (tiny["model"] / "unet" / "config.json").read_text())), tmp_path / "plain.safetensors")
    with pytest.raises(BadInput) as error:
        backend.render(request(tiny, faceid_adapter=str(plain)), RunContext())
    assert error.value.field == "faceid_adapter" and "not an IP-Adapter FaceID" in str(error.value)


def test_sdxl_with_faceid(tmp_path):
    folder = tm.save_sdxl_folder(tmp_path / "sdxl")
    unet_config = json.loads((folder / "unet" / "config.json").read_text())
    faceid = tm.save_adapter_safetensors(tm.faceid_state_dict(unet_config), tmp_path / "faceid_xl.safetensors")
    backend = DiffusersBackend(manager=ModelManager())
    req = dict(model=str(folder), faceid_adapter=str(faceid), steps=2, preview_interval=0.0)
    previews = []
    ctx = RunContext(on_preview=lambda frame, kind: previews.append(kind))

    def render(strength):
        return backend.render(ShotRequest(identity=tm.tiny_identity(0), prompt=ShotPrompt(positive="a person"),
                                          width=32, height=32, fps=2.0, seed=3, device="cpu",
                                          options=dict(req, identity_strength=strength)), ctx)

    off, on = render(0.0), render(3.0)
    assert on.metadata["model_kind"] == "sdxl" and on.metadata["pipeline"] == "StableDiffusionXLPipeline"
    assert np.abs(on.frames[0].astype(int) - off.frames[0]).mean() > 1.0
    assert "step" in previews
    backend.manager.unload_all()


def test_single_file_checkpoint_goes_through_from_single_file(tiny, tmp_path, monkeypatch):
    """A .safetensors file is loaded with from_single_file, with `config=` the
    model_config folder and local_files_only (the tiny model has no LDM-layout
    export here, so the call is checked and answered with the folder's pipeline)."""
    from diffusers import StableDiffusionPipeline
    from safetensors.torch import save_file
    import torch

    checkpoint = tmp_path / "tiny.safetensors"
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(1)}, str(checkpoint))
    calls = []

    def fake_single_file(cls, path, **kwargs):
        calls.append((path, kwargs))
        return StableDiffusionPipeline.from_pretrained(str(tiny["model"]), dtype=kwargs["dtype"])

    monkeypatch.setattr(StableDiffusionPipeline, "from_single_file", classmethod(fake_single_file))
    backend = DiffusersBackend(manager=ModelManager())
    clip = backend.render(request(tiny, model=str(checkpoint), model_config=str(tiny["model"])), RunContext())
    assert calls and calls[0][0] == str(checkpoint.resolve())
    assert calls[0][1]["config"] == str(tiny["model"].resolve()) and calls[0][1]["local_files_only"] is True
    assert clip.metadata["model"] == str(checkpoint) and clip.metadata["model_kind"] == "sd15"
    backend.manager.unload_all()
