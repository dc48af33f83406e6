"""The Qt editor. Only this package imports Qt; graph, project and engine know nothing of it."""
from __future__ import annotations

import sys


def _pin_singletons() -> None:
    """Work around a PySide6 6.12 refcount bug on Python < 3.12.

    Its bindings release a reference to None for every call of a method that
    returns nothing (painter.setPen, item.update, ...) and to True/False for
    Signal.emit: code written for 3.12's immortal singletons. On 3.11 the
    count reaches zero after a few thousand paints and the interpreter aborts
    ("deallocating None"). Giving the three singletons an enormous refcount
    makes them immortal in practice, as 3.12 does by design."""
    if sys.version_info >= (3, 12):
        return
    import ctypes

    for singleton in (None, True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value += 1 << 60


_pin_singletons()
