"""Smoke test of the two-stage families: FLUX.2 klein and Qwen-Image-Edit keyframes, Wan 2.2 and LTX-2 motion.

Steps, each printing one JSON line (PASS/FAIL, seconds, peak memory):

 1. flux2_klein_keyframe  a keyframe with the identity's portrait as reference image; step
                          previews arrive
 2. flux2_klein_cancel    Stop during step 1: Cancelled, the pipeline's interrupt set
 3. wan22_continuity      motion from a previous last frame to the keyframe (last_image)
 4. wan22_offload_fp8     the same on the memory plan for a 24 GB card (offload + fp8 casting)
 5. ltx2_sound            LTX-2 motion from the keyframe on the offload plan: frames, and the
                          sound it made with them, as long as the clip
 6. qwen_edit_keyframe    a Qwen-Image-Edit 2509 keyframe with the portrait as input image;
                          step previews arrive
 7. qwen_edit_quantized   the same on the 12-16 GB plan: group offload + int8 transformer
                          (torchao); the transformer's block weights are int8 after loading

Real run (CUDA, weights in the Hugging Face cache): FLUX.2-klein-4B, Wan2.2-I2V-A14B
(the TI2V-5B has no last-frame input), Lightricks/LTX-2 and Qwen-Image-Edit-2509. `--tiny` builds tiny random models in the hub layout
and runs every step on the CPU at 64 px, 2 steps (`--device cuda` runs them on a GPU).
The exit code is the number of failures.

    python benchmarks/video_models_smoke.py --tiny [--device cuda]
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

KLEIN = "black-forest-labs/FLUX.2-klein-4B"
WAN = "Wan-AI/Wan2.2-I2V-A14B-Diffusers"
QWEN = "Qwen/Qwen-Image-Edit-2509"
LTX2 = "Lightricks/LTX-2"


def qwen_steps(model: str, identity, prompt, *, device: str, size: int, steps: int, manager):
    """Qwen-Image-Edit keyframes, on the full plan and on the quantized 12-16 GB plan."""
    from canvas_app.engine.context import RunContext
    from canvas_app.generation.video_models.qwen_image_edit import QwenImageEditKeyframe
    from canvas_app.generation.video_models.stages import KeyframeRequest

    backend = QwenImageEditKeyframe(manager)

    def render(memory):
        previews = []
        request = KeyframeRequest(identity=identity, prompt=prompt, width=size, height=size, seed=1,
                                  device=device, options={"model": model, "steps": steps,
                                                          "guidance": 4.0, "dtype": "auto",
                                                          "memory": memory})
        clip = backend.render(request, RunContext(on_preview=lambda frame, kind: previews.append(kind)))
        assert previews.count("step") >= 1, "no step previews"
        assert clip.metadata["memory_plan"] == memory
        return clip, {"frames": 1, "previews": previews.count("step"), "memory_plan": memory}

    def keyframe():
        return render("full")[1]

    def quantized():
        import torch

        clip, detail = render("quantized")
        pipe = next(entry.value for key in manager.keys() if (entry := manager.peek(key)) is not None
                    and key[1] == backend.pipeline_class and key[-1] == "quantized")
        linears = [layer for name, layer in pipe.transformer.named_modules()
                   if isinstance(layer, torch.nn.Linear) and "blocks" in name]
        int8 = [layer for layer in linears if any(
            getattr(layer.weight.tensor_impl, key).dtype == torch.int8
            for key in layer.weight.tensor_impl.__tensor_flatten__()[0])
            if hasattr(layer.weight, "tensor_impl")]
        assert linears and len(int8) == len(linears), f"{len(int8)} of {len(linears)} int8"
        return {**detail, "int8_linears": len(int8)}

    return [("qwen_edit_keyframe", keyframe), ("qwen_edit_quantized", quantized)]


def _peak(device: str) -> dict:
    if device.startswith("cuda"):
        import torch

        return {"peak_gpu_bytes": int(torch.cuda.max_memory_allocated())}
    return {"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def main(argv: list[str] | None = None, summary: bool = True) -> int:
    import numpy as np

    from canvas_app.engine.context import Cancelled, RunContext
    from canvas_app.generation.model_manager import ModelManager
    from canvas_app.generation.video_models.flux2_klein import Flux2KleinKeyframe
    from canvas_app.generation.video_models.ltx2_i2v import LTX2ImageToVideo
    from canvas_app.generation.video_models.stages import KeyframeRequest, MotionRequest
    from canvas_app.generation.video_models.wan_i2v import WanImageToVideo
    from canvas_app.values import Identity, ShotPrompt

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cpu with --tiny)")
    args = parser.parse_args(argv)
    device = args.device or ("cpu" if args.tiny else "cuda")
    if args.tiny:
        from video_models.tiny_qwen_image import save_qwen_image_edit
        from video_models.tiny_video_models import (save_flux2_klein, save_ltx2_i2v,
                                                    save_wan22_i2v)

        root = Path(tempfile.mkdtemp(prefix="video-models-smoke-"))
        klein, wan = str(save_flux2_klein(root / "flux2")), str(save_wan22_i2v(root / "wan"))
        ltx2, qwen = str(save_ltx2_i2v(root / "ltx2")), str(save_qwen_image_edit(root / "qwen"))
        size, steps, duration, fps = 64, 2, 0.5, 8.0
    else:
        klein, wan, ltx2, qwen = KLEIN, WAN, LTX2, QWEN
        size, steps, duration, fps = 832, 4, 2.0, 16.0
    rng = np.random.default_rng(0)
    vector = rng.standard_normal(128).astype(np.float32)
    identity = Identity(name="smoke", embeddings={"dlib": vector / np.linalg.norm(vector)},
                        # (a small portrait for tiny models: reference tokens scale with its area)
                        portrait=rng.integers(0, 255, (80, 64, 3) if args.tiny else (512, 384, 3),
                                              dtype=np.uint8))
    prompt = ShotPrompt(positive="a person smiling at the camera", duration=duration)
    manager = ModelManager()
    keyframes = Flux2KleinKeyframe(manager)
    motion = WanImageToVideo(manager)
    state: dict = {}

    def keyframe_request(step_count):
        return KeyframeRequest(identity=identity, prompt=prompt, width=size, height=size,
                               seed=1, device=device,
                               options={"model": klein, "steps": step_count, "guidance": 1.0,
                                        "dtype": "auto", "memory": "full"})

    def step_keyframe():
        previews = []
        clip = keyframes.render(keyframe_request(steps), RunContext(
            on_preview=lambda frame, kind: previews.append(kind)))
        state["keyframe"] = clip.frames[0]
        assert previews.count("step") >= 1, "no step previews"
        return {"frames": 1, "previews": previews.count("step")}

    def step_cancel():
        ctx = RunContext(on_progress=lambda fraction, message: ctx.cancel_token.cancel()
                         if message.startswith("step 1/") else None)
        try:
            keyframes.render(keyframe_request(max(steps, 3)), ctx)
        except Cancelled:
            return {"cancelled": True}
        raise AssertionError("the render was not stopped")

    def motion_step(memory):
        def run():
            request = MotionRequest(identity=identity, prompt=prompt, keyframe=state["keyframe"],
                                    first_frame=np.zeros_like(state["keyframe"]), fps=fps, seed=2,
                                    device=device, options={"model": wan, "steps": steps,
                                                            "guidance": 5.0, "guidance_2": 3.0,
                                                            "dtype": "auto", "memory": memory})
            clip = motion.render(request, RunContext())
            assert clip.metadata["continuity"], "last_image was not used"
            return {"frames": len(clip.frames), "memory_plan": clip.metadata["memory_plan"]}
        return run

    def step_ltx2_sound():
        rate = 8.0 if args.tiny else 24.0  # LTX-2 is trained at 24-25 fps
        request = MotionRequest(identity=identity, prompt=prompt, keyframe=state["keyframe"],
                                fps=rate, seed=3, device=device,
                                options={"model": ltx2, "steps": steps, "guidance": 3.0,
                                         "dtype": "auto", "memory": "offload"})
        clip = LTX2ImageToVideo(manager).render(request, RunContext())
        assert clip.sound is not None, "no sound came with the clip"
        assert abs(clip.sound.duration - clip.duration) < 0.25, "the sound is not as long as the clip"
        return {"frames": len(clip.frames), "sound_seconds": round(clip.sound.duration, 3),
                "sample_rate": clip.sound.sample_rate, "memory_plan": clip.metadata["memory_plan"]}

    failures = 0
    for name, step in (("flux2_klein_keyframe", step_keyframe), ("flux2_klein_cancel", step_cancel),
                       ("wan22_continuity", motion_step("full")),
                       ("wan22_offload_fp8", motion_step("offload")),
                       ("ltx2_sound", step_ltx2_sound),
                       *qwen_steps(qwen, identity, prompt, device=device, size=size,
                                   steps=steps if args.tiny else 40, manager=manager)):
        started = time.perf_counter()
        try:
            detail, status = step(), "PASS"
        except Exception as error:  # noqa: BLE001 - reported, counted
            detail, status = {"error": f"{type(error).__name__}: {error}"}, "FAIL"
            failures += 1
        print(json.dumps({"step": name, "status": status, "device": device, "tiny": args.tiny,
                          "seconds": round(time.perf_counter() - started, 3), **_peak(device),
                          **detail}), flush=True)
    if summary:
        print(json.dumps({"summary": True, "failures": failures}), flush=True)
    return failures


if __name__ == "__main__":
    sys.exit(main())
