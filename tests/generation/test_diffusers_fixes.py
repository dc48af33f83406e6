"""The diffusers fixes of issue 9, each on fixtures shaped like the real weights:
a FaceID file with its LoRA keys numbered over the attention processors, a tiny
UNet with attention in every block (so motion modules interleave from block 0),
a 40-frame clip on a motion adapter trained for 32, bf16, character LoRAs."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("diffusers")
pytest.importorskip("peft")

import tiny_models as tm  # noqa: E402
from diffusers_helpers import pipe_of, request  # noqa: E402

from canvas_app.engine.context import RunContext  # noqa: E402
from canvas_app.errors import BadInput  # noqa: E402
from canvas_app.values import Identity  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def motion(tiny, **extra):
    return {"motion": True, "motion_adapter": str(tiny["motion"]), **extra}


def _lora_down(unet, processor_name: str, part: str, adapter: str = "faceid"):
    module = unet
    for piece in processor_name.removesuffix(".processor").split("."):
        module = module[int(piece)] if piece.isdigit() else getattr(module, piece)
    layer = getattr(module, part)
    layer = layer[0] if part == "to_out" else layer
    return layer.lora_A[adapter].weight.detach()


def test_faceid_lora_lands_on_the_same_layers_in_a_motion_unet(tiny, backend):
    """Fix 1: key N of the FaceID LoRA is processor N of the *image* UNet; in the
    AnimateDiff UNet, motion modules sit between them and must not shift N."""
    import torch
    from diffusers import UNet2DConditionModel

    clip = backend.render(request(tiny, duration=0.5, **motion(tiny)), RunContext())
    assert clip.metadata["pipeline"] == "AnimateDiffPipeline" and len(clip.frames) == 2
    unet = pipe_of(backend, motion=True).unet
    assert any("motion_modules" in name for name in unet.attn_processors)

    state = tm.faceid_state_dict(tm.json.loads((tiny["model"] / "unet" / "config.json").read_text()))
    image_names = list(UNet2DConditionModel.from_pretrained(str(tiny["model"] / "unet")).attn_processors)
    assert len(image_names) >= 8
    for index, name in enumerate(image_names):
        expected = state["ip_adapter"][f"{index}.to_k_lora.down.weight"]
        torch.testing.assert_close(_lora_down(unet, name, "to_k").float(), expected.float())


def test_forty_frames_use_free_noise_past_the_adapters_length(tiny, backend):
    """Fix 2: the tiny adapter is trained for 32 frames, as the real one; 40 frames
    render in FreeNoise windows instead of failing on the position embedding."""
    clip = backend.render(request(tiny, duration=10.0, fps=4.0, max_frames=40, steps=1,
                                  size=16, **motion(tiny)), RunContext())
    assert len(clip.frames) == 40 and clip.metadata["frames_rendered"] == 40
    assert clip.metadata["motion_long_clip"] == "free_noise"
    assert clip.metadata["motion_context_frames"] == 16
    # Video-to-video continuity shares the UNet: FreeNoise moves to that pipeline ...
    follow = backend.render(request(tiny, duration=10.0, fps=4.0, max_frames=40, steps=2, size=16,
                                    previous=clip, continuity_strength=0.5, **motion(tiny)), RunContext())
    assert follow.metadata["pipeline"] == "AnimateDiffVideoToVideoPipeline"
    assert follow.metadata["motion_long_clip"] == "free_noise" and len(follow.frames) == 40
    bundle = backend.manager.peek(next(k for k in backend.manager.keys()
                                       if backend.manager.peek(k).value.motion)).value
    assert not bundle.pipe.free_noise_enabled and bundle.extras["video2video"].free_noise_enabled
    # ... and a short clip afterwards runs without FreeNoise anywhere.
    short = backend.render(request(tiny, duration=1.0, **motion(tiny)), RunContext())
    assert short.metadata["motion_long_clip"] is None
    assert not bundle.pipe.free_noise_enabled and not bundle.extras["video2video"].free_noise_enabled


def test_identity_strength_zero_turns_the_faceid_lora_off(tiny, backend):
    """Fix 3: at identity_strength 0 the FaceID LoRA weighs 0 as well."""
    off = backend.render(request(tiny, identity_strength=0.0), RunContext())
    unet = pipe_of(backend, motion=False, adapters=["faceid"]).unet
    name = next(iter(unet.attn_processors))
    module = unet
    for piece in name.removesuffix(".processor").split("."):
        module = module[int(piece)] if piece.isdigit() else getattr(module, piece)
    assert module.to_q.scaling["faceid"] == 0.0
    assert off.metadata["faceid_lora_weight"] == 0.0
    on = backend.render(request(tiny, identity_strength=0.5), RunContext())
    assert module.to_q.scaling["faceid"] > 0.0 and on.metadata["faceid_lora_weight"] == 1.0
    assert np.abs(on.frames[0].astype(int) - off.frames[0]).mean() > 0.5


def test_version_floors_accept_what_the_loaders_pass():
    """Fix 4: the loaders pass `dtype=`; pyproject's floors are those of the doctor."""
    from canvas_app.doctor import VERSION_FLOORS

    text = (ROOT / "pyproject.toml").read_text()
    dependencies = tomllib.loads(text)["project"]["dependencies"]
    floors = {}
    for line in dependencies:
        match = re.match(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9.]+)", line)
        if match:
            floors[match.group(1).lower().replace("_", "-")] = match.group(2)
    for package in ("diffusers", "transformers", "torch", "onnxruntime", "peft", "huggingface-hub"):
        assert floors[package] == VERSION_FLOORS[package], package
    assert tuple(map(int, floors["diffusers"].split("."))) >= (0, 42)
    assert tuple(map(int, floors["transformers"].split("."))) >= (4, 56)


def test_identity_from_another_face_pack_is_refused(tiny, backend):
    """Fix 5: FaceID was trained on buffalo_l's ArcFace; antelopev2's is another space."""
    base = tm.tiny_identity(0)

    def repack(pack: str) -> Identity:
        def rename(embeddings):
            return {(f"insightface/{pack}" if key.startswith("insightface/") else key): value
                    for key, value in embeddings.items()}
        samples = [type(s)(**{**s.__dict__, "embeddings": rename(s.embeddings)}) for s in base.samples]
        return Identity(name="antelope person", embeddings=rename(base.embeddings), samples=samples)

    loads = backend.manager.load_count
    with pytest.raises(BadInput) as error:
        backend.render(request(tiny, identity=repack("antelopev2")), RunContext())
    assert error.value.field == "identity"
    assert "antelopev2" in str(error.value) and "buffalo_l" in str(error.value)
    assert backend.manager.load_count == loads
    clip = backend.render(request(tiny), RunContext())
    assert clip.metadata["identity_encoder"] == "insightface/buffalo_l"


def test_motion_default_scheduler_is_animatediffs_ddim(tiny, backend):
    """Fix 6: motion with scheduler 'default' uses DDIM, linear betas, no clip_sample,
    linspace spacing (the AnimateDiff docs), not the still model's scheduler."""
    clip = backend.render(request(tiny, duration=0.5, **motion(tiny)), RunContext())
    assert clip.metadata["scheduler"] == "DDIMScheduler"
    config = pipe_of(backend, motion=True).scheduler.config
    assert config.beta_schedule == "linear" and config.clip_sample is False
    assert config.timestep_spacing == "linspace"
    still = backend.render(request(tiny, scheduler="default"), RunContext())
    assert pipe_of(backend, motion=False, adapters=["faceid"]).scheduler.config.beta_schedule == "scaled_linear"
    assert still.metadata["scheduler"] == "DDIMScheduler"


def test_bf16_still_with_faceid_lora(tiny, backend):
    import torch

    try:
        torch.ones(2, 2, dtype=torch.bfloat16) @ torch.ones(2, 2, dtype=torch.bfloat16)
    except RuntimeError:
        pytest.skip("this CPU has no bf16 matmul")
    clip = backend.render(request(tiny, dtype="bf16"), RunContext())
    assert clip.metadata["dtype"] == "bf16"
    assert pipe_of(backend, dtype="bf16").unet.dtype == torch.bfloat16
    assert clip.frames[0].std() > 1.0  # a picture, not a NaN-black frame


def test_character_lora_loads_by_name_and_unloads_between_shots(tiny, backend):
    lora = str(tiny["lora"])
    plain = backend.render(request(tiny), RunContext())
    with_lora = backend.render(request(tiny, loras=f"{lora}=1.0"), RunContext())
    assert with_lora.metadata["loras"] == [{"name": "character_0", "file": "character_tiny.safetensors",
                                            "weight": 1.0}]
    assert np.abs(with_lora.frames[0].astype(int) - plain.frames[0]).mean() > 0.5
    pipe = pipe_of(backend, motion=False, adapters=["faceid"])
    assert "character_0" not in pipe.get_list_adapters().get("unet", [])  # unloaded after the shot
    again = backend.render(request(tiny), RunContext())
    np.testing.assert_array_equal(again.frames[0], plain.frames[0])
    # Combined with FaceID and a weight of its own; a zero weight is the plain shot.
    zero = backend.render(request(tiny, loras=f"{lora}=0"), RunContext())
    assert np.abs(zero.frames[0].astype(int) - plain.frames[0]).max() <= 1


def test_character_lora_in_the_generate_cache_key(tiny, tmp_path):
    import os
    import shutil

    from nodes.generate import Generate

    lora = tmp_path / "me.safetensors"
    shutil.copy(tiny["lora"], lora)
    node = Generate()
    params = {spec.name: spec.default for spec in node.spec.params}
    params.update(backend="diffusers", loras=f"{lora}=0.7")
    ctx = RunContext()
    first = node.cache_key_extra(params, ctx)
    assert str(lora) in first and "@0.7" in first
    os.utime(lora, ns=(1, 1))  # retrained under the same name
    assert node.cache_key_extra(params, ctx) != first


def test_bad_lora_entry_names_the_field(tiny, backend, tmp_path):
    with pytest.raises(BadInput) as error:
        backend.render(request(tiny, loras="a.safetensors=heavy"), RunContext())
    assert error.value.field == "loras"
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(BadInput) as error:
        backend.render(request(tiny, loras=str(missing)), RunContext())
    assert error.value.field == "loras"
