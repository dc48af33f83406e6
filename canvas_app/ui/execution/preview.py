"""The preview panel: the selected node's output, and live frames while a
generator runs.

- image set: thumbnails with their roles;
- identity: the aligned face of each reference with its similarity to the
  combined identity (left-out references are marked), plus the portrait;
- clip: play / pause and a scrub slider, with the shot's identity score;
- sequence: the exported files and the per-shot identity report;
- while a node runs: its frames as they are produced (and diffusion step
  previews), at most as fast as the worker sends them (throttled there).
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListView, QListWidget, QListWidgetItem, QScrollArea,
                               QSlider, QStackedWidget, QToolButton, QVBoxLayout, QWidget)

from canvas_app.engine.events import NodeStarted
from canvas_app.ui import theme
from canvas_app.ui.qimage import qimage_from_array


class FrameView(QWidget):
    """Paints one image scaled to fit. Records preview latency (from the
    moment the engine produced a frame to the moment it is painted)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.image: QImage | None = None
        self.caption = ""
        self._produced: float | None = None
        self.latencies: list[float] = []
        self.paints = 0
        self.setMinimumSize(160, 100)

    def set_image(self, image: QImage | None, caption: str = "", produced: float | None = None) -> None:
        self.image = image
        self.caption = caption
        self._produced = produced
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#15171b"))
        if self.image is not None and not self.image.isNull():
            size = self.image.size().scaled(self.size(), Qt.KeepAspectRatio)
            target = QRectF((self.width() - size.width()) / 2, (self.height() - size.height()) / 2,
                            size.width(), size.height())
            painter.setRenderHint(QPainter.SmoothPixmapTransform, True)
            painter.drawImage(target, self.image)
        if self.caption:
            painter.setPen(QColor("#dfe3ea"))
            painter.fillRect(QRectF(0, 0, self.width(), 20), QColor(0, 0, 0, 140))
            painter.drawText(QRectF(6, 0, self.width() - 12, 20), Qt.AlignVCenter, self.caption)
        painter.end()
        self.paints += 1
        if self._produced is not None:
            self.latencies.append(time.perf_counter() - self._produced)
            self._produced = None


def _cut_clip(path):
    """The exported video as a Clip to play, or None when it cannot be read.
    PyAV and OpenCV load here, on first use, not when the editor opens."""
    try:
        from canvas_app.media.video import read_video
        from canvas_app.values import Clip

        frames, fps = read_video(path, max_frames=60 * 60)
    except Exception:  # noqa: BLE001 - a missing or unreadable file: say so, keep the table
        return None
    return Clip(frames, fps or 12.0, {}) if frames else None


def shot_table_html(report: dict) -> str:
    """One row per shot: the score pass/fail is decided on, the shot's own
    threshold beside it and the verdict, so a red 0.83 next to a green 0.75
    explains itself (thresholds differ per shot)."""
    rows = []
    for shot in report.get("shots", []):
        score = shot.get("identity_score") or {}
        decided = score.get("effective_mean", score.get("mean"))
        threshold = shot.get("threshold")
        passed = shot.get("passed", True)
        mean = "n/a" if decided is None else f"{decided:.3f}"
        worst = "n/a" if score.get("minimum") is None else f"{score['minimum']:.3f}"
        limit = "n/a" if threshold is None else f"{threshold:.2f}"
        if decided is None:
            why = "no score"
        elif threshold is None:
            why = "pass" if passed else "fail"
        else:  # the identity and threshold columns beside it say why: no room to repeat them
            why = "✓ pass" if passed else "✗ below"
        colour = "#5fd08a" if passed else "#e5646a"
        rows.append(f"<tr><td>{shot.get('index')}</td><td nowrap>{shot.get('name')}</td>"
                    f"<td style='color:{colour}'>{mean}</td><td>{limit}</td><td>{worst}</td>"
                    f"<td nowrap style='color:{colour}'>{why}</td></tr>")
    return ("<table cellspacing=6><tr><th>#</th><th>shot</th><th>identity</th><th>threshold</th>"
            f"<th>worst</th><th>verdict</th></tr>{''.join(rows)}</table>")


def _icon(array: np.ndarray, size: int = 96) -> QIcon:
    image = qimage_from_array(array)
    return QIcon(QPixmap.fromImage(image.scaled(size, size, Qt.KeepAspectRatio, Qt.SmoothTransformation)))


class PreviewPanel(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.node_id: str | None = None
        self.outputs: dict[str, Any] | None = None
        self.model = None  # the run model (observe)
        self.live_count = 0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.title = QLabel()
        self.title.setProperty("role", "heading")
        layout.addWidget(self.title)
        self.stack = QStackedWidget()
        layout.addWidget(self.stack, 1)
        # page 0: nothing
        self.empty = QLabel("Select a node to see its output.\nRun (Ctrl+Enter) to compute it.")
        self.empty.setAlignment(Qt.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setProperty("role", "dim")
        self.stack.addWidget(self.empty)
        # page 1: frames (live or a clip)
        frames = QWidget()
        frames_layout = QVBoxLayout(frames)
        frames_layout.setContentsMargins(0, 0, 0, 0)
        self.frame_view = FrameView()
        frames_layout.addWidget(self.frame_view, 1)
        controls = QHBoxLayout()
        self.play_button = QToolButton()
        self.play_button.setIcon(theme.icon("run"))
        self.play_button.setToolTip("Play / pause (Space in this panel)")
        self.play_button.clicked.connect(self.toggle_play)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.valueChanged.connect(self._scrub)
        self.frame_label = QLabel()
        self.frame_label.setProperty("role", "dim")
        controls.addWidget(self.play_button)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.frame_label)
        self.controls = QWidget()
        self.controls.setLayout(controls)
        frames_layout.addWidget(self.controls)
        self.stack.addWidget(frames)
        # page 2: thumbnails (image sets, identity faces)
        self.thumbs = QListWidget()
        self.thumbs.setViewMode(QListView.IconMode)
        self.thumbs.setIconSize(QSize(96, 96))
        self.thumbs.setResizeMode(QListView.Adjust)
        self.thumbs.setGridSize(QSize(120, 140))
        self.thumbs.setWordWrap(True)
        self.thumbs.setMovement(QListView.Static)
        self.stack.addWidget(self.thumbs)
        # details under every page
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.details.setProperty("role", "dim")
        # In a scroll area: a Sequence's table keeps every row (none hidden under the edge).
        self.details_scroll = QScrollArea()
        self.details_scroll.setWidgetResizable(True)
        self.details_scroll.setFrameShape(QScrollArea.NoFrame)
        self.details_scroll.setWidget(self.details)
        layout.addWidget(self.details_scroll)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._advance)
        self.clip = None
        self._frame_cache: dict[int, QImage] = {}
        self.show_node(None, None, None)

    # -- the run model it observes -----------------------------------------------------
    def observe(self, model) -> None:
        """Follow the run model: the selected node's result as it changes, live
        frames while a node renders, and the node now working when nothing is
        selected."""
        self.model = model
        model.result_changed.connect(self._result_changed)
        model.live_frame.connect(self._live_frame)
        model.applied.connect(self._applied)

    def select(self, node_id: str | None, title: str | None = None) -> None:
        """The node selected on the canvas (None: none, or several)."""
        if node_id is None or self.model is None:
            self.show_node(None, None, None)
            return
        live = self.model.live(node_id)
        self.show_node(node_id, title, self.model.outputs(node_id),
                       live=(live.image, live.kind) if live is not None else None)

    def _result_changed(self, node_id: str) -> None:
        if node_id == self.node_id and self.model.outputs(node_id) is not self.outputs:
            self.select(node_id, self.title.text())

    def _live_frame(self, node_id: str) -> None:
        frame = self.model.live(node_id)
        if frame is not None:
            job = next((run.job_id for run in reversed(self.model.runs.values())
                        if node_id in run.titles), None)
            self.live_frame(node_id, frame.image, frame.kind, frame.produced,
                            self.model.title(job, node_id) if job is not None else node_id)

    def _applied(self, job_id: int, event) -> None:
        if isinstance(event, NodeStarted) and self.model.run(job_id).attached:
            self.node_started(event.node_id, self.model.title(job_id, event.node_id))

    # -- what to show ----------------------------------------------------------------
    def show_node(self, node_id: str | None, title: str | None, outputs: dict[str, Any] | None,
                  live: tuple[QImage, str] | None = None) -> None:
        self.timer.stop()
        self.node_id = node_id
        self.outputs = outputs
        self.clip = None
        self._frame_cache.clear()
        self.details.setText("")
        self.details_scroll.setMinimumHeight(self.details.fontMetrics().height() + 4)  # a line, no more
        if node_id is None:
            self.title.setText("Preview")
            self.stack.setCurrentWidget(self.empty)
            self.empty.setText("Select a node to see its output.\nRun (Ctrl+Enter) to compute it.")
            return
        self.title.setText(title or node_id)
        if live is not None:
            self._show_live(live[0], live[1], None)
            return
        if not outputs:
            self.stack.setCurrentWidget(self.empty)
            self.empty.setText("No result yet.\nRun the graph (Ctrl+Enter) or run to this node "
                               "(Ctrl+Shift+Enter).")
            return
        value = next(iter(outputs.values()))
        kind = type(value).__name__
        shower = {"ImageSet": self._show_images, "Identity": self._show_identity,
                  "Clip": self._show_clip, "SequenceResult": self._show_sequence,
                  "ShotPrompt": self._show_prompt}.get(kind, self._show_other)
        shower(value)

    def node_started(self, node_id: str, title: str) -> None:
        """With nothing selected the panel follows the run: it names the node
        now working (the Sequence while it exports), by its title."""
        if self.node_id is None:
            self.title.setText(f"Running: {title}")

    def live_frame(self, node_id: str, image: QImage, kind: str, produced: float,
                   title: str | None = None) -> None:
        """A frame from a running node: shown when that node is selected, or
        when nothing is selected (then the panel follows the run)."""
        if self.node_id not in (None, node_id):
            return
        self.live_count += 1
        self._show_live(image, kind, produced, title or node_id)

    def _show_live(self, image: QImage, kind: str, produced: float | None, title: str | None = None) -> None:
        self.timer.stop()
        self.clip = None
        self.controls.hide()
        if self.node_id is None and title is not None:
            self.title.setText(f"Running: {title}")
        caption = "live · diffusion step" if kind == "step" else "live · frame"
        self.frame_view.set_image(image, caption, produced)
        self.stack.setCurrentIndex(1)

    def _show_images(self, value) -> None:
        self.thumbs.clear()
        for image in value.images:
            item = QListWidgetItem(_icon(image.pixels), f"{image.name}\n{image.role}")
            item.setToolTip(str(image.path))
            self.thumbs.addItem(item)
        self.stack.setCurrentWidget(self.thumbs)
        self.details.setText(f"{len(value.images)} image(s)")

    def _show_identity(self, identity) -> None:
        self.thumbs.clear()
        if identity.portrait is not None:
            item = QListWidgetItem(_icon(identity.portrait), "portrait")
            self.thumbs.addItem(item)
        for sample in identity.samples:
            text = f"{sample.source_name}\n{sample.similarity:.2f}" + ("" if sample.included else " (left out)")
            item = QListWidgetItem(_icon(sample.thumbnail), text)
            item.setToolTip(f"{sample.source_name} ({sample.role})\nsimilarity to the identity "
                            f"{sample.similarity:.3f}, quality {sample.quality:.2f}"
                            + (f"\n{sample.note}" if sample.note else ""))
            if not sample.included:
                item.setForeground(theme.ERROR)
            self.thumbs.addItem(item)
        self.stack.setCurrentWidget(self.thumbs)
        encoders = ", ".join(f"{name} ({len(vector)}-d)" for name, vector in identity.embeddings.items())
        used = sum(1 for s in identity.samples if s.included)
        self.details.setText(f"<b>{identity.name}</b> · id {identity.identity_id}<br>"
                             f"{used} of {len(identity.samples)} references used · {encoders}")

    def _show_clip(self, clip) -> None:
        self.clip = clip
        self.controls.show()
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, len(clip.frames) - 1))
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self._scrub(0)
        self.stack.setCurrentIndex(1)
        meta = clip.metadata
        score = meta.get("identity_score") or {}
        parts = [f"{len(clip.frames)} frames · {clip.fps:g} fps · {clip.duration:.1f} s",
                 f"{meta.get('backend', '?')} · seed {meta.get('seed', '?')}"]
        if score.get("mean") is not None:
            verdict = "pass" if meta.get("identity_passed", True) else "below threshold"
            parts.append(f"identity {score['mean']:.3f} (worst {score.get('minimum', 0):.3f}, "
                         f"{score.get('recognizer', '')}) — {verdict}")
        self.details.setText("<br>".join(parts))

    def _show_sequence(self, result) -> None:
        """The finished cut plays like a clip; below it, the per-shot table."""
        cut = _cut_clip(result.video_path)
        if cut is not None:
            self._show_clip(cut)
        else:
            self.stack.setCurrentWidget(self.empty)
            self.empty.setText(f"Exported\n{result.video_path}\n(the video could not be read back)")
        self.details.setText(
            f"video: {result.video_path}<br>timeline: {result.timeline_path}<br>"
            f"report: {result.report_path}<br>" + shot_table_html(result.report))
        self.details_scroll.setMinimumHeight(  # the table's rows, up to half the panel
            min(self.details.heightForWidth(self.details_scroll.viewport().width()) + 4,
                max(120, self.height() // 2)))

    def _show_prompt(self, prompt) -> None:
        self.stack.setCurrentWidget(self.empty)
        self.empty.setText(prompt.positive or "(empty prompt)")
        self.details.setText(f"{prompt.shot_size} · {prompt.camera_move} · {prompt.duration:g} s · "
                             f"{prompt.mood}<br>negative: {prompt.negative}")

    def _show_other(self, value) -> None:
        self.stack.setCurrentWidget(self.empty)
        self.empty.setText(repr(value)[:400])

    # -- clip playback ---------------------------------------------------------------
    def _frame_image(self, index: int) -> QImage:
        image = self._frame_cache.get(index)
        if image is None:
            if len(self._frame_cache) > 120:
                self._frame_cache.clear()
            image = self._frame_cache[index] = qimage_from_array(self.clip.frames[index])
        return image

    def _scrub(self, index: int) -> None:
        if self.clip is None or not self.clip.frames:
            return
        index = max(0, min(index, len(self.clip.frames) - 1))
        self.frame_view.set_image(self._frame_image(index))
        self.frame_label.setText(f"{index + 1}/{len(self.clip.frames)}")

    def toggle_play(self) -> None:
        if self.clip is None:
            return
        if self.timer.isActive():
            self.timer.stop()
            self.play_button.setIcon(theme.icon("run"))
        else:
            self.timer.start(int(1000 / max(1.0, self.clip.fps)))
            self.play_button.setIcon(theme.icon("stop"))

    def _advance(self) -> None:
        if self.clip is None:
            self.timer.stop()
            return
        self.slider.setValue((self.slider.value() + 1) % len(self.clip.frames))

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if event.key() == Qt.Key_Space:
            self.toggle_play()
            return
        super().keyPressEvent(event)
