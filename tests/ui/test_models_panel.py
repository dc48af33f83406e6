"""The Models panel: the doctor's list for the open project, downloads with
progress and cancel, face packs only after the licence box, an offline state."""
from __future__ import annotations

import threading

import pytest

from canvas_app.graph import Graph
from canvas_app.ui import models_panel
from canvas_app.ui.models_panel import DownloadCancelled, ModelsPanel


@pytest.fixture
def graph(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setenv("CANVAS_APP_MODELS", str(tmp_path / "packs"))
    model = tmp_path / "my-model"
    model.mkdir()
    (model / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    graph = Graph()
    graph.add_node("Generate", title="Shot 1", params={"backend": "diffusers", "model": str(model)})
    return graph


def _rows(panel):
    return {panel.tree.topLevelItem(i).text(1): panel.tree.topLevelItem(i)
            for i in range(panel.tree.topLevelItemCount())}


def _select(panel, field):
    panel.tree.setCurrentItem(_rows(panel)[field])


def test_lists_what_the_project_needs_and_is_offline_by_env(qtbot, graph, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    panel = ModelsPanel(lambda: graph)
    qtbot.addWidget(panel)
    panel.show()  # the first show looks the models up
    rows = _rows(panel)
    assert rows["model"].text(0) == "present" and rows["model"].text(3).endswith("B")
    assert rows["faceid_adapter"].text(0) == "missing"
    assert rows["faceid_adapter"].text(2) == "h94/IP-Adapter-FaceID/ip-adapter-faceid_sd15.bin"
    assert rows["face_pack"].text(0) == "missing" and rows["model"].text(5) == "Shot 1"
    assert "1 present" not in panel.disk_label.text() and "missing" in panel.disk_label.text()
    assert panel.offline_label.isVisible() and "Offline" in panel.offline_label.text()
    _select(panel, "faceid_adapter")
    assert not panel.download_button.isEnabled()  # offline: nothing downloads


def test_face_pack_needs_the_licence_box(qtbot, graph, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    panel = ModelsPanel(lambda: graph)
    qtbot.addWidget(panel)
    panel.show()
    assert not panel.offline_label.isVisible()
    _select(panel, "face_pack")
    assert not panel.download_button.isEnabled()
    panel.licence.setChecked(True)
    assert panel.download_button.isEnabled()
    _select(panel, "model")  # present: nothing to download
    assert not panel.download_button.isEnabled()


def test_download_shows_progress_and_cancels(qtbot, graph, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    started, fetched = threading.Event(), []

    def scripted_fetch(check, report):  # a scriptable stand-in for the hub: 1 MB then waits
        fetched.append(check.spec)
        report(1 << 20, 4 << 20)
        started.set()
        while True:
            report(1 << 20, 4 << 20)  # raises DownloadCancelled once Cancel is pressed
            threading.Event().wait(0.01)

    monkeypatch.setattr(models_panel, "fetch_model", scripted_fetch)
    panel = ModelsPanel(lambda: graph)
    qtbot.addWidget(panel)
    panel.show()
    _select(panel, "faceid_adapter")
    with qtbot.waitSignal(panel.download_finished, timeout=10000) as finished:
        panel.download_button.click()
        assert started.wait(10)
        qtbot.waitUntil(lambda: panel.progress.value() == 250, timeout=5000)
        assert panel.cancel_button.isEnabled() and not panel.download_button.isEnabled()
        assert "1.0 MB of 4.0 MB" in panel.status.text()
        panel.cancel_button.click()
    assert finished.args[0] == "cancelled" and fetched == ["h94/IP-Adapter-FaceID/ip-adapter-faceid_sd15.bin"]
    assert not panel.progress.isVisible() and "cancelled" in panel.status.text()
    assert panel.download_button.isEnabled()  # can try again


def test_finished_download_refreshes_the_list(qtbot, graph, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    calls = []
    monkeypatch.setattr(models_panel, "fetch_model", lambda check, report: calls.append(check) or "/x")
    panel = ModelsPanel(lambda: graph)
    qtbot.addWidget(panel)
    panel.show()
    refreshed = []
    monkeypatch.setattr(panel, "refresh", lambda: refreshed.append(True))
    _select(panel, "faceid_adapter")
    with qtbot.waitSignal(panel.download_finished, timeout=10000) as finished:
        panel.download_button.click()
    assert finished.args[0] == "done" and refreshed == [True] and len(calls) == 1
    assert DownloadCancelled  # the worker's cancel exception is public for fetchers


def test_a_non_commercial_keyframe_model_needs_its_licence_accepted(qtbot, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    graph = Graph()
    graph.add_node("Keyframe", title="Keyframe 1",
                   params={"backend": "flux2-klein", "model": "black-forest-labs/FLUX.2-klein-9B"})
    graph.add_node("Motion", title="Motion 1",
                   params={"backend": "wan2.2-i2v", "model": "Wan-AI/Wan2.2-TI2V-5B-Diffusers"})
    panel = ModelsPanel(lambda: graph)
    qtbot.addWidget(panel)
    panel.show()
    rows = _rows(panel)
    assert rows["keyframe_model"].text(3) == "31.7 GB"  # the estimated download, before fetching
    _select(panel, "motion_model")  # Apache 2.0: nothing to accept
    assert panel.download_button.isEnabled() and not panel.model_licence.isVisible()
    _select(panel, "keyframe_model")
    assert panel.model_licence.isVisible() and "Non-Commercial" in panel.model_licence.text()
    assert not panel.download_button.isEnabled()
    panel.model_licence.setChecked(True)
    assert panel.download_button.isEnabled()


def _stage_graph():
    graph = Graph()
    graph.add_node("Keyframe", title="Keyframe 1",
                   params={"backend": "qwen-image-edit", "qwen_model": "Qwen/Qwen-Image-Edit-2509"})
    graph.add_node("Motion", title="Motion 1",
                   params={"backend": "wan2.2-i2v", "model": "Wan-AI/Wan2.2-TI2V-5B-Diffusers"})
    return graph


def _panel_on_a_card(qtbot, tmp_path, monkeypatch, card_gb):
    from huggingface_hub import constants

    from canvas_app.generation.video_models import memory_plans

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setattr(memory_plans, "machine_card_gb", lambda: card_gb)
    panel = ModelsPanel(_stage_graph)
    qtbot.addWidget(panel)
    panel.show()
    return panel


def test_each_model_shows_its_plans_and_the_one_a_12_gb_card_gets(qtbot, tmp_path, monkeypatch):
    panel = _panel_on_a_card(qtbot, tmp_path, monkeypatch, 12.0)
    rows = _rows(panel)
    assert rows["keyframe_model"].text(2) == "Qwen/Qwen-Image-Edit-2509"
    assert rows["keyframe_model"].text(3) == "54.0 GB"  # 58e9 bytes to download
    assert "Apache 2.0" in rows["keyframe_model"].toolTip(0)
    assert rows["keyframe_model"].text(4) == "quantized" == rows["motion_model"].text(4)
    assert "int8" in rows["keyframe_model"].toolTip(4)  # why, on hover
    assert not panel.plans_label.isVisible()  # nothing selected yet
    _select(panel, "keyframe_model")
    text = panel.plans_label.text()
    assert panel.plans_label.isVisible()
    for plan in ("full: 70 GB or more", "offload: 35 GB to 70 GB", "group-offload: under 35 GB",
                 "quantized: 16 GB or less"):
        assert plan in text
    assert "<b>&#9654; quantized: 16 GB or less &nbsp;&larr; this machine</b>" in text
    assert "This machine (a 12 GB card) gets <b>quantized</b>" in text
    assert not panel.model_licence.isVisible()  # Apache 2.0: nothing to accept
    assert not panel.licence.isVisible()  # no face pack in the list: no face-pack licence box


def test_without_a_gpu_the_panel_says_everything_runs_in_system_memory(qtbot, tmp_path, monkeypatch):
    panel = _panel_on_a_card(qtbot, tmp_path, monkeypatch, None)
    assert _rows(panel)["keyframe_model"].text(4) == "full"
    _select(panel, "motion_model")
    text = panel.plans_label.text()
    assert "Memory plans for Wan-AI/Wan2.2-TI2V-5B-Diffusers" in text
    assert "This machine (no GPU) gets <b>full</b>: no GPU: the model runs in system memory" in text


def test_the_panel_says_when_the_quantized_plan_cannot_run_here(qtbot, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "torchao" else real(name, *args))
    panel = _panel_on_a_card(qtbot, tmp_path, monkeypatch, 16.0)
    assert _rows(panel)["keyframe_model"].text(4) == "group-offload"
    _select(panel, "keyframe_model")
    text = panel.plans_label.text()
    assert "quantized: 16 GB or less <i>(unavailable: torchao is not installed " \
           "(pip install &#x27;canvas-app[quantized]&#x27;))</i>" in text
    assert "torchao is not installed" in _rows(panel)["keyframe_model"].toolTip(4)
