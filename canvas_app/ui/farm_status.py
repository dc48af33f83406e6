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

from PySide6.QtCore import QProcess, Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QWidget

from canvas_app.ui.settings import render_on, set_render_on

THIS_COMPUTER, RAY_CLUSTER = "This computer", "Ray cluster"
PROBE_INTERVAL_MS = 15000
LINE_WIDTH = 320  # pixels of status bar the farm line may take; the tooltip has it whole
LOCAL = ("ray", "local")  # addresses that start a cluster here (canvas_app.farm.cluster.LOCAL)


def status_text(status: dict) -> str:
    """One line for the status bar from what the probe printed."""
    if "error" in status:
        if status.get("address") in LOCAL and "not installed" not in status["error"]:
            # "ray" starts a cluster here with the next run: none running yet is no fault
            return "Ray starts on this computer with the next run"
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
        self.line.setMaximumWidth(LINE_WIDTH)
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
        self._set_line("checking the farm..." if farm else "")
        if farm:
            self._timer.start()
            self.refresh()
        else:
            self._timer.stop()

    def refresh(self) -> None:
        """Ask the cluster how it is doing (in another process; no waiting here)."""
        address = self.farm_address()
        if not address or self._process is not None:  # one probe at a time
            return
        process = QProcess(self)
        process.finished.connect(lambda *_: self._probed(process))
        process.start(sys.executable, ["-m", "canvas_app.farm.probe", address])
        self._process = process

    def _probed(self, process: QProcess) -> None:
        # Forget it first: a later refresh must never ask a QProcess Qt has deleted.
        if self._process is process:
            self._process = None
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
            self._set_line("farm status unavailable (is the [farm] extra installed?)")

    def shutdown(self) -> None:
        """The window closes: no more probes, and the one running is killed
        now instead of being waited for (Quit took seconds with a probe of Ray)."""
        self._timer.stop()
        process, self._process = self._process, None
        if process is not None and process.state() != QProcess.NotRunning:
            process.finished.disconnect()
            process.kill()
            process.waitForFinished(1000)

    def show_status(self, status: dict) -> None:
        self._set_line(status_text(status))

    def _set_line(self, text: str) -> None:
        """Elided to the room it has in the status bar; the whole line in its tooltip."""
        metrics = self.line.fontMetrics()
        self.line.setText(metrics.elidedText(text, Qt.ElideRight, LINE_WIDTH))
        self.line.setToolTip(text)
