"""The identity library panel: saved identities with their faces, ready to reuse.

Lists the project's library (`<project>/identities`) and the user's library
(per user, via platformdirs) with the aligned-face thumbnail of each identity.
"Add to canvas" places an IdentityLock node that loads the identity by name,
so a project can use a person without their reference photos. The panel also
offers the insightface model packs, downloaded only after the user agrees to
their non-commercial licence.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QSize, Qt, QThread, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QHBoxLayout,
                               QLabel, QListWidget, QListWidgetItem, QMessageBox, QProgressDialog,
                               QPushButton, QVBoxLayout, QWidget)

from canvas_app.ui.qimage import qimage_from_array

ROLE_ENTRY = Qt.UserRole + 1
PACKS = ("buffalo_l", "antelopev2", "buffalo_s")
LICENCE_TEXT = (
    "insightface's pretrained model packs are licensed for <b>non-commercial research use "
    "only</b>. You are responsible for using them within that licence. canvas-app does not "
    "bundle them; this downloads the pack from insightface's model zoo into your models folder."
)


def pixmap_from_rgb(pixels: np.ndarray | None, size: int = 72) -> QPixmap:
    if pixels is None:
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.darkGray)
        return pixmap
    image = qimage_from_array(pixels[..., :3])
    return QPixmap.fromImage(image).scaled(size, size, Qt.KeepAspectRatio, Qt.SmoothTransformation)


class IdentityLibraryPanel(QWidget):
    """Emits `use_identity(name)` when the user wants the identity on the canvas."""

    use_identity = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._project_dir: Path | None = None
        self.list = QListWidget()
        self.list.setViewMode(QListWidget.IconMode)
        self.list.setIconSize(QSize(72, 72))
        self.list.setGridSize(QSize(112, 120))
        self.list.setResizeMode(QListWidget.Adjust)
        self.list.setMovement(QListWidget.Static)
        self.list.setWordWrap(True)
        self.list.itemDoubleClicked.connect(lambda item: self._use(item))
        self.list.currentItemChanged.connect(lambda *_: self._update_buttons())

        self.use_button = QPushButton("Add to canvas")
        self.use_button.setToolTip("Place an IdentityLock node that loads this identity")
        self.use_button.clicked.connect(lambda: self._use(self.list.currentItem()))
        self.delete_button = QPushButton("Delete…")
        self.delete_button.clicked.connect(self._delete)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        packs = QPushButton("Face models…")
        packs.setToolTip("Download an insightface model pack (non-commercial licence)")
        packs.clicked.connect(self.open_pack_dialog)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextSelectableByMouse)

        buttons = QHBoxLayout()
        for button in (self.use_button, self.delete_button, refresh, packs):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.detail)
        layout.addLayout(buttons)
        self.refresh()

    # -- listing -----------------------------------------------------------------------
    def set_project_dir(self, project_dir: Path | None) -> None:
        self._project_dir = Path(project_dir) if project_dir else None
        self.refresh()

    def libraries(self):
        from canvas_app.identity import IdentityLibrary, user_library

        libraries = []
        if self._project_dir is not None:
            libraries.append(("project", IdentityLibrary(self._project_dir / "identities")))
        libraries.append(("user", user_library()))
        return libraries

    def refresh(self) -> None:
        self.list.clear()
        for where, library in self.libraries():
            for entry in library.list():
                label = entry.name if not entry.error else f"{entry.name} (damaged)"
                item = QListWidgetItem(QIcon(pixmap_from_rgb(entry.thumbnail)), label)
                item.setData(ROLE_ENTRY, (where, library, entry))
                encoders = ", ".join(entry.encoders) or "?"
                item.setToolTip(entry.error or f"{entry.name}\n{where} library\nencoders: {encoders}"
                                f"\ncreated {entry.created}\n{entry.path}")
                if entry.error:
                    item.setFlags(item.flags() & ~Qt.ItemIsEnabled)
                self.list.addItem(item)
        self._update_buttons()

    def _update_buttons(self) -> None:
        item = self.list.currentItem()
        data = item.data(ROLE_ENTRY) if item else None
        usable = data is not None and not data[2].error
        self.use_button.setEnabled(usable)
        self.delete_button.setEnabled(data is not None)
        if data is None:
            count = self.list.count()
            self.detail.setText(f"{count} saved identit{'y' if count == 1 else 'ies'}. Save one "
                                "with an IdentityLock node's 'save to library'."
                                if count else "No saved identities yet. Turn on 'save to library' "
                                "on an IdentityLock node, or run `canvas-app identity create "
                                "… --save-to-library`.")
        else:
            where, _library, entry = data
            self.detail.setText(f"<b>{entry.name}</b> · {where} library · "
                                f"{', '.join(entry.encoders)} · id {entry.identity_id}")

    # -- actions -----------------------------------------------------------------------
    def _use(self, item) -> None:
        data = item.data(ROLE_ENTRY) if item else None
        if data is not None and not data[2].error:
            self.use_identity.emit(data[2].name)

    def _delete(self) -> None:
        item = self.list.currentItem()
        data = item.data(ROLE_ENTRY) if item else None
        if data is None:
            return
        where, library, entry = data
        answer = QMessageBox.question(self, "Delete identity",
                                      f"Delete the identity '{entry.name}' from the {where} "
                                      "library? Projects that load it by name will stop working.")
        if answer == QMessageBox.Yes:
            from canvas_app.errors import BadInput

            try:
                if entry.error:
                    entry.path.unlink(missing_ok=True)
                else:
                    library.delete(entry.name)
            except (BadInput, OSError) as error:  # removed elsewhere, no permission, ...
                QMessageBox.warning(self, "Delete identity",
                                    f"Cannot delete the identity '{entry.name}': {error}")
            self.refresh()

    def open_pack_dialog(self) -> None:
        PackDownloadDialog(self).exec()


class _PackDownloader(QObject):
    progress = Signal(int, int)  # done bytes, total bytes (0 if unknown)
    finished = Signal(str)  # "" on success, else the error message

    def __init__(self, pack: str) -> None:
        super().__init__()
        self.pack = pack

    def run(self) -> None:
        from canvas_app.identity import download_pack

        try:
            download_pack(self.pack, progress_callback=lambda done, total:
                          self.progress.emit(int(done), int(total or 0)))
        except Exception as error:  # network, disk: shown to the user as is
            self.finished.emit(str(error) or type(error).__name__)
            return
        self.finished.emit("")


class PackDownloadDialog(QDialog):
    """Asks for agreement to the licence, then downloads with a progress bar."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        from canvas_app.identity.model_paths import installed_packs, resolve_models_dir

        self.setWindowTitle("Face models")
        self.pack = QComboBox()
        self.pack.addItems(PACKS)
        installed = installed_packs()
        licence = QLabel(LICENCE_TEXT)
        licence.setWordWrap(True)
        where = QLabel(f"Models folder: {resolve_models_dir(None)}<br>Installed: "
                       f"{', '.join(installed) or 'none'}")
        where.setWordWrap(True)
        self.agree = QCheckBox("I agree to use the pack for non-commercial research only")
        self.buttons = QDialogButtonBox(QDialogButtonBox.Cancel)
        self.download = self.buttons.addButton("Download", QDialogButtonBox.AcceptRole)
        self.download.setEnabled(False)
        self.agree.toggled.connect(self.download.setEnabled)
        self.buttons.accepted.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Pack:"))
        layout.addWidget(self.pack)
        layout.addWidget(licence)
        layout.addWidget(where)
        layout.addWidget(self.agree)
        layout.addWidget(self.buttons)
        self._thread: QThread | None = None

    def start(self) -> None:
        if not self.agree.isChecked():
            return
        progress = QProgressDialog(f"Downloading {self.pack.currentText()}…", "", 0, 0, self)
        progress.setCancelButton(None)
        progress.setWindowModality(Qt.WindowModal)
        worker = _PackDownloader(self.pack.currentText())
        thread = QThread(self)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)

        def on_progress(done: int, total: int) -> None:
            progress.setMaximum(max(total, 0))
            progress.setValue(done if total else 0)
            progress.setLabelText(f"Downloading {worker.pack}: {done / 1e6:.0f} MB"
                                  + (f" of {total / 1e6:.0f} MB" if total else ""))

        def on_finished(error: str) -> None:
            thread.quit()
            thread.wait()
            progress.close()
            if error:
                QMessageBox.warning(self, "Face models", f"The download failed: {error}")
            else:
                QMessageBox.information(self, "Face models", f"{worker.pack} is installed.")
                self.accept()

        worker.progress.connect(on_progress)
        worker.finished.connect(on_finished)
        self._worker, self._thread = worker, thread  # keep both alive while running
        thread.start()
        progress.show()
