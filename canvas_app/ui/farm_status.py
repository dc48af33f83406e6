"""The "Render on" control and the farm status line, in the status bar.

Choosing a Ray cluster stores its address in the settings; the engine process
picks it up on the next run. The status line (workers, GPUs, busy or idle)
comes from `canvas_app.farm.probe` run in a separate process every few
seconds, so the editor never imports ray.
"""
from __future__ import annotations

import json
import os
import sys

from PySide6.QtCore import QProcess, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QWidget

from canvas_app.ui.settings import render_on, set_render_on

THIS_COMPUTER, RAY_CLUSTER = "This computer", "Ray cluster"
PROBE_INTERVAL_MS = 15000


def status_text(status: dict) -> str:
    """One line for the status bar from what the probe printed."""
    if "error" in status:
        return f"farm unreachable: {status['error']}"
    gpus = f", GPUs {status['busy_gpus']:g}/{status['gpus']:g} busy" if status["gpus"] \
        else ", no GPU"
    state = "busy" if status["busy_cpus"] or status["busy_gpus"] else "idle"
    workers = status["workers"]
    return (f"farm {state}: {workers} worker{'s' if workers != 1 else ''}, "
            f"CPUs {status['busy_cpus']:g}/{status['cpus']:g} busy{gpus}")


class FarmStatus(QWidget):
    changed = Signal(str)  # the new address ("" = this computer)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.choice = QComboBox()
        self.choice.addItems([THIS_COMPUTER, RAY_CLUSTER])
        self.choice.setToolTip("Render on this computer, or on a Ray cluster (needs the [farm] "
                               "extra): ray starts one here, auto finds one, ray://HOST:PORT "
                               "joins one")
        self.address = QLineEdit()
        self.address.setPlaceholderText("ray, auto or ray://HOST:PORT")
        self.address.setFixedWidth(170)
        self.line = QLabel()
        self.line.setProperty("role", "dim")
        for control in (self.choice, self.address):
            control.setFixedHeight(20)  # no taller than the status bar's labels
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Render on"))
        layout.addWidget(self.choice)
        layout.addWidget(self.address)
        layout.addWidget(self.line)
        self._process: QProcess | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(PROBE_INTERVAL_MS)
        self._timer.timeout.connect(self.refresh)

        current = render_on()
        self.choice.setCurrentText(RAY_CLUSTER if current else THIS_COMPUTER)
        # The Settings dialog's farm address fills the field until one is chosen here.
        self.address.setText(current or os.environ.get("CANVAS_APP_FARM_ADDRESS", "") or "ray")
        self._update_controls()
        self.choice.currentTextChanged.connect(self._store)
        self.address.editingFinished.connect(self._store)

    def farm_address(self) -> str:
        if self.choice.currentText() != RAY_CLUSTER:
            return ""
        return self.address.text().strip() or "ray"

    def _store(self, *_) -> None:
        address = self.farm_address()
        if address != render_on():
            set_render_on(address)
            self.changed.emit(address)
        self._update_controls()

    def _update_controls(self) -> None:
        farm = bool(self.farm_address())
        self.address.setVisible(farm)
        self.line.setText("checking the farm..." if farm else "")
        if farm:
            self._timer.start()
            self.refresh()
        else:
            self._timer.stop()

    def refresh(self) -> None:
        """Ask the cluster how it is doing (in another process; no waiting here)."""
        address = self.farm_address()
        if not address or (self._process is not None and
                           self._process.state() != QProcess.NotRunning):
            return
        process = QProcess(self)
        process.finished.connect(lambda *_: self._probed(process))
        process.start(sys.executable, ["-m", "canvas_app.farm.probe", address])
        self._process = process

    def _probed(self, process: QProcess) -> None:
        try:
            output = bytes(process.readAllStandardOutput()).decode(errors="replace").strip()
        except RuntimeError:  # the window closed while the probe ran: nothing to show
            return
        process.deleteLater()
        if not self.farm_address():
            return
        try:
            self.show_status(json.loads(output.splitlines()[-1]))
        except (ValueError, IndexError):
            self.line.setText("farm status unavailable (is the [farm] extra installed?)")

    def show_status(self, status: dict) -> None:
        self.line.setText(status_text(status))
