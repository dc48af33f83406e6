"""Benchmark: the diffusers backend vs a bare diffusers pipeline call.

Prints one JSON object per line: steps/second and peak memory for
- "bare": StableDiffusionPipeline.__call__ directly (with identity: the same
  pipeline with the FaceID adapter loaded and `ip_adapter_image_embeds` passed),
- "backend": DiffusersBackend.render on the same model files and settings
  (identity off = identity_strength 0, on = 1.0),
and then the backend's overhead in percent for each pair, measured in the same
run. Tiny random-weight models always; with CUDA also a real-size SD 1.5
(UNet/VAE/CLIP text encoder from their published configs, random weights,
fp16, 512x512). Nothing is downloaded.

    python benchmarks/generate.py [--steps 10] [--repeats 5] [--no-gpu] [--gpu-only]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "generation"))


def _rss_bytes() -> int:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakMemory:
    """Peak CUDA allocation (exact) or peak process RSS sampled every 5 ms on CPU."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.peak = 0

    def __enter__(self):
        import torch

        if self.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        else:
            self._stop = threading.Event()
            self.peak = _rss_bytes()

            def sample():
                while not self._stop.wait(0.005):
                    self.peak = max(self.peak, _rss_bytes())

            self._thread = threading.Thread(target=sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        import torch

        if self.device == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated()
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, _rss_bytes())
        return False


def _interleaved(runs: dict, device: str, repeats: int) -> dict:
    """Median seconds and peak memory per runner; runners alternate each round
    so that clock/thermal drift hits all of them alike."""
    import torch

    for fn in runs.values():  # warm-up
        fn()
        fn()
    times = {name: [] for name in runs}
    peaks = {name: 0 for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            with PeakMemory(device) as memory:
                started = time.perf_counter()
                fn()
                if device == "cuda":
                    torch.cuda.synchronize()
                times[name].append(time.perf_counter() - started)
            peaks[name] = max(peaks[name], memory.peak)
    return {name: (statistics.median(times[name]), peaks[name]) for name in runs}


def bench_case(case: str, paths: dict, *, size: int, steps: int, repeats: int, device: str, dtype: str) -> list[dict]:
    import torch
    from diffusers import StableDiffusionPipeline

    import tiny_models as tm
    from canvas_app.engine.context import RunContext
    from canvas_app.generation.base import ShotRequest
    from canvas_app.generation.diffusers.backend import DiffusersBackend
    from canvas_app.generation.diffusers.faces import face_embeddings, faceid_embeds
    from canvas_app.generation.diffusers.loading import load_adapter_state_dict
    from canvas_app.generation.diffusers.metadata import compose_prompt
    from canvas_app.generation.model_manager import ModelManager, resolve_source
    from canvas_app.values import ShotPrompt

    torch_dtype = {"fp16": torch.float16, "fp32": torch.float32}[dtype]
    identity = tm.tiny_identity(0)
    shot = ShotPrompt(positive="a portrait photo of a person", duration=0.1)
    prompt, _ = compose_prompt(shot)

    def load_bare(with_faceid: bool):
        pipe = StableDiffusionPipeline.from_pretrained(str(paths["model"]), dtype=torch_dtype)
        if with_faceid:
            state, _ = load_adapter_state_dict(resolve_source(str(paths["faceid"]), field="faceid_adapter"),
                                                "faceid_adapter", ("faceid",))
            pipe.load_ip_adapter(state, subfolder="", weight_name="faceid.bin", image_encoder_folder=None,
                                 low_cpu_mem_usage=False)
            pipe.set_ip_adapter_scale(1.0)
        pipe.to(device=device, dtype=torch_dtype)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def bare_call(pipe, embeds=None):
        extra = {"ip_adapter_image_embeds": embeds} if embeds is not None else {}
        pipe(prompt=prompt, height=size, width=size, num_inference_steps=steps, guidance_scale=7.0,
             generator=torch.Generator(device).manual_seed(0), output_type="np", **extra)

    backend = DiffusersBackend(manager=ModelManager())
    previews = []
    ctx = RunContext(on_preview=lambda frame, kind: previews.append(kind))
    last_meta = {}

    def backend_call(strength):
        request = ShotRequest(identity=identity, prompt=shot, width=size, height=size, fps=10.0, seed=0,
                              device=device, options={"model": str(paths["model"]), "faceid_adapter": str(paths["faceid"]),
                                                      "steps": steps, "guidance": 7.0, "dtype": dtype,
                                                      "identity_strength": strength})

        def run():
            last_meta[strength] = backend.render(request, ctx).metadata
        return run

    rows = []
    for with_identity in (False, True):
        bare = load_bare(with_identity)
        embeds = [faceid_embeds(face_embeddings(identity), do_cfg=True, dtype=torch_dtype, device=device)] \
            if with_identity else None
        strength = 1.0 if with_identity else 0.0
        measured = _interleaved({"bare": lambda: bare_call(bare, embeds), "backend": backend_call(strength)},
                                device, repeats)
        for runner, (seconds, peak) in measured.items():
            row = {"case": case, "runner": runner, "identity": with_identity, "seconds": round(seconds, 4),
                   "steps_per_s": round(steps / seconds, 3), "peak_mb": round(peak / 2**20, 1),
                   "device": device, "dtype": dtype, "size": size, "steps": steps}
            if runner == "backend":
                row["previews_per_render"] = last_meta[strength]["previews_sent"]
                row["preview_ms_per_render"] = round(1000 * last_meta[strength]["preview_seconds"], 3)
            rows.append(row)
        bare_s, ours_s = measured["bare"][0], measured["backend"][0]
        rows.append({"case": case, "summary": "overhead", "identity": with_identity, "device": device,
                     "overhead_pct": round(100.0 * (ours_s - bare_s) / bare_s, 2),
                     "peak_mb_delta": round((measured["backend"][1] - measured["bare"][1]) / 2**20, 1)})
        del bare
        if device == "cuda":
            torch.cuda.empty_cache()
    backend.manager.unload_all()
    return rows


def build_real_size_sd15(folder: Path) -> dict:
    """SD 1.5 architecture at full size with random weights (no download),
    plus a FaceID adapter in the real layout (768-d cross attention)."""
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    import tiny_models as tm

    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8,
                                block_out_channels=(320, 640, 1280, 1280), layers_per_block=2)
    vae = AutoencoderKL(block_out_channels=[128, 256, 512, 512], layers_per_block=2, latent_channels=4,
                        sample_size=512, down_block_types=["DownEncoderBlock2D"] * 4,
                        up_block_types=["UpDecoderBlock2D"] * 4)
    text_encoder = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                                                num_hidden_layers=12, vocab_size=49408, max_position_embeddings=77,
                                                projection_dim=768))
    tokenizer = CLIPTokenizer.from_pretrained(str(tm.write_tokenizer(folder.parent / "_tokenizer")))
    scheduler = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              skip_prk_steps=True, steps_offset=1)
    pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   image_encoder=None, requires_safety_checker=False)
    pipe.to(torch.float16).save_pretrained(str(folder))
    faceid = tm.save_adapter_safetensors(
        {group: {k: v.half() for k, v in tensors.items()}
         for group, tensors in tm.faceid_state_dict(dict(unet.config)).items()},
        folder.parent / "ip-adapter-faceid_sd15_random.safetensors")
    return {"model": folder, "faceid": faceid}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=64, help="tiny-model image size")
    parser.add_argument("--no-gpu", action="store_true", help="skip the real-size CUDA case")
    parser.add_argument("--gpu-only", action="store_true")
    args = parser.parse_args(argv)

    import logging

    import torch

    import tiny_models as tm

    logging.getLogger("diffusers").setLevel(logging.ERROR)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory(prefix="canvas-bench-") as tmp:
        tmp = Path(tmp)
        if not args.gpu_only:
            paths = tm.build_all(tmp / "tiny")
            for row in bench_case("tiny-sd15", paths, size=args.size, steps=args.steps, repeats=args.repeats,
                                  device="cpu", dtype="fp32"):
                print(json.dumps(row), flush=True)
            if torch.cuda.is_available():
                for row in bench_case("tiny-sd15", paths, size=args.size, steps=args.steps, repeats=args.repeats,
                                      device="cuda", dtype="fp32"):
                    print(json.dumps(row), flush=True)
        if torch.cuda.is_available() and not args.no_gpu:
            paths = build_real_size_sd15(tmp / "sd15-random")
            print(json.dumps({"gpu": torch.cuda.get_device_name(0)}), flush=True)
            for row in bench_case("sd15-random-512", paths, size=512, steps=max(args.steps, 20),
                                  repeats=max(2, args.repeats // 2), device="cuda", dtype="fp16"):
                print(json.dumps(row), flush=True)
        elif not torch.cuda.is_available():
            print(json.dumps({"note": "no CUDA: the real-size SD 1.5 case was skipped"}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
