"""The Settings dialog: where models, identities and cached results live, the
cache's size, the backend and device new Generate nodes start with, and the
render farm's address.

Values are stored with QSettings (see canvas_app/ui/settings.py) under
"preferences/<key>". The engine, the identity library and the model manager
read their locations from environment variables, so `apply_to_environment`
turns the stored values into those variables when the editor starts; a
variable the user set before starting the program wins over the dialog.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

from canvas_app.ui import settings as store

BACKENDS = ("animatic", "diffusers")
DEVICES = ("auto", "cpu", "cuda", "mps")


def _default_models() -> str:
    from platformdirs import user_data_dir

    return os.path.join(user_data_dir("canvas-app", appauthor=False), "models")


def _default_library() -> str:
    from platformdirs import user_data_dir

    return os.path.join(user_data_dir("canvas-app", appauthor=False), "identities")


def _default_cache() -> str:
    from platformdirs import user_cache_dir

    return os.path.join(user_cache_dir("canvas-app", appauthor=False), "results")


@dataclass(frozen=True)
class Preference:
    key: str
    label: str
    kind: str  # folder, megabytes, backend, device, text
    environment: str
    default: Callable[[], object]
    help: str = ""


PREFERENCES = (
    Preference("models_dir", "Models folder", "folder", "CANVAS_APP_MODELS", _default_models,
               "insightface packs as models/<pack>/*.onnx"),
    Preference("identity_library", "Identity library", "folder", "CANVAS_APP_LIBRARY",
               _default_library, "identities saved for every project"),
    Preference("cache_dir", "Cache folder", "folder", "CANVAS_APP_CACHE_DIR", _default_cache,
               "renders and identities kept between sessions"),
    Preference("cache_mb", "Cache size (MB)", "megabytes", "CANVAS_APP_DISK_CACHE_MB",
               lambda: 4096, "least recently used results go first"),
    Preference("backend", "Default backend", "backend", "CANVAS_APP_DEFAULT_BACKEND",
               lambda: "animatic", "for new Generate nodes"),
    Preference("device", "Default device", "device", "CANVAS_APP_DEFAULT_DEVICE",
               lambda: "auto", "for new Generate nodes"),
    Preference("farm_address", "Render farm address", "text", "CANVAS_APP_FARM_ADDRESS",
               lambda: "", "the Ray cluster that 'Render on' in the status bar offers (ray://HOST:PORT)"),
)

# What the user's environment held when the program started: that wins over the dialog.
_STARTUP_ENVIRONMENT = {p.environment: os.environ.get(p.environment) for p in PREFERENCES}


def defaults() -> dict[str, object]:
    return {p.key: p.default() for p in PREFERENCES}


def load_preferences() -> dict[str, object]:
    values = defaults()
    stored = store.settings()
    for preference in PREFERENCES:
        raw = stored.value(f"preferences/{preference.key}")
        if raw is None:
            continue
        if preference.kind == "megabytes":
            try:
                values[preference.key] = max(64, min(10 ** 7, int(raw)))
            except (TypeError, ValueError):
                pass
        elif preference.kind == "backend":
            values[preference.key] = raw if raw in BACKENDS else values[preference.key]
        elif preference.kind == "device":
            values[preference.key] = raw if raw in DEVICES else values[preference.key]
        else:
            values[preference.key] = str(raw)
    return values


def save_preferences(values: dict[str, object]) -> None:
    stored = store.settings()
    for preference in PREFERENCES:
        if preference.key in values:
            stored.setValue(f"preferences/{preference.key}", values[preference.key])
    stored.sync()


def reset_preferences() -> None:
    stored = store.settings()
    stored.remove("preferences")
    stored.sync()


def apply_to_environment(values: dict[str, object] | None = None) -> None:
    """Point the engine, library and model manager at the chosen places (for
    everything started from now on), unless the user's environment says otherwise."""
    values = load_preferences() if values is None else values
    for preference in PREFERENCES:
        if _STARTUP_ENVIRONMENT.get(preference.environment):
            continue
        value = values.get(preference.key)
        if value in (None, "") or value == preference.default():
            os.environ.pop(preference.environment, None)
        else:
            os.environ[preference.environment] = str(value)


class SettingsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        self.editors: dict[str, QWidget] = {}
        form = QFormLayout()
        for preference in PREFERENCES:
            editor = self._editor(preference)
            self.editors[preference.key] = editor
            row = editor
            if preference.kind == "folder":
                row = QWidget()
                layout = QHBoxLayout(row)
                layout.setContentsMargins(0, 0, 0, 0)
                layout.addWidget(editor)
                browse = QPushButton("Browse…")
                browse.clicked.connect(lambda _=False, e=editor, p=preference: self._browse(e, p))
                layout.addWidget(browse)
            if _STARTUP_ENVIRONMENT.get(preference.environment):
                editor.setToolTip(f"{preference.environment} is set in the environment and "
                                  "takes precedence")
            else:
                editor.setToolTip(preference.help)
            form.addRow(preference.label, row)
        note = QLabel("Folders and the cache apply to runs started from now on; the default "
                      "backend and device to Generate nodes added after a restart.")
        note.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel
                                        | QDialogButtonBox.RestoreDefaults)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.RestoreDefaults).setText("Reset to defaults")
        self.buttons.button(QDialogButtonBox.RestoreDefaults).clicked.connect(self.show_defaults)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.buttons)
        self.show_values(load_preferences())

    @staticmethod
    def _editor(preference: Preference) -> QWidget:
        if preference.kind == "megabytes":
            editor = QSpinBox()
            editor.setRange(64, 10 ** 7)
            editor.setSingleStep(512)
            editor.setSuffix(" MB")
            return editor
        if preference.kind in ("backend", "device"):
            editor = QComboBox()
            editor.addItems(BACKENDS if preference.kind == "backend" else DEVICES)
            return editor
        editor = QLineEdit()
        editor.setPlaceholderText(preference.help)
        return editor

    def _browse(self, editor: QLineEdit, preference: Preference) -> None:
        folder = QFileDialog.getExistingDirectory(self, preference.label, editor.text())
        if folder:
            editor.setText(folder)

    def show_values(self, values: dict[str, object]) -> None:
        for preference in PREFERENCES:
            editor, value = self.editors[preference.key], values[preference.key]
            if isinstance(editor, QSpinBox):
                editor.setValue(int(value))
            elif isinstance(editor, QComboBox):
                editor.setCurrentText(str(value))
            else:
                editor.setText(str(value))

    def show_defaults(self) -> None:
        """Reset to defaults: the fields show the defaults; OK stores them."""
        self.show_values(defaults())

    def values(self) -> dict[str, object]:
        values = {}
        for preference in PREFERENCES:
            editor = self.editors[preference.key]
            if isinstance(editor, QSpinBox):
                values[preference.key] = editor.value()
            elif isinstance(editor, QComboBox):
                values[preference.key] = editor.currentText()
            else:
                values[preference.key] = editor.text().strip()
        return values

    def accept(self) -> None:
        values = self.values()
        if values == defaults():
            reset_preferences()
        else:
            save_preferences(values)
        apply_to_environment(values)
        super().accept()


def add_settings_action(window, menu) -> QAction:
    """A "Settings…" entry (Ctrl+, where the platform has it) in `menu`."""
    action = QAction("Se&ttings…", window)
    action.setShortcut(QKeySequence.Preferences)
    action.setMenuRole(QAction.PreferencesRole)
    action.triggered.connect(lambda: SettingsDialog(window).exec())
    menu.addAction(action)
    window.act_settings = action
    return action
