import os
import tempfile
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Results cached on disk by `canvas-app run` go to a folder of the test session's own.
os.environ["CANVAS_APP_CACHE_DIR"] = tempfile.mkdtemp(prefix="canvas-app-test-cache-")
# The tests import `fake_nodes` and friends from this folder.
sys.path.insert(0, str(Path(__file__).parent))
