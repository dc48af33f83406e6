"""Issue 21.4: fields that do not apply look disabled, and settings of
another backend fold away under "Advanced"."""
from __future__ import annotations

from PySide6.QtWidgets import QToolButton


def _select(window, type_name, **params):
    node = window.document.add_node(type_name, (0, 0), params=params or None)
    window.scene.select_nodes([node.id])
    return window.inspector


def _background(widget):
    """The colour inside an empty field, left of its middle (no text there)."""
    widget.resize(200, max(widget.sizeHint().height(), 24))
    image = widget.grab().toImage()
    return image.pixelColor(image.width() // 4, image.height() // 2).name()


def test_identity_lock_fields_that_do_not_apply_look_disabled(make_window):
    inspector = _select(make_window(), "IdentityLock")  # source: references, encoders: dlib
    for name in ("insightface_pack", "identity_file", "library_name"):
        assert not inspector.editors[name].isEnabled() and not inspector.labels[name].isEnabled()
        assert "Applies only when" in inspector.editors[name].toolTip()
    assert inspector.editors["name"].isEnabled()
    # the same kind of field, one that applies and one that does not: they do not look alike
    assert _background(inspector.editors["library_name"]) != _background(inspector.editors["name"])


def test_generate_folds_its_diffusers_settings_and_greys_them_with_the_animatic(make_window):
    from canvas_app.generation.diffusers.options import DIFFUSERS_OPTIONS

    window = make_window()
    inspector = _select(window, "Generate", backend="animatic")
    toggle = inspector.findChild(QToolButton, "advanced_toggle")
    assert toggle is not None and toggle.text() == "Advanced"
    diffusers = [option.name for option in DIFFUSERS_OPTIONS]
    assert len(diffusers) > 15 and all(not inspector.editors[name].isEnabled() for name in diffusers)
    assert "backend is 'diffusers'" in inspector.editors["steps"].toolTip()
    if not toggle.isChecked():  # folded: none of them shows until the group is opened
        assert not any(inspector.editors[name].isVisibleTo(inspector) for name in diffusers)
    assert inspector.editors["seed"].isEnabled() and inspector.editors["width"].isEnabled()
    window.document.set_param(next(iter(window.document.graph.nodes)), "backend", "diffusers")
    assert inspector.editors["steps"].isEnabled()
    assert not inspector.editors["max_frames"].isEnabled()  # still needs Motion on
