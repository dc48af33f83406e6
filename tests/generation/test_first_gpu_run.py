"""Issue 18: seven defects that would crash (or silently misbehave on) the first
real GPU run, each held on tiny models in the real layouts, on the CPU:

1. SDXL motion in fp16 decodes (upstream upcasts only part of the VAE).
2. FreeNoise (> 32 frames) gets a CPU generator when the pipeline is on the GPU.
3. Loaded pipelines are sized, evicted to make room, and an OOM retries once.
4. Paths into the Hugging Face cache keep their names and commit.
6/7. FaceID Plus v2 gets 224-px aligned crops, paired with the embeddings.
(5, the version floors and doctor's requirement check, is in test_doctor.py.)
"""
from __future__ import annotations

import hashlib
import os
import shutil

import numpy as np
import pytest

pytest.importorskip("diffusers")
pytest.importorskip("peft")

import tiny_models as tm  # noqa: E402
from diffusers_helpers import request  # noqa: E402

from canvas_app.engine.context import RunContext  # noqa: E402
from canvas_app.errors import NodeFailure  # noqa: E402


@pytest.fixture(scope="module")
def tiny_xl(tmp_path_factory):
    return tm.build_sdxl(tmp_path_factory.mktemp("tiny_xl"))


def _fresh_backend():
    from canvas_app.generation.diffusers.backend import DiffusersBackend
    from canvas_app.generation.model_manager import ModelManager

    return DiffusersBackend(manager=ModelManager(budget_bytes=1 << 34))


# -- 1. SDXL motion in fp16 -----------------------------------------------------------


def test_sdxl_motion_in_fp16_decodes_the_clip(tiny_xl, monkeypatch):
    """fp16 on the CPU (as on a GPU: the backend maps CPU fp16 to fp32, so that is
    switched off here) with a force_upcast VAE: upstream's partial upcast fails with
    "Input type (c10::Half) and bias type (float)" after all the denoising."""
    import torch

    import canvas_app.generation.diffusers.backend as backend_module

    monkeypatch.setattr(backend_module, "resolve_dtype", lambda dtype, device: dtype)
    backend = _fresh_backend()
    options = {"model": str(tiny_xl["model"]), "faceid_adapter": str(tiny_xl["faceid"]), "motion": True,
               "motion_adapter": str(tiny_xl["motion"]), "dtype": "fp16"}
    shot = request(tiny_xl, duration=0.75, fps=4.0, **options)
    try:
        clip = backend.render(shot, RunContext())
        assert clip.metadata["pipeline"] == "AnimateDiffSDXLPipeline" and clip.metadata["dtype"] == "fp16"
        assert len(clip.frames) == 3 and clip.metadata["frames_rendered"] == 3
        assert all(frame.shape == (32, 32, 3) and frame.std() > 1.0 for frame in clip.frames)  # not black
        vae = backend.manager.peek(backend.manager.keys()[0]).value.pipe.vae
        assert vae.dtype == torch.float16 and vae.config.force_upcast  # back in its dtype for the next shot
    finally:
        backend.manager.unload_all()


# -- 2. the generator FreeNoise gets --------------------------------------------------


def test_free_noise_gets_a_cpu_generator_when_the_pipeline_is_on_the_gpu(tiny, monkeypatch):
    """FreeNoise shuffles frames with torch.randperm(..., generator=g) on the CPU; torch
    refuses a CUDA generator there. Without a GPU the bundle is told it is on 'cuda'
    and torch.Generator records the device asked for (and makes a CPU one)."""
    import torch
    from diffusers import AnimateDiffPipeline

    asked: list[str] = []

    class RecordingGenerator(torch.Generator):
        def __new__(cls, device="cpu"):
            generator = super().__new__(cls, device="cpu")
            generator.asked_device = str(device)
            asked.append(str(device))
            return generator

    reached_free_noise: list[str] = []
    original = AnimateDiffPipeline._prepare_latents_free_noise

    def spy(self, *args, **kwargs):
        generator = kwargs.get("generator", args[7] if len(args) > 7 else None)
        reached_free_noise.append(getattr(generator, "asked_device", str(getattr(generator, "device", ""))))
        return original(self, *args, **kwargs)

    backend = _fresh_backend()
    motion = {"motion": True, "motion_adapter": str(tiny["motion"])}
    backend.render(request(tiny, duration=0.5, steps=1, size=16, **motion), RunContext())  # load on the CPU
    bundle = backend.manager.peek(backend.manager.keys()[0]).value
    monkeypatch.setattr(torch, "Generator", RecordingGenerator)
    monkeypatch.setattr(AnimateDiffPipeline, "_prepare_latents_free_noise", spy)
    bundle.device = "cuda"  # as loaded on a GPU without cpu_offload
    try:
        long_clip = backend.render(request(tiny, duration=10.0, fps=4.0, max_frames=40, steps=1, size=16,
                                           **motion), RunContext())
        short_clip = backend.render(request(tiny, duration=1.0, steps=1, size=16, **motion), RunContext())
    finally:
        bundle.device = "cpu"
        backend.manager.unload_all()
    assert long_clip.metadata["motion_long_clip"] == "free_noise" and len(long_clip.frames) == 40
    assert reached_free_noise and set(reached_free_noise) == {"cpu"}
    assert short_clip.metadata["motion_long_clip"] is None
    assert asked[-1] == "cuda"  # a clip without FreeNoise still draws its noise on the GPU


# -- 3. memory accounting, eviction, OOM retry ----------------------------------------


def _faceid_copy(tiny, tmp_path, name):
    path = tmp_path / name
    shutil.copy(tiny["faceid"], path)
    return str(path)


def test_loaded_pipelines_are_sized_and_the_least_recent_is_evicted_under_a_cap(tiny, tmp_path):
    from canvas_app.generation.model_manager import module_bytes

    backend = _fresh_backend()
    manager = backend.manager
    try:
        first = backend.render(request(tiny, faceid_adapter=_faceid_copy(tiny, tmp_path, "a.safetensors")),
                               RunContext())
        key_a = manager.keys()[0]
        bundle = manager.peek(key_a).value
        held = module_bytes(bundle.pipe)
        assert held > 100_000 and manager.peek(key_a).size_bytes == held == manager.total_bytes
        assert manager.bytes_by_device() == {"cpu": held}
        backend.render(request(tiny, faceid_adapter=_faceid_copy(tiny, tmp_path, "b.safetensors")), RunContext())
        assert len(manager.keys()) == 2 and manager.total_bytes == 2 * held
        key_b = manager.keys()[1]
        # A cap of one and a half pipelines: the next shot with other weights
        # unloads the least recently used one before it loads.
        manager.budget_bytes = int(held * 1.5)
        assert manager.keys() == [key_b] and manager.evictions == [key_a]
        backend.render(request(tiny, faceid_adapter=_faceid_copy(tiny, tmp_path, "c.safetensors")), RunContext())
        assert len(manager.keys()) == 1 and manager.evictions == [key_a, key_b]
        assert manager.total_bytes == held and first.frames
    finally:
        manager.unload_all()


class Sized:
    def __init__(self, size):
        self.size = size


def test_a_load_that_would_not_fit_evicts_before_it_runs():
    from canvas_app.generation.model_manager import ModelManager

    manager = ModelManager(budget_bytes=100)
    manager.get("a", lambda: Sized(40), size_of=lambda v: v.size)
    manager.get("b", lambda: Sized(40), size_of=lambda v: v.size)
    manager.get("a", lambda: Sized(40), size_of=lambda v: v.size)  # b is now the least recent
    seen_when_loading = []

    def load_c():
        seen_when_loading.extend(manager.keys())
        return Sized(50)

    manager.get("c", load_c, size_of=lambda v: v.size, expected_bytes=50)
    assert seen_when_loading == ["a"] and manager.evictions == ["b"]  # room made before the load
    assert manager.keys() == ["a", "c"] and manager.total_bytes == 90


def test_a_card_with_too_little_free_memory_gets_room(monkeypatch):
    """On CUDA the driver's free memory counts too: 100 bytes of card, two cached
    pipelines of 40 on it, a load of 50 needs one of them gone."""
    import canvas_app.generation.model_manager as mm

    manager = mm.ModelManager(budget_bytes=1000)
    monkeypatch.setattr(mm, "free_device_bytes",
                        lambda device: 100 - manager.bytes_on("cuda") if device.startswith("cuda") else None)
    manager.get("a", lambda: Sized(40), device="cuda:0", size_of=lambda v: v.size)
    manager.get("b", lambda: Sized(40), device="cuda:0", size_of=lambda v: v.size)
    manager.get("on_cpu", lambda: Sized(40), device="cpu", size_of=lambda v: v.size)
    manager.get("c", lambda: Sized(50), device="cuda:0", size_of=lambda v: v.size, expected_bytes=50)
    assert manager.evictions == ["a"] and manager.keys() == ["b", "on_cpu", "c"]
    assert manager.bytes_on("cuda") == 90 and manager.bytes_on("cpu") == 40


def test_out_of_memory_unloads_the_other_pipelines_and_retries_once(tiny, tmp_path, monkeypatch):
    import torch

    import canvas_app.generation.diffusers.backend as backend_module

    backend = _fresh_backend()
    manager = backend.manager
    real_render = backend_module.render_bundle
    failures = {"left": 1}

    def flaky_render(*args, **kwargs):
        if failures["left"] > 0:
            failures["left"] -= 1
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_render(*args, **kwargs)

    try:
        other = request(tiny, faceid_adapter=_faceid_copy(tiny, tmp_path, "other.safetensors"))
        backend.render(other, RunContext())
        other_key = manager.keys()[0]
        monkeypatch.setattr(backend_module, "render_bundle", flaky_render)
        logs = []
        clip = backend.render(request(tiny), RunContext(on_log=logs.append))
        assert other_key not in manager.keys() and other_key in manager.evictions
        assert len(manager.keys()) == 1 and clip.frames
        assert "retried once after running out of memory" in clip.metadata["notes"]
        assert any("out of memory" in str(line) for line in logs)
        failures["left"] = 2  # out of memory twice: the node fails, with advice
        with pytest.raises(NodeFailure) as error:
            backend.render(request(tiny), RunContext())
        assert "out of GPU memory" in str(error.value) and "cpu_offload" in str(error.value)
    finally:
        manager.unload_all()


# -- 4. the Hugging Face cache's snapshot symlinks --------------------------------------


COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _cached(cache, repo_id: str, name: str, source) -> "os.PathLike":
    """Put `source` in a hub cache as huggingface_hub lays it out: the bytes in
    blobs/<sha256>, snapshots/<commit>/<name> a relative symlink to it, refs/main."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    data = source.read_bytes()
    blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    link = repo / "snapshots" / COMMIT / name
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)
    return link


def test_local_paths_into_the_hub_cache_keep_their_name_format_and_commit(tiny, backend, tmp_path,
                                                                         monkeypatch):
    from huggingface_hub import constants

    from canvas_app.generation.diffusers.loading import detect_kind_from_file, load_adapter_state_dict
    from canvas_app.generation.model_manager import resolve_source

    cache = tmp_path / "hub"
    faceid = _cached(cache, "h94/IP-Adapter-FaceID", "ip-adapter-faceid_tiny.safetensors", tiny["faceid"])
    lora = _cached(cache, "me/character", "character_tiny.safetensors", tiny["lora"])
    assert faceid.is_symlink() and "." not in faceid.resolve().name  # a blob has no extension

    source = resolve_source(str(faceid), field="faceid_adapter")
    assert source.path.name == "ip-adapter-faceid_tiny.safetensors" and source.revision == COMMIT
    state, path = load_adapter_state_dict(source, "faceid_adapter", ("faceid",))
    assert state["image_proj"] and path.name.endswith(".safetensors")

    # The same file by hub id, offline, from that cache.
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    by_id = resolve_source("h94/IP-Adapter-FaceID/ip-adapter-faceid_tiny.safetensors", field="faceid_adapter",
                           cache_dir=str(cache))
    assert by_id.revision == COMMIT and by_id.path.name == "ip-adapter-faceid_tiny.safetensors"

    # A shot with FaceID and a character LoRA both read from the cache.
    clip = backend.render(request(tiny, faceid_adapter=str(faceid), loras=f"{lora}=0.8"), RunContext())
    assert clip.metadata["faceid_adapter_revision"] == COMMIT
    assert clip.metadata["loras"][0]["file"] == "character_tiny.safetensors"

    # An SDXL single file is told by its tensor names, through the link and as the bare blob.
    from safetensors.torch import save_file
    import torch

    xl_file = tmp_path / "sd_xl_base_tiny.safetensors"
    save_file({"conditioner.embedders.1.model.ln_final.weight": torch.ones(4)}, str(xl_file))
    xl_link = _cached(cache, "stabilityai/sdxl-tiny", "sd_xl_base_tiny.safetensors", xl_file)
    assert detect_kind_from_file(resolve_source(str(xl_link), field="model").path) == "sdxl"
    assert detect_kind_from_file(xl_link.resolve()) == "sdxl"


# -- 6 and 7. FaceID Plus v2 crops ------------------------------------------------------


def _plus(tiny, **extra):
    return {"faceid_variant": "plus_v2", "faceid_adapter": str(tiny["faceid_plus_v2"]),
            "image_encoder": str(tiny["image_encoder"]), **extra}


class RecordingProcessor:
    """Wraps the bundle's CLIP image processor: the sizes of the images it is given."""

    def __init__(self, processor):
        self.processor, self.sizes = processor, []

    def __call__(self, images=None, **kwargs):
        self.sizes.extend(image.size for image in images)
        return self.processor(images=images, **kwargs)


def test_plus_v2_is_fed_the_224_px_aligned_crops_not_the_thumbnails(tiny, backend):
    identity = tm.tiny_identity(0)
    backend.render(request(tiny, identity=identity, **_plus(tiny)), RunContext())  # load
    entry = next(backend.manager.peek(key) for key in backend.manager.keys()
                 if backend.manager.peek(key).value.faceid_variant == "plus_v2")
    recorder = RecordingProcessor(entry.value.image_processor)
    entry.value.image_processor = recorder
    try:
        clip = backend.render(request(tiny, identity=identity, **_plus(tiny)), RunContext())
    finally:
        entry.value.image_processor = recorder.processor
    assert clip.metadata["face_crops"] == 3 and recorder.sizes == [(224, 224)] * 3


def test_plus_v2_on_an_old_identity_makes_its_crop_from_the_portrait_landmarks(tiny, backend):
    """Identities locked before crops were kept: the portrait's sample gets a crop made
    with norm_crop from the stored portrait landmarks, paired with its embedding."""
    from insightface.utils import face_align

    from canvas_app.generation.diffusers.faces import plus_v2_inputs

    identity = tm.tiny_identity(1, face_crops=False)
    identity.samples[1].quality = 2.0  # the best sample: the portrait was cut from it
    rng = np.random.default_rng(3)
    identity.portrait = rng.integers(0, 255, (200, 160, 3), dtype=np.uint8)
    identity.portrait_landmarks = np.array([[60, 80], [100, 80], [80, 105], [64, 130], [96, 130]], np.float32)
    embeddings, crops = plus_v2_inputs(identity)
    expected = face_align.norm_crop(identity.portrait, landmark=identity.portrait_landmarks, image_size=224)
    assert len(crops) == 1 and embeddings.shape == (1, 512)
    np.testing.assert_array_equal(crops[0], expected)
    np.testing.assert_array_equal(embeddings[0], identity.samples[1].embeddings["insightface/buffalo_l"])
    clip = backend.render(request(tiny, identity=identity, **_plus(tiny)), RunContext())
    assert clip.metadata["face_crops"] == 1 and clip.metadata["identity_refs"] == 1


def test_plus_v2_keeps_embeddings_and_crops_paired_when_one_embedding_is_unusable(tiny, backend):
    identity = tm.tiny_identity(2)
    identity.samples[0].embeddings["insightface/buffalo_l"] = np.full(512, np.nan, np.float32)
    clip = backend.render(request(tiny, identity=identity, **_plus(tiny)), RunContext())
    assert clip.metadata["face_crops"] == 2 and clip.metadata["identity_refs"] == 2
    assert len(clip.frames) >= 1 and clip.frames[0].std() > 1.0

