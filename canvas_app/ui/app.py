"""Starting the editor: `launch_editor` is what `canvas-app` and
`canvas-app open PROJECT [--screenshot OUT.png]` call."""
from __future__ import annotations

import os
import sys
from pathlib import Path


def create_app():
    """The QApplication, themed; created once per process."""
    from PySide6.QtWidgets import QApplication

    from canvas_app.ui.theme import apply_theme

    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName("canvas-app")
        app.setOrganizationName("canvas-app")
        app.setApplicationDisplayName("canvas-app")
        apply_theme(app)
    return app


def create_window(project: str | Path | None = None, *, offer_recovery: bool = True,
                  open_last: bool = False, registry=None, trust_paths: bool | None = None):
    from canvas_app.ui import settings
    from canvas_app.ui.main_window import MainWindow

    create_app()
    window = MainWindow(registry)
    recovered = window.offer_recovery(project) if offer_recovery else False
    if project is not None and not recovered:
        window.open_path(project, ask=False, trust_paths=trust_paths)
    elif project is not None:
        from canvas_app.ui import settings as _settings

        _settings.add_recent_file(str(project))
    elif open_last and not recovered:
        recent = [p for p in settings.recent_files() if Path(p).exists()]
        if recent:
            window.open_path(recent[0], ask=False)
    return window


def launch_editor(project: str | None, screenshot: str | None, size=(1600, 1000), *,
                  run_first: bool = False, select: str | None = None,
                  zoom: float | None = None, trust_paths: bool = False) -> int:
    """Open the editor (on `project`, or the last project when None) and run
    until it closes. With `screenshot`, render the window offscreen to that
    PNG and return 0 without entering the event loop."""
    if screenshot and "QT_QPA_PLATFORM" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if screenshot:
        _quiet_offscreen_warnings()
    from canvas_app.ui.settings_dialog import apply_to_environment

    apply_to_environment()  # the Settings dialog's folders, cache and defaults
    from canvas_app.ui.platform_check import xcb_problem

    problem = xcb_problem()
    if problem:  # say what to install, instead of Qt's abort naming the wrong library
        print(problem, file=sys.stderr)
        return 1
    app = create_app()
    if project is not None and not Path(project).exists():
        print(f"canvas-app: project not found: {project}", file=sys.stderr)
        return 2
    # A screenshot never asks (no one would answer): an exported graph reads outside
    # its folder only with --trust-paths. The editor asks when it names such files.
    window = create_window(project, offer_recovery=not screenshot, open_last=project is None,
                           trust_paths=trust_paths or (False if screenshot else None))
    window.resize(*size)
    window.show()
    if screenshot:
        if run_first and not run_and_wait(window):
            return 1
        if select:
            window.scene.select_nodes([select])
            if window.execution is not None:
                window.preview_dock.raise_()
        return save_screenshot(window, screenshot, zoom)
    code = app.exec()
    release_clipboard()
    return code


def release_clipboard() -> None:
    """Hand our clipboard contents back to Qt before Python shuts down.

    The QMimeData we put on the clipboard has a Python wrapper; Qt deletes it
    in a static destructor after the interpreter is gone, which crashes the
    process at exit. Re-setting the same text lets Qt own plain C++ data."""
    from PySide6.QtWidgets import QApplication

    if QApplication.instance() is None:
        return
    clipboard = QApplication.clipboard()
    if clipboard.ownsClipboard():
        text = clipboard.text()
        clipboard.clear()
        if text:
            clipboard.setText(text)


def run_and_wait(window, timeout_s: float = 600.0) -> bool:
    """Run the whole graph as the Run button does and wait for the end (for
    screenshots of a finished run)."""
    import time

    from PySide6.QtCore import QCoreApplication, QEventLoop

    if window.execution is None:
        print("canvas-app: this editor cannot run graphs", file=sys.stderr)
        return False
    finished: list[str] = []
    from canvas_app.ui.execution.status import status_line

    said: list[str] = []  # the status bar's lines, from the run model: the last says why

    def hear(job_id: int, event) -> None:
        line = status_line(window.run_states, job_id, event)
        if line is not None:
            said.append(line[0])

    window.execution.job_finished.connect(lambda _job, status: finished.append(status))
    window.execution.status_message.connect(lambda text, *_: said.append(text))
    window.run_states.applied.connect(hear)
    window.execution.run()
    deadline = time.monotonic() + timeout_s
    while not finished and time.monotonic() < deadline:
        QCoreApplication.processEvents(QEventLoop.AllEvents, 50)
    if finished != ["done"]:
        why = said[-1] if said else f"the run did not finish within {timeout_s:.0f} s" \
            if not finished else f"the run {finished[0]}"
        print(f"canvas-app: {why}", file=sys.stderr)
    return finished == ["done"]


def save_screenshot(window, path: str, zoom: float | None = None) -> int:
    """The window as a PNG, framed as it opens (or at `zoom`, centred on the graph)."""
    from PySide6.QtCore import QCoreApplication, QEventLoop

    for _ in range(5):
        QCoreApplication.processEvents(QEventLoop.AllEvents, 50)
    window.view.frame_readable()
    if zoom is not None:
        window.view.set_zoom(zoom, window.scene.items_bounding_rect().center())
    window.zoom_label.setText(f"{window.view.zoom() * 100:.0f}%")  # its timer may not have fired
    for _ in range(5):
        QCoreApplication.processEvents(QEventLoop.AllEvents, 50)
    window.view.minimap.render_map()
    from canvas_app.fileio import replacing

    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with replacing(path, ".png") as temp:  # atomic, and never over a device or FIFO
            ok = window.grab().save(str(temp), "PNG")
            if not ok:
                raise OSError("Qt could not write the PNG")
    except OSError as error:
        ok = False
        print(f"canvas-app: file {path}: {error.strerror or error}", file=sys.stderr)
    window.autosaver.discard()
    if window.execution is not None:
        window.execution.shutdown()
    return 0 if ok else 1


def _quiet_offscreen_warnings() -> None:
    """The offscreen platform warns that it "does not support
    propagateSizeHints()" whenever a dock is laid out: noise for a screenshot."""
    from PySide6.QtCore import qInstallMessageHandler

    def handler(kind, context, message: str) -> None:
        if "propagateSizeHints" not in message:
            sys.stderr.write(message + "\n")

    qInstallMessageHandler(handler)
