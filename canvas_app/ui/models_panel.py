"""The Models panel: what the open project's diffusers shots need, and getting it.

The same list as `canvas-app doctor PROJECT` (canvas_app.doctor.project_models):
each model, adapter, LoRA and face pack, present in the local cache (with its
size) or missing. A missing hub model downloads with huggingface_hub, a face
pack with insightface's downloader, only after the licence box is ticked; both
show progress and can be cancelled. With HF_HUB_OFFLINE set the panel says it is
offline and downloads are off.

Nothing is looked up until the panel is shown or Refresh is pressed, so the
editor opens without touching the hub cache.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from canvas_app.doctor import format_size

ROLE_CHECK = Qt.UserRole + 1
COLUMNS = ["Status", "For", "Model", "Size", "Plan here", "Nodes"]
PLAN_COLUMN = 4


class DownloadCancelled(Exception):
    pass


def fetch_model(check: Any, report: Callable[[int, int], None]) -> str:
    """Download one missing item; `report(done, total)` is called with byte
    counts and may raise DownloadCancelled. Returns where it landed."""
    if check.field == "face_pack":
        from canvas_app.identity.insightface_encoder import download_pack

        return str(download_pack(check.spec.split("/", 1)[1], None,
                                 lambda done, total: report(int(done), int(total or 0))))
    from huggingface_hub import hf_hub_download, snapshot_download

    from canvas_app.generation.diffusers.loading import RESOLVE_ARGS
    from canvas_app.generation.model_manager import make_tqdm_class

    tqdm_class = make_tqdm_class(lambda done, total, _desc: report(done, total))
    revision = check.revision or None
    if check.inner and "." in check.inner.rsplit("/", 1)[-1]:
        return hf_hub_download(check.repo_id, check.inner, revision=revision, tqdm_class=tqdm_class)
    args = RESOLVE_ARGS.get(check.field, {})
    patterns = [f"{check.inner.strip('/')}/*"] if check.inner else args.get("allow_patterns")
    return snapshot_download(check.repo_id, revision=revision, allow_patterns=patterns,
                             ignore_patterns=args.get("ignore_patterns"), tqdm_class=tqdm_class)


class _Downloader(QObject):
    progress = Signal(int, int)  # done bytes, total bytes (0 if unknown)
    finished = Signal(str, str)  # status: done | cancelled | failed, message

    def __init__(self, check: Any) -> None:
        super().__init__()
        self.check = check
        self.cancel_event = threading.Event()

    def _report(self, done: int, total: int) -> None:
        if self.cancel_event.is_set():
            raise DownloadCancelled()
        self.progress.emit(done, total)

    def run(self) -> None:
        try:
            where = fetch_model(self.check, self._report)
        except DownloadCancelled:
            self.finished.emit("cancelled", f"{self.check.spec}: download cancelled")
        except Exception as error:  # noqa: BLE001 - shown to the user in the panel
            self.finished.emit("failed", f"{self.check.spec}: {type(error).__name__}: {error}")
        else:
            self.finished.emit("done", f"{self.check.spec} is in {where}")


def _size(n: int | None) -> str:
    return format_size(n, unknown="?")


class ModelsPanel(QWidget):
    """`graph_provider()` returns the open project's graph (or None)."""

    download_finished = Signal(str, str)  # status, message

    def __init__(self, graph_provider: Callable[[], Any], parent=None) -> None:
        super().__init__(parent)
        self.graph_provider = graph_provider
        self.checks: list[Any] = []
        self._thread: QThread | None = None
        self._worker: _Downloader | None = None
        self._stale = False
        self._follow = QTimer(self)
        self._follow.setSingleShot(True)
        self._follow.setInterval(300)
        self._follow.timeout.connect(self.refresh)

        self.offline_label = QLabel()
        self.offline_label.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.tree.setMinimumHeight(150)  # five rows and the header, not one and a half
        self.licence = QCheckBox("I accept the insightface face packs' non-commercial research licence")
        self.licence.toggled.connect(lambda *_: self._update_buttons())
        # For a model whose licence restricts use (FLUX.2 klein 9B): shown when it is selected.
        self.model_licence = QCheckBox()
        self.model_licence.setVisible(False)
        self.model_licence.toggled.connect(lambda *_: self._update_buttons())
        # For a Keyframe/Motion model: every memory plan it can run under, this machine's marked.
        self.plans_label = QLabel()
        self.plans_label.setWordWrap(True)
        self.plans_label.setTextFormat(Qt.RichText)
        self.plans_label.setVisible(False)
        self.card_gb: float | None = None
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.download_button = QPushButton("Download")
        self.download_button.clicked.connect(self.download_selected)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_download)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.disk_label = QLabel()

        buttons = QHBoxLayout()
        for button in (self.refresh_button, self.download_button, self.cancel_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.offline_label)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.plans_label)
        layout.addWidget(self.licence)
        layout.addWidget(self.model_licence)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.disk_label)
        self._update_buttons()

    # -- state -----------------------------------------------------------------------
    @staticmethod
    def offline() -> bool:
        from canvas_app.generation.model_manager import offline_mode

        return offline_mode()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt name
        super().showEvent(event)
        if not self.checks or self._stale:
            self.refresh()

    def graph_changed(self, event: str, payload: dict) -> None:
        """Follow the project: a Generate switched to diffusers (or a model, a LoRA
        changed, a node added or removed) shows in the list without Refresh."""
        if event not in ("param_changed", "node_added", "node_removed"):
            return
        self._stale = True
        if self.isVisible() and not self._follow.isActive():
            self._follow.start()  # after the edit, once for a burst of them

    def refresh(self) -> None:
        from canvas_app.doctor import project_models
        from canvas_app.generation.video_models import memory_plans
        from canvas_app.generation.video_models.requirements import stage_models

        graph = self.graph_provider()
        self._stale = False
        # Asking for the card imports torch (a second and 200 MB): only for a project whose
        # Keyframe or Motion nodes need a memory plan, so that the editor opens fast.
        needs_plan = graph is not None and bool(stage_models(graph))
        self.card_gb = memory_plans.machine_card_gb() if needs_plan else None
        self.checks = project_models(graph, vram_gb=self.card_gb) if graph is not None else []
        self.tree.clear()
        for check in self.checks:
            state = "present" if check.present else "missing"
            plan_name, _, plan_reason = check.plan.partition(": ")
            item = QTreeWidgetItem([state, check.field, check.spec, _size(check.size_bytes),
                                    plan_name, ", ".join(check.nodes)])
            item.setData(0, ROLE_CHECK, check)
            item.setToolTip(2, check.path or check.fix)
            if check.licence:
                item.setToolTip(0, check.licence)
            if plan_reason:
                item.setToolTip(PLAN_COLUMN, plan_reason)
            self.tree.addTopLevelItem(item)
        for column in range(len(COLUMNS)):
            self.tree.resizeColumnToContents(column)
        used = sum(check.size_bytes or 0 for check in self.checks if check.present)
        missing = sum(1 for check in self.checks if not check.present)
        self.disk_label.setText(f"{len(self.checks)} item(s), {_size(used)} on disk, {missing} missing"
                                if self.checks else "No Generate node uses the diffusers backend.")
        self.offline_label.setText(
            "<b>Offline</b>: HF_HUB_OFFLINE is set, so nothing can be downloaded; models are looked up "
            "in the local cache only." if self.offline() else "")
        self.offline_label.setVisible(self.offline())
        # The face packs' licence box only when the list has a face pack to download.
        self.licence.setVisible(any(check.field == "face_pack" for check in self.checks))
        self._update_buttons()

    def selected_check(self) -> Any:
        item = self.tree.currentItem()
        return item.data(0, ROLE_CHECK) if item is not None else None

    def machine_text(self) -> str:
        return "no GPU" if self.card_gb is None else f"a {self.card_gb:.0f} GB card"

    def _show_plans(self, check: Any) -> None:
        """Every plan the selected model can run under (memory_plans.plan_options, the
        table doctor and the choice read), the one this machine gets in bold with why."""
        if check is None or not check.plan:
            self.plans_label.setVisible(False)
            return
        from html import escape

        from canvas_app.generation.video_models.memory_plans import plan_options

        chosen, _, reason = check.plan.partition(": ")
        rows = []
        for option in plan_options(check.spec):
            line = f"&nbsp;&nbsp;&nbsp;{escape(option.name)}: {escape(option.cards)}"
            if not option.available:
                line += f" <i>(unavailable: {escape(option.missing)})</i>"
            if option.name == chosen:
                line = (f"<b>&#9654; {escape(option.name)}: {escape(option.cards)} "
                        f"&nbsp;&larr; this machine</b>")
            rows.append(line)
        self.plans_label.setText(
            f"<b>Memory plans for {escape(check.spec)}</b><br>" + "<br>".join(rows)
            + f"<br>This machine ({escape(self.machine_text())}) gets <b>{escape(chosen)}</b>: "
            f"{escape(reason)}.")
        self.plans_label.setVisible(True)

    def _update_buttons(self) -> None:
        check = self.selected_check()
        self._show_plans(check)
        busy = self._thread is not None
        allowed = check is not None and not check.present and not self.offline() and not busy \
            and check.source in ("hub", "pack") and (check.field != "face_pack" or self.licence.isChecked())
        from canvas_app.generation.video_models.requirements import restricts_use

        restricted = check is not None and not check.present and restricts_use(check.spec)
        if restricted and self.model_licence.property("spec") != check.spec:
            self.model_licence.setProperty("spec", check.spec)  # a new model: ask again
            self.model_licence.setChecked(False)
            self.model_licence.setText(f"I accept the licence of {check.spec}: {check.licence}")
        self.model_licence.setVisible(restricted)
        allowed = allowed and (not restricted or self.model_licence.isChecked())
        self.download_button.setEnabled(bool(allowed))
        self.cancel_button.setEnabled(busy)
        self.refresh_button.setEnabled(not busy)
        if check is not None and check.field == "face_pack" and not check.present and \
                not self.licence.isChecked():
            self.download_button.setToolTip("Tick the licence box to download a face pack")
        else:
            self.download_button.setToolTip("")

    # -- downloading -------------------------------------------------------------------
    def download_selected(self) -> None:
        check = self.selected_check()
        if check is None or not self.download_button.isEnabled():
            return
        thread = QThread(self)
        worker = _Downloader(check)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_finished)  # queued: runs on the GUI thread
        self._thread, self._worker = thread, worker
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.status.setText(f"Downloading {check.spec}…")
        self._update_buttons()
        thread.start()

    def cancel_download(self) -> None:
        if self._worker is not None:
            self._worker.cancel_event.set()
            self.status.setText("Cancelling…")

    def _on_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(done, total) / total))
            self.status.setText(f"Downloading {self._worker.check.spec}: {_size(done)} of {_size(total)}")

    def _on_finished(self, status: str, message: str) -> None:
        thread = self._thread
        self._thread, self._worker = None, None
        if thread is not None:  # the worker has returned from run(): stop its event loop
            thread.quit()
            thread.wait()
            thread.deleteLater()
        self.progress.setVisible(False)
        self.status.setText(message)
        if status == "done":
            self.refresh()
        self._update_buttons()
        self.download_finished.emit(status, message)
