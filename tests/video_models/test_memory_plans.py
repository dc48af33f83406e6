"""Which memory plan a card gets, and `doctor --vram` saying so."""
import json
import shutil

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
    ("Wan-AI/Wan2.2-I2V-A14B-Diffusers", None, "full"),  # no GPU: all in system memory
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
