"""The one-folder app made by `build_installer.py bundle`, started as a user would.

Building takes a minute or two, so the build runs when CANVAS_APP_TEST_BUNDLE=1
(.ci/run sets it); otherwise a bundle already in dist/ is checked, or the test is skipped.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "dist" / "canvas-app" / "canvas-app"


@pytest.mark.slow
def test_the_bundle_opens_the_example_and_runs_it_with_the_animatic():
    if os.environ.get("CANVAS_APP_TEST_BUNDLE") == "1":
        pytest.importorskip("PyInstaller")
        build = subprocess.run([sys.executable, str(ROOT / "build_installer.py"), "bundle"],
                               capture_output=True, text=True, timeout=1800)
        assert build.returncode == 0, build.stderr[-3000:]
    elif not BUNDLE.is_file():
        pytest.skip("no bundle built (set CANVAS_APP_TEST_BUNDLE=1 to build one)")
    check = subprocess.run([sys.executable, str(ROOT / "build_installer.py"), "check"],
                           capture_output=True, text=True, timeout=900)
    assert check.returncode == 0, check.stderr[-3000:]
    result = json.loads(check.stdout.strip().splitlines()[-1])
    assert result["open_exit"] == 0 and result["screenshot_bytes"] > 10_000
    assert result["run_exit"] == 0 and result["shots_passed"] == [True, True, True]


def test_the_linux_desktop_entry_is_complete(tmp_path):
    import configparser

    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(ROOT / "resources" / "linux" / "canvas-app.desktop")
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application" and section["Exec"].startswith("canvas-app")
    assert section["Icon"] == "canvas-app" and (ROOT / "resources" / "icons" / "app.svg").is_file()
