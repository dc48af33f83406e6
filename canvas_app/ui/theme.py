"""Colours, icons and the stylesheet. One place, so canvas and widgets agree."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from canvas_app.graph import types

def _resources() -> Path:
    """resources/ in a source checkout; canvas_app/resources once installed."""
    checkout = Path(__file__).resolve().parents[2] / "resources"
    return checkout if checkout.is_dir() else Path(__file__).resolve().parents[1] / "resources"


RESOURCES = _resources()

CANVAS_BG = QColor("#1b1e23")
GRID_MINOR = QColor("#23272e")
GRID_MAJOR = QColor("#2b3038")
NODE_BODY = QColor("#2a2f37")
NODE_BORDER = QColor("#141619")
NODE_TEXT = QColor("#e6e9ee")
NODE_DIM_TEXT = QColor("#9aa3b2")
SELECTION = QColor("#ffb547")
ACCENT = QColor("#4f8cff")
ERROR = QColor("#e5646a")
OK = QColor("#5fd08a")
CACHED = QColor("#56b6c2")

# Header colours by node category.
CATEGORY_COLORS = {
    "Inputs": QColor("#8a6a2e"),
    "Identity": QColor("#774b8a"),
    "Shots": QColor("#345d9e"),
    "Output": QColor("#2f7a50"),
}
DEFAULT_HEADER = QColor("#4a5260")
PLACEHOLDER_HEADER = QColor("#7a3b3e")


def port_color(port_type: str | None) -> QColor:
    """The colour a port type declares (graph/types.py), as a QColor."""
    return _qcolor(types.port_color(port_type))


@lru_cache(maxsize=None)
def _qcolor(hex_color: str) -> QColor:
    return QColor(hex_color)


def header_color(category: str | None, own: str = "") -> QColor:
    """A node type's own header colour (NodeSpec.header_color), else its category's."""
    if own:
        return _qcolor(own)
    return CATEGORY_COLORS.get(category or "", DEFAULT_HEADER)


@lru_cache(maxsize=None)
def icon(name: str) -> QIcon:
    path = RESOURCES / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    roles = {
        QPalette.Window: "#23272e", QPalette.WindowText: "#dfe3ea", QPalette.Base: "#1b1e23",
        QPalette.AlternateBase: "#20242a", QPalette.ToolTipBase: "#2c313a",
        QPalette.ToolTipText: "#eef1f5", QPalette.Text: "#dfe3ea", QPalette.Button: "#313844",
        QPalette.ButtonText: "#dfe3ea", QPalette.BrightText: "#ffffff",
        QPalette.Highlight: "#35507f", QPalette.HighlightedText: "#ffffff",
        QPalette.Link: "#7aa7ff", QPalette.PlaceholderText: "#6c7483",
    }
    for role, color in roles.items():
        palette.setColor(role, QColor(color))
    for role in (QPalette.Text, QPalette.ButtonText, QPalette.WindowText):
        palette.setColor(QPalette.Disabled, role, QColor("#646b78"))
    app.setPalette(palette)
    qss = RESOURCES / "style" / "dark.qss"
    if qss.is_file():
        icons = (RESOURCES / "icons").as_posix()
        app.setStyleSheet(qss.read_text(encoding="utf-8").replace("@ICONS@", icons))
    app.setWindowIcon(icon("app"))
