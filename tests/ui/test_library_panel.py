"""The identity library panel lists saved identities with their faces."""
from __future__ import annotations

import numpy as np
import pytest

from canvas_app.identity import IdentityLibrary
from canvas_app.values import FaceSample, Identity


def identity(name: str) -> Identity:
    thumbnail = np.zeros((32, 32, 3), np.uint8)
    thumbnail[..., 0] = 200
    vector = np.ones(128, np.float32) / np.sqrt(128)
    sample = FaceSample(source_name="a.jpg", source_sha256="0" * 64, role="face",
                        embeddings={"dlib": vector}, thumbnail=thumbnail, quality=1.0)
    return Identity(name=name, embeddings={"dlib": vector}, samples=[sample],
                    created="2026-11-25T12:00:00")


@pytest.fixture
def libraries(tmp_path, monkeypatch):
    monkeypatch.setenv("CANVAS_APP_LIBRARY", str(tmp_path / "user"))
    user = IdentityLibrary(tmp_path / "user")
    project = IdentityLibrary(tmp_path / "project" / "identities")
    user.save(identity("Ada"))
    project.save(identity("Spokesperson"))
    return tmp_path


def test_panel_lists_both_libraries_and_offers_an_identity_for_the_canvas(app, qtbot, libraries):
    from canvas_app.ui.library_panel import IdentityLibraryPanel

    panel = IdentityLibraryPanel()
    qtbot.addWidget(panel)
    panel.set_project_dir(libraries / "project")
    labels = [panel.list.item(i).text() for i in range(panel.list.count())]
    assert labels == ["Spokesperson", "Ada"]  # the project's own first
    assert not panel.list.item(0).icon().isNull()
    assert not panel.use_button.isEnabled()
    panel.list.setCurrentRow(1)
    assert panel.use_button.isEnabled() and "Ada" in panel.detail.text()
    with qtbot.waitSignal(panel.use_identity) as signal:
        panel.use_button.click()
    assert signal.args == ["Ada"]


def test_damaged_file_is_listed_but_cannot_be_used(app, qtbot, libraries):
    from canvas_app.ui.library_panel import IdentityLibraryPanel

    (libraries / "user" / "Broken.identity.safetensors").write_bytes(b"garbage")
    panel = IdentityLibraryPanel()
    qtbot.addWidget(panel)
    labels = [panel.list.item(i).text() for i in range(panel.list.count())]
    assert "Broken (damaged)" in labels
    broken = panel.list.item(labels.index("Broken (damaged)"))
    assert "Broken" in broken.toolTip()
    panel.list.setCurrentItem(broken)
    assert not panel.use_button.isEnabled()


def test_pack_download_needs_agreement(app, qtbot, tmp_path, monkeypatch):
    from canvas_app.ui.library_panel import PackDownloadDialog

    monkeypatch.setenv("CANVAS_APP_MODELS", str(tmp_path / "models"))
    dialog = PackDownloadDialog()
    qtbot.addWidget(dialog)
    assert not dialog.download.isEnabled()
    dialog.agree.setChecked(True)
    assert dialog.download.isEnabled()


def test_library_identity_goes_onto_the_canvas_as_one_undo_step(make_window, libraries):
    window = make_window()
    window.library.refresh()
    names = [window.library.list.item(i).text() for i in range(window.library.list.count())]
    assert "Ada" in names
    window.library.use_identity.emit("Ada")
    (node,) = window.document.graph.nodes.values()
    assert node.type_name == "IdentityLock" and node.title == "Ada"
    assert node.params["source"] == "library" and node.params["library_name"] == "Ada"
    window.document.undo_stack.undo()
    assert window.document.graph.nodes == {}


def test_deleting_an_identity_removed_elsewhere_warns_and_refreshes(app, qtbot, libraries,
                                                                    monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from canvas_app.ui.library_panel import IdentityLibraryPanel

    panel = IdentityLibraryPanel()
    qtbot.addWidget(panel)
    labels = [panel.list.item(i).text() for i in range(panel.list.count())]
    panel.list.setCurrentRow(labels.index("Ada"))
    IdentityLibrary(libraries / "user").delete("Ada")  # behind the panel's back
    warnings = []
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: QMessageBox.Yes)
    monkeypatch.setattr(QMessageBox, "warning", lambda *args, **kwargs: warnings.append(args))
    panel.delete_button.click()  # no exception escapes the slot
    assert len(warnings) == 1 and "Ada" in warnings[0][2]
    assert "Ada" not in [panel.list.item(i).text() for i in range(panel.list.count())]
