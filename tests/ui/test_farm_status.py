"""The "Render on" setting and the farm status line in the status bar."""
import json
import subprocess
import sys

from canvas_app.ui.farm_status import RAY_CLUSTER, THIS_COMPUTER, FarmStatus, status_text
from canvas_app.ui.settings import render_on, set_render_on


def test_render_on_choice_is_kept_in_the_settings(qtbot):
    set_render_on("")
    widget = FarmStatus()
    qtbot.addWidget(widget)
    assert widget.choice.currentText() == THIS_COMPUTER and not widget.address.isVisibleTo(widget)

    changes = []
    widget.changed.connect(changes.append)
    widget.address.setText("ray://render-head:10001")
    widget.choice.setCurrentText(RAY_CLUSTER)
    assert render_on() == "ray://render-head:10001"
    assert changes == ["ray://render-head:10001"]
    assert widget.address.isVisibleTo(widget)

    widget.choice.setCurrentText(THIS_COMPUTER)
    assert render_on() == "" and changes[-1] == ""
    again = FarmStatus()  # a new window reads the choice back
    qtbot.addWidget(again)
    assert again.choice.currentText() == THIS_COMPUTER


def test_status_line_shows_workers_gpus_and_busy():
    line = status_text({"address": "ray", "workers": 3, "cpus": 24.0, "gpus": 2.0,
                        "busy_cpus": 1.0, "busy_gpus": 1.0})
    assert line == "farm busy: 3 workers, CPUs 1/24 busy, GPUs 1/2 busy"
    assert status_text({"address": "ray", "workers": 1, "cpus": 2.0, "gpus": 0.0,
                        "busy_cpus": 0.0, "busy_gpus": 0.0}) == \
        "farm idle: 1 worker, CPUs 0/2 busy, no GPU"


def test_probe_of_an_unreachable_cluster_names_its_address():
    done = subprocess.run([sys.executable, "-m", "canvas_app.farm.probe", "ray://127.0.0.1:9"],
                          capture_output=True, text=True, timeout=120)
    status = json.loads(done.stdout.splitlines()[-1])
    assert "ray://127.0.0.1:9" in status["error"]
    assert status_text(status).startswith("farm unreachable")


def test_an_editor_run_on_an_unreachable_farm_says_so_and_this_computer_works_again(
        make_window, qtbot, tmp_path, monkeypatch):
    from canvas_app.graph.model import Link
    from tests import fake_nodes

    monkeypatch.setenv("CANVAS_APP_ENGINE", "process")
    window = make_window(registry=fake_nodes.registry())
    window.document.save(tmp_path / "farm.canvas.json")
    doc = window.document
    source, sink = doc.add_node("Source", (0, 0)).id, doc.add_node("Sink", (300, 0)).id
    doc.connect(Link(source, "value", sink, "values"))
    window.farm_status.address.setText("ray://127.0.0.1:9")
    window.farm_status.choice.setCurrentText(RAY_CLUSTER)
    try:
        with qtbot.waitSignal(window.execution.job_finished, timeout=60000) as blocker:
            window.act_run.trigger()
        assert blocker.args[1] == "failed"
        assert "ray://127.0.0.1:9" in window.statusBar().currentMessage()
    finally:
        window.farm_status.choice.setCurrentText(THIS_COMPUTER)
    with qtbot.waitSignal(window.execution.job_finished, timeout=60000) as blocker:
        window.act_run.trigger()  # a new engine process, rendering here
    assert blocker.args[1] == "done"


def test_a_node_rendering_on_a_farm_worker_names_it_in_its_footer(make_window):
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtWidgets import QStyleOptionGraphicsItem

    window = make_window()
    node = window.document.add_node("Generate", (0, 0)).id
    item = window.scene.node_items[node]
    window.run_states.update(node, "running", progress=0.4)
    window.run_states.set_host(node, "render-02")  # what the controller sets from NodeStarted.host

    def footer() -> QImage:
        image = QImage(int(item.boundingRect().width()) + 20,
                       int(item.boundingRect().height()) + 20, QImage.Format_ARGB32)
        image.fill(0)
        painter = QPainter(image)
        painter.translate(-item.boundingRect().topLeft() + QPointF(10, 10))
        item.paint(painter, QStyleOptionGraphicsItem())
        painter.end()
        return image

    with_host = footer()
    window.run_states.set_host(node, "")
    assert footer() != with_host  # "on render-02" is drawn beside the progress bar


def test_the_settings_farm_address_fills_the_render_on_field(make_window, monkeypatch):
    monkeypatch.setenv("CANVAS_APP_FARM_ADDRESS", "ray://render-head:10001")
    window = make_window()
    assert window.farm_status.address.text() == "ray://render-head:10001"
    assert window.farm_status.choice.currentText() == THIS_COMPUTER  # chosen, never switched on
