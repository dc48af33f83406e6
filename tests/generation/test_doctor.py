"""`canvas-app doctor`: versions, device, face packs, and the models a project needs."""
from __future__ import annotations

import json

import pytest

from canvas_app.cli import main
from canvas_app.graph import Graph
from canvas_app.project import save_project


def _project(path, **generate_params):
    graph = Graph()
    graph.add_node("Generate", title="Shot 1", params={"backend": "diffusers", **generate_params})
    graph.add_node("Generate", title="Animatic shot", params={"backend": "animatic"})
    save_project(graph, path)
    return path


def _pack(tmp_path, name="buffalo_l"):
    folder = tmp_path / "packs" / "models" / name
    folder.mkdir(parents=True)
    (folder / "w600k_r50.onnx").write_bytes(b"0" * 2048)
    return str(tmp_path / "packs")


def test_doctor_without_project_reports_versions_and_device(capsys, tmp_path):
    code = main(["doctor", "--json", "--models-dir", str(tmp_path / "none")])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["runnable"] is True
    packages = {row["package"]: row for row in result["packages"]}
    assert packages["diffusers"]["ok"] and packages["diffusers"]["floor"] == "0.42"
    assert result["device"]["device"] in ("cpu", "cuda", "mps")
    assert "non-commercial" in result["face_packs"]["licence"]


def test_project_with_local_models_is_runnable(capsys, tmp_path, tiny):
    project = _project(tmp_path / "local.canvas.json", model=str(tiny["model"]),
                       faceid_adapter=str(tiny["faceid"]), motion=True, motion_adapter=str(tiny["motion"]),
                       loras=f"{tiny['lora']}=0.8")
    code = main(["doctor", "--json", "--models-dir", _pack(tmp_path), str(project)])
    result = json.loads(capsys.readouterr().out)
    assert code == 0, result["missing"]
    models = {check["field"]: check for check in result["models"]}
    assert set(models) == {"model", "faceid_adapter", "motion_adapter", "loras", "face_pack"}
    assert all(check["present"] and check["size_bytes"] > 0 for check in models.values())
    assert models["model"]["nodes"] == ["Shot 1"]  # the animatic shot needs nothing
    assert "non-commercial" in models["face_pack"]["licence"]


def test_missing_hub_models_exit_1_with_the_download_command(capsys, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    project = _project(tmp_path / "hub.canvas.json")  # every default: SD 1.5 + FaceID from the hub
    code = main(["doctor", "--models-dir", str(tmp_path / "no-packs"), str(project)])
    out = capsys.readouterr().out
    assert code == 1
    assert "hf download h94/IP-Adapter-FaceID ip-adapter-faceid_sd15.bin" in out
    assert "hf download stable-diffusion-v1-5/stable-diffusion-v1-5" in out
    assert "canvas-app identity download-pack buffalo_l --accept-non-commercial-license" in out
    assert "NOT runnable as set" in out


def test_doctor_on_a_missing_project_is_bad_input(tmp_path, capsys):
    assert main(["doctor", str(tmp_path / "nope.canvas.json")]) == 2
    assert "nope.canvas.json" in capsys.readouterr().err


@pytest.mark.parametrize("spec", ["h94/IP-Adapter/models/image_encoder"])
def test_hub_folder_spec_fix_downloads_only_that_folder(spec, tmp_path, monkeypatch):
    from huggingface_hub import constants

    from canvas_app.doctor import ModelCheck, locate

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    check = locate(ModelCheck(field="image_encoder", spec=spec))
    assert not check.present and check.fix == "hf download h94/IP-Adapter --include 'models/image_encoder/*'"
