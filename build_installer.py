"""Build distributable packages of canvas-app.

    python build_installer.py wheel      # dist/canvas_app-<version>-py3-none-any.whl (+ sdist)
    python build_installer.py bundle     # dist/canvas-app/: a one-folder app made by PyInstaller

The wheel is what `pip install` uses. The bundle is a folder with its own Python for people who do
not want a Python environment; it needs `pip install pyinstaller` first and is built for the machine
it runs on. Model weights are never bundled: the embedded dlib weights come with the
face_recognition_models package, and insightface packs and diffusion models are fetched on the
user's machine after they agree.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DIST = ROOT / "dist"


def build_wheel() -> int:
    DIST.mkdir(exist_ok=True)
    return subprocess.call([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(DIST),
                            str(ROOT)])


def build_bundle() -> int:
    if shutil.which("pyinstaller") is None:
        print("build_installer: PyInstaller is not installed; run `pip install pyinstaller` first",
              file=sys.stderr)
        return 2
    separator = ";" if sys.platform == "win32" else ":"
    command = [
        "pyinstaller", "--noconfirm", "--onedir", "--name", "canvas-app",
        "--distpath", str(DIST), "--workpath", str(ROOT / "build"),
        "--add-data", f"{ROOT / 'resources'}{separator}resources",
        "--collect-data", "face_recognition_models",
        "--collect-submodules", "nodes",
        # Heavy optional stacks are imported lazily; collect them so the bundle can use them.
        "--collect-submodules", "canvas_app",
        str(ROOT / "canvas_app" / "__main__.py"),
    ]
    return subprocess.call(command)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("target", choices=("wheel", "bundle"))
    args = parser.parse_args()
    return build_wheel() if args.target == "wheel" else build_bundle()


if __name__ == "__main__":
    sys.exit(main())
