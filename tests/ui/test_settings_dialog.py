"""The Settings dialog: opened from the File menu, stored with QSettings, reset to
defaults, and applied to where runs find models, identities and cached results."""
from __future__ import annotations

import os

import pytest
from PySide6.QtWidgets import QDialogButtonBox

from canvas_app.ui import settings_dialog
from canvas_app.ui.settings_dialog import (SettingsDialog, apply_to_environment, defaults,
                                           load_preferences, reset_preferences)


@pytest.fixture(autouse=True)
def clean_preferences(monkeypatch):
    reset_preferences()
    for preference in settings_dialog.PREFERENCES:  # restored by monkeypatch afterwards
        monkeypatch.setenv(preference.environment, "placeholder")
        monkeypatch.delenv(preference.environment)
    monkeypatch.setattr(settings_dialog, "_STARTUP_ENVIRONMENT", {})
    yield
    reset_preferences()


def test_the_file_menu_opens_the_settings(window, qtbot, monkeypatch):
    shown = []
    monkeypatch.setattr(SettingsDialog, "exec", lambda self: shown.append(self) or 0)
    entries = [action.text() for action in window.menuBar().actions()[0].menu().actions()]
    assert "Se&ttings…" in entries
    window.act_settings.trigger()
    assert len(shown) == 1 and shown[0].editors["backend"].currentText() == "animatic"


def test_settings_are_stored_and_applied(app, qtbot, tmp_path):
    dialog = SettingsDialog()
    qtbot.addWidget(dialog)
    dialog.editors["models_dir"].setText(str(tmp_path / "models"))
    dialog.editors["identity_library"].setText(str(tmp_path / "identities"))
    dialog.editors["cache_dir"].setText(str(tmp_path / "cache"))
    dialog.editors["cache_mb"].setValue(1024)
    dialog.editors["backend"].setCurrentText("diffusers")
    dialog.editors["device"].setCurrentText("cpu")
    dialog.editors["farm_address"].setText("ray://farm:10001")
    dialog.buttons.button(QDialogButtonBox.Ok).click()

    stored = load_preferences()
    assert stored["cache_mb"] == 1024 and stored["backend"] == "diffusers"
    assert stored["farm_address"] == "ray://farm:10001"
    assert os.environ["CANVAS_APP_MODELS"] == str(tmp_path / "models")
    assert os.environ["CANVAS_APP_FARM_ADDRESS"] == "ray://farm:10001"

    # The places a run uses follow the settings.
    from canvas_app.engine.disk_cache import DiskCache
    from canvas_app.identity.library import user_library_dir

    cache = DiskCache()
    assert cache.folder.parent == tmp_path / "cache" and cache.max_bytes == 1024 * 1024 * 1024
    assert user_library_dir() == tmp_path / "identities"

    reopened = SettingsDialog()  # a new dialog shows what was stored
    qtbot.addWidget(reopened)
    assert reopened.editors["device"].currentText() == "cpu"
    assert reopened.editors["cache_dir"].text() == str(tmp_path / "cache")


def test_reset_to_defaults(app, qtbot, tmp_path):
    dialog = SettingsDialog()
    qtbot.addWidget(dialog)
    dialog.editors["cache_mb"].setValue(999)
    dialog.editors["models_dir"].setText(str(tmp_path))
    dialog.buttons.button(QDialogButtonBox.Ok).click()
    assert load_preferences()["cache_mb"] == 999 and "CANVAS_APP_MODELS" in os.environ

    dialog = SettingsDialog()
    qtbot.addWidget(dialog)
    dialog.buttons.button(QDialogButtonBox.RestoreDefaults).click()
    assert dialog.values() == defaults()
    dialog.buttons.button(QDialogButtonBox.Ok).click()
    assert load_preferences() == defaults()
    assert "CANVAS_APP_MODELS" not in os.environ and "CANVAS_APP_DISK_CACHE_MB" not in os.environ


def test_the_users_environment_wins(app, monkeypatch, tmp_path):
    monkeypatch.setattr(settings_dialog, "_STARTUP_ENVIRONMENT",
                        {"CANVAS_APP_MODELS": "/from/the/shell"})
    monkeypatch.setenv("CANVAS_APP_MODELS", "/from/the/shell")
    apply_to_environment({**defaults(), "models_dir": str(tmp_path)})
    assert os.environ["CANVAS_APP_MODELS"] == "/from/the/shell"
