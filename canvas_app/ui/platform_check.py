"""Before Qt starts on a Linux desktop: are the libraries Qt's X11 (xcb)
platform plugin needs there? Qt's own message ("Could not load the Qt platform
plugin xcb") names the wrong one; this names every missing library and the
Debian/Ubuntu packages that provide it."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path


def uses_xcb(environ=os.environ, platform: str = sys.platform) -> bool:
    """Whether Qt will start its xcb plugin (X11, or XWayland by default)."""
    if not platform.startswith("linux"):
        return False
    chosen = environ.get("QT_QPA_PLATFORM", "")
    if chosen:
        return chosen.split(":")[0].split(";")[0] == "xcb"
    return bool(environ.get("DISPLAY")) and not environ.get("WAYLAND_DISPLAY")


def xcb_plugin_files() -> list[Path]:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return []
    qt = Path(next(iter(spec.submodule_search_locations))) / "Qt"
    files = [qt / "plugins" / "platforms" / "libqxcb.so", *sorted((qt / "lib").glob("libQt6XcbQpa.so*"))]
    return [path for path in files if path.is_file()]


def missing_libraries(files: list[Path], ldd=None) -> list[str]:
    """Sonames `ldd` reports as "not found" for these files, in order."""
    ldd = ldd or _ldd
    missing: list[str] = []
    for path in files:
        for line in ldd(path).splitlines():
            if "=> not found" in line:
                name = line.split("=>")[0].strip()
                if name not in missing:
                    missing.append(name)
    return missing


def _ldd(path: Path) -> str:
    tool = shutil.which("ldd")
    if tool is None:
        return ""
    try:
        return subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def debian_package(soname: str) -> str:
    """libxcb-icccm.so.4 -> libxcb-icccm4, libxkbcommon-x11.so.0 -> libxkbcommon-x11-0
    (Debian's rule for library package names)."""
    name, _, version = soname.partition(".so.")
    version = version.split(".")[0]
    return (name + ("-" if name[-1:].isdigit() else "") + version).lower()


def xcb_problem(environ=os.environ, ldd=None) -> str | None:
    """The message to print instead of Qt's when the xcb plugin cannot load; None when fine."""
    if not uses_xcb(environ):
        return None
    missing = missing_libraries(xcb_plugin_files(), ldd)
    if not missing:
        return None
    packages = " ".join(debian_package(name) for name in missing)
    return ("canvas-app: the Qt X11 (xcb) platform plugin cannot start: missing "
            f"{', '.join(missing)}.\n"
            f"On Debian or Ubuntu install them with:\n    sudo apt-get install {packages}\n"
            "(README.md, section \"Linux desktop\", lists what the editor needs; "
            "QT_QPA_PLATFORM=offscreen runs it without a display.)")
