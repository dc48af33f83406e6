"""The Qt editor. Only this package imports Qt; graph, project and engine know nothing of it.

PySide6 6.12.0 releases a reference to None (and True/False in Signal.emit) on every call
on Python 3.11, which aborts the interpreter after a few thousand paints; pyproject.toml
keeps PySide6 below 6.12 for that reason.
"""
