"""benchmarks/video_models_smoke.py --tiny passes every step (CI proves the script works)."""
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_video_models_smoke_tiny_passes_every_step(capsys):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import video_models_smoke

    assert video_models_smoke.main(["--tiny"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    steps = {line["step"]: line for line in lines if "step" in line}
    assert set(steps) == {"flux2_klein_keyframe", "flux2_klein_cancel", "wan22_continuity",
                          "wan22_offload_fp8", "ltx2_sound", "qwen_edit_keyframe",
                          "qwen_edit_quantized"}
    assert all(line["status"] == "PASS" for line in steps.values())
    assert steps["wan22_offload_fp8"]["memory_plan"] == "offload"
    assert steps["ltx2_sound"]["sample_rate"] == 16000 and steps["ltx2_sound"]["sound_seconds"] > 0
    assert steps["qwen_edit_quantized"]["memory_plan"] == "quantized"
    assert steps["qwen_edit_quantized"]["int8_linears"] > 0
