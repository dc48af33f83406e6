"""benchmarks/gpu_smoke.py --tiny: every step of the GPU smoke test runs on the
tiny models, so the script itself is proven before anyone takes it to a GPU."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("diffusers")
ROOT = Path(__file__).resolve().parents[2]


def test_gpu_smoke_tiny_passes_every_step():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_smoke.py"), "--tiny"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    steps = {line["step"]: line for line in lines if "step" in line}
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert list(steps) == ["sd15_faceid_fp16", "faceid_and_image", "img2img_continuity", "cancel_then_clean",
                           "animatediff_16", "video2video", "frames_40", "offload_tiling", "single_file",
                           "sdxl_1024", "sdxl_motion_fp16", "frames_40_gpu_generator", "eviction_under_cap",
                           # the two-stage families (benchmarks/video_models_smoke.py)
                           "flux2_klein_keyframe", "flux2_klein_cancel", "wan22_continuity",
                           "wan22_offload_fp8", "ltx2_sound", "qwen_edit_keyframe", "qwen_edit_quantized"]
    assert all(step["status"] in ("PASS", "SKIP") for step in steps.values())
    assert steps["frames_40"]["frames_rendered"] == 40 and steps["frames_40"]["long_clip"] == "free_noise"
    assert all(step["seconds"] >= 0 and step["peak_rss_bytes"] > 0 for step in steps.values())
    assert "overhead_pct" in steps["sd15_faceid_fp16"]
    assert steps["sdxl_motion_fp16"]["pipeline"] == "AnimateDiffSDXLPipeline"
    assert steps["frames_40_gpu_generator"]["free_noise_generator"] == ["cpu"]
    assert steps["eviction_under_cap"]["evicted"] >= 2
    assert steps["eviction_under_cap"]["held_bytes"] <= steps["eviction_under_cap"]["cap_bytes"]
    assert lines[-1] == {"summary": True, "failures": 0, "tiny": True}


def test_gpu_smoke_without_gpu_or_weights_says_what_is_missing(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "cache"),
           "CANVAS_APP_MODELS": str(tmp_path / "packs")}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_smoke.py")], capture_output=True,
                          text=True, timeout=300, cwd=ROOT, env=env)
    assert done.returncode == 0
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["skipped"] is True
    assert any("ip-adapter-faceid_sd15.bin" in item for item in summary["missing"])
