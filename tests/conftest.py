import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The tests import `fake_nodes` and friends from this folder.
sys.path.insert(0, str(Path(__file__).parent))
