"""Build distributable packages of canvas-app.

    python build_installer.py wheel      # dist/canvas_app-<version>-py3-none-any.whl (+ sdist)
    python build_installer.py bundle     # dist/canvas-app/: a one-folder app made by PyInstaller
    python build_installer.py check      # start that app on the example: screenshot, then a run
    python build_installer.py desktop-entry [--prefix ~/.local]   # Linux menu entry and icon

The wheel is what `pip install` uses. The bundle is a folder with its own Python for people who do
not want a Python environment; it needs `pip install pyinstaller` first and is built for the machine
it runs on. Model weights are never bundled: the embedded dlib weights come with the
face_recognition_models package, and insightface packs and diffusion models are fetched on the
user's machine after they agree.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DIST = ROOT / "dist"


def build_wheel() -> int:
    DIST.mkdir(exist_ok=True)
    return subprocess.call([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(DIST),
                            str(ROOT)])


# The GPU stack (torch, diffusers, insightface...) is imported only when a diffusers shot or an
# insightface pack is used. Left out, the bundle is a fraction of the size and still runs the
# embedded animatic backend with dlib identities; --full keeps it all.
GPU_STACK = ("torch", "torchvision", "torchaudio", "torchao", "diffusers", "transformers",
             "accelerate", "peft", "huggingface_hub", "insightface", "onnxruntime", "onnx", "ray",
             "triton", "sympy", "scipy", "skimage", "sklearn", "matplotlib", "pandas", "numba")
NOT_NEEDED = ("tkinter", "IPython", "pytest", "hypothesis", "PyInstaller", "setuptools")
BUNDLE = DIST / "canvas-app"
EXAMPLE = ROOT / "resources" / "examples" / "spokesperson" / "spokesperson.canvas.json"


def build_bundle(full: bool = False) -> int:
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        print("build_installer: PyInstaller is not installed; run "
              "`pip install -e \".[bundle]\"` first", file=sys.stderr)
        return 2
    separator = ";" if sys.platform == "win32" else ":"
    command = [
        sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--onedir",
        "--name", "canvas-app", "--log-level", "WARN",
        "--distpath", str(DIST), "--workpath", str(ROOT / "build"),
        "--specpath", str(ROOT / "build"),
        "--add-data", f"{ROOT / 'resources'}{separator}resources",
        "--collect-data", "face_recognition_models",
        "--collect-all", "opentimelineio",  # its adapters are plugins found through manifests
        # The EDL and FCP adapters are plugins found through their entry points: their
        # packages and their metadata (where the entry points live) both go in.
        *[flag for package, dist in (("otio_cmx3600_adapter", "otio-cmx3600-adapter"),
                                     ("otio_fcp_adapter", "otio-fcp-adapter"),
                                     ("otio_fcpx_xml_adapter", "otio-fcpx-xml-adapter"))
          for flag in ("--collect-all", package, "--copy-metadata", dist)],
        "--collect-submodules", "nodes",
        "--collect-submodules", "canvas_app",
    ]
    for module in NOT_NEEDED + (() if full else GPU_STACK):
        command += ["--exclude-module", module]
    command.append(str(ROOT / "canvas_app" / "__main__.py"))
    started = time.perf_counter()
    code = subprocess.call(command)
    if code == 0:
        print(json.dumps({"bundle": str(BUNDLE), "build_seconds": round(time.perf_counter() - started),
                          "size_mb": round(_folder_bytes(BUNDLE) / 2 ** 20)}))
    return code


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*")
               if path.is_file() and not path.is_symlink())  # PyInstaller links libraries


def check_bundle() -> int:
    """Start the built app as a user would, with no Python of ours on the path: a screenshot
    of the example opened offscreen, then the example run with the animatic. Prints JSON."""
    executable = BUNDLE / ("canvas-app.exe" if sys.platform == "win32" else "canvas-app")
    if not executable.is_file():
        print(f"build_installer: no bundle at {BUNDLE}; run `build_installer.py bundle`",
              file=sys.stderr)
        return 2
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("PYTHON", "VIRTUAL_ENV"))}
    environment.update(QT_QPA_PLATFORM="offscreen", PATH="/usr/bin:/bin")
    with tempfile.TemporaryDirectory() as scratch:
        environment["CANVAS_APP_CACHE_DIR"] = str(Path(scratch) / "cache")
        shot = Path(scratch) / "window.png"
        started = time.perf_counter()
        opened = subprocess.run([str(executable), "open", str(EXAMPLE), "--screenshot", str(shot)],
                                env=environment, capture_output=True, text=True, timeout=300,
                                cwd=scratch)
        open_seconds = time.perf_counter() - started
        started = time.perf_counter()
        ran = subprocess.run([str(executable), "run", str(EXAMPLE), "--out",
                              str(Path(scratch) / "out"), "--quiet"], env=environment,
                             capture_output=True, text=True, timeout=600, cwd=scratch)
        run_seconds = time.perf_counter() - started
        report = Path(scratch) / "out" / "spokesperson.report.json"
        result = {
            "open_exit": opened.returncode, "screenshot_bytes": shot.stat().st_size
            if shot.is_file() else 0, "start_and_screenshot_seconds": round(open_seconds, 1),
            "run_exit": ran.returncode, "run_seconds": round(run_seconds, 1),
            "shots_passed": [shot["passed"] for shot in json.loads(report.read_text())["shots"]]
            if report.is_file() else [],
            "size_mb": round(_folder_bytes(BUNDLE) / 2 ** 20),
        }
    print(json.dumps(result))
    ok = opened.returncode == 0 and result["screenshot_bytes"] > 0 and ran.returncode == 0 \
        and result["shots_passed"] and all(result["shots_passed"])
    if not ok:
        print(opened.stderr[-2000:], ran.stderr[-2000:], file=sys.stderr)
    return 0 if ok else 1


def install_desktop_entry(prefix: Path) -> int:
    """Linux: a menu entry and an icon for the bundle, under `prefix` (~/.local by default)."""
    executable = BUNDLE / "canvas-app"
    if not executable.is_file():
        print(f"build_installer: no bundle at {BUNDLE}; run `build_installer.py bundle`",
              file=sys.stderr)
        return 2
    entry = (ROOT / "resources" / "linux" / "canvas-app.desktop").read_text(encoding="utf-8")
    entry = entry.replace("Exec=canvas-app", f"Exec={executable}") \
        .replace("TryExec=canvas-app", f"TryExec={executable}")
    applications = prefix / "share" / "applications"
    icons = prefix / "share" / "icons" / "hicolor" / "scalable" / "apps"
    applications.mkdir(parents=True, exist_ok=True)
    icons.mkdir(parents=True, exist_ok=True)
    (applications / "canvas-app.desktop").write_text(entry, encoding="utf-8")
    (icons / "canvas-app.svg").write_bytes((ROOT / "resources" / "icons" / "app.svg").read_bytes())
    print(f"installed {applications / 'canvas-app.desktop'} and {icons / 'canvas-app.svg'}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("target", choices=("wheel", "bundle", "check", "desktop-entry"),
                        help="check: start the built bundle on the example (screenshot and run); "
                             "desktop-entry: add the bundle to the Linux application menu")
    parser.add_argument("--prefix", type=Path, default=Path.home() / ".local",
                        help="desktop-entry: where share/applications and share/icons are")
    parser.add_argument("--full", action="store_true",
                        help="bundle: include torch, diffusers and insightface (several GB)")
    args = parser.parse_args()
    if args.target == "wheel":
        return build_wheel()
    if args.target == "desktop-entry":
        return install_desktop_entry(args.prefix)
    return build_bundle(args.full) if args.target == "bundle" else check_bundle()


if __name__ == "__main__":
    sys.exit(main())
