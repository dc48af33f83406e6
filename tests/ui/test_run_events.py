"""docs/architecture.md, "Adding an engine event": the blocks it quotes are
in the files it names, and the event it adds travels from a node to the Run
Log and the run model."""
from __future__ import annotations

import re
from pathlib import Path

from canvas_app.graph.model import Link
from tests import fake_nodes

ROOT = Path(__file__).resolve().parents[2]


def _quoted_blocks():
    """(file, code) for each python block of the section, with the last
    `canvas_app/...py` named before it."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Adding an engine event", 1)[1].split("\n## ", 1)[0]
    found, named = [], None
    for prose, code in re.findall(r"(.*?)```python\n(.*?)```", section, flags=re.S):
        files = re.findall(r"`(canvas_app/[\w/]+\.py)`", prose)
        named = files[-1] if files else named
        found.append((named, code))
    return found


def test_the_docs_quote_the_code_as_it_is():
    blocks = _quoted_blocks()
    assert len(blocks) == 5
    for path, code in blocks:
        source = (ROOT / path).read_text(encoding="utf-8")
        assert code in source, f"docs/architecture.md quotes {path} wrongly:\n{code}"


def test_a_warning_travels_from_a_node_to_the_run_log_and_the_model(make_window, qtbot, tmp_path):
    window = make_window(registry=fake_nodes.warning_registry())
    window.document.save(tmp_path / "warn.canvas.json")
    doc = window.document
    source = doc.add_node("Source", (0, 0)).id
    warns = doc.add_node("Warns", (300, 0), params={"warning": "the shot is too dark"}).id
    doc.connect(Link(source, "value", warns, "value"))
    with qtbot.waitSignal(window.execution.job_finished, timeout=30000) as blocker:
        window.act_run.trigger()
    job_id, status = blocker.args
    assert status == "done"
    assert window.run_states.get(warns).warning == "the shot is too dark"
    rows = window.log_panel.events(job_id)
    assert ("Warns", "warning", "the shot is too dark") in rows
    with qtbot.waitSignal(window.execution.job_finished, timeout=30000):
        window.act_run.trigger()  # from the cache: no warning this time, none kept
    assert window.run_states.get(warns).warning == ""
