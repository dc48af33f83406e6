"""Which memory plan a card gets, `doctor --vram` saying so, and the quantized plan's code
path on the tiny models (int8 transformer weights after loading, and it still renders)."""
import importlib.util
import json
import shutil

import numpy as np
import pytest

from canvas_app.cli import main
from canvas_app.generation.video_models.memory_plans import choose_plan
from video_models.test_two_stage_nodes import EXAMPLE


@pytest.mark.parametrize("model, vram, plan", [
    ("black-forest-labs/FLUX.2-klein-4B", 24, "full"),
    ("black-forest-labs/FLUX.2-klein-4B", 12, "offload"),
    ("Wan-AI/Wan2.2-TI2V-5B-Diffusers", 24, "offload"),  # as Wan's README runs it on a 4090
    ("Wan-AI/Wan2.2-I2V-A14B-Diffusers", 80, "offload"),  # Wan's 80 GB command offloads too
    ("Wan-AI/Wan2.2-I2V-A14B-Diffusers", 141, "full"),
    ("Wan-AI/Wan2.2-I2V-A14B-Diffusers", 24, "group-offload"),
    ("Wan-AI/Wan2.2-I2V-A14B-Diffusers", 16, "quantized"),
    ("Wan-AI/Wan2.2-I2V-A14B-Diffusers", None, "full"),  # no GPU: all in system memory
    ("Qwen/Qwen-Image-Edit-2509", 80, "full"),
    ("Qwen/Qwen-Image-Edit-2509", 48, "offload"),
    ("Qwen/Qwen-Image-Edit-2509", 24, "group-offload"),
    ("Qwen/Qwen-Image-Edit-2509", 16, "quantized"),
    ("Qwen/Qwen-Image-Edit-2509", 12, "quantized"),
    ("Wan-AI/Wan2.2-TI2V-5B-Diffusers", 12, "quantized"),
])
def test_the_plan_follows_the_card(model, vram, plan):
    chosen = choose_plan(model, vram)
    assert chosen.name == plan and chosen.reason


def test_doctor_says_which_plan_another_card_would_get(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE.parent, project)
    path = project / EXAMPLE.name
    data = json.loads(path.read_text())
    for node in data["nodes"]:
        if node["type"] == "Motion":
            node["params"].update(backend="wan2.2-i2v", model="Wan-AI/Wan2.2-TI2V-5B-Diffusers")
    path.write_text(json.dumps(data))
    assert main(["doctor", "--vram", "24", str(path)]) == 1  # the model is not downloaded
    out = capsys.readouterr().out
    assert "motion_model: Wan-AI/Wan2.2-TI2V-5B-Diffusers" in out
    assert "memory plan: offload" in out and "hf download Wan-AI/Wan2.2-TI2V-5B-Diffusers" in out
    assert main(["doctor", "--vram", "48", "--json", str(path)]) == 1
    models = json.loads(capsys.readouterr().out)["models"]
    assert models[0]["plan"].startswith("full")


def without_torchao(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "torchao" else real(name, *args))


def test_without_torchao_a_12_gb_card_is_told_what_to_install(monkeypatch):
    from canvas_app.errors import BadInput
    from canvas_app.generation.video_models.memory_plans import describe_plans, resolve_plan

    without_torchao(monkeypatch)
    chosen = choose_plan("Qwen/Qwen-Image-Edit-2509", 12)
    assert chosen.name == "group-offload"  # still runs, on fp8 weights
    assert "torchao is not installed" in chosen.reason
    assert "pip install 'canvas-app[quantized]'" in chosen.reason
    assert "quantized: 16 GB or less (unavailable: torchao is not installed" in \
        describe_plans("Qwen/Qwen-Image-Edit-2509")
    with pytest.raises(BadInput) as caught:  # chosen on the node: a clear error, no silent swap
        resolve_plan("quantized", "Qwen/Qwen-Image-Edit-2509", "cpu", node="Keyframe 1")
    assert caught.value.field == "memory" and "torchao" in str(caught.value)


def write_example(tmp_path, **keyframe_params):
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE.parent, project)
    path = project / EXAMPLE.name
    data = json.loads(path.read_text())
    for node in data["nodes"]:
        if node["type"] == "Keyframe":
            node["params"].update(keyframe_params)
    path.write_text(json.dumps(data))
    return path


def test_doctor_names_the_quantized_plan_for_a_12_gb_card_and_why(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    path = write_example(tmp_path, backend="qwen-image-edit")
    assert main(["doctor", "--vram", "12", str(path)]) == 1  # the model is not downloaded
    out = capsys.readouterr().out
    assert "keyframe_model: Qwen/Qwen-Image-Edit-2509 - 54.0 GB" in out  # 58e9 bytes
    assert "licence: Apache 2.0" in out
    assert "memory plan: quantized: even one component of 58 GB does not fit a 12 GB card" in out
    assert "int8 weights (torchao)" in out
    assert "can run as: full: 70 GB or more; offload: 35 GB to 70 GB; group-offload: under " \
           "35 GB; quantized: 16 GB or less" in out


def int8_stored(module) -> list[bool]:
    """For each Linear in the transformer blocks: is its weight stored as int8 (torchao)?"""
    import torch
    from torchao.utils import TorchAOBaseTensor

    found = []
    for name, layer in module.named_modules():
        if isinstance(layer, torch.nn.Linear) and "blocks" in name:
            weight = layer.weight
            inner = weight.tensor_impl.__tensor_flatten__()[0] if isinstance(
                weight, TorchAOBaseTensor) else []
            found.append(any(getattr(weight.tensor_impl, key).dtype == torch.int8 for key in inner))
    return found


@pytest.mark.slow
def test_the_quantized_plan_stores_the_transformer_in_int8_and_still_renders(tmp_path):
    import torch
    from diffusers.hooks.group_offloading import _is_group_offload_enabled

    from canvas_app.engine.context import RunContext
    from canvas_app.generation.model_manager import ModelManager
    from canvas_app.generation.video_models.qwen_image_edit import QwenImageEditKeyframe
    from video_models.test_qwen_image_edit import keyframe_request
    from video_models.tiny_qwen_image import save_qwen_image_edit

    tiny = {"qwen": save_qwen_image_edit(tmp_path / "Qwen-Image-Edit-2509-tiny")}
    manager = ModelManager()
    clip = QwenImageEditKeyframe(manager).render(keyframe_request(tiny, memory="quantized"),
                                                 RunContext())
    assert clip.frames[0].shape == (64, 64, 3) and clip.metadata["memory_plan"] == "quantized"
    assert clip.frames[0].std() > 0  # a picture, not a blank frame
    pipe = manager.peek(manager.keys()[0]).value
    stored = int8_stored(pipe.transformer)
    assert stored and all(stored)  # every block's linear weights are int8 at rest
    assert not any(int8_stored(pipe.text_encoder))  # only the transformer is quantized
    assert _is_group_offload_enabled(pipe.transformer) and pipe.vae.use_tiling
    assert {p.dtype for p in pipe.text_encoder.parameters()} == {torch.float32}


@pytest.mark.slow
def test_both_wan_experts_are_quantized_and_the_clip_renders(tmp_path):
    from canvas_app.engine.context import RunContext
    from canvas_app.generation.model_manager import ModelManager
    from canvas_app.generation.video_models.memory_plans import transformer_components
    from canvas_app.generation.video_models.wan_i2v import WanImageToVideo
    from video_models.test_diffusers_stages import motion_request
    from video_models.tiny_video_models import save_wan22_i2v

    folder = save_wan22_i2v(tmp_path / "Wan2.2-I2V-tiny")
    assert transformer_components(folder) == ["transformer", "transformer_2"]
    manager = ModelManager()
    request = motion_request({"wan": folder})
    request.options["memory"] = "quantized"
    clip = WanImageToVideo(manager).render(request, RunContext())
    assert len(clip.frames) == 5 and clip.metadata["memory_plan"] == "quantized"
    pipe = manager.peek(manager.keys()[0]).value
    for expert in (pipe.transformer, pipe.transformer_2):  # the high- and low-noise experts
        stored = int8_stored(expert)
        assert stored and all(stored)
