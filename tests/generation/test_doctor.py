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


# -- issue 18, defect 5: versions the generation libraries require of each other ----------

DIFFUSERS_0_42_1 = ("0.42.1", ["huggingface-hub<3.0,>=1.32.0", "safetensors>=0.8.0", "Pillow",
                               "peft>=0.17.0; extra == 'torch'", "peft>=0.17.0", "transformers>=4.34.0"])
TRANSFORMERS_4_56 = ("4.56.2", ["huggingface-hub<1.0,>=0.34.0", "tokenizers<=0.23.0,>=0.22.0"])
TRANSFORMERS_5_0 = ("5.0.0", ["huggingface-hub<2.0,>=1.3.0"])


@pytest.mark.parametrize("peft, hub, transformers, mismatches", [
    ("0.10.0", "1.32.0", TRANSFORMERS_5_0, {"peft>=0.17.0"}),  # diffusers would turn LoRA off
    ("0.16.0", "1.32.0", TRANSFORMERS_5_0, {"peft>=0.17.0"}),
    ("0.17.0", "1.32.0", TRANSFORMERS_5_0, set()),  # the pyproject floors: they go together
    (None, "2.4.0", ("5.25.0", ["huggingface-hub<3.0,>=2.4.0"]), {"peft>=0.17.0"}),
    ("0.17.0", "0.23.0", TRANSFORMERS_5_0, {"huggingface-hub<3.0,>=1.32.0", "huggingface-hub<2.0,>=1.3.0"}),
    # transformers 4.56 wants a hub below 1.0, diffusers 0.42 one from 1.32: never both.
    ("0.17.0", "1.32.0", TRANSFORMERS_4_56, {"huggingface-hub<1.0,>=0.34.0"}),
    ("0.17.0", "0.36.0", TRANSFORMERS_4_56, {"huggingface-hub<3.0,>=1.32.0"}),
])
def test_requirement_matrix(peft, hub, transformers, mismatches):
    from canvas_app.doctor import requirement_rows

    installed = {"peft": peft, "huggingface-hub": hub, "transformers": transformers[0], "safetensors": "0.8.0",
                 "tokenizers": "0.22.1"}
    rows = requirement_rows({"diffusers": DIFFUSERS_0_42_1, "transformers": transformers}, installed)
    failing = {row["package"] + row["requires"] for row in rows if not row["ok"]}
    assert {f.replace(" ", "") for f in failing} == {m.replace(" ", "") for m in mismatches}
    assert all(row["fix"].startswith(f"pip install '{row['package']}") for row in rows if not row["ok"])
    assert not any(row["package"] == "pillow" for row in rows)  # only the libraries that gate each other


def test_doctor_reads_diffusers_own_peft_gate_and_flags_an_old_peft(capsys, tmp_path, monkeypatch):
    """peft 0.16 with diffusers 0.42: doctor used to say OK while every FaceID shot
    failed with "install peft". Now both the floor and diffusers' own gate flag it."""
    import canvas_app.doctor as doctor

    assert "peft>=0.17.0" in doctor._diffusers_peft_gates()  # read from the installed diffusers
    real_version = doctor._version
    monkeypatch.setattr(doctor, "_version", lambda package: "0.16.0" if package == "peft" else real_version(package))
    code = main(["doctor", "--models-dir", str(tmp_path / "none")])
    out = capsys.readouterr().out
    assert code == 1 and "NOT runnable as set" in out
    assert "[OLD] peft 0.16.0 (needs >= 0.17)" in out
    assert "diffusers" in out and "needs peft>=0.17.0" in out and "pip install 'peft>=0.17.0'" in out


def test_installed_libraries_satisfy_each_other_and_the_floors_install_together():
    """This machine's versions satisfy every watched requirement, and pyproject's floors
    satisfy what the installed diffusers declares (huggingface-hub, peft)."""
    import re
    import tomllib
    from pathlib import Path

    from packaging.specifiers import SpecifierSet

    from canvas_app.doctor import check_library_requirements, requirement_rows

    assert all(row["ok"] for row in check_library_requirements()), check_library_requirements()
    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    floors = {}
    for line in tomllib.loads(text)["project"]["dependencies"]:
        match = re.match(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9.]+)", line)
        if match:
            floors[match.group(1).lower().replace("_", "-")] = match.group(2)
    rows = requirement_rows({"diffusers": DIFFUSERS_0_42_1, "transformers": TRANSFORMERS_5_0},
                            {name: floors.get(name) for name in ("peft", "huggingface-hub", "transformers",
                                                                 "safetensors")})
    assert all(row["ok"] for row in rows), rows
    assert SpecifierSet("<1.0,>=0.34.0").contains(floors["huggingface-hub"]) is False  # why not transformers 4.56
