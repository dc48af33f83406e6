"""Editor tests run offscreen, with settings and recovery files in a temp dir."""
from __future__ import annotations

import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_STATE = tempfile.mkdtemp(prefix="canvas-app-ui-tests-")
os.environ["CANVAS_APP_CONFIG_DIR"] = os.path.join(_STATE, "config")
os.environ["CANVAS_APP_RECOVERY_DIR"] = os.path.join(_STATE, "recovery")
os.environ["CANVAS_APP_CACHE_DIR"] = os.path.join(_STATE, "cache")
os.environ.pop("CANVAS_APP_RECOVER", None)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def qapp_args():
    return ["canvas-app-tests"]


@pytest.fixture(scope="session", autouse=True)
def _release_clipboard_at_exit():
    """Copy/paste tests leave Python-owned data on the clipboard; without
    this the process crashes in Qt's static destructors after the tests."""
    yield
    from canvas_app.ui.app import release_clipboard

    release_clipboard()


@pytest.fixture(autouse=True)
def _fresh_workspace():
    """Each test's windows start from the default layout, not from the last test's
    window (the window keeps its layout and size between sessions)."""
    from canvas_app.ui.settings import settings

    store = settings()
    store.remove("window")
    store.sync()
    yield


@pytest.fixture
def app(qapp):
    from canvas_app.ui.theme import apply_theme

    apply_theme(qapp)
    return qapp


@pytest.fixture
def make_window(app, qtbot, monkeypatch):
    """Open editor windows the way the app does; they close without asking."""
    from canvas_app.ui.app import create_window

    windows = []
    monkeypatch.setenv("CANVAS_APP_RECOVER", "no")

    def make(project=None, **kwargs):
        window = create_window(project, **kwargs)
        window.ask_unsaved = lambda: "discard"
        qtbot.addWidget(window)
        window.resize(1400, 900)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.ask_unsaved = lambda: "discard"
        window.close()


@pytest.fixture
def window(make_window):
    return make_window()
